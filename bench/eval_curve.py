"""The learning curve: metrics on both eval sets against the number of training rows.

    .venv/bin/python bench/eval_curve.py [--sizes 25,50,100,200] [--adapter PATH] [--constrained]

Two eval sets, reported side by side: the demo dataset's eval split (generated, held out of
training) and demo/heldout/ (conversations written by hand, apart from the generator, never
used to choose a recipe).

1. A scratch database under a temporary WEFT_DATA_DIR with the demo domain (`load_demo`):
   the `demo` dataset: its training rows, and the eval rows that no tune ever sees.
2. For each size N, a LoRA tune with the default TrainConfig on the first N training rows of
   a seeded shuffle (nested: the 50 hold the 25), and on the whole training split: that one
   is the demo adapter. `--adapter PATH` reuses a demo adapter already trained on the whole
   split (`manage.py finetune --dataset demo --name demo`) instead of training it again.
3. One vLLM server (the `.venv-vllm` one, started here) answers the eval rows greedily,
   free decoding: the base model with the widget manual (the curve's 0),
   then every adapter with the short prompt it was trained with (`--concurrency` rows at
   once, 4 by default).
   With --constrained, every adapter is also evaluated with grounded constrained decoding.
4. Scores with finetune.evaluation (shared/spec/datasets.md), prints a Markdown table per
   eval set and decoding, and writes bench/results/eval_curve.json and one SVG per eval set
   (free decoding): eval_curve.svg (generated split) and eval_curve_heldout.svg.

The headline table (base and adapter, free and constrained) is the app's own comparison:
`manage.py evaluate --dataset demo --compare --model demo-v1 --backend vllm`.

Greedy decoding and seeded training make a rerun give the same numbers up to the few
outputs where vLLM's bf16 batching breaks a near tie differently.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
SHUFFLE_SEED = 7
METRICS = ("validity", "type_accuracy", "field_accuracy", "field_recall", "hallucinated_values")
HELDOUT = ROOT / "demo" / "heldout" / "conversations.jsonl"


# ---------------------------------------------------------------- data and models


def demo_split() -> tuple[list[dict], list[dict]]:
    """The demo dataset's train and eval rows, from a scratch database."""
    os.environ.update({"WEFT_DATA_DIR": tempfile.mkdtemp(prefix="weft-eval-curve-"), "DEBUG": "1"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from finetune.datasets import dataset_rows
    from finetune.models import Dataset

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    demo = Dataset.objects.get(name="demo")
    return dataset_rows(demo, split="train"), dataset_rows(demo, split="eval")


def model_dir() -> Path:
    from django.conf import settings

    # The scratch WEFT_DATA_DIR has no model: use the project's or the tests' converted copy.
    for candidate in (ROOT / "data" / "models", ROOT / "data" / "test" / "models"):
        if (candidate / "SmolLM2-135M-Instruct" / "config.json").is_file():
            return candidate
    return Path(settings.WEFT_MODEL_DIR)


def finished_tune(adapter_dir: Path) -> dict | None:
    """A finished tune's path and metrics; minutes are its optimiser steps' time."""
    from finetune.training.run import TRAINING_RECORD

    record = Path(adapter_dir) / TRAINING_RECORD
    if not record.is_file():
        return None
    metrics = json.loads(record.read_text())["metrics"]
    return {"path": str(adapter_dir), "minutes": round(metrics["seconds"] / 60, 1), **metrics}


def train(rows: list[dict], eval_rows: list[dict], out_dir: Path, specs, settings: dict) -> dict:
    """A tune on `rows`; one already finished in `out_dir` (an earlier run) is reused."""
    from finetune.training.config import TrainConfig
    from finetune.training.run import ADAPTER_FOLDER, run_training

    done = finished_tune(out_dir / ADAPTER_FOLDER)
    if done:
        print(f"  reusing the tune on {len(rows)} rows in {out_dir}", flush=True)
        return done
    config = TrainConfig.from_dict(settings).validate()
    result = run_training(
        config, rows, eval_rows, widgets=specs, model_dir=model_dir(), out_dir=out_dir
    )
    tune = finished_tune(result.adapter_dir)
    print(
        f"  trained on {len(rows)} rows: {tune['minutes']} min of steps, "
        f"eval loss {result.metrics.get('eval_loss')}",
        flush=True,
    )
    return tune


# ---------------------------------------------------------------- evaluation


def heldout_rows(path: Path) -> list[dict]:
    from finetune.datasets import parse_jsonl

    rows = []
    for where, value in parse_jsonl(path.read_text(encoding="utf-8")):
        if not isinstance(value, dict):
            raise SystemExit(f"{path}, {where}: {value}")
        rows.append(value)
    return rows


def evaluate(
    backend,
    rows,
    specs,
    *,
    model: str,
    manual: bool,
    constrained: bool,
    concurrency: int,
    eval_set: str = "generated",
) -> dict:
    from finetune.evaluation.generation import EvalSettings, evaluate_rows
    from finetune.evaluation.scoring import case_record
    from widgets.selectors import registry_validators

    started = time.monotonic()
    summary, scores = evaluate_rows(
        rows,
        backend=backend,
        widgets=specs,
        validators=registry_validators(),
        settings=EvalSettings(model=model, manual_prompt=manual, constrained=constrained),
        concurrency=concurrency,
    )
    label = f"{model}, {'manual' if manual else 'short'} prompt, "
    label += ("constrained" if constrained else "free") + f", {eval_set} set"
    print(
        f"  {label}: " + ", ".join(f"{m} {summary[m]}" for m in METRICS)
        + f" ({time.monotonic() - started:.0f} s)",
        flush=True,
    )  # fmt: skip
    failing = [case_record(s) for s in scores if s.failed]
    return {
        "label": label,
        "set": eval_set,
        "decoding": "constrained" if constrained else "free",
        "summary": summary,
        "failing": failing,
    }


# ---------------------------------------------------------------- reporting


def cell(value, metric: str) -> str:
    if value is None:
        return "n/a (no widget)" if metric == "validity" else "n/a"
    return f"{value:.1%}"


def results_of(point: dict) -> list[dict]:
    """A point's evaluations; points written before the held-out set have one, unnamed."""
    return point.get("results") or [{"set": "generated", "decoding": "free", **point}]


def curve_table(points: list[dict], *, eval_set: str = "generated", decoding: str = "free") -> str:
    lines = [
        f"{eval_set} set, {decoding} decoding:",
        "",
        "| training rows | training minutes | " + " | ".join(METRICS) + " |",
        "| ---: | ---: |" + " ---: |" * len(METRICS),
    ]
    for p in points:
        for r in results_of(p):
            if (r["set"], r["decoding"]) != (eval_set, decoding):
                continue
            values = " | ".join(cell(r["summary"].get(m), m) for m in METRICS)
            minutes = f"{p['minutes']:.1f}" if p.get("minutes") is not None else "-"
            lines.append(f"| {p['rows'] or 'base, prompted'} | {minutes} | {values} |")
    return "\n".join(lines)


def curve_tables(points: list[dict]) -> str:
    kinds = dict.fromkeys((r["set"], r["decoding"]) for p in points for r in results_of(p))
    return "\n\n".join(curve_table(points, eval_set=s, decoding=d) for s, d in kinds)


def set_points(points: list[dict], eval_set: str) -> list[dict]:
    """The points' free-decoding results on one eval set, as curve_svg draws them."""
    return [
        {"rows": p["rows"], "summary": r["summary"]}
        for p in points
        for r in results_of(p)
        if (r["set"], r["decoding"]) == (eval_set, "free")
    ]


def curve_svg(points: list[dict]) -> str:
    """Metrics (y, 0-100%) against training rows (x, one step per size); 0 is the base model."""
    width, height, left, right, top, bottom = 640, 360, 56, 170, 24, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    colours = {
        "validity": "#2563eb",
        "type_accuracy": "#16a34a",
        "field_accuracy": "#d97706",
        "field_recall": "#9333ea",
        "hallucinated_values": "#dc2626",
    }
    step = plot_w / max(len(points) - 1, 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return left + i * step, top + plot_h * (1 - value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for tick in range(0, 101, 20):
        _, y = xy(0, tick / 100)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{tick}%</text>'
        )
    for i, p in enumerate(points):
        x, _ = xy(i, 0)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{p['rows'] or 'base'}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        "training rows (base: the untuned model with the widget manual)</text>"
    )
    for n, (metric, colour) in enumerate(colours.items()):
        coords = [
            xy(i, p["summary"].get(metric) or 0.0)
            for i, p in enumerate(points)
            if p["summary"].get(metric) is not None or metric == "validity"
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coords]
        ly = top + 14 + n * 20
        parts.append(
            f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 32}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{width - right + 38}" y="{ly}">{metric}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25,50,100,200", help="training rows per point")
    parser.add_argument("--adapter", type=Path, help="a demo adapter trained on the whole split")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--adapters-dir", type=Path, help="where the tunes go; finished ones there are reused"
    )
    parser.add_argument(
        "--skip", action="append", choices=["base", "full"], default=[],
        help="leave out the base model's point or the whole-split tune's (merged in by hand)",
    )  # fmt: skip
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the table and plot from --out's JSON"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON",
        help="a TrainConfig setting for every tune, e.g. --set torch_threads=1",
    )  # fmt: skip
    parser.add_argument(
        "--constrained", action="store_true",
        help="also evaluate every adapter with grounded constrained decoding",
    )  # fmt: skip
    parser.add_argument(
        "--heldout", type=Path, default=HELDOUT, help="the hand-written eval set (JSONL)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4,
        help="eval rows in flight (on 2 cores, 8 made LoRA rows wait over 60 s for a token)",
    )  # fmt: skip
    args = parser.parse_args()

    if args.plot_only:
        points = json.loads((args.out / "eval_curve.json").read_text())["curve"]
        points.sort(key=lambda p: p["rows"])
        write_plots(args.out, points)
        print(curve_tables(points))
        return
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    train_rows, eval_rows = demo_split()
    eval_sets = {"generated": eval_rows}
    if args.heldout.is_file():
        eval_sets["heldout"] = heldout_rows(args.heldout)
    from serving.registry_specs import active_widget_specs

    specs = active_widget_specs()
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    print(
        f"demo dataset: {len(train_rows)} train rows; eval sets: "
        + ", ".join(f"{name} {len(rows)} rows" for name, rows in eval_sets.items()),
        flush=True,
    )
    shuffled = random.Random(SHUFFLE_SEED).sample(train_rows, len(train_rows))
    work = args.adapters_dir or Path(tempfile.mkdtemp(prefix="weft-eval-curve-adapters-"))
    sizes = [n for n in sizes if n < len(train_rows)]
    if "full" not in args.skip:
        sizes.append(len(train_rows))

    from django.conf import settings

    from serving.backend import BASE_MODEL, BackendSettings
    from serving.model_files import ensure_base_model
    from serving.vllm import VLLMBackend
    from serving.vllm_server import RunningServer, ServerConfig

    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "eval_rows": len(eval_rows),
        "eval_sets": {name: len(rows) for name, rows in eval_sets.items()},
        "train_rows": len(train_rows),
        "train_settings": overrides,
        "curve": [],
    }

    def save(point: dict) -> None:
        # After every point, so a run stopped halfway keeps what it measured.
        record["curve"].append(point)
        text = json.dumps(record, indent=1, ensure_ascii=False)
        (args.out / "eval_curve.json").write_text(text)
        write_plots(args.out, record["curve"])

    # The server idles while a tune trains (the tunes and the evaluations take turns).
    config = ServerConfig(model_folder=ensure_base_model(model_dir()), port=8031)
    log_path = Path(settings.DATA_DIR) / "vllm.log"
    with open(log_path, "w") as log, RunningServer(config, log=log) as server:
        backend = VLLMBackend(BackendSettings(model_dir=model_dir(), vllm_url=server.url))
        if "base" not in args.skip:
            base = [
                evaluate(
                    backend,
                    rows,
                    specs,
                    model=BASE_MODEL,
                    manual=True,
                    constrained=False,
                    concurrency=args.concurrency,
                    eval_set=name,
                )
                for name, rows in eval_sets.items()
            ]
            save({"rows": 0, "minutes": None, "results": base})
        for n in sizes:
            if n == len(train_rows) and args.adapter:
                tune = finished_tune(args.adapter) or {"path": str(args.adapter)}
            else:
                print(f"training on {n} rows", flush=True)
                folder = work / (f"rows-{n}" if n < len(train_rows) else "all")
                rows = shuffled[:n] if n < len(train_rows) else train_rows
                tune = train(rows, eval_rows, folder, specs, overrides)
            backend.load_adapter(f"demo-{n}", Path(tune["path"]))
            results = [
                evaluate(
                    backend,
                    rows,
                    specs,
                    model=f"demo-{n}",
                    manual=False,
                    constrained=constrained,
                    concurrency=args.concurrency,
                    eval_set=name,
                )
                for constrained in ((True, False) if args.constrained else (False,))
                for name, rows in eval_sets.items()
            ]
            save(
                {
                    "rows": n,
                    "minutes": tune.get("minutes"),
                    "tune": _brief(tune),
                    "results": results,
                }
            )
    print("\n" + curve_tables(record["curve"]))
    print(f"\nwrote {args.out / 'eval_curve.json'} and its plots")


def write_plots(out: Path, points: list[dict]) -> None:
    (out / "eval_curve.svg").write_text(curve_svg(set_points(points, "generated")))
    if held := set_points(points, "heldout"):
        (out / "eval_curve_heldout.svg").write_text(curve_svg(held))


def _brief(tune: dict) -> dict:
    return {k: v for k, v in tune.items() if k != "history"}


if __name__ == "__main__":
    main()
