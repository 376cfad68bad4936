"""python manage.py evaluate FILE|--dataset NAME --backend local|vllm --model base|ADAPTER ...

Every evaluation is an EvalRun executed in this process by finetune.eval_runs, the same code
the Celery task runs, so its numbers show on the comparison page too (/finetune/evals/).
`--compare --model ADAPTER` runs the four configurations of that page and prints them as a
Markdown table.
"""

import contextlib
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from finetune.datasets import parse_jsonl
from finetune.eval_runs import (
    COMPARISON,
    eval_run_create,
    eval_run_execute,
    eval_run_fail,
)
from finetune.evaluation.generation import EvalSettings
from finetune.models import Adapter, Dataset, EvalRun
from finetune.rejected import RequestRejected
from finetune.rows import row_problems
from serving.backend import BASE_MODEL, BackendError, get_backend
from widgets.selectors import registry_validators

TABLE_METRICS = (
    "validity",
    "type_accuracy",
    "field_accuracy",
    "field_recall",
    "hallucinated_values",
    "tokens_per_s",
)


def markdown_table(columns: list[tuple[str, EvalRun]]) -> str:
    """Metrics down, runs across; a run that failed shows its status in every cell."""

    def cell(run: EvalRun, metric: str) -> str:
        if run.status != EvalRun.Status.SUCCEEDED:
            return run.status
        value = run.summary.get(metric)
        if value is None:
            return "n/a"  # e.g. validity when no widget was emitted
        return f"{value:.2f}" if metric == "tokens_per_s" else f"{value:.3f}"

    lines = [
        "| metric | " + " | ".join(label for label, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    lines += [
        f"| {metric} | " + " | ".join(cell(run, metric) for _, run in columns) + " |"
        for metric in TABLE_METRICS
    ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Generate replies for a conversation file or dataset split and print the metrics."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", type=Path, help="JSONL rows (datasets.md)")
        parser.add_argument("--dataset", help="a dataset name instead of a file")
        parser.add_argument(
            "--dataset-version", type=int, help="the dataset's version (default: latest)"
        )
        parser.add_argument("--split", choices=["train", "eval", "all"], default="eval")
        parser.add_argument("--backend", choices=["local", "vllm"], default="local")
        parser.add_argument("--model", default=BASE_MODEL, help="base, or an adapter's name")
        parser.add_argument(
            "--adapter-path", type=Path, help="an adapter folder not registered here"
        )
        parser.add_argument("--prompt", choices=["manual", "short"], help="default: as trained")
        parser.add_argument("--constrained", action="store_true")
        parser.add_argument("--limit", type=int)
        parser.add_argument("--max-tokens", type=int, default=EvalSettings.max_tokens)
        parser.add_argument(
            "--concurrency", type=int, help="rows in flight at once (default: vllm 8, local 1)"
        )
        parser.add_argument(
            "--compare",
            action="store_true",
            help="base and --model ADAPTER, each free and constrained, on the eval split: "
            "a Markdown table",
        )
        parser.add_argument("--cases", type=Path, help="write every scored case here (JSONL)")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    # ------------------------------------------------------------ what to evaluate

    def _dataset(self, name: str, version: int | None) -> Dataset:
        found = Dataset.objects.filter(name=name)
        found = found.filter(version=version) if version else found.order_by("-version")
        if (dataset := found.first()) is None:
            raise CommandError(f"no dataset named {name!r}" + (f" v{version}" if version else ""))
        return dataset

    def _file_rows(self, file: Path, split: str) -> list[dict]:
        try:
            parsed = list(parse_jsonl(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read it as UTF-8 text ({exc})") from exc
        validators = registry_validators()
        problems = [
            f"{where}: {p}"
            for where, row in parsed
            for p in ([row] if isinstance(row, str) else row_problems(row, validators))
        ]
        if problems:
            raise CommandError(
                "the file has rows that cannot be evaluated:\n  " + "\n  ".join(problems[:30])
            )
        rows = [row for _, row in parsed]
        if split != "all":
            chosen = [r for r in rows if (r.get("meta") or {}).get("split", split) == split]
            rows = chosen or rows  # a plain file without splits is evaluated whole
        return rows

    def _create(self, o, **overrides) -> EvalRun:
        options = {
            "dataset": None,
            "split": o["split"],
            "model_name": o["model"],
            "constrained": o["constrained"],
            "manual_prompt": None if o["prompt"] is None else o["prompt"] == "manual",
            "backend": o["backend"],
            "max_tokens": o["max_tokens"],
            "limit": o["limit"],
            "adapter_path": str(o["adapter_path"] or ""),
            **overrides,
        }
        try:
            return eval_run_create(**options)
        except RequestRejected as exc:
            raise CommandError("; ".join(exc.problems)) from exc

    # ------------------------------------------------------------ running

    def _backend(self, name: str):
        """One backend for every run of this command (one vLLM server for all four)."""
        if name == "vllm":
            from serving.vllm_run import vllm_backend_for_run

            return vllm_backend_for_run(notify=lambda m: self.stderr.write(f"evaluate: {m}"))
        return contextlib.nullcontext(get_backend(name))

    def _execute(self, run: EvalRun, backend, o, rows=None) -> EvalRun:
        run = eval_run_execute(
            run_id=run.pk,
            rows=rows,
            backend=backend,
            concurrency=o["concurrency"],
            on_case=lambda done, total: self.stderr.write(f"\r{done}/{total}", ending=""),
        )
        self.stderr.write("")
        return run

    def _result(self, run: EvalRun) -> dict:
        return {
            "eval_run": run.pk,
            "source": run.source,
            "backend": run.backend,
            "model": run.model_name,
            "constrained": run.constrained,
            "prompt": "manual" if run.manual_prompt else "short",
            **run.summary,
            "failing": sum(1 for case in run.cases if case["failed"]),
        }

    def handle(self, *args, **o):
        model = o["model"]
        if model != BASE_MODEL and not o["adapter_path"]:
            if not Adapter.objects.filter(name=model).exists():
                raise CommandError(f"no adapter named {model!r} (see /finetune/ or --adapter-path)")
        if o["compare"]:
            return self._compare(o)
        rows = None
        if o["dataset"]:
            run = self._create(o, dataset=self._dataset(o["dataset"], o["dataset_version"]))
        elif o["file"] is None:
            raise CommandError("give a JSONL file or --dataset NAME")
        else:
            rows = self._file_rows(o["file"], o["split"])
            if not rows:
                raise CommandError("no rows to evaluate")
            run = self._create(o, source=str(o["file"]))
        try:
            with self._backend(o["backend"]) as backend:
                run = self._execute(run, backend, o, rows)
        except BackendError as exc:
            run = eval_run_fail(run=run, error=f"{o['backend']} backend: {exc.message}")
        if run.status != EvalRun.Status.SUCCEEDED:
            raise CommandError(f"evaluation #{run.pk} {run.status}: {run.error}")
        if o["cases"]:
            with o["cases"].open("w") as out:
                for case in run.cases:
                    out.write(json.dumps(case, ensure_ascii=False) + "\n")
        result = self._result(run)
        if o["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        for key in ("n", *TABLE_METRICS[:5], "latency_p50_s", "tokens_per_s"):
            self.stdout.write(f"{key:>20}: {result[key]}")
        self.stdout.write(f"{'outcomes':>20}: {result['outcomes']}")

    def _compare(self, o) -> None:
        adapter = Adapter.objects.filter(name=o["model"]).first()
        if adapter is None:
            raise CommandError("--compare needs --model ADAPTER, a registered adapter")
        dataset = self._dataset(o["dataset"] or "demo", o["dataset_version"])
        runs = [
            self._create(
                o,
                dataset=dataset,
                split="eval",
                model_name=config.model_name(adapter),
                manual_prompt=config.manual_prompt(adapter),
                constrained=config.constrained,
            )
            for config in COMPARISON
        ]
        try:
            with self._backend(o["backend"]) as backend:
                for config, run in zip(COMPARISON, runs, strict=True):
                    self.stderr.write(f"evaluate: {config.label(adapter)}")
                    self._execute(run, backend, o)
        except BackendError as exc:
            for run in runs:
                eval_run_fail(run=run, error=f"{o['backend']} backend: {exc.message}")
        runs = [EvalRun.objects.get(pk=run.pk) for run in runs]
        for run in runs:
            if run.error:
                self.stderr.write(f"evaluation #{run.pk} ({run.label}) {run.status}: {run.error}")
        columns = [(c.label(adapter), r) for c, r in zip(COMPARISON, runs, strict=True)]
        if o["json"]:
            self.stdout.write(
                json.dumps({label: self._result(r) for label, r in columns}, ensure_ascii=False)
            )
        else:
            self.stdout.write(markdown_table(columns))
            self.stdout.write(
                f"\n{runs[0].source}, {runs[0].total} rows, {o['backend']} backend, greedy, "
                f"max {o['max_tokens']} tokens; evaluations " + ", ".join(f"#{r.pk}" for r in runs)
            )
        if any(r.status != EvalRun.Status.SUCCEEDED for r in runs):
            raise CommandError("not every evaluation succeeded (see above)")
