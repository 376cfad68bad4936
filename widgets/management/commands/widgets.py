from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from widgets.registry_files import RegistryFileError, registry_export, registry_import


class Command(BaseCommand):
    help = "Export the widget registry to a directory (one JSON file per type) or import it."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="write DIR/<name>.json for every widget type")
        export.add_argument("directory", type=Path)
        imp = actions.add_parser("import", help="check every file in DIR, then write them all")
        imp.add_argument("directory", type=Path)

    def handle(self, *args, action, directory, **options):
        if action == "export":
            for path in registry_export(directory):
                self.stdout.write(f"wrote {path}")
            return
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        try:
            plan = registry_import(directory)
        except RegistryFileError as exc:
            raise CommandError(
                "nothing was imported:\n" + "\n".join(f"  - {p}" for p in exc.problems)
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {len(plan.files)} widget types, {plan.new_versions} new versions"
            )
        )
