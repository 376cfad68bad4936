"""python manage.py evaluate FILE|--dataset NAME --backend local|vllm --model base|ADAPTER ..."""

import contextlib
import json
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from finetune.datasets import dataset_rows, parse_jsonl
from finetune.evaluate import EvalSettings, case_record, evaluate_rows
from finetune.models import Adapter, Dataset
from finetune.rows import row_problems
from serving.backend import BASE_MODEL, BackendError, BackendSettings, get_backend
from serving.constraints import widget_constraint
from serving.registry_specs import active_widget_specs
from widgets.selectors import registry_validators


def _vllm_backend(stderr):
    """The configured vLLM server; if none answers on loopback, one started for this run."""
    from serving.model_files import ensure_base_model
    from serving.vllm import VLLMBackend
    from serving.vllm_server import RunningServer, ServerConfig, is_healthy

    url = settings.WEFT_VLLM_URL
    if is_healthy(url):
        return contextlib.nullcontext(
            VLLMBackend(BackendSettings(model_dir=settings.WEFT_MODEL_DIR, vllm_url=url))
        )
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise CommandError(f"no vLLM server answers at {url}")

    @contextlib.contextmanager
    def started():
        stderr.write(f"evaluate: no vLLM server at {url}; starting one for this run\n")
        config = ServerConfig(
            model_folder=ensure_base_model(Path(settings.WEFT_MODEL_DIR)), port=parts.port or 8001
        )
        with RunningServer(
            config, log=open(Path(settings.DATA_DIR) / "vllm-evaluate.log", "w")
        ) as server:
            yield VLLMBackend(
                BackendSettings(model_dir=settings.WEFT_MODEL_DIR, vllm_url=server.url)
            )

    return started()


class Command(BaseCommand):
    help = "Generate replies for a conversation file or dataset split and print the metrics."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", type=Path, help="JSONL rows (datasets.md)")
        parser.add_argument("--dataset", help="a dataset name instead of a file (latest version)")
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
        parser.add_argument("--cases", type=Path, help="write every scored case here (JSONL)")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")

    def _rows(self, file, dataset, split) -> tuple[list[dict], str]:
        if dataset:
            found = Dataset.objects.filter(name=dataset).order_by("-version").first()
            if found is None:
                raise CommandError(f"no dataset named {dataset!r}")
            return dataset_rows(
                found, split=None if split == "all" else split
            ), f"{found} ({split})"
        if file is None:
            raise CommandError("give a JSONL file or --dataset NAME")
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
        return rows, str(file)

    def handle(self, *args, **o):
        rows, source = self._rows(o["file"], o["dataset"], o["split"])
        rows = rows[: o["limit"]] if o["limit"] else rows
        if not rows:
            raise CommandError("no rows to evaluate")
        model, manual = o["model"], True
        adapter = Adapter.objects.filter(name=model).first() if model != BASE_MODEL else None
        if adapter is not None:
            manual = adapter.manual_prompt
        elif model != BASE_MODEL and not o["adapter_path"]:
            raise CommandError(f"no adapter named {model!r} (see /finetune/ or --adapter-path)")
        if o["prompt"]:
            manual = o["prompt"] == "manual"
        specs = active_widget_specs()
        backend_context = (
            _vllm_backend(self.stderr)
            if o["backend"] == "vllm"
            else contextlib.nullcontext(get_backend("local"))
        )
        run = EvalSettings(
            model=model,
            manual_prompt=manual,
            constrained=o["constrained"],
            max_tokens=o["max_tokens"],
        )
        try:
            with backend_context as backend:
                if model != BASE_MODEL and not any(m.name == model for m in backend.models()):
                    backend.load_adapter(model, o["adapter_path"] or adapter.path)
                summary, scores = evaluate_rows(
                    rows,
                    backend=backend,
                    widgets=specs,
                    validators=registry_validators(),
                    settings=run,
                    constraint=widget_constraint(specs),
                    on_case=lambda i, _: self.stderr.write(f"\r{i + 1}/{len(rows)}", ending=""),
                )
        except BackendError as exc:
            raise CommandError(f"{o['backend']} backend: {exc.message}") from exc
        self.stderr.write("")
        result = {
            "source": source,
            "backend": o["backend"],
            "model": model,
            "constrained": o["constrained"],
            "prompt": "manual" if manual else "short",
            **summary,
            "failing": sum(1 for s in scores if s.failed),
        }
        if o["cases"]:
            with o["cases"].open("w") as out:
                for score in scores:
                    out.write(json.dumps(case_record(score), ensure_ascii=False) + "\n")
        if o["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        for key in (
            "n",
            "validity",
            "type_accuracy",
            "field_accuracy",
            "hallucinated_values",
            "latency_p50_s",
            "tokens_per_s",
        ):
            self.stdout.write(f"{key:>20}: {result[key]}")
        self.stdout.write(f"{'outcomes':>20}: {result['outcomes']}")
