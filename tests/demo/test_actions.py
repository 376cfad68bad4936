from datetime import date

import pytest
from django.contrib.auth import get_user_model

from demo.domain import DEMO
from demo.models import Listing, QueuedEmail, ShowingSlot, Task
from demo.records import slot_record
from demo.services import (
    ACTIONS,
    CrmActionError,
    crm_action_run,
    crm_actions_grant,
    crm_actions_held,
    crm_fixture_load,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing(db):
    crm_fixture_load(today=date(2026, 11, 21))
    return Listing.objects.filter(status="active", slots__isnull=False).first()


@pytest.fixture
def agent(plain_user):
    """A CRM agent: a plain user who holds every action."""
    crm_actions_grant(user=plain_user)
    return get_user_model().objects.get(pk=plain_user.pk)  # no stale permission cache


def holding(user, *actions):
    crm_actions_grant(user=user, actions=actions)
    return get_user_model().objects.get(pk=user.pk)


def test_book_showing_books_the_named_slot(listing, agent):
    slot = listing.slots.last()
    params = {"mls_id": listing.mls_id, "start": slot_record(slot)["start"], "minutes": 30}
    outcome = crm_action_run(action="book_showing", params=params, user=agent)
    assert listing.address in outcome
    slot.refresh_from_db()
    assert slot.booked_by == agent
    with pytest.raises(CrmActionError, match="no open showing slot"):
        crm_action_run(action="book_showing", params=params, user=agent)


def test_update_listing_status(listing, agent):
    crm_action_run(
        action="update_listing_status",
        params={"mls_id": listing.mls_id, "status": "pending"},
        user=agent,
    )
    listing.refresh_from_db()
    assert listing.status == "pending"
    with pytest.raises(CrmActionError, match="params/status: 'gone' is not one of"):
        crm_action_run(
            action="update_listing_status",
            params={"mls_id": listing.mls_id, "status": "gone"},
            user=agent,
        )


def test_create_task_and_queue_email(listing, agent):
    crm_action_run(
        action="create_task",
        params={"title": "Call the seller", "due": "2026-12-01"},
        user=agent,
    )
    assert Task.objects.get().due == date(2026, 12, 1)
    crm_action_run(
        action="send_email",
        params={"to": ["a@example.com", "b@example.com"], "subject": "New price"},
        user=agent,
    )  # fmt: skip
    assert QueuedEmail.objects.get().to == "a@example.com, b@example.com"


START = "2026-11-23T10:00:00-06:00"


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        ("launch_rocket", {}, "unknown action"),
        ("book_showing", "not an object", "params must be an object"),
        # The CRM's own checks, on params of the right types.
        ("book_showing", {"mls_id": "ZZ-0000", "start": START, "minutes": 30}, "no listing"),
        ("create_task", {"title": "   "}, "needs a title"),
        # Params that do not fit the action's typed params (action_request v2) never run.
        (
            "book_showing",
            {"mls_id": "ZZ-0000"},
            "book_showing cannot run with these params: params: 'minutes' is a required "
            "property; params: 'start' is a required property",
        ),
        ("book_showing", {"mls_id": "ZZ-0000", "start": START, "minutes": 20}, "params/minutes"),
        (
            "send_email",
            {"to": "a@example.com", "subject": "New price"},  # v1's untyped form
            "params/to: 'a@example.com' is not of type 'array'",
        ),
        ("send_email", {"to": [], "subject": "New price"}, "params/to: "),
        ("send_email", {"to": ["someone"], "subject": "New price"}, "params/to/0: "),
        ("create_task", {"title": "Call", "due": "soon"}, "params/due: 'soon' is not a 'date'"),
        ("create_task", {"title": "Call", "assignee": "Bo"}, "params: Additional properties"),
    ],
)
def test_bad_actions_are_refused_clearly_and_change_nothing(
    listing, agent, action, params, message
):
    with pytest.raises(CrmActionError, match=message.replace("(", r"\(")):
        crm_action_run(action=action, params=params, user=agent)
    assert not Task.objects.exists() and not QueuedEmail.objects.exists()
    assert not ShowingSlot.objects.filter(booked_by__isnull=False).exists()


def test_an_action_the_user_does_not_hold_is_refused(listing, plain_user):
    user = holding(plain_user, "create_task")
    params = {"mls_id": listing.mls_id, "status": "pending"}
    with pytest.raises(CrmActionError, match=r"may not run update_listing_status.*crm\."):
        crm_action_run(action="update_listing_status", params=params, user=user)
    listing.refresh_from_db()
    assert listing.status == "active"
    crm_action_run(action="create_task", params={"title": "Call the seller"}, user=user)
    assert Task.objects.get().created_by == user


def test_superusers_hold_every_action_and_no_user_holds_none(staff_user, plain_user):
    assert crm_actions_held(user=staff_user) == list(ACTIONS)
    assert crm_actions_held(user=plain_user) == []
    assert crm_actions_held(user=None) == []
    with pytest.raises(ValueError, match="not CRM actions: launch"):
        crm_actions_grant(user=plain_user, actions=["create_task", "launch"])


def test_the_context_lists_the_actions_only_when_the_user_lacks_some(staff_user, plain_user):
    def context(user):
        return DEMO.context(question="hello", history=(), user=user)

    assert "actions" not in context(staff_user)  # absent means all
    assert context(plain_user)["actions"] == []
    some = holding(plain_user, "update_listing_status", "send_email")
    assert context(some)["actions"] == ["send_email", "update_listing_status"]  # ACTIONS order
    every = holding(plain_user, *ACTIONS)
    assert "actions" not in context(every)
