from datetime import date

import pytest

from demo.models import Contact, Listing
from demo.mortgage import monthly_payment
from demo.questions import read_question
from demo.retrieval import retrieve_context
from demo.services import crm_fixture_load


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
    assert listing.agent.name in [c["name"] for c in context["contacts"]]
    person = Contact.objects.filter(role="lender").first()
    assert retrieve_context(f"what's {person.name}'s number?")["contacts"][0]["name"] == person.name


def test_a_named_listing_comes_with_its_people_and_open_slots(crm):
    """Recall-minded: whatever is asked of a listing, retrieval brings the listing, everyone
    on it and its open slots; the answer picks what to show (demo README)."""
    listing = (
        Listing.objects.exclude(agent=None)
        .exclude(seller=None)
        .filter(status="active", slots__isnull=False)
        .distinct()
        .first()
    )
    people = {listing.agent.name, listing.seller.name, *(b.name for b in listing.buyers.all())}
    for question in (
        f"what would the payment be on {listing.address}?",
        f"who's the listing agent for {listing.address}?",
        f"tell me about {listing.address}",
        f"set {listing.address} to pending",
    ):
        context = retrieve_context(question)
        assert [x["mls_id"] for x in context["listings"]] == [listing.mls_id], question
        assert people <= {c["name"] for c in context["contacts"]}, question
        assert list(context["open_slots"]) == [listing.mls_id], question
    assert "mortgage_quote" in retrieve_context(f"what would the payment be on {listing.address}?")
    comps = retrieve_context(f"comps for {listing.address}")
    assert comps["subject"] == {"address": listing.address, "city": listing.city}
    assert comps["listings"][0]["mls_id"] == listing.mls_id
    by_mls = retrieve_context(f"tell me about {listing.mls_id}")
    assert [x["mls_id"] for x in by_mls["listings"]] == [listing.mls_id]


def test_no_action_key_comes_from_the_words(crm):
    """The actions on offer come from the user's permissions (demo.domain), never from the
    question's words: retrieval writes neither `action` nor `actions`."""
    for question in ("remind me to order the appraisal", "what can you do?", "book 12 Oak St"):
        assert not retrieve_context(question).keys() & {"action", "actions"}
    assert retrieve_context("remind me to order the appraisal") == {}


def test_a_search_brings_every_hit(crm):
    many = retrieve_context("any 3 bed homes in Austin under 900k?")["listings"]
    best = retrieve_context("your top pick for a 3 bed in Austin under 900k?")["listings"]
    assert len(many) > 3 and best == many[:1]
    assert [x["price"] for x in many] == sorted((x["price"] for x in many), reverse=True)
    # Searched and found nothing, or looked for slots and found none: an empty group says so.
    assert retrieve_context("6 bed homes in Austin under 100k") == {"listings": []}
    sold = Listing.objects.filter(status="sold").first()
    assert retrieve_context(f"can we tour {sold.address}?")["open_slots"] == {}


def test_small_talk_needs_no_records(crm):
    assert retrieve_context("hi there! what does escrow mean?") == {}


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("3 bed homes in Dallas no more than 450k", {"price_max": 450_000, "price_min": None}),
        ("Payment on 860K with 10% down, over 20 years?", {"price_min": None, "term_years": 20}),
        ("payment on $450k at 10% down", {"rate_percent": None, "down_percent": 10.0}),
        ("anything up to 1.025 million", {"price_max": 1_025_000}),
        ("payment on $1.2 million with 20% down", {"amounts": (1_200_000,)}),
        ("4 bedrooms or more in Austin", {"beds": 4, "beds_at_least": True}),
        ("email the buyers from 566 Juniper Dr", {"price_min": None}),
        ("houses from $400k in Denver", {"price_min": 400_000}),
        ("can I see 566 juniper dr?", {"addresses": (("566", "Juniper", "Dr"),)}),
        ("when's 566 Juniper Dr open for showings?", {"intents": frozenset({"showing"})}),
        ("can we tour the first one?", {"ordinal": 0}),
        ("homes with a nice view in Austin", {"intents": frozenset(), "one": False}),
        ("give me one 3 bed option in Austin", {"one": True}),
        ("pull up 566 Juniper Dr and its agent", {"intents": frozenset({"contact", "listing"})}),
    ],
)
def test_question_reading_regressions(question, expected):
    ask = read_question(question, cities=["Austin", "Dallas", "Denver"], people=[])
    assert {key: getattr(ask, key) for key in expected} == expected


def test_full_name_beats_shared_last_names(crm):
    person = Contact.objects.order_by("name").last()
    namesakes = Contact.objects.filter(name__endswith=" " + person.name.split()[-1]).count()
    context = retrieve_context(f"contact info for {person.name}")
    assert [c["name"] for c in context["contacts"]] == [person.name], namesakes


def test_ordinal_follow_up_picks_the_card_shown_in_that_place(crm):
    shown = list(Listing.objects.filter(status="active", slots__isnull=False).distinct()[:3])
    earlier = " ".join(
        f'<widget type="listing_card">{{"mls_id": "{x.mls_id}"}}</widget>' for x in shown
    )
    first = retrieve_context("can we tour the first one?", history=(earlier,))
    assert [x["mls_id"] for x in first["listings"]] == [shown[0].mls_id]
    assert list(first["open_slots"]) == [shown[0].mls_id]
    last = retrieve_context(
        "what would the payment be on the last one with 10% down?", history=(earlier,)
    )
    assert last["mortgage_quote"]["price"] == shown[-1].price
