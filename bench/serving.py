"""Benchmark: generation speed, free vs constrained, on each backend; base vs a LoRA on vLLM.

    .venv/bin/python bench/serving.py                      # starts its own vLLM server
    .venv/bin/python bench/serving.py --url http://127.0.0.1:8001/v1   # uses a running one
    .venv/bin/python bench/serving.py --no-local           # vLLM only

Every configuration answers the same prompts, greedy, with the same token limit: demo
questions with their CRM records and the full widget manual (~870 prompt tokens), two of
them with an assistant prefix that opens a widget (so the constrained answer spends most of
its tokens inside the JSON grammar, the worst case), one answered freely. Rounds are
interleaved across configurations, so a burst of load from elsewhere hits all of them.

tok/s is completion tokens over wall time from request to last token (prefill included);
TTFT is the mean time to first token; decode is tok/s after the first token (no prefill).
The ratio compares each row's tok/s with the same backend's base model, unconstrained.
The LoRA adapter is rank 16 on every linear layer (the training default) with random
weights: speed does not depend on what it learnt.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving.backend import BASE_MODEL, BackendSettings, ChatMessage, Sampling, complete
from serving.constraints import widget_constraint
from serving.model_files import ensure_base_model
from serving.prompts import WidgetSpec, build_messages
from serving.vllm_server import RunningServer, ServerConfig

LISTING = {
    "mls_id": "TX-10492",
    "address": "12 Oak St",
    "city": "Austin",
    "price": 449000,
    "beds": 3,
    "baths": 2,
    "sqft": 1640,
    "status": "active",
}
QUOTE = {
    "price": 449000,
    "down_payment": 44900,
    "rate_percent": 6.5,
    "term_years": 30,
    "monthly_payment": 2554,
}
# (question, records, assistant prefix or "")
PROMPTS = [
    ("Show me the Oak St listing.", {"listings": [LISTING]}, '<widget type="listing_card">'),
    ("Payment with 10% down?", {"mortgage_quote": QUOTE}, '<widget type="mortgage_estimate">'),
    ("Is the Oak St house a good fit for a family of four?", {"listings": [LISTING]}, ""),
]


@dataclass
class Row:
    backend: str
    model: str
    constrained: bool
    tokens: int = 0
    seconds: float = 0.0
    ttft: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def decode_rate(self) -> float:
        """Tokens after the first over the time after the first: generation without prefill."""
        seconds = self.seconds - sum(self.ttft)
        return (self.tokens - len(self.ttft)) / seconds if seconds > 0 else 0.0


def demo_specs() -> list[WidgetSpec]:
    from demo.widget_files import demo_widget_specs  # needs django.setup()

    return demo_widget_specs()


def conversations(specs) -> list[list[ChatMessage]]:
    out = []
    for question, records, prefix in PROMPTS:
        turns = [ChatMessage(role="user", content=question)]
        if prefix:
            turns.append(ChatMessage(role="assistant", content=prefix))
        out.append(build_messages(specs, turns, records))
    return out


def make_adapter(base_folder: Path, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, target_modules="all-linear"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.01)
    model.save_pretrained(out)
    return out


def run(rows, backends, chats, constraint, sampling, rounds) -> None:
    def answer(row, messages, sampling):
        backend = backends[row.backend]
        applied = constraint if row.constrained else None
        return complete(backend, messages, model=row.model, sampling=sampling, constraint=applied)

    # Untimed and short: loads the model and compiles each prompt's grammar once.
    for row in rows:
        for messages in chats:
            answer(row, messages, Sampling(max_tokens=4))
    for round_ in range(rounds):
        for row in rows:
            for messages in chats:
                _, done = answer(row, messages, sampling)
                row.tokens += done.completion_tokens
                row.seconds += done.seconds
                row.ttft.append(done.first_token_seconds or 0.0)
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)


def table(rows) -> str:
    lines = [
        f"{'backend':8} {'model':6} {'decoding':12} {'tokens':>6} {'tok/s':>6} {'TTFT s':>6} "
        f"{'decode':>6} {'vs base free':>12}",
        "-" * 69,
    ]
    for row in rows:
        base = next(
            r
            for r in rows
            if r.backend == row.backend and r.model == BASE_MODEL and not r.constrained
        )
        model = "base" if row.model == BASE_MODEL else "LoRA"
        decoding = "constrained" if row.constrained else "free"
        ttft = sum(row.ttft) / len(row.ttft)
        lines.append(
            f"{row.backend:8} {model:6} {decoding:12} {row.tokens:6d} {row.rate:6.1f} "
            f"{ttft:6.2f} {row.decode_rate:6.1f} {row.rate / base.rate - 1:+12.0%}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running vLLM server (default: start one)")
    parser.add_argument("--no-local", action="store_true", help="skip LocalBackend")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    # Django only for its settings: WEFT_MODEL_DIR (under WEFT_DATA_DIR), as the app sees it.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django
    from django.conf import settings

    from serving.vllm import VLLMBackend

    django.setup()
    model_dir = Path(settings.WEFT_MODEL_DIR)
    folder = ensure_base_model(model_dir)
    specs = demo_specs()
    chats, constraint = conversations(specs), widget_constraint(specs)
    sampling = Sampling(max_tokens=args.max_tokens)  # greedy
    backends, rows = {}, []
    if not args.no_local:
        from serving.local import LocalBackend

        backends["local"] = LocalBackend(BackendSettings(model_dir=model_dir))
        rows += [Row("local", BASE_MODEL, False), Row("local", BASE_MODEL, True)]

    with tempfile.TemporaryDirectory() as scratch, open(Path(scratch) / "vllm.log", "w") as log:
        server = None
        url = args.url
        if url is None:
            config = ServerConfig(model_folder=folder, port=8019)
            server = RunningServer(config, log=log).__enter__()
            url = server.url
            print(f"vLLM start-up: {server.startup_seconds:.0f} s", file=sys.stderr)
        try:
            vllm = backends["vllm"] = VLLMBackend(
                BackendSettings(model_dir=model_dir, vllm_url=url)
            )
            adapter = f"bench-lora-{int(time.time())}"  # names are immutable: a fresh one
            vllm.load_adapter(adapter, make_adapter(folder, Path(scratch) / "adapter"))
            rows += [Row("vllm", m, c) for m in (BASE_MODEL, adapter) for c in (False, True)]
            run(rows, backends, chats, constraint, sampling, args.rounds)
            vllm.unload_adapter(adapter)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    print(f"{len(chats)} prompts x {args.rounds} rounds, greedy, max {args.max_tokens} new tokens")
    if server is not None:
        print(f"vLLM start-up: {server.startup_seconds:.0f} s")
    print(table(rows))


if __name__ == "__main__":
    main()
