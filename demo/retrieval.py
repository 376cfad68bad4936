"""Pick the CRM records a chat turn may need and shape them as the turn's `context`.

Plain filters and keyword matches, and recall-minded (demo README: "The context a turn
carries"): a named listing comes with its people and open slots, a pricing ask with the
subject's listing, a search with every hit. Which of them the answer shows is the model's
decision, and no pattern here decides what it may answer. The actions a user may run come
from the domain's permissions (demo.domain), not from the question. The result is stored
with the message, so a turn can be replayed, evaluated and trained on exactly.
"""

import re

from django.db.models import Q

from demo.contexts import MAX_SALES, MAX_SEARCH_HITS, MAX_SLOTS, context_of
from demo.models import Contact, Listing, Sale, ShowingSlot
from demo.mortgage import mortgage_quote
from demo.questions import Ask, read_question
from demo.records import contact_record, listing_record, sale_record, slot_record

_MLS_ID = re.compile(r"\b[A-Z]{2}-[0-9]{4,8}\b")
MAX_NAMED = 3  # listings one question names ("12 Oak St and 40 Elm Ave")
MAX_CONTACTS = 8


def _referenced_listings(ask: Ask, question: str) -> list[Listing]:
    found = list(Listing.objects.filter(mls_id__in=_MLS_ID.findall(question)))
    for number, street, suffix in ask.addresses:
        query = Q(address__icontains=f" {street} {suffix}" if suffix else f" {street} ")
        if number:
            query &= Q(address__startswith=f"{number} ")
        if ask.cities:
            query &= Q(city__in=ask.cities)
        found += [x for x in Listing.objects.filter(query)[:MAX_NAMED] if x not in found]
    return found[:MAX_NAMED]


def _from_history(history: tuple[str, ...], ordinal: int | None) -> list[Listing]:
    """Listings of the latest earlier turn that showed any, in the order it showed them;
    "the first one" / "the last one" picks one of them."""
    for earlier in reversed(history):
        mls_ids = list(dict.fromkeys(_MLS_ID.findall(earlier)))
        found = {x.mls_id: x for x in Listing.objects.filter(mls_id__in=mls_ids)}
        shown = [found[m] for m in mls_ids if m in found]
        if shown:
            if ordinal is not None and -len(shown) <= ordinal < len(shown):
                return [shown[ordinal]]
            return shown[:MAX_NAMED]
    return []


def _search(ask: Ask) -> list[Listing]:
    listings = Listing.objects.filter(status="active")
    if ask.cities:
        listings = listings.filter(city__in=ask.cities)
    if ask.beds is not None:
        listings = (
            listings.filter(beds__gte=ask.beds)
            if ask.beds_at_least
            else listings.filter(beds=ask.beds)
        )
    if ask.price_max is not None:
        listings = listings.filter(price__lte=ask.price_max)
    if ask.price_min is not None:
        listings = listings.filter(price__gte=ask.price_min)
    # Closest to the budget first: what an agent would show.
    limit = 1 if ask.one else MAX_SEARCH_HITS
    return list(listings.order_by("-price" if ask.price_max else "price", "mls_id")[:limit])


def _people(ask: Ask, listings: list[Listing]) -> list[Contact]:
    """Everyone on the listings, the people named, and the lenders or inspectors asked for."""
    people = list(Contact.objects.filter(name__in=ask.names))
    for listing in listings:
        people += [x for x in (listing.agent, listing.seller) if x]
        people += list(listing.buyers.all())
    for role in ("lender", "inspector"):
        if role in ask.roles:
            people += list(Contact.objects.filter(role=role))
    return list(dict.fromkeys(people))[:MAX_CONTACTS]


def _open_slots(listings: list[Listing]) -> dict:
    by_listing: dict[str, list] = {}
    slots = ShowingSlot.objects.filter(listing__in=listings, booked_by__isnull=True)
    for slot in slots.select_related("listing").order_by("start", "id"):
        found = by_listing.setdefault(slot.listing.mls_id, [])
        if len(found) < MAX_SLOTS:
            found.append(slot_record(slot))
    return by_listing


def _subject_and_sales(ask: Ask, listings: list[Listing]) -> dict:
    if listings:
        subject = {"address": listings[0].address, "city": listings[0].city}
        sqft = listings[0].sqft
    elif ask.addresses:
        number, street, suffix = ask.addresses[0]
        address = " ".join(part for part in (number, street, suffix) if part)
        subject = {"address": address, "city": (ask.cities or ("Austin",))[0]}
        sqft = None
    else:
        return {}
    sales = Sale.objects.filter(city=subject["city"])
    if sqft:
        sales = sales.filter(sqft__gte=sqft * 0.7, sqft__lte=sqft * 1.3)
    return {"subject": subject, "recent_sales": [sale_record(s) for s in sales[:MAX_SALES]]}


def _mortgage(ask: Ask, listings: list[Listing]) -> dict | None:
    price = listings[0].price if listings else None
    amounts = [a for a in ask.amounts if a not in (ask.down_amount,) and a >= 50_000]
    if price is None and amounts:
        price = amounts[0]
    if price is None:
        return None
    if ask.down_amount is not None:
        down = ask.down_amount
    else:
        down = round(price * (ask.down_percent if ask.down_percent is not None else 20) / 100)
    return mortgage_quote(
        price=price,
        down_payment=min(down, price),
        rate_percent=ask.rate_percent or 6.5,
        term_years=ask.term_years if ask.term_years in (10, 15, 20, 30) else 30,
    )


def retrieve_context(question: str, *, history: tuple[str, ...] = ()) -> dict:
    """The records `question` may need; `history` (earlier turns' text) resolves "that one"."""
    ask = read_question(
        question,
        cities=list(Listing.objects.values_list("city", flat=True).distinct()),
        people=list(Contact.objects.values_list("name", flat=True)),
    )
    referenced = _referenced_listings(ask, question)
    searching = not referenced and bool(
        ask.beds is not None or ask.price_max or ask.price_min or ask.cities
    )
    if not referenced and not searching and history:
        referenced = _from_history(history, ask.ordinal)
    parts: dict = {}
    if referenced:
        parts["listings"] = [listing_record(x) for x in referenced]
        slots = _open_slots(referenced)
        if slots or "showing" in ask.intents:
            parts["open_slots"] = slots  # {}: none open (a pending or sold listing)
    elif searching:
        # Every hit; none found is an empty list, so the answer can say so.
        parts["listings"] = [listing_record(x) for x in _search(ask)]
    if "comps" in ask.intents:
        parts.update(_subject_and_sales(ask, referenced))
    if "mortgage" in ask.intents:
        parts["mortgage_quote"] = _mortgage(ask, referenced)
    if people := _people(ask, referenced):
        parts["contacts"] = [contact_record(c) for c in people]
    return context_of(**parts)
