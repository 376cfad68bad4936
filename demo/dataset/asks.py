"""One maker per row of the demo's rules ("What an answer shows", shared/demo/README.md).

A maker picks records from the CRM, writes a question about them in one of several phrasing
families, builds the context a recall-minded retrieval would bring (a listing with all its
people and open slots, a pricing ask with the subject's listing, a search with every hit)
and answers by the rules: the context bounds what may be shown, the ask decides what is.
So most contexts hold more than the answer shows, and the tune learns the decision.

A maker returns None when the records it drew cannot make its kind of row (a listing with
no buyers for "who are the buyers"); the caller draws again.
"""

import random
from dataclasses import dataclass
from datetime import datetime

from demo.contexts import MAX_SALES, MAX_SEARCH_HITS, MAX_SLOTS, context_of
from demo.dataset import phrasing as P
from demo.dataset import replies as R
from demo.dataset.crm import DemoCrm, DemoListing
from demo.fixture import STREETS, SUFFIXES
from demo.mortgage import mortgage_quote

ACTIONS = ("book_showing", "send_email", "create_task", "update_listing_status")
ACTION_VERBS = {
    "book_showing": "book showings",
    "send_email": "send emails",
    "create_task": "create tasks",
    "update_listing_status": "change a listing's status",
}


@dataclass(frozen=True, kw_only=True)
class Draft:
    kind: str  # meta.kind: the rule the row exercises (data.KIND_PERCENT's keys)
    question: str  # the last user message
    context: dict
    reply: str  # the reference answer
    history: tuple[str, ...] = ()  # earlier turns' texts: user, assistant, ...


# ------------------------------------------------------------------ records and contexts


def listing_ref(rng: random.Random, crm: DemoCrm, listing: DemoListing) -> str:
    """How an agent names a listing: its address in any case, with or without the street
    type or city, its MLS id, or its street alone when only one listing is on it."""
    number, rest = listing.address.split(" ", 1)
    street_name = rest.rsplit(" ", 1)[0]
    options = [
        listing.address,
        listing.address,
        listing.address.lower(),
        f"{number} {street_name}",
        f"{listing.address} in {listing.city}",
        f"{listing.address}, {listing.city}",
        listing.mls_id,
    ]
    if listing.street in crm.unique_streets:
        options += [f"the {listing.street} one", f"the {street_name.lower()} place"]
    return rng.choice(options)


def people_of(crm: DemoCrm, listing: DemoListing) -> list[dict]:
    return [crm.contacts[n] for n in listing.people]


def recall_people(rng: random.Random, crm: DemoCrm, listing: DemoListing) -> list[dict]:
    """A listing's people as retrieval brings them, now and then with a lender or an
    inspector the agent works with."""
    people = people_of(crm, listing)
    for role in ("lender", "inspector"):
        if rng.random() < 0.2:
            people.append(rng.choice(crm.by_role(role)))
    return people


def open_slots(*listings: DemoListing) -> dict:
    return {x.mls_id: [dict(s) for s in x.slots[:MAX_SLOTS]] for x in listings if x.slots}


def listing_context(rng: random.Random, crm: DemoCrm, listing: DemoListing, **extra) -> dict:
    """A listing, its people, and (often) its open slots: what a named listing brings."""
    parts = {"listings": [listing.record], "contacts": recall_people(rng, crm, listing) or None}
    if listing.slots and rng.random() < 0.5:
        parts["open_slots"] = open_slots(listing)
    parts.update(extra)
    return context_of(**parts)


def recent_sales(crm: DemoCrm, city: str, sqft: int | None) -> list[dict]:
    sales = crm.sales.get(city, ())
    if sqft:
        sales = tuple(s for s in sales if 0.7 * sqft <= s["sqft"] <= 1.3 * sqft)
    return [dict(s) for s in sales[:MAX_SALES]]


def with_actions(rng: random.Random, context: dict, *, asked: str | None = None) -> dict:
    """Now and then the user may run only some actions: the context says which. When an
    action was asked for, it is sometimes not among them, and the answer is a refusal."""
    if rng.random() > 0.3:
        return context
    allowed = [a for a in ACTIONS if rng.random() < 0.6]
    if asked is not None and rng.random() < 0.55 and asked not in allowed:
        allowed.append(asked)
    allowed = sorted(allowed, key=ACTIONS.index)
    return context_of(**context, actions=allowed)


