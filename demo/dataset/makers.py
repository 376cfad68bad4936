"""One maker per kind of demo conversation: a question, the context the chat retrieves for
it, and the reference reply built from that context.

A maker returns None when crm/questions.py reads the filled question differently from what
its template meant, or the context lacks what the reply needs; the caller then draws again.
Context always comes from demo.retrieval.retrieve_context, never from here, so training sees
exactly what the chat sees.
"""

import random
from dataclasses import dataclass

from demo.dataset import phrasing as P
from demo.dataset import replies as R
from demo.dataset.crm import DemoCrm, DemoListing
from demo.fixture import STREETS, SUFFIXES
from demo.questions import Ask, read_question
from demo.retrieval import retrieve_context


@dataclass(frozen=True, kw_only=True)
class Draft:
    kind: str  # meta.kind: search, showing, comps, mortgage, contact, action, combo, smalltalk
    question: str  # the last user message
    context: dict  # retrieve_context(question, history=history)
    reply: str  # the reference answer
    history: tuple[str, ...] = ()  # earlier turns' texts: user, assistant, ...


# ------------------------------------------------------------------ shared helpers


def read(crm: DemoCrm, question: str) -> Ask:
    return read_question(question, cities=list(crm.cities), people=list(crm.contacts))


def finish(rng: random.Random, text: str) -> str:
    """Sometimes a typo, sometimes a capital: people type both ways."""
    text = P.with_typo(rng, text)
    return text[0].upper() + text[1:] if rng.random() < 0.3 else text


def listing_ref(rng: random.Random, crm: DemoCrm, listing: DemoListing) -> str:
    options = [listing.address, listing.address, f"{listing.address} in {listing.city}"]
    if listing.street in crm.unique_streets:  # "the Juniper Dr one" names exactly one listing
        options.append(f"the {listing.street} one")
    return rng.choice(options)


def shows_only(context: dict, listing: DemoListing) -> bool:
    return [x["mls_id"] for x in context.get("listings", [])] == [listing.mls_id]


def keys(context: dict) -> set[str]:
    """The record kinds a context holds; the actions on offer are not records."""
    return set(context) - {"action"}


