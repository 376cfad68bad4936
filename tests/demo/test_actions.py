from datetime import date

import pytest

from demo.models import Listing, QueuedEmail, ShowingSlot, Task
from demo.records import slot_record
from demo.services import CrmActionError, crm_action_run, crm_fixture_load

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing(db):
    crm_fixture_load(today=date(2026, 11, 21))
    return Listing.objects.filter(status="active", slots__isnull=False).first()


def test_book_showing_books_the_named_slot(listing, plain_user):
    slot = listing.slots.last()
    params = {"mls_id": listing.mls_id, "start": slot_record(slot)["start"]}
    outcome = crm_action_run(action="book_showing", params=params, user=plain_user)
    assert listing.address in outcome
    slot.refresh_from_db()
    assert slot.booked_by == plain_user
    with pytest.raises(CrmActionError, match="no open showing slot"):
        crm_action_run(action="book_showing", params=params, user=plain_user)


def test_update_listing_status(listing, plain_user):
    crm_action_run(
        action="update_listing_status",
        params={"mls_id": listing.mls_id, "status": "pending"},
        user=plain_user,
    )
    listing.refresh_from_db()
    assert listing.status == "pending"
    with pytest.raises(CrmActionError, match="status must be"):
        crm_action_run(
            action="update_listing_status",
            params={"mls_id": listing.mls_id, "status": "gone"},
            user=plain_user,
        )


def test_create_task_and_queue_email(listing, plain_user):
    crm_action_run(
        action="create_task",
        params={"title": "Call the seller", "due": "2026-12-01"},
        user=plain_user,
    )
    assert Task.objects.get().due == date(2026, 12, 1)
    crm_action_run(
        action="send_email",
        params={"to": ["a@example.com", "b@example.com"], "subject": "New price"},
        user=plain_user,
    )  # fmt: skip
    assert QueuedEmail.objects.get().to == "a@example.com, b@example.com"


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        ("launch_rocket", {}, "unknown action"),
        ("book_showing", {"mls_id": "ZZ-0000"}, "no listing"),
        ("send_email", {"to": []}, "at least one recipient"),
        ("create_task", {"title": " "}, "needs a title"),
        ("create_task", {"title": "x", "due": "soon"}, "due must be a date"),
        ("book_showing", "not an object", "params must be an object"),
    ],
)
def test_bad_actions_are_refused_clearly_and_change_nothing(
    listing, plain_user, action, params, message
):
    with pytest.raises(CrmActionError, match=message):
        crm_action_run(action=action, params=params, user=plain_user)
    assert not Task.objects.exists() and not QueuedEmail.objects.exists()
    assert not ShowingSlot.objects.filter(booked_by__isnull=False).exists()
