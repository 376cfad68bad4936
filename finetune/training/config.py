"""The hyper-parameters of one LoRA fine-tune: a frozen dataclass, checked in one place.

Every default is meant for what Weft trains: a few hundred rows on SmolLM2-135M, on the CPU.
`TrainConfig.from_dict` takes what a form or an API sends and refuses keys it does not know,
so a typo ("learning_rat") is an error, not a silently ignored setting. `validate()` names
every bad field at once.

No Django and no torch here: the web process imports this to check a job before queueing it.
"""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from serving.vllm_server import MAX_LORA_RANK  # an adapter of a higher rank would not load

TARGET_MODULE_NAMES = frozenset(
    {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
)
# Keys a resumed run takes from its checkpoint's config (nanoGPT's rule: what shaped the
# weights and the data order so far cannot change halfway). The rest may change on resume.
OPERATIONAL_KEYS = frozenset({"checkpoint_every", "eval_every", "torch_threads", "workers"})


class TrainConfigError(ValueError):
    """Bad hyper-parameters: `problems` has one 'field: why' line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    # LoRA
    rank: int = 16  # r; at most MAX_LORA_RANK, the serving limit
    alpha: int = 32  # lora_alpha; updates are scaled by alpha / rank, so 2x rank is usual
    # Dropout on each LoRA input. 0 because the random masks cost ~10% of a CPU step
    # (measured) and a 2-epoch run on a few hundred rows is watched through eval loss instead.
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"  # or a subset of TARGET_MODULE_NAMES
    # optimiser (AdamW on the LoRA weights only)
    # Peak. 1e-3, not the 2e-4 usual for 7B models: on the demo (307 rows, SmolLM2-135M),
    # 2e-4 for 3 epochs left eval loss at 0.24 and type accuracy at 40%; 1e-3 for 2 epochs
    # reached 0.16 and 66% in two thirds of the steps (docs/experiments.md, "What mattered").
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05  # share of the steps spent ramping linearly up to the peak
    lr_schedule: str = "cosine"  # "cosine" (down to 0 at the last step) or "constant"
    weight_decay: float = 0.0  # LoRA weights start at zero; decay only pulls them back
    max_grad_norm: float = 1.0  # clip; one odd row should not throw the adapter off
    # length of training
    # Passes over the training rows (2 at 1e-3 beat 3 at 2e-4, above). 3 since the
    # 2026-11-22d run, which changed the data in the same tune (docs/experiments.md, "What
    # mattered"), so its own share is not measured apart; it costs 1.5x the time of 2.
    epochs: int = 3
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs)
    # One optimiser step averages the loss over this many rows (token-weighted). Rows run
    # one at a time and gradients accumulate, so memory does not grow with it. 4, not 8:
    # twice the optimiser steps for the same tokens (the time). It came in with the
    # 2026-11-22b run's data change, so its own share of that tune's gain is not measured apart.
    batch_rows: int = 4
    # Rows longer than this (prompt + answer, tokens) are left out and listed in the metrics.
    # 3072 holds the demo's longest row with the full widget manual (~2600 tokens).
    max_seq_len: int = 3072
    seed: int = 1234  # LoRA init, row order: the same seed and rows give the same adapter
    # The prompt form: False = the short system prompt (names only). A tuned adapter does not
    # need the manual, which makes demo rows ~4x longer and training as much slower. Serve
    # the adapter with the same form (TrainResult.manual_prompt records it).
    manual_prompt: bool = False
    # bookkeeping
    checkpoint_every: int = 20  # steps; a dead worker loses at most this much work
    # Steps between eval-loss passes; one also runs after the last step. 0: only then. 100,
    # not 50: each pass over the demo's eval rows costs about a minute on 2 cores.
    eval_every: int = 100
    # bf16 autocast (weights and optimiser stay fp32). None: on where a bf16 matmul measures
    # faster than fp32 on this CPU (training.run.bf16_supported); loss within ~0.5% of fp32.
    bf16: bool | None = None
    # True: backpropagate through the answer only; the prompt runs forward without gradients
    # (training.run.row_loss_sum), ~1.3x faster on demo rows. False by default: with the
    # prompt's positions learning too, the demo adapter's constrained type accuracy went from
    # 89% to 94% and its invented values from 5.6% to 2.6% (same 500 rows; docs/experiments.md,
    # "What mattered"): a detached prompt leaves the adapter no way to change how it reads the
    # question and the records, and the gain was all in which widgets it chose.
    detach_prompt: bool = False
    # Processes that share each step's rows (finetune.training.parallel), each with
    # torch_threads threads. None: one per core (at most batch_rows). Two 1-thread processes
    # trained 1.3x one process with 2 threads on a 2-core VM (bench/README.md, "the
    # 2026-11-21b run").
    # Only the order of float sums differs from workers=1, not the maths.
    workers: int | None = None
    # torch threads per process. None: the cores divided among the workers. On cores shared
    # with busy processes, 1: 2 threads under load ran a step 5x slower than 1 (spinning
    # OpenMP threads fight the other processes).
    torch_threads: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """From a form or API payload; unknown keys are refused. Call validate() after."""
        if not isinstance(values, dict):
            raise TrainConfigError(["config: a JSON object of settings"])
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainConfigError(
                [f"{key}: unknown setting (known: {', '.join(sorted(known))})" for key in unknown]
            )
        values = dict(values)
        if isinstance(values.get("target_modules"), list):
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; from_dict(as_dict()) gives the same config back."""
        values = asdict(self)
        if isinstance(self.target_modules, tuple):
            values["target_modules"] = list(self.target_modules)
        return values

    def validate(self) -> "TrainConfig":
        """Self, or TrainConfigError listing every bad field."""
        problems = [f"{name}: {why}" for name, why in _field_problems(self)]
        if problems:
            raise TrainConfigError(problems)
        return self

    def resumed_with(self, checkpoint: dict[str, Any]) -> "TrainConfig":
        """The checkpoint's config, but with this run's operational keys (see OPERATIONAL_KEYS)."""
        saved = TrainConfig.from_dict(checkpoint)
        return replace(saved, **{key: getattr(self, key) for key in OPERATIONAL_KEYS})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field_problems(c: TrainConfig) -> list[tuple[str, str]]:
    problems = []

    def check(name: str, ok: bool, why: str) -> None:
        if not ok:
            problems.append((name, why))

    check(
        "rank",
        _is_int(c.rank) and 1 <= c.rank <= MAX_LORA_RANK,
        f"an integer from 1 to {MAX_LORA_RANK} (the serving limit, vLLM --max-lora-rank)",
    )
    check("alpha", _is_number(c.alpha) and c.alpha > 0, "a number > 0")
    check("dropout", _is_number(c.dropout) and 0 <= c.dropout < 1, "a number in [0, 1)")
    if isinstance(c.target_modules, tuple):
        check(
            "target_modules",
            bool(c.target_modules) and set(c.target_modules) <= TARGET_MODULE_NAMES,
            f'"all-linear" or a non-empty list of {", ".join(sorted(TARGET_MODULE_NAMES))}',
        )
    else:
        check("target_modules", c.target_modules == "all-linear", '"all-linear" or a list')
    check(
        "learning_rate",
        _is_number(c.learning_rate) and 0 < c.learning_rate <= 0.1,
        "a number > 0 and <= 0.1",
    )
    check("warmup_ratio", _is_number(c.warmup_ratio) and 0 <= c.warmup_ratio < 1, "in [0, 1)")
    check("lr_schedule", c.lr_schedule in ("cosine", "constant"), '"cosine" or "constant"')
    check("weight_decay", _is_number(c.weight_decay) and c.weight_decay >= 0, "a number >= 0")
    check("max_grad_norm", _is_number(c.max_grad_norm) and c.max_grad_norm > 0, "a number > 0")
    check("epochs", _is_int(c.epochs) and 1 <= c.epochs <= 100, "an integer from 1 to 100")
    check(
        "max_steps",
        c.max_steps is None or (_is_int(c.max_steps) and c.max_steps >= 1),
        "empty or an integer >= 1",
    )
    check("batch_rows", _is_int(c.batch_rows) and 1 <= c.batch_rows <= 1024, "1 to 1024")
    check("max_seq_len", _is_int(c.max_seq_len) and 16 <= c.max_seq_len <= 8192, "16 to 8192")
    check("seed", _is_int(c.seed) and c.seed >= 0, "an integer >= 0")
    check("manual_prompt", isinstance(c.manual_prompt, bool), "true or false")
    check("detach_prompt", isinstance(c.detach_prompt, bool), "true or false")
    check("checkpoint_every", _is_int(c.checkpoint_every) and c.checkpoint_every >= 1, ">= 1")
    check("eval_every", _is_int(c.eval_every) and c.eval_every >= 0, "an integer >= 0")
    check("bf16", c.bf16 is None or isinstance(c.bf16, bool), "true, false or empty (auto)")
    check(
        "workers",
        c.workers is None or (_is_int(c.workers) and 1 <= c.workers <= 64),
        "1 to 64 processes, or empty for one per core",
    )
    check(
        "torch_threads",
        c.torch_threads is None or (_is_int(c.torch_threads) and 1 <= c.torch_threads <= 256),
        "1 to 256, or empty for every core",
    )
    return problems