def round_to(value: float, step: int, *, up: bool) -> int:
    whole = int(value // step) * step
    return whole + step if up and whole < value else whole


def budget(value: float, *, up: bool) -> int:
    """A round budget near `value`; 50k steps past a million, as "1.025m" is misread."""
    return round_to(value, 50_000 if value >= 975_000 else 25_000, up=up)


def terms_phrase(rng: random.Random, price: int) -> tuple[str, dict]:
    """Loan terms as an agent types them, and the values crm/questions.py must read."""
    want = {"down_percent": None, "down_amount": None, "rate_percent": None, "term_years": None}
    parts = []
    down = rng.choice(["percent", "percent", "amount", "none"])
    if down == "percent":
        want["down_percent"] = float(rng.choice([3.5, 5, 10, 10, 15, 20, 25]))
        parts.append(f"with {want['down_percent']:g}% down")
    elif down == "amount":
        amounts = [a for a in (20_000, 25_000, 40_000, 50_000, 75_000, 100_000) if a < price / 3]
        if amounts:
            want["down_amount"] = rng.choice(amounts)
            parts.append(f"with {P.money(rng, want['down_amount'], words=False)} down")
    if rng.random() < 0.35:
        want["rate_percent"] = float(rng.choice([5.75, 6, 6.25, 6.5, 6.875, 7, 7.25]))
        parts.append(f"at {want['rate_percent']:g}%")
    if rng.random() < 0.35:
        want["term_years"] = rng.choice([15, 20, 30])
        years = want["term_years"]
        # Not "over 20 years": crm/questions.py reads "over 20" as a minimum price.
        parts.append(rng.choice([f"for {years} years", f"{years}yr", f"on a {years}-year"]))
    joiner = rng.choice([" ", ", "])
    return ((" " if parts else "") + joiner.join(parts)).replace(" , ", ", "), want


def terms_read_right(ask: Ask, want: dict) -> bool:
    return all(getattr(ask, name) == value for name, value in want.items())


def quote_for(context: dict, price: int) -> dict | None:
    quote = context.get("mortgage_quote")
    return quote if quote and quote["price"] == price else None


# ------------------------------------------------------------------ search


def _search_question(rng: random.Random, crm: DemoCrm, *, one: bool) -> tuple[str, tuple]:
    """A search question around an active listing (so it matches), and the filters meant."""
    anchor = rng.choice(crm.active())
    beds, price = anchor.record["beds"], anchor.record["price"]
    styles = ["beds_max", "beds_max", "beds_between", "atleast_max", "beds_min"]
    style = rng.choice(styles if one else [*styles, "beds_only", "max_only"])
    at_least = style == "atleast_max"
    if at_least:
        beds = max(1, beds - rng.choice([0, 1]))
    low = high = None
    if style in ("beds_max", "atleast_max", "max_only"):
        high = budget(price * rng.uniform(1.0, 1.15), up=True)
        price_text = P.max_price_phrase(rng, high)
    elif style == "beds_between":
        low = budget(price * rng.uniform(0.8, 0.97), up=False)
        high = budget(price * rng.uniform(1.0, 1.15), up=True)
        price_text = P.between_phrase(rng, low, high)
    elif style == "beds_min":
        low = budget(price * rng.uniform(0.85, 1.0), up=False)
        price_text = P.min_price_phrase(rng, low)
    else:
        price_text = ""
    city = anchor.city if rng.random() < 0.8 else anchor.city.lower()
    beds_text = P.beds_phrase(rng, beds, at_least)
    templates = {"beds_only": P.SEARCH_NO_PRICE, "max_only": P.SEARCH_CITY_ONLY}.get(
        style, P.SEARCH_ONE if one else P.SEARCH_MANY
    )
    question = rng.choice(templates).format(beds=beds_text, city=city, price=price_text)
    meant = (
        (anchor.city,),
        None if style == "max_only" else beds,
        at_least,
        low,
        high,
    )
    return finish(rng, question), meant


def _reads_as_search(crm: DemoCrm, question: str, meant: tuple) -> bool:
    ask = read(crm, question)
    filters = (ask.cities, ask.beds, ask.beds_at_least, ask.price_min, ask.price_max)
    plain = not (ask.intents - {"listing"} or ask.addresses or ask.names or ask.roles or ask.status)
    return filters == meant and plain


def search_reply(rng: random.Random, context: dict) -> str:
    shown = context["listings"]  # retrieval keeps what one answer shows: the best 3, or 1
    blocks = [R.listing_block(x) for x in shown]
    values = {"n": R.count_word(len(shown)), "city": shown[0]["city"]}
    values["N"] = values["n"].capitalize()
    if len(shown) == 1:
        intros = R.SEARCH_ONE + R.SEARCH_ONE_CITY
    else:
        intros = R.SEARCH_MANY + R.SEARCH_MANY_CITY
    return R.compose(rng, intros, blocks, R.SEARCH_OUTRO, **values)


def make_search(rng: random.Random, crm: DemoCrm, *, one: bool = False) -> Draft | None:
    question, meant = _search_question(rng, crm, one=one)
    if not _reads_as_search(crm, question, meant) or read(crm, question).one != one:
        return None
    context = retrieve_context(question)
    if keys(context) != {"listings"}:
        return None
    return Draft(
        kind="search", question=question, context=context, reply=search_reply(rng, context)
    )


def make_no_match(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """A search nothing fits: the reply says so in prose and shows no card."""
    city = rng.choice(crm.cities)
    beds = rng.choice([5, 6])
    high = rng.choice([100_000, 125_000, 150_000, 175_000, 200_000])
    question = rng.choice(P.SEARCH_MANY).format(
        beds=P.beds_phrase(rng, beds, False), city=city, price=P.max_price_phrase(rng, high)
    )
    question = finish(rng, question)
    if not _reads_as_search(crm, question, ((city,), beds, False, None, high)):
        return None
    context = retrieve_context(question)
    if context != {"listings": []}:
        return None
    return Draft(kind="search", question=question, context=context, reply=rng.choice(R.NO_MATCH))


# ------------------------------------------------------------------ one listing


def make_showing(rng: random.Random, crm: DemoCrm) -> Draft | None:
    # Pending or sold: no slots, and the reply must not invent any. 0.4: at 0.1 the demo had
    # 1 such training row, and the adapter wrote made-up slots for both eval rows; at 0.3 (10
    # training rows) it still did for 2 of 9.
    closed = rng.random() < 0.4
    pool = [x for x in crm.listings if (x.record["status"] != "active") == closed]
    listing = rng.choice(pool)
    question = finish(rng, rng.choice(P.SHOWING).format(ref=listing_ref(rng, crm, listing)))
    if "showing" not in read(crm, question).intents:
        return None
    context = retrieve_context(question)
    if keys(context) != {"listings", "open_slots"} or not shows_only(context, listing):
        return None
    values = {"address": listing.address, "status": listing.record["status"]}
    if closed:
        if context.get("open_slots") != {}:
            return None
        reply = R.compose(rng, R.NO_SLOTS, [R.listing_block(listing.record)], **values)
    else:
        if not context.get("open_slots"):
            return None
        reply = showing_reply(rng, listing, context, R.SHOWING)
    return Draft(kind="showing", question=question, context=context, reply=reply)


def showing_reply(rng: random.Random, listing: DemoListing, context: dict, intros) -> str:
    """The listing's card, then its open slots: the context holds both, so both are shown."""
    blocks = [
        R.listing_block(listing.record),
        R.scheduler_block(listing.record, context["open_slots"][listing.mls_id]),
    ]
    return R.compose(rng, intros, blocks, R.SHOWING_OUTRO, address=listing.address)


def _off_market(rng: random.Random, crm: DemoCrm) -> str:
    while True:
        address = f"{rng.randint(10, 9899)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        if address not in crm.taken_addresses:
            return address


def make_comps(rng: random.Random, crm: DemoCrm) -> Draft | None:
    if rng.random() < 0.3:  # a home not in the CRM: the agent names its city
        city = rng.choice(crm.cities)
        address = _off_market(rng, crm)
        ref = rng.choice([f"{address} in {city}", f"{address}, {city}"])
    else:
        listing = rng.choice(crm.listings)
        address, city, ref = listing.address, listing.city, listing_ref(rng, crm, listing)
    question = finish(rng, rng.choice(P.COMPS).format(ref=ref))
    context = retrieve_context(question)
    if keys(context) != {"subject", "recent_sales"}:
        return None
    if context["subject"] != {"address": address, "city": city}:
        return None
    if context["recent_sales"]:
        block = R.comps_block(context["subject"], context["recent_sales"])
        reply = R.compose(rng, R.COMPS, [block], R.COMPS_OUTRO, address=address)
    else:
        reply = rng.choice(R.NO_SALES).format(address=address)
    return Draft(kind="comps", question=question, context=context, reply=reply)


def mortgage_reply(rng: random.Random, quote: dict) -> str:
    return R.compose(
        rng,
        R.MORTGAGE,
        [R.mortgage_block(quote)],
        R.MORTGAGE_OUTRO,
        rate=quote["rate_percent"],
        term=quote["term_years"],
    )


def make_mortgage(rng: random.Random, crm: DemoCrm) -> Draft | None:
    if rng.random() < 0.55:
        listing = rng.choice(crm.listings)
        price = listing.record["price"]
        terms, want = terms_phrase(rng, price)
        template = rng.choice(P.MORTGAGE_LISTING)
        question = template.format(ref=listing_ref(rng, crm, listing), terms=terms)
        expected = {"mortgage_quote"}  # the listing's card only when it is asked for too
    else:
        listing = None
        # Round prices, as people say them; 50k steps past a million keep "1.05m" exact.
        price = rng.choice(
            [*range(150_000, 1_000_000, 5_000), *range(1_000_000, 1_500_001, 50_000)]
        )
        terms, want = terms_phrase(rng, price)
        template = rng.choice(P.MORTGAGE_PRICE)
        question = template.format(price=P.money(rng, price, words=False), terms=terms)
        expected = {"mortgage_quote"}
    question = finish(rng, question)
    if not terms_read_right(read(crm, question), want):
        return None
    context = retrieve_context(question)
    if keys(context) != expected or not quote_for(context, price):
        return None
    reply = mortgage_reply(rng, context["mortgage_quote"])
    return Draft(kind="mortgage", question=question, context=context, reply=reply)


# ------------------------------------------------------------------ contacts


def contacts_reply(rng: random.Random, people: list[dict]) -> str:
    blocks = [R.contact_block(p) for p in people]
    if len(people) == 1:
        values = {"name": people[0]["name"], "role": people[0]["role"]}
        return R.compose(rng, R.CONTACT_ONE, blocks, **values)
    values = {"n": R.count_word(len(people)), "role": people[0]["role"]}
    return R.compose(rng, R.CONTACT_MANY, blocks, **values)


def _listing_people(rng: random.Random, crm: DemoCrm) -> tuple[str, dict, str] | None:
    """A question about a listing's agent, seller or buyers, and the people it means."""
    role = rng.choice(["agent", "agent", "seller", "buyer"])
    listing = rng.choice(crm.listings)
    names = {"agent": [listing.agent], "seller": [listing.seller], "buyer": listing.buyers}[role]
    if None in names:
        return None
    templates = {"agent": P.AGENT, "seller": P.SELLER, "buyer": P.BUYERS}[role]
    question = finish(rng, rng.choice(templates).format(ref=listing_ref(rng, crm, listing)))
    context = retrieve_context(question)
    people = [crm.contacts[n] for n in names]
    if not people:  # nobody interested yet: the context holds the listing, to say so over
        if keys(context) != {"listings"} or not shows_only(context, listing):
            return None
        block = R.listing_block(listing.record)
        return question, context, R.compose(rng, R.NO_BUYERS, [block], address=listing.address)
    if keys(context) != {"contacts"} or context["contacts"] != people:
        return None
    return question, context, contacts_reply(rng, people)


def _named_person(rng: random.Random, crm: DemoCrm) -> tuple[str, dict, str] | None:
    name = rng.choice(list(crm.contacts))
    said = name if rng.random() < 0.8 else name.lower()
    question = finish(rng, rng.choice(P.PERSON).format(name=said))
    context = retrieve_context(question)
    # Every person retrieval brings gets a card: the context is the answer's records.
    if keys(context) != {"contacts"} or crm.contacts[name] not in context["contacts"]:
        return None
    return question, context, contacts_reply(rng, context["contacts"])


def _people_in_role(rng: random.Random, crm: DemoCrm) -> tuple[str, dict, str] | None:
    role = rng.choice(sorted(P.ROLE_PEOPLE))
    question = finish(rng, rng.choice(P.ROLE_PEOPLE[role]))
    context = retrieve_context(question)
    if keys(context) != {"contacts"} or any(c["role"] != role for c in context["contacts"]):
        return None
    return question, context, contacts_reply(rng, context["contacts"])


def make_contact(rng: random.Random, crm: DemoCrm) -> Draft | None:
    maker = rng.choice([_listing_people, _listing_people, _named_person, _people_in_role])
    made = maker(rng, crm)
    if made is None:
        return None
    question, context, reply = made
    return Draft(kind="contact", question=question, context=context, reply=reply)
