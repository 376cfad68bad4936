import json
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from finetune.datasets import DatasetRejected, dataset_import, dataset_name_from_filename
from finetune.jobs import finetune_job_run, finetune_job_start
from finetune.models import Dataset, FinetuneJob
from finetune.rejected import RequestRejected


class Command(BaseCommand):
    help = "Start a LoRA fine-tuning job on a dataset (a name, or a JSONL file to import first)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name, or a .jsonl file")
        parser.add_argument("--name", required=True, help="adapter name; versions are added")
        parser.add_argument("--max-steps", type=int, help="stop after N optimiser steps")
        parser.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE",
            help="any training setting, e.g. --set learning_rate=1e-4 --set manual_prompt=true",
        )  # fmt: skip
        parser.add_argument(
            "--wait", action="store_true", help="train here and wait (no Celery worker needed)"
        )

    def _dataset(self, spec: str) -> Dataset:
        path = Path(spec)
        if path.suffix in (".jsonl", ".json") and path.is_file():
            try:
                return dataset_import(
                    name=dataset_name_from_filename(path.name),
                    text=path.read_text(encoding="utf-8"),
                )
            except DatasetRejected as exc:
                lines = "\n".join(f"  - {w}: {p}" for w, p in exc.problems[:50])
                raise CommandError(
                    f"{path} has invalid rows; nothing was imported:\n{lines}"
                ) from exc
        dataset = Dataset.objects.filter(name=spec).order_by("-version").first()
        if dataset is None:
            raise CommandError(f"no dataset named {spec!r} and no such .jsonl file")
        return dataset

    def handle(self, *args, dataset, name, max_steps, set, wait, **options):
        config = {}
        for item in set:
            key, sep, raw = item.partition("=")
            if not sep:
                raise CommandError(f"--set {item!r}: use KEY=VALUE")
            try:
                config[key] = json.loads(raw)
            except json.JSONDecodeError:
                config[key] = raw
        if max_steps is not None:
            config["max_steps"] = max_steps
        chosen = self._dataset(dataset)
        try:
            job = finetune_job_start(dataset=chosen, name=name, config=config, enqueue=not wait)
        except RequestRejected as exc:
            raise CommandError(
                "the job was not started:\n" + "\n".join(f"  - {p}" for p in exc.problems)
            ) from exc
        train_rows = chosen.rows.filter(split="train").count()
        self.stdout.write(f"job {job.pk}: {name} on {chosen} ({train_rows} train rows)")
        if not wait:
            self.stdout.write(f"queued for a Celery worker; follow it at /finetune/jobs/{job.pk}/")
            return
        runner = threading.Thread(target=finetune_job_run, kwargs={"job_id": job.pk})
        runner.start()
        shown = -1
        while runner.is_alive():
            runner.join(timeout=2)
            job.refresh_from_db()
            if job.step != shown:
                shown = job.step
                loss = f"{job.loss:.4f}" if job.loss is not None else "-"
                self.stdout.write(f"  step {job.step}/{job.total_steps} loss {loss}")
        job.refresh_from_db()
        if job.status != FinetuneJob.Status.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.status}: {job.error}")
        self.stdout.write(self.style.SUCCESS(f"adapter {job.adapter.name} at {job.adapter.path}"))
