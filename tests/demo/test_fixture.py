from datetime import date

import pytest

from demo.fixture import CITIES, generate_crm
from demo.models import Listing
from demo.records import contact_record, listing_record, sale_record, slot_record
from demo.services import crm_fixture_load
from demo.widget_files import demo_widget_definitions
from widgets.markup import validator_for

TODAY = date(2026, 11, 21)


def schemas():
    return {d.name: validator_for(d.json_schema) for d in demo_widget_definitions()}


def test_fixture_is_seeded_and_sized_like_a_real_crm():
    first, again = generate_crm(today=TODAY), generate_crm(today=TODAY)
    assert first == again
    assert generate_crm(seed=8, today=TODAY) != first
    assert len(first.listings) >= 300 and len({x.city for x in first.listings}) == len(CITIES)
    assert len({x.mls_id for x in first.listings}) == len(first.listings)
    assert {x.status for x in first.listings} == {"active", "pending", "sold"}
    assert all(s.start.date() > TODAY for s in first.slots)
    assert all(s.sold_date < TODAY for s in first.sales)


@pytest.mark.django_db
def test_every_record_is_a_valid_widget_payload():
    crm_fixture_load(today=TODAY)
    validators = schemas()
    for listing in Listing.objects.all():
        assert validators["listing_card"].errors(listing_record(listing)) == [], listing.mls_id
        for slot in listing.slots.all():
            payload = {
                "mls_id": listing.mls_id,
                "address": listing.address,
                "slots": [slot_record(slot)],
            }
            assert validators["showing_scheduler"].errors(payload) == []
        if listing.agent:
            assert validators["contact_card"].errors(contact_record(listing.agent)) == []
    from demo.models import Sale

    comps = [sale_record(s) for s in Sale.objects.all()[:8]]
    assert (
        validators["comparables_table"].errors({"subject_address": "1 Main St", "comps": comps})
        == []
    )


@pytest.mark.django_db
def test_loading_twice_keeps_one_crm():
    assert crm_fixture_load(today=TODAY)["listings"] >= 300
    assert crm_fixture_load(today=TODAY) == {"listings": 0}
    assert Listing.objects.count() == len(generate_crm(today=TODAY).listings)
