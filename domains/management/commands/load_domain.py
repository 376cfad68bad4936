from django.core.management.base import BaseCommand, CommandError

from domains.loading import current_domain
from domains.services import domain_load
from widgets.registry_files import RegistryFileError


class Command(BaseCommand):
    help = (
        "Load the selected domain (WEFT_DOMAIN): its widget files into the registry, and its "
        "demo records if it has any. Safe to run again."
    )

    def handle(self, *args, **options):
        domain = current_domain()
        try:
            widgets, records = domain_load(domain=domain)
        except RegistryFileError as exc:
            raise CommandError(
                f"{domain.name}: widget files in {domain.widgets_dir}:\n{exc}"
            ) from exc
        for name, outcome in widgets.items():
            self.stdout.write(f"widget {name}: {outcome}")
        if records is not None:
            counts = ", ".join(f"{n} {what}" for what, n in records.items())
            self.stdout.write(f"records: {counts or 'none'}")
        self.stdout.write(self.style.SUCCESS(f"Loaded domain {domain.name!r}."))
