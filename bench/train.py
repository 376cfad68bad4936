"""Training throughput: Weft's trainer against a plain peft loop, on the demo rows.

    .venv/bin/python bench/train.py [--rows N] [--steps N] [--batch-rows N]

Contenders, each in its own subprocess so its peak memory is its own (the process's RSS
high-water mark, resource.getrusage ru_maxrss: model, activations, allocator caches):
- plain peft: fp32, each step one batch of padded rows through model(..., labels=...),
  the loss transformers computes, AdamW. What a first LoRA loop looks like.
- Weft: finetune.training.run.run_training with its defaults (rows one at a time, no padding,
  logits only where loss is taken, the prompt forward-only, bf16 where it measures faster).
- Weft, full backward: the same with detach_prompt off (backward through the prompt too).
- Weft fp32 / Weft bf16: bf16 forced off / on, to show what the automatic choice picked.
- Weft, manual prompt: the same rows with the widget manual in the system prompt.
- Weft, 2 threads: one process on both cores.
- Weft, 2 processes: data parallel, two 1-thread processes sharing each step's rows (the
  default on a 2-core machine: one process per core).

All get the same LoRA settings (rank 16, alpha 32, all linear layers, no dropout), the same
rows in the same steps (Weft's step plan), the same number of optimiser steps, one torch
thread unless named. tokens/s counts real tokens (prompt + answer, no padding) over the
seconds spent in training steps (model loading excluded). Each contender's first-step loss
is printed: all start from the same weights, so it shows what bf16 does to the numbers.

The rows are the demo dataset (demo.dataset.data), generated from the demo CRM loaded into
a scratch database under a temporary WEFT_DATA_DIR; the real database is not touched.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEMO_ROWS, DEMO_SEED = 300, 11  # the demo tune's dataset
LORA = {"rank": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


# ---------------------------------------------------------------- data (parent)


def demo_rows() -> list[dict]:
    """The demo dataset, from a scratch database with the demo CRM loaded."""
    scratch = tempfile.mkdtemp(prefix="weft-bench-train-")
    os.environ.update({"WEFT_DATA_DIR": scratch, "DEBUG": "1"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from demo.dataset.data import generate_demo_conversations

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    return generate_demo_conversations(count=DEMO_ROWS, seed=DEMO_SEED)


def demo_specs():
    from demo.widget_files import demo_widget_specs

    return demo_widget_specs()


def model_dir() -> Path:
    from django.conf import settings

    # The scratch WEFT_DATA_DIR has no model: use the tests' or the project's cached copy.
    for candidate in (ROOT / "data" / "test" / "models", ROOT / "data" / "models"):
        if (candidate / "SmolLM2-135M-Instruct" / "config.json").is_file():
            return candidate
    return Path(settings.WEFT_MODEL_DIR)


def prompt_lengths(rows, specs, tokenizer) -> dict:
    from finetune.training.data import encode_row

    table = {}
    for manual in (False, True):
        encoded = [encode_row(r, widgets=specs, tokenizer=tokenizer, manual=manual) for r in rows]
        lengths = [len(e.input_ids) for e in encoded]
        table["manual" if manual else "short"] = {
            "mean": statistics.mean(lengths),
            "p50": statistics.median(lengths),
            "max": max(lengths),
            "total": sum(lengths),
            "loss_tokens_mean": statistics.mean(e.loss_tokens for e in encoded),
        }
    return table


# ---------------------------------------------------------------- contenders (children)


def run_plain(rows, specs, folder: Path, steps: int, batch_rows: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.training.data import IGNORE_INDEX, encode_row, step_plan
    from serving.model_files import base_model_dir

    base_folder = base_model_dir(folder)
    tokenizer = AutoTokenizer.from_pretrained(base_folder)
    encoded = [encode_row(r, widgets=specs, tokenizer=tokenizer, manual=False) for r in rows]
    plan = step_plan(len(encoded), batch_rows=batch_rows, epochs=1, max_steps=steps, seed=1234)
    base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    torch.manual_seed(1234)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
    model = get_peft_model(base, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4)
    pad = tokenizer.pad_token_id
    losses, tokens, padded, seconds = [], 0, 0, 0.0
    for step in plan:
        batch = [encoded[i] for i in step]
        width = max(len(r.input_ids) for r in batch)
        ids = torch.tensor([r.input_ids + [pad] * (width - len(r.input_ids)) for r in batch])
        labels = torch.tensor([r.labels + [IGNORE_INDEX] * (width - len(r.labels)) for r in batch])
        mask = torch.arange(width)[None, :] < torch.tensor([[len(r.input_ids)] for r in batch])
        started = time.monotonic()
        loss = model(input_ids=ids, attention_mask=mask.long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        seconds += time.monotonic() - started
        losses.append(loss.item())
        tokens += sum(len(r.input_ids) for r in batch)
        padded += ids.numel()
    return {"losses": losses, "tokens": tokens, "padded_tokens": padded, "seconds": seconds}


def run_weft(rows, specs, folder: Path, steps: int, batch_rows: int, **overrides) -> dict:
    from finetune.training.config import TrainConfig
    from finetune.training.run import run_training

    config = TrainConfig.from_dict(
        {
            **LORA,
            "max_steps": steps,
            "batch_rows": batch_rows,
            "eval_every": 0,
            "checkpoint_every": 10_000,
            "torch_threads": 1,
            "workers": 1,
            **overrides,
        }
    )
    with tempfile.TemporaryDirectory() as out:
        result = run_training(config, rows, widgets=specs, model_dir=folder, out_dir=Path(out))
    metrics = result.metrics
    return {
        "losses": [p["loss"] for p in metrics["history"]],
        "tokens": metrics["trained_tokens"],
        "padded_tokens": metrics["trained_tokens"],
        "seconds": metrics["seconds"],
        "bf16": result.config.bf16,
    }


CONTENDERS = {
    "plain peft (fp32, padded)": lambda *a: run_plain(*a),
    "Weft": lambda *a: run_weft(*a),
    "Weft, full backward": lambda *a: run_weft(*a, detach_prompt=False),
    "Weft fp32": lambda *a: run_weft(*a, bf16=False),
    "Weft bf16": lambda *a: run_weft(*a, bf16=True),
    "Weft, manual prompt": lambda *a: run_weft(*a, manual_prompt=True),
    "Weft, 2 threads": lambda *a: run_weft(*a, torch_threads=2),
    "Weft, 2 processes": lambda *a: run_weft(*a, workers=2),
}


def child(name: str, rows_file: str, folder: str, steps: int, batch_rows: int) -> None:
    import torch

    torch.set_num_threads(1)
    rows = json.loads(Path(rows_file).read_text())
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()  # only for demo_widget_definitions (BASE_DIR); training does not use it
    result = CONTENDERS[name](rows, demo_specs(), Path(folder), steps, batch_rows)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- report (parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=40, help="demo train rows to draw steps from")
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps per contender")
    parser.add_argument("--batch-rows", type=int, default=4, help="rows per optimiser step")
    parser.add_argument("--only", action="append", help="run only these contenders")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows-file", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows_file, args.model_dir, args.steps, args.batch_rows)
        return

    started = time.monotonic()
    rows = demo_rows()
    train = [r for r in rows if r["meta"]["split"] == "train"]
    specs, folder = demo_specs(), model_dir()
    from transformers import AutoTokenizer

    from serving.model_files import base_model_dir

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir(folder))
    lengths = prompt_lengths(rows, specs, tokenizer)
    print(
        f"demo rows: {len(rows)} ({len(train)} train), generated in "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print("row length (tokens)   mean    p50    max   loss tokens/row")
    for form, s in lengths.items():
        print(
            f"{form + ' prompt':<20}{s['mean']:>6.0f}{s['p50']:>7.0f}{s['max']:>7}"
            f"{s['loss_tokens_mean']:>12.0f}"
        )

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(train[: args.rows], handle)
    results = {}
    for name in CONTENDERS:
        if args.only and not any(o.lower() in name.lower() for o in args.only):
            continue
        command = [
            sys.executable, __file__, "--child", name, "--rows-file", handle.name,
            "--model-dir", str(folder), "--steps", str(args.steps),
            "--batch-rows", str(args.batch_rows),
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"{name} failed:\n{out.stderr[-3000:]}")
            continue
        results[name] = json.loads(line.removeprefix("RESULT "))
        r = results[name]
        print(f"  ran {name}: {r['tokens'] / r['seconds']:.0f} tok/s", flush=True)
    Path(handle.name).unlink()

    print(
        f"\n{args.steps} steps x {args.batch_rows} rows, 1 torch thread, "
        f"load avg {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'contender':<28}{'tok/s':>7}{'s/step':>8}{'padding':>9}{'peak RSS':>10}"
        f"{'step-1 loss':>13}{'vs plain':>10}"
    )
    plain = results.get("plain peft (fp32, padded)")
    for name, r in results.items():
        rate = r["tokens"] / r["seconds"]
        waste = 1 - r["tokens"] / r["padded_tokens"]
        ratio = f"{rate / (plain['tokens'] / plain['seconds']):.2f}x" if plain else "-"
        print(
            f"{name:<28}{rate:>7.0f}{r['seconds'] / len(r['losses']):>8.1f}{waste:>9.0%}"
            f"{r['peak_rss_mb']:>8.0f}MB{r['losses'][0]:>13.4f}{ratio:>10}"
        )

    # The demo tune runs with the defaults: one process per core (2 here).
    weft = results.get("Weft, 2 processes") or results.get("Weft")
    if weft:
        from finetune.training.config import TrainConfig

        epochs = TrainConfig().epochs  # the demo tune's, not a copy that can drift
        short_total = lengths["short"]["total"] * len(train) / len(rows)
        epochs_tokens = epochs * short_total
        rate = weft["tokens"] / weft["seconds"]
        print(
            f"\ndemo tune estimate (short prompt, {len(train)} train rows, {epochs} epochs, "
            f"{epochs_tokens:,.0f} tokens): {epochs_tokens / rate / 60:.1f} min at {rate:.0f} "
            f"tok/s, before evaluation"
        )


if __name__ == "__main__":
    main()
