from django.core.management.base import BaseCommand, CommandError

from finetune.datasets import dataset_rows_to_migrate
from finetune.models import Dataset
from widgets.selectors import version_numbers


class Command(BaseCommand):
    help = (
        "Check a dataset's rows against the active widget schemas and list those to migrate "
        "(after activating a new version). Exits with an error when any row no longer fits."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the dataset's name")
        parser.add_argument(
            "--dataset-version", type=int, help="its version (the latest when left out)"
        )

    def handle(self, *args, name, dataset_version, **options):
        version = dataset_version
        datasets = Dataset.objects.filter(name=name)
        dataset = (datasets.filter(version=version) if version else datasets).first()
        if dataset is None:
            raise CommandError(f"no dataset {name!r}" + (f" v{version}" if version else ""))
        to_migrate = dataset_rows_to_migrate(dataset=dataset)
        for row_id, problems in to_migrate:
            for problem in problems:
                self.stdout.write(f"{row_id}: {problem}")
        versions = ", ".join(f"{n} v{v}" for n, v in version_numbers().items())
        summary = f"{dataset}: {len(to_migrate)} of {dataset.rows.count()} rows to migrate"
        if to_migrate:
            raise CommandError(f"{summary} (against {versions})")
        self.stdout.write(self.style.SUCCESS(f"{summary}; every row fits {versions}"))
