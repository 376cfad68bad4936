"""Pick the CRM records a chat turn needs and shape them as the turn's `context`.

Plain filters and keyword matches (demo README: "The context a turn carries"). The result
is stored with the message, so a turn can be replayed, evaluated and trained on exactly.
"""

import re

from django.db.models import Q

from demo.models import Contact, Listing, Sale, ShowingSlot
from demo.mortgage import mortgage_quote
from demo.questions import Ask, read_question
from demo.records import contact_record, listing_record, sale_record, slot_record

_MLS_ID = re.compile(r"\b[A-Z]{2}-[0-9]{4,8}\b")
MAX_LISTINGS = 3  # the most listing cards one answer shows
MAX_SALES = 5
MAX_CONTACTS = 3


def _referenced_listings(ask: Ask) -> list[Listing]:
    found = []
    for number, street, suffix in ask.addresses:
        query = Q(address__icontains=f" {street} {suffix}" if suffix else f" {street} ")
        if number:
            query &= Q(address__startswith=f"{number} ")
        if ask.cities:
            query &= Q(city__in=ask.cities)
        found += [x for x in Listing.objects.filter(query)[:MAX_LISTINGS] if x not in found]
    return found[:MAX_LISTINGS]


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
            return shown[:MAX_LISTINGS]
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
    limit = 1 if ask.one else MAX_LISTINGS
    return list(listings.order_by("-price" if ask.price_max else "price", "mls_id")[:limit])


def _contacts(ask: Ask, listings: list[Listing]) -> list[Contact]:
    people = list(Contact.objects.filter(name__in=ask.names))
    for listing in listings[:2]:
        if "agent" in ask.roles and listing.agent:
            people.append(listing.agent)
        if "seller" in ask.roles and listing.seller:
            people.append(listing.seller)
        if "buyer" in ask.roles:
            people += list(listing.buyers.all())
    for role in ("lender", "inspector"):
        if role in ask.roles and not any(p.role == role for p in people):
            people += list(Contact.objects.filter(role=role)[:MAX_CONTACTS])
    unique = list(dict.fromkeys(people))
    return unique[:MAX_CONTACTS]


def _subject_and_sales(ask: Ask, listings: list[Listing], question: str) -> dict:
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
    """The records `question` needs; `history` (earlier turns' text) resolves "that one"."""
    ask = read_question(
        question,
        cities=list(Listing.objects.values_list("city", flat=True).distinct()),
        people=list(Contact.objects.values_list("name", flat=True)),
    )
    referenced = _referenced_listings(ask)
    if not referenced and history and not (ask.cities or ask.beds or ask.price_max):
        referenced = _from_history(history, ask.ordinal)
    context: dict = {}
    intents = set(ask.intents)
    searching = (
        ask.beds is not None or ask.price_max or ask.price_min or (ask.cities and not referenced)
    )
    if "mortgage" in intents:
        if quote := _mortgage(ask, referenced or (_search(ask) if searching else [])):
            context["mortgage_quote"] = quote
    if "comps" in intents:
        context.update(_subject_and_sales(ask, referenced, question))
    listings = referenced or (_search(ask) if searching else [])
    about_only = _about_only(ask, referenced, searching=bool(searching))
    if (listings or searching) and "comps" not in intents and not about_only:
        # A search that found nothing says so with an empty list: the answer is then prose,
        # and the model need not guess whether a search ran.
        context["listings"] = [listing_record(x) for x in listings]
    if "showing" in intents or ("action" in intents and "book" in question.lower()):
        slots = ShowingSlot.objects.filter(listing__in=listings[:2], booked_by__isnull=True)
        by_listing: dict[str, list] = {}
        for slot in slots.select_related("listing")[:12]:
            by_listing.setdefault(slot.listing.mls_id, []).append(slot_record(slot))
        if listings:
            context["open_slots"] = by_listing  # {}: none open (a pending or sold listing)
    if contacts := _contacts(ask, listings):
        context["contacts"] = [contact_record(c) for c in contacts]
    if about_only and not context.keys() & {"mortgage_quote", "contacts"}:
        # Nobody on file for "who's the buyer on X?": the answer names X and shows its card.
        context["listings"] = [listing_record(x) for x in listings]
    if ask.actions:
        # The actions on offer this turn, under action_request's field name: the grammar
        # grounds `action` in them, so a turn that asks for none cannot be given one.
        context["action"] = list(ask.actions)
    return context


def _about_only(ask: Ask, referenced: list[Listing], *, searching: bool) -> bool:
    """Whether the question asks only for a named listing's payment or people.

    The context holds the records of the answer, and a listing record in it means its card
    is shown: "who's the agent on X?" gets the agent, "X and its agent" gets both. A showing
    or an action keeps the listing, whose address and MLS id its widget needs.
    """
    intents = set(ask.intents)
    if not referenced or searching or intents & {"listing", "showing", "action"}:
        return False
    return bool(intents & {"mortgage", "contact"}) or bool(ask.roles)