def allowed(context: dict, action: str) -> bool:
    return action in context.get("actions", ACTIONS)


def say(rng: random.Random, template: str) -> str:
    return P.voice(rng, template)


# ------------------------------------------------------------------ search


def _search(rng: random.Random, crm: DemoCrm, *, hits_wanted: bool):
    """A search question, and the active listings it finds, closest to the budget first."""
    anchor = rng.choice(crm.active())
    city = anchor.city
    beds, at_least = anchor.record["beds"], rng.random() < 0.25
    if at_least:
        beds = max(1, beds - rng.choice([0, 1]))
    if not hits_wanted:
        beds, at_least = rng.choice([5, 6]), False
    price = anchor.record["price"] if hits_wanted else rng.choice([90_000, 120_000, 150_000])
    style = rng.choice(["max", "max", "max", "between", "min", "none"])
    low = high = None
    step = 50_000 if price >= 975_000 else 25_000
    if style in ("max", "between"):
        high = (int(price * rng.uniform(1.0, 1.12)) // step + 1) * step
        if not hits_wanted:
            high = price
    if style in ("min", "between"):
        low = (int(price * rng.uniform(0.85, 0.98)) // step) * step
    if style == "none" and hits_wanted and rng.random() < 0.5:
        beds = None  # city and budget only
        high = (int(price * rng.uniform(1.0, 1.1)) // step + 1) * step
    found = [
        x
        for x in crm.active()
        if x.city == city
        and (beds is None or (x.record["beds"] >= beds if at_least else x.record["beds"] == beds))
        and (high is None or x.record["price"] <= high)
        and (low is None or x.record["price"] >= low)
    ]
    found.sort(key=lambda x: (-x.record["price"] if high else x.record["price"], x.mls_id))
    if beds is None and high is None and low is None:
        return None
    if hits_wanted != bool(found) or len(found) > MAX_SEARCH_HITS:
        return None
    if low and high:
        price_text = rng.choice(P.BETWEEN).format(lo=P.money(rng, low), hi=P.money(rng, high))
    elif high:
        price_text = rng.choice(P.MAX_PRICE).format(m=P.money(rng, high))
    elif low:
        price_text = rng.choice(P.MIN_PRICE).format(m=P.money(rng, low))
    else:
        price_text = ""
    said_city = rng.choice([city, city, city.lower()])
    if beds is None:
        template = P.pick(rng, P.SEARCH_NO_BEDS)
        question = template.format(city=said_city, price=price_text)
    else:
        template = P.pick(rng, P.SEARCH)
        beds_text = P.beds_phrase(rng, beds, at_least)
        question = template.format(beds=beds_text, city=said_city, price=price_text)
    return say(rng, " ".join(question.split())), found


def search_reply(rng: random.Random, found: list[DemoListing]) -> str:
    values = {"n": R.count_word(len(found)), "city": found[0].city}
    values["N"] = values["n"].capitalize()
    intros = R.SEARCH_ONE if len(found) == 1 else R.SEARCH_MANY
    blocks = [R.listing_block(x.record) for x in found]
    return R.compose(rng, intros, blocks, R.SEARCH_OUTRO, **values)


def make_search(rng: random.Random, crm: DemoCrm) -> Draft | None:
    if (made := _search(rng, crm, hits_wanted=True)) is None:
        return None
    question, found = made
    context = with_actions(rng, context_of(listings=[x.record for x in found]))
    return Draft(kind="search", question=question, context=context, reply=search_reply(rng, found))


def make_no_match(rng: random.Random, crm: DemoCrm) -> Draft | None:
    if (made := _search(rng, crm, hits_wanted=False)) is None:
        return None
    question, _ = made
    context = with_actions(rng, context_of(listings=[]))
    return Draft(
        kind="search_none", question=question, context=context, reply=rng.choice(R.NO_MATCH)
    )


# ------------------------------------------------------------------ one listing


def make_about(rng: random.Random, crm: DemoCrm) -> Draft | None:
    listing = rng.choice(crm.listings)
    question = say(rng, P.pick(rng, P.ABOUT).format(ref=listing_ref(rng, crm, listing)))
    context = with_actions(rng, listing_context(rng, crm, listing))
    blocks = [R.listing_block(listing.record)]
    reply = R.compose(rng, R.ABOUT, blocks, address=listing.address)
    return Draft(kind="one_listing", question=question, context=context, reply=reply)


def _showing_reply(rng: random.Random, listing: DemoListing) -> str:
    block = R.scheduler_block(listing.record, list(listing.slots))
    return R.compose(rng, R.SHOWING, [block], R.SHOWING_OUTRO, address=listing.address)


def make_showing(rng: random.Random, crm: DemoCrm, *, closed: bool = False) -> Draft | None:
    """When a listing can be seen: its scheduler only; no open slots: prose."""
    if not closed and rng.random() < 0.2:
        return make_showing_two(rng, crm)
    pool = [x for x in crm.listings if bool(x.slots) != closed]
    listing = rng.choice(pool)
    if closed and listing.record["status"] == "active":
        return None
    question = say(rng, P.pick(rng, P.SHOWING).format(ref=listing_ref(rng, crm, listing)))
    context = listing_context(rng, crm, listing, open_slots=open_slots(listing))
    context = with_actions(rng, context)
    if closed:
        values = {"address": listing.address, "status": listing.record["status"]}
        reply = rng.choice(R.NO_SLOTS).format(**values)
        return Draft(kind="showing_none", question=question, context=context, reply=reply)
    return Draft(
        kind="showing", question=question, context=context, reply=_showing_reply(rng, listing)
    )


def make_showing_two(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """Two listings to see: one scheduler each, in the order asked."""
    pool = [x for x in crm.active() if x.slots]
    first, second = rng.sample(pool, 2)
    refs = {"ref": listing_ref(rng, crm, first), "ref2": listing_ref(rng, crm, second)}
    question = say(rng, rng.choice(P.SHOWING_TWO).format(**refs))
    people = recall_people(rng, crm, first) + recall_people(rng, crm, second)
    context = context_of(
        listings=[first.record, second.record],
        open_slots=open_slots(first, second),
        contacts=list({p["name"]: p for p in people}.values()) or None,
    )
    blocks = [R.scheduler_block(x.record, list(x.slots)) for x in (first, second)]
    reply = R.compose(rng, R.SHOWING_MANY, blocks, R.SHOWING_OUTRO)
    return Draft(kind="showing", question=question, context=context, reply=reply)


def _off_market(rng: random.Random, crm: DemoCrm) -> str:
    while True:
        address = f"{rng.randint(10, 9899)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        if address not in crm.taken_addresses:
            return address


def make_comps(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """What a home is worth: the comparables table only, though the subject's listing and
    its people come along when the home is in the CRM."""
    if rng.random() < 0.25:
        city = rng.choice(crm.cities)
        address = _off_market(rng, crm)
        ref = rng.choice([f"{address} in {city}", f"{address}, {city}"])
        context = context_of(subject={"address": address, "city": city})
        sales = recent_sales(crm, city, None)
    else:
        listing = rng.choice(crm.listings)
        address, city, ref = listing.address, listing.city, listing_ref(rng, crm, listing)
        sales = recent_sales(crm, city, listing.record["sqft"])
        context = listing_context(rng, crm, listing, subject={"address": address, "city": city})
    context = with_actions(rng, context_of(**context, recent_sales=sales))
    question = say(rng, P.pick(rng, P.COMPS).format(ref=ref))
    if not sales:
        reply = rng.choice(R.NO_SALES).format(address=address)
    else:
        block = R.comps_block(context["subject"], sales)
        reply = R.compose(rng, R.COMPS, [block], R.COMPS_OUTRO, address=address)
    return Draft(kind="comps", question=question, context=context, reply=reply)


def terms(rng: random.Random, price: int) -> tuple[str, dict]:
    """Loan terms as an agent types them, and the quote's terms they mean (20% down, 6.5%,
    30 years when not said: the CRM's defaults)."""
    down, rate, years = round(price * 0.2), 6.5, 30
    parts = []
    form = rng.choice(["percent", "percent", "amount", "none"])
    if form == "percent":
        percent = rng.choice([3.5, 5, 10, 10, 15, 20, 25])
        down = round(price * percent / 100)
        parts.append(
            rng.choice([f"with {percent:g}% down", f"{percent:g}% down", f"{percent:g} pct down"])
        )
    elif form == "amount":
        amounts = [a for a in (20_000, 25_000, 40_000, 50_000, 75_000, 100_000) if a < price / 3]
        if amounts:
            down = rng.choice(amounts)
            parts.append(f"{rng.choice(['with ', ''])}{P.money(rng, down)} down")
    if rng.random() < 0.4:
        rate = rng.choice([5.75, 6, 6.25, 6.875, 7, 7.25])
        parts.append(rng.choice([f"at {rate:g}%", f"@ {rate:g}%", f"{rate:g} percent rate"]))
    if rng.random() < 0.35:
        years = rng.choice([15, 20])
        parts.append(rng.choice([f"for {years} years", f"{years}yr", f"on a {years}-year"]))
    text = (" " if parts else "") + rng.choice([" ", ", "]).join(parts)
    quote = mortgage_quote(price=price, down_payment=down, rate_percent=rate, term_years=years)
    return text, quote


def mortgage_reply(rng: random.Random, quote: dict) -> str:
    values = {"rate": f"{quote['rate_percent']:g}", "term": quote["term_years"]}
    return R.compose(rng, R.MORTGAGE, [R.mortgage_block(quote)], R.MORTGAGE_OUTRO, **values)


def make_mortgage(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """A monthly payment: the estimate only, though a named listing comes with its record."""
    if rng.random() < 0.6:
        listing = rng.choice(crm.listings)
        said, quote = terms(rng, listing.record["price"])
        ref = listing_ref(rng, crm, listing)
        question = P.pick(rng, P.MORTGAGE_LISTING).format(ref=ref, terms=said)
        context = listing_context(rng, crm, listing, mortgage_quote=quote)
    else:
        price = rng.choice(
            [*range(150_000, 1_000_000, 5_000), *range(1_000_000, 1_500_001, 50_000)]
        )
        said, quote = terms(rng, price)
        question = P.pick(rng, P.MORTGAGE_PRICE).format(price=P.money(rng, price), terms=said)
        context = context_of(mortgage_quote=quote)
    context = with_actions(rng, context)
    return Draft(
        kind="mortgage",
        question=say(rng, question),
        context=context,
        reply=mortgage_reply(rng, quote),
    )


# ------------------------------------------------------------------ people


def contacts_reply(rng: random.Random, people: list[dict]) -> str:
    blocks = [R.contact_block(p) for p in people]
    if len(people) == 1:
        return R.compose(rng, R.CONTACT_ONE, blocks, name=people[0]["name"], role=people[0]["role"])
    return R.compose(
        rng, R.CONTACT_MANY, blocks, n=R.count_word(len(people)), role=people[0]["role"]
    )


def make_contact(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """The person or role asked for, only, out of everyone the context brings."""
    form = rng.choice(["role", "role", "role", "buyers", "person", "people"])
    if form in ("role", "buyers"):
        listing = rng.choice(crm.listings)
        ref = listing_ref(rng, crm, listing)
        if form == "buyers":
            wanted = [crm.contacts[n] for n in listing.buyers]
            question = rng.choice(P.BUYERS_ON_LISTING).format(ref=ref)
            role = "buyer"
        else:
            role = rng.choice(["agent", "agent", "seller"])
            name = listing.agent if role == "agent" else listing.seller
            wanted = [crm.contacts[name]] if name else []
            question = P.pick(rng, P.ROLE_ON_LISTING).format(role=role, ref=ref)
        context = listing_context(rng, crm, listing)
        if len(context.get("contacts", [])) <= len(wanted) and rng.random() < 0.7:
            return None  # mostly rows where the context holds more people than asked for
        if not wanted:
            reply = rng.choice(R.NO_PERSON).format(role=role, address=listing.address)
        else:
            reply = contacts_reply(rng, wanted)
    elif form == "person":
        person = rng.choice(list(crm.contacts.values()))
        said = person["name"] if rng.random() < 0.7 else person["name"].lower()
        question = P.pick(rng, P.PERSON).format(name=said)
        others = rng.sample(
            [c for c in crm.contacts.values() if c is not person], rng.randint(0, 2)
        )
        people = [person, *others]
        rng.shuffle(people)
        context = context_of(contacts=people)
        wanted = [person]
        reply = contacts_reply(rng, wanted)
    else:
        role = rng.choice(["lender", "inspector"])
        wanted = crm.by_role(role)
        question = P.pick(rng, P.ROLE_PEOPLE).format(role=role)
        context = context_of(contacts=list(wanted))
        reply = contacts_reply(rng, wanted)
    context = with_actions(rng, context)
    return Draft(kind="contact", question=say(rng, question), context=context, reply=reply)


# ------------------------------------------------------------------ actions


def when_phrase(rng: random.Random, start: str) -> str:
    """A slot's start as people name it: "Tue 11/24 at 10am", "Nov 24 10:00", "2026-11-24 10:00"."""
    moment = datetime.fromisoformat(start)
    hour = moment.strftime("%I").lstrip("0")
    minute = "" if moment.minute == 0 else f":{moment.minute:02d}"
    ampm = moment.strftime("%p").lower()
    return rng.choice(
        [
            f"{moment:%a} {moment.month}/{moment.day} at {hour}{minute}{ampm}",
            f"{moment:%A} {moment:%b} {moment.day} at {hour}{minute}{ampm}",
            f"{moment:%b} {moment.day} {moment:%H:%M}",
            f"{moment:%Y-%m-%d} {moment:%H:%M}",
            f"{moment.month}/{moment.day} {hour}{minute}{ampm}",
            f"the {moment.day}{_nth(moment.day)} at {hour}{minute}{ampm}",
        ]
    )


def _nth(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def booking(listing: DemoListing, slot: dict) -> tuple[str, str, dict]:
    start = slot["start"]
    summary = f"Book a showing of {listing.address} on {start[:10]} at {start[11:16]}"
    params = {"mls_id": listing.mls_id, "start": start, "minutes": slot["minutes"]}
    return "book_showing", summary, params


def status_change(listing: DemoListing, status: str) -> tuple[str, str, dict]:
    summary = f"Mark {listing.address} as {status}"
    return "update_listing_status", summary, {"mls_id": listing.mls_id, "status": status}


def email(people: list[dict], topic: str, listing: DemoListing | None) -> tuple[str, str, dict]:
    subject = topic[0].upper() + topic[1:] + (f" for {listing.address}" if listing else "")
    summary = f"Email {' and '.join(p['name'] for p in people)} about the {topic}"
    params: dict = {"to": [p["email"] for p in people], "subject": subject}
    if listing:
        params["mls_id"] = listing.mls_id
    return "send_email", summary, params


def task(title: str, due: str | None, listing: DemoListing | None) -> tuple[str, str, dict]:
    title = title[0].upper() + title[1:] + (f" for {listing.address}" if listing else "")
    params: dict = {"title": title}
    if due:
        params["due"] = due
    if listing:
        params["mls_id"] = listing.mls_id
    summary = f"Create a task: {title}" + (f", due {due}" if due else "")
    return "create_task", summary, params


def action_reply(rng: random.Random, context: dict, action: tuple[str, str, dict]) -> str:
    """The action's request, or, when the user may not run it, a refusal in prose."""
    name, summary, params = action
    if not allowed(context, name):
        return rng.choice(R.NOT_ALLOWED).format(verb=ACTION_VERBS[name])
    return R.compose(rng, R.ACTION, [R.action_block(name, summary, params)], R.ACTION_OUTRO)


def _book(rng: random.Random, crm: DemoCrm):
    listing = rng.choice([x for x in crm.active() if x.slots])
    slot = rng.choice(listing.slots[:MAX_SLOTS])
    when = when_phrase(rng, slot["start"])
    question = P.pick(rng, P.BOOK_AT).format(ref=listing_ref(rng, crm, listing), when=when)
    context = listing_context(rng, crm, listing, open_slots=open_slots(listing))
    return question, context, booking(listing, slot)


def _status(rng: random.Random, crm: DemoCrm):
    listing = rng.choice(crm.listings)
    status = rng.choice([s for s in ("active", "pending", "sold") if s != listing.record["status"]])
    question = P.pick(rng, P.STATUS).format(ref=listing_ref(rng, crm, listing), status=status)
    return question, listing_context(rng, crm, listing), status_change(listing, status)


def _email(rng: random.Random, crm: DemoCrm):
    topic = rng.choice(P.EMAIL_TOPICS)
    if rng.random() < 0.35:
        person = rng.choice([c for c in crm.contacts.values() if c.get("email")])
        question = P.pick(rng, P.EMAIL_PERSON).format(name=person["name"], topic=topic)
        others = rng.sample(
            [c for c in crm.contacts.values() if c is not person], rng.randint(0, 2)
        )
        people = [person, *others]
        rng.shuffle(people)
        return question, context_of(contacts=people), email([person], topic, None)
    listing = rng.choice(crm.listings)
    role = rng.choice(["seller", "buyers", "agent"])
    names = {"seller": [listing.seller], "agent": [listing.agent], "buyers": list(listing.buyers)}[
        role
    ]
    people = [crm.contacts[n] for n in names if n]
    if not people or not all(p.get("email") for p in people):
        return None
    ref = listing_ref(rng, crm, listing)
    question = P.pick(rng, P.EMAIL_ROLE).format(role=role, ref=ref, topic=topic)
    return question, listing_context(rng, crm, listing), email(people, topic, listing)


def _task(rng: random.Random, crm: DemoCrm):
    title = rng.choice(P.TASKS)
    due = rng.choice(crm.slot_days) if rng.random() < 0.6 else None
    due_text = f"{rng.choice([' by ', ', due ', ' before '])}{due}" if due else ""
    if rng.random() < 0.4:
        listing = rng.choice(crm.listings)
        ref = listing_ref(rng, crm, listing)
        question = P.pick(rng, P.TASK_LISTING).format(task=title, ref=ref, due=due_text)
        return question, listing_context(rng, crm, listing), task(title, due, listing)
    question = P.pick(rng, P.TASK).format(task=title, due=due_text)
    return question, {}, task(title, due, None)


ACTION_MAKERS = (_book, _book, _status, _email, _email, _task, _task)


def make_action(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """Something to do: one action_request only, or a refusal when the user may not run it."""
    made = rng.choice(ACTION_MAKERS)(rng, crm)
    if made is None:
        return None
    question, context, action = made
    context = with_actions(rng, context, asked=action[0])
    return Draft(
        kind="action",
        question=say(rng, question),
        context=context,
        reply=action_reply(rng, context, action),
    )


# ------------------------------------------------------------------ several in one message


def _part(rng: random.Random, crm: DemoCrm, listing: DemoListing, part: str):
    """One half of a two-part ask about a listing: (words, context parts, blocks)."""
    if part == "about":
        return rng.choice(P.THEN_ABOUT), {}, [R.listing_block(listing.record)]
    if part == "showing":
        if not listing.slots:
            return None
        block = R.scheduler_block(listing.record, list(listing.slots))
        return rng.choice(P.THEN_SHOWING), {"open_slots": open_slots(listing)}, [block]
    if part == "role":
        role = rng.choice(["agent", "seller"])
        name = listing.agent if role == "agent" else listing.seller
        if not name:
            return None
        words = rng.choice(P.THEN_ROLE).format(role=role)
        return words, {}, [R.contact_block(crm.contacts[name])]
    if part == "payment":
        said, quote = terms(rng, listing.record["price"])
        words = rng.choice(P.THEN_PAYMENT).format(terms=said)
        return words, {"mortgage_quote": quote}, [R.mortgage_block(quote)]
    sales = recent_sales(crm, listing.city, listing.record["sqft"])
    if not sales:
        return None
    subject = {"address": listing.address, "city": listing.city}
    parts = {"subject": subject, "recent_sales": sales}
    return rng.choice(P.THEN_COMPS), parts, [R.comps_block(subject, sales)]


def make_several(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """Two asks about one listing in one message: the widgets of each, in the order asked."""
    listing = rng.choice(crm.listings)
    first, second = rng.sample(["about", "showing", "role", "payment", "comps"], 2)
    made = [_part(rng, crm, listing, p) for p in (first, second)]
    if None in made:
        return None
    (words1, parts1, blocks1), (words2, parts2, blocks2) = made
    ref = listing_ref(rng, crm, listing)
    opener = rng.choice([f"{ref}: ", f"for {ref}, ", f"on {ref} - "])
    question = say(rng, f"{opener}{words1}{rng.choice(P.JOIN)}{words2}?")
    context = listing_context(rng, crm, listing, **parts1, **parts2)
    context = with_actions(rng, context)
    reply = R.compose(rng, R.SEVERAL, [*blocks1, *blocks2])
    return Draft(kind="several", question=question, context=context, reply=reply)


# ------------------------------------------------------------------ two turns


def make_follow_up(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """A search answered with cards, then a question about one of them ("the second one"):
    retrieval resolves it from the history and brings that listing with its people."""
    if (made := _search(rng, crm, hits_wanted=True)) is None:
        return None
    first_question, found = made
    if len(found) > 4:
        return None
    history = (first_question, search_reply(rng, found))
    if len(found) == 1:
        index, it = 0, rng.choice(P.IT_ONE)
    else:
        index = rng.choice([i for i in P.ORDINAL_REFS if -len(found) <= i < len(found)])
        it = rng.choice(P.ORDINAL_REFS[index])
    target = found[index]
    opener = rng.choice(P.OPENERS)
    form = rng.choice(["about", "showing", "role", "payment", "comps", "book", "status", "thanks"])
    if form == "thanks":
        question = say(rng, rng.choice(P.FOLLOW_THANKS))
        reply = rng.choice(["You're welcome!", "Anytime. Want to book a showing?", "Glad to help."])
        # Retrieval may bring back the listing talked about: records are no reason for a card.
        context = listing_context(rng, crm, target) if rng.random() < 0.5 else {}
        return Draft(kind="prose", question=question, context=context, reply=reply, history=history)
    if form == "book":
        if not target.slots:
            return None
        slot = rng.choice(target.slots[:MAX_SLOTS])
        question = rng.choice(P.FOLLOW_BOOK).format(it=it, when=when_phrase(rng, slot["start"]))
        context = listing_context(rng, crm, target, open_slots=open_slots(target))
        context = with_actions(rng, context, asked="book_showing")
        reply = action_reply(rng, context, booking(target, slot))
        kind = "action"
    elif form == "status":
        status = rng.choice(["pending", "sold"])
        question = rng.choice(P.FOLLOW_STATUS).format(it=it, status=status)
        context = with_actions(
            rng, listing_context(rng, crm, target), asked="update_listing_status"
        )
        reply = action_reply(rng, context, status_change(target, status))
        kind = "action"
    else:
        templates = {
            "about": P.FOLLOW_ABOUT,
            "showing": P.FOLLOW_SHOWING,
            "role": P.FOLLOW_ROLE,
            "payment": P.FOLLOW_PAYMENT,
            "comps": P.FOLLOW_COMPS,
        }[form]
        part = _part(rng, crm, target, form)
        if part is None:
            return None
        _, parts, blocks = part
        said = ""
        if form == "payment":
            said, quote = terms(rng, target.record["price"])
            parts, blocks = {"mortgage_quote": quote}, [R.mortgage_block(quote)]
        role = "agent"  # a follow-up asks for the listing agent
        if form == "role":
            if not target.agent:
                return None
            blocks = [R.contact_block(crm.contacts[target.agent])]
        question = rng.choice(templates).format(it=it, terms=said, role=role)
        context = with_actions(rng, listing_context(rng, crm, target, **parts))
        kind = {"about": "one_listing", "role": "contact", "payment": "mortgage"}.get(form, form)
        intros = {
            "about": R.ABOUT,
            "showing": R.SHOWING,
            "role": R.CONTACT_ONE,
            "payment": R.MORTGAGE,
            "comps": R.COMPS,
        }[form]
        values = {"address": target.address, "rate": "", "term": ""}
        if form == "role":
            values.update(name=target.agent, role="agent")
        if form == "payment":
            values.update(rate=f"{quote['rate_percent']:g}", term=quote["term_years"])
        reply = R.compose(rng, intros, blocks, **values)
    question = say(rng, opener + question)
    return Draft(kind=kind, question=question, context=context, reply=reply, history=history)


# ------------------------------------------------------------------ prose only


def make_prose(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """Small talk and definitions: no records, no widget, a short plain answer."""
    if rng.random() < 0.45:
        term = rng.choice(sorted(P.DEFINITIONS))
        question, reply = P.pick(rng, P.DEFINE).format(term=term), P.DEFINITIONS[term]
    else:
        question = rng.choice(sorted(P.SMALL_TALK))
        reply = P.SMALL_TALK[question]
    context = with_actions(rng, {})
    return Draft(kind="prose", question=say(rng, question), context=context, reply=reply)
