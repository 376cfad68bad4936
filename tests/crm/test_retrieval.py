from datetime import date

import pytest

from crm.models import Contact, Listing
from crm.mortgage import monthly_payment
from crm.questions import read_question
from crm.retrieval import retrieve_context
from crm.services import crm_fixture_load


@pytest.fixture
def crm(db):
    crm_fixture_load(today=date(2026, 11, 21))


def test_reading_a_search_question():
    ask = read_question(
        "anything 3 bed in Austin under 500k?", cities=["Austin", "Dallas"], people=[]
    )
    assert (ask.cities, ask.beds, ask.beds_at_least, ask.price_max) == (
        ("Austin",),
        3,
        False,
        500_000,
    )
    ask = read_question("3+ bedrooms in Denver between 500k and 700k", cities=["Denver"], people=[])
    assert (ask.beds, ask.beds_at_least, ask.price_min, ask.price_max) == (
        3,
        True,
        500_000,
        700_000,
    )
    ask = read_question("two bedroom under $1.2m", cities=[], people=[])
    assert (ask.beds, ask.price_max) == (2, 1_200_000)


def test_reading_mortgage_terms():
    ask = read_question(
        "payment on $450k with 10% down at 6.25% for 15 years?", cities=[], people=[]
    )
    assert (ask.down_percent, ask.rate_percent, ask.term_years) == (10.0, 6.25, 15)
    assert 450_000 in ask.amounts and "mortgage" in ask.intents


def test_mortgage_payment_matches_the_standard_formula():
    assert (
        monthly_payment(price=449_000, down_payment=44_900, rate_percent=6.25, term_years=30)
        == 2488
    )
    assert monthly_payment(price=120_000, down_payment=0, rate_percent=0, term_years=10) == 1000


def test_search_returns_only_matching_active_listings(crm):
    context = retrieve_context("anything 3 bed in Austin under 500k?")
    assert set(context) == {"listings"} and context["listings"]
    for record in context["listings"]:
        assert (record["city"], record["beds"], record["status"]) == ("Austin", 3, "active")
        assert record["price"] <= 500_000


def test_showing_question_brings_open_slots_of_that_listing(crm):
    listing = Listing.objects.filter(status="active", slots__isnull=False).first()
    street = " ".join(listing.address.split()[1:])
    context = retrieve_context(f"can I see the {street} one Saturday?")
    assert listing.mls_id in [x["mls_id"] for x in context["listings"]]
    assert listing.mls_id in context["open_slots"]


def test_follow_up_resolves_the_listing_from_history(crm):
    listing = Listing.objects.filter(status="active", slots__isnull=False).first()
    earlier = f'<widget type="listing_card">{{"mls_id": "{listing.mls_id}"}}</widget>'
    context = retrieve_context("can we tour that one?", history=(earlier,))
    assert [x["mls_id"] for x in context["listings"]] == [listing.mls_id]


def test_comps_question_brings_subject_and_recent_sales(crm):
    context = retrieve_context("what should we list 88 Elm St in Dallas at?")
    assert context["subject"] == {"address": "88 Elm St", "city": "Dallas"}
    assert 1 <= len(context["recent_sales"]) <= 5


def test_mortgage_question_is_computed_by_the_crm(crm):
    listing = Listing.objects.first()
    context = retrieve_context(f"what would the payment be on {listing.address} with 10% down?")
    quote = context["mortgage_quote"]
    assert quote["price"] == listing.price and quote["down_payment"] == round(listing.price * 0.1)
    assert quote["monthly_payment"] == monthly_payment(
        price=listing.price, down_payment=quote["down_payment"], rate_percent=6.5, term_years=30
    )


def test_contact_questions(crm):
    listing = Listing.objects.exclude(agent=None).first()
    context = retrieve_context(f"who's the listing agent for {listing.address}?")
    assert context["contacts"][0]["name"] == listing.agent.name
    person = Contact.objects.filter(role="lender").first()
    assert retrieve_context(f"what's {person.name}'s number?")["contacts"][0]["name"] == person.name


def test_small_talk_needs_no_records(crm):
    assert retrieve_context("hi there! what does escrow mean?") == {}
