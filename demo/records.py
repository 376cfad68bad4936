"""CRM rows as context records: the field names and shapes of the widget payloads."""

from datetime import timedelta, timezone

from demo.fixture import CITIES
from demo.models import Contact, Listing, Sale, ShowingSlot


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def listing_record(listing: Listing) -> dict:
    record = {
        "mls_id": listing.mls_id,
        "address": listing.address,
        "city": listing.city,
        "price": listing.price,
        "beds": listing.beds,
        "baths": _number(listing.baths),
        "sqft": listing.sqft,
        "status": listing.status,
    }
    if listing.photo_url:
        record["photo_url"] = listing.photo_url
    return record


def contact_record(contact: Contact) -> dict:
    record = {"name": contact.name, "role": contact.role}
    if contact.phone:
        record["phone"] = contact.phone
    if contact.email:
        record["email"] = contact.email
    return record


def sale_record(sale: Sale) -> dict:
    return {
        "address": sale.address,
        "sold_price": sale.sold_price,
        "sold_date": sale.sold_date.isoformat(),
        "sqft": sale.sqft,
    }


def slot_record(slot: ShowingSlot) -> dict:
    """The start in the listing's own time zone: what the agent and the buyer read."""
    offset = CITIES.get(slot.listing.city, (None, None, 0))[2]
    start = slot.start.astimezone(timezone(timedelta(hours=offset)))
    return {"start": start.isoformat(), "minutes": slot.minutes}
