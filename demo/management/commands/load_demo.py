from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from demo.dataset.load import demo_dataset_load
from demo.domain import DEMO
from demo.services import crm_actions_grant
from domains.services import domain_load

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login, created only by this command


class Command(BaseCommand):
    help = (
        "Load the demo domain (widget registry, CRM, demo staff user, dataset). Safe to run again."
    )

    def handle(self, *args, **options):
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            # Set only on creation: re-running must not undo a password someone changed.
            user.set_password(DEMO_PASSWORD)
            user.save()
        widgets, counts = domain_load(domain=DEMO, author=user)
        crm_actions_grant(user=user)  # a superuser holds them anyway; not if that is undone
        for name, outcome in widgets.items():
            self.stdout.write(f"widget {name}: {outcome}")
        if counts.get("listings"):
            self.stdout.write("CRM: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        else:
            self.stdout.write("CRM: already loaded")
        dataset, made = demo_dataset_load(author=user)
        train, held_out = (dataset.rows.filter(split=s).count() for s in ("train", "eval"))
        state = "created" if made else "already there"
        self.stdout.write(f"dataset {dataset}: {state} ({train} train, {held_out} eval held out)")
        if created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created staff user {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r}"
                )
            )
        else:
            self.stdout.write(f"Staff user {DEMO_USERNAME!r} already exists (password unchanged).")
