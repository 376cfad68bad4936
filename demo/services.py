"""Writes to the demo CRM: loading the fixture, and the operations action cards confirm."""

import functools
from datetime import UTC, date, datetime

from django.contrib.auth.models import Permission
from django.db import transaction

from demo.apps import DemoConfig
from demo.fixture import DEMO_TODAY, generate_crm
from demo.models import Contact, Listing, QueuedEmail, Sale, ShowingSlot, Task
from demo.records import slot_record
from demo.widget_files import demo_widget_definitions
from domains.protocol import ActionRefused
from widgets.actions import action_params_schema
from widgets.markup import validator_for


class CrmActionError(ActionRefused):
    """An operation that cannot run as asked; the message is for the user."""


@transaction.atomic
def crm_fixture_load(*, seed: int = 7, today: date | None = None) -> dict[str, int]:
    """Fill an empty CRM with the seeded demo fixture; a CRM with listings is left alone."""
    if Listing.objects.exists():
        return {"listings": 0}
    fixture = generate_crm(seed=seed, today=today or DEMO_TODAY)
    contacts = {
        c.name: Contact.objects.create(name=c.name, role=c.role, phone=c.phone, email=c.email)
        for c in fixture.contacts
    }
    listings = {}
    for r in fixture.listings:
        listing = Listing.objects.create(
            mls_id=r.mls_id, address=r.address, city=r.city, price=r.price, beds=r.beds,
            baths=r.baths, sqft=r.sqft, status=r.status, photo_url=r.photo_url,
            agent=contacts[r.agent], seller=contacts[r.seller],
        )  # fmt: skip
        listing.buyers.set([contacts[name] for name in r.buyers])
        listings[r.mls_id] = listing
    Sale.objects.bulk_create(
        Sale(
            address=s.address,
            city=s.city,
            sold_price=s.sold_price,
            sold_date=s.sold_date,
            sqft=s.sqft,
        )
        for s in fixture.sales
    )
    ShowingSlot.objects.bulk_create(
        ShowingSlot(listing=listings[s.mls_id], start=s.start, minutes=s.minutes)
        for s in fixture.slots
    )
    return {
        "contacts": len(fixture.contacts),
        "listings": len(fixture.listings),
        "sales": len(fixture.sales),
        "slots": len(fixture.slots),
    }


def _listing(params: dict) -> Listing:
    try:
        return Listing.objects.get(mls_id=params.get("mls_id"))
    except Listing.DoesNotExist as exc:
        raise CrmActionError(f"no listing with MLS id {params.get('mls_id')!r}") from exc


@transaction.atomic
def crm_showing_book(*, params: dict, user) -> str:
    listing = _listing(params)
    slots = ShowingSlot.objects.select_for_update().filter(listing=listing, booked_by__isnull=True)
    start = params.get("start")
    slot = next((s for s in slots if start and s.start.isoformat() == _utc_iso(start)), None)
    if slot is None:
        slot = slots.first() if not start else None
    if slot is None:
        raise CrmActionError(f"no open showing slot at {start or 'any time'} for {listing.address}")
    slot.booked_by = user
    slot.save(update_fields=["booked_by"])
    local = datetime.fromisoformat(slot_record(slot)["start"])
    when = f"{local:%a %b %-d at %H:%M}"
    return f"Booked a {slot.minutes}-minute showing of {listing.address} on {when}."


def _utc_iso(value: str) -> str:
    try:
        return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    except (TypeError, ValueError) as exc:
        raise CrmActionError(f"{value!r} is not a date-time") from exc


def crm_listing_status_update(*, params: dict, user) -> str:
    listing = _listing(params)
    status = params.get("status")
    if status not in dict(Listing.STATUSES):
        raise CrmActionError(f"status must be active, pending or sold, not {status!r}")
    previous, listing.status = listing.status, status
    listing.save(update_fields=["status"])
    return f"{listing.address} is now {status} (was {previous})."


def crm_task_create(*, params: dict, user) -> str:
    title = str(params.get("title") or params.get("summary") or "").strip()
    if not title:
        raise CrmActionError("a task needs a title")
    listing = Listing.objects.filter(mls_id=params.get("mls_id")).first()
    due = params.get("due")
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError as exc:
        raise CrmActionError(f"due must be a date like 2026-03-14, not {due!r}") from exc
    Task.objects.create(title=title[:200], due=due_date, listing=listing, created_by=user)
    return f"Created task “{title[:200]}”" + (f" due {due_date:%b %-d}." if due_date else ".")


def crm_email_queue(*, params: dict, user) -> str:
    to = params.get("to")
    recipients = to if isinstance(to, list) else [to] if to else []
    recipients = [str(r).strip() for r in recipients if str(r).strip()]
    if not recipients:
        raise CrmActionError("an email needs at least one recipient")
    subject = str(params.get("subject") or "Update from your agent")[:200]
    QueuedEmail.objects.create(
        to=", ".join(recipients)[:400],
        subject=subject,
        body=str(params.get("body") or ""),
        created_by=user,
    )
    return f"Queued an email to {', '.join(recipients)}: “{subject}”."


# In the order of action_request's variants. Each is a permission, crm.<action> (models.py):
# the chat offers a user only the actions they hold, and running one checks it again.
ACTIONS = {
    "book_showing": crm_showing_book,
    "send_email": crm_email_queue,
    "create_task": crm_task_create,
    "update_listing_status": crm_listing_status_update,
}


def action_permission(action: str) -> str:
    return f"{DemoConfig.label}.{action}"


def crm_actions_held(*, user) -> list[str]:
    """The actions `user` may run, in ACTIONS order (an active superuser holds them all)."""
    if user is None:
        return []
    return [action for action in ACTIONS if user.has_perm(action_permission(action))]


def crm_actions_grant(*, user, actions=None) -> None:
    """Give `user` the permissions of `actions` (all of ACTIONS when None)."""
    codenames = list(ACTIONS if actions is None else actions)
    unknown = set(codenames) - set(ACTIONS)
    if unknown:
        raise ValueError(f"not CRM actions: {', '.join(sorted(unknown))}")
    permissions = Permission.objects.filter(
        content_type__app_label=DemoConfig.label, codename__in=codenames
    )
    user.user_permissions.add(*permissions)


def crm_action_run(*, action: str, params: dict, user) -> str:
    """Run a confirmed action_request; returns what happened, for the conversation.

    Refused (CrmActionError, its message for the user) unless the action exists, `user`
    holds its permission, and `params` fit the action's typed params in the demo's
    action_request schema, whichever version the card was written with.
    """
    if action not in ACTIONS:
        raise CrmActionError(f"unknown action {action!r}")
    if user is None or not user.has_perm(action_permission(action)):
        raise CrmActionError(
            f"You may not run {action} (it needs the {action_permission(action)} permission)."
        )
    if not isinstance(params, dict):
        raise CrmActionError("params must be an object")
    if problems := _params_problems(action, params):
        raise CrmActionError(f"{action} cannot run with these params: " + "; ".join(problems))
    return ACTIONS[action](params=params, user=user)


def _params_problems(action: str, params: dict) -> list[str]:
    schema = action_params_schema(_action_schema(), action)
    if not isinstance(schema, dict):
        return []
    return [f"params{e.pointer}: {e.message}" for e in validator_for(schema).errors(params)[:5]]


@functools.cache
def _action_schema() -> dict:
    """The active action_request schema of the demo's widget files: the typed params."""
    return next(d.json_schema for d in demo_widget_definitions() if d.name == "action_request")
