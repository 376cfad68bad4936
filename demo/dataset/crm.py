"""The demo CRM as plain records, read once: what the demo data generator picks from.

Rows are read in a fixed order so that the same seed over the same CRM gives the same data.
"""

from collections import Counter
from dataclasses import dataclass

from demo.models import Contact, Listing, Sale, ShowingSlot
from demo.records import contact_record, listing_record, sale_record, slot_record


@dataclass(frozen=True, kw_only=True)
class DemoListing:
    record: dict  # exactly what retrieval puts in context["listings"]
    agent: str | None
    seller: str | None
    buyers: tuple[str, ...]
    slots: tuple[dict, ...]  # open showing slots, earliest first, as context["open_slots"] holds

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

    @property
    def people(self) -> tuple[str, ...]:
        """Everyone on file for the listing, as retrieval brings them: agent, seller, buyers."""
        return tuple(n for n in (self.agent, self.seller, *self.buyers) if n)


@dataclass(frozen=True, kw_only=True)
class DemoCrm:
    listings: tuple[DemoListing, ...]
    contacts: dict[str, dict]  # name -> contact record
    sales: dict[str, tuple[dict, ...]]  # city -> recent sales, newest first
    cities: tuple[str, ...]
    unique_streets: frozenset[str]  # "Juniper Dr" names one listing, so "the Juniper Dr one" works
    taken_addresses: frozenset[str]  # listings and sales: an "off-market" address avoids these
    slot_days: tuple[str, ...]  # local dates of open slots: plausible due dates for tasks

    def active(self) -> list[DemoListing]:
        return [x for x in self.listings if x.record["status"] == "active"]

    def by_role(self, role: str) -> list[dict]:
        return [c for c in self.contacts.values() if c["role"] == role]


def demo_crm_read() -> DemoCrm:
    slots: dict[str, list[dict]] = {}
    for slot in ShowingSlot.objects.filter(booked_by__isnull=True).select_related("listing"):
        slots.setdefault(slot.listing.mls_id, []).append(slot_record(slot))
    listings = tuple(
        DemoListing(
            record=listing_record(x),
            agent=x.agent.name if x.agent else None,
            seller=x.seller.name if x.seller else None,
            buyers=tuple(sorted(b.name for b in x.buyers.all())),
            slots=tuple(slots.get(x.mls_id, ())),
        )
        for x in Listing.objects.select_related("agent", "seller")
        .prefetch_related("buyers")
        .order_by("mls_id")
    )
    sales: dict[str, list[dict]] = {}
    for sale in Sale.objects.all():  # newest first (Sale.Meta.ordering)
        sales.setdefault(sale.city, []).append(sale_record(sale))
    streets = Counter(x.street for x in listings)
    return DemoCrm(
        listings=listings,
        contacts={c.name: contact_record(c) for c in Contact.objects.order_by("name")},
        sales={city: tuple(rows) for city, rows in sorted(sales.items())},
        cities=tuple(sorted({x.city for x in listings})),
        unique_streets=frozenset(s for s, n in streets.items() if n == 1),
        taken_addresses=frozenset(
            [*(x.address for x in listings), *(s["address"] for r in sales.values() for s in r)]
        ),
        slot_days=tuple(sorted({s["start"][:10] for rows in slots.values() for s in rows})),
    )
