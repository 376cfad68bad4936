"""The demo CRM as plain records, read once: what the demo data generator picks from.

Rows are read in a fixed order so that the same seed over the same CRM gives the same data.
"""

from collections import Counter
from dataclasses import dataclass

from demo.models import Contact, Listing, Sale, ShowingSlot
from demo.records import contact_record, listing_record, slot_record


@dataclass(frozen=True, kw_only=True)
class DemoListing:
    record: dict  # exactly what retrieval puts in context["listings"]
    agent: str | None
    seller: str | None
    buyers: tuple[str, ...]

    @property
    def mls_id(self) -> str:
        return self.record["mls_id"]

    @property
    def address(self) -> str:
        return self.record["address"]

    @property
    def city(self) -> str:
        return self.record["city"]

    @property
    def street(self) -> str:
        return self.address.split(" ", 1)[1]


@dataclass(frozen=True, kw_only=True)
class DemoCrm:
    listings: tuple[DemoListing, ...]
    contacts: dict[str, dict]  # name -> contact record
    cities: tuple[str, ...]
    unique_streets: frozenset[str]  # "Juniper Dr" names one listing, so "the Juniper Dr one" works
    taken_addresses: frozenset[str]  # listings and sales: an "off-market" address avoids these
    slot_days: tuple[str, ...]  # local dates of open slots: plausible due dates for tasks

    def active(self) -> list[DemoListing]:
        return [x for x in self.listings if x.record["status"] == "active"]

    def by_role(self, role: str) -> list[dict]:
        return [c for c in self.contacts.values() if c["role"] == role]


def demo_crm_read() -> DemoCrm:
    listings = tuple(
        DemoListing(
            record=listing_record(x),
            agent=x.agent.name if x.agent else None,
            seller=x.seller.name if x.seller else None,
            buyers=tuple(sorted(b.name for b in x.buyers.all())),
        )
        for x in Listing.objects.select_related("agent", "seller")
        .prefetch_related("buyers")
        .order_by("mls_id")
    )
    streets = Counter(x.street for x in listings)
    sales = Sale.objects.order_by("address").values_list("address", flat=True)
    return DemoCrm(
        listings=listings,
        contacts={c.name: contact_record(c) for c in Contact.objects.order_by("name")},
        cities=tuple(sorted({x.city for x in listings})),
        unique_streets=frozenset(s for s, n in streets.items() if n == 1),
        taken_addresses=frozenset([*(x.address for x in listings), *sales]),
        slot_days=_slot_days(),
    )


def _slot_days() -> tuple[str, ...]:
    slots = ShowingSlot.objects.filter(booked_by__isnull=True).select_related("listing")
    return tuple(sorted({slot_record(s)["start"][:10] for s in slots}))
