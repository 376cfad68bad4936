from django.core.management.base import BaseCommand

from demo.services import crm_fixture_load


class Command(BaseCommand):
    help = "Fill an empty demo CRM with the seeded fixture (listings, contacts, sales, slots)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, seed, **options):
        counts = crm_fixture_load(seed=seed)
        if counts.get("listings"):
            self.stdout.write(", ".join(f"{n} {what}" for what, n in counts.items()))
        else:
            self.stdout.write("CRM already has listings; left as it is.")
