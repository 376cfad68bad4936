"""Demo conversations beyond one widget: several widgets in a reply, two-turn follow-ups,
and prose-only small talk.

Several widgets: the user asks for the listing itself ("show me", "details", "pull up") as
well as its agent, payment or showing times; without those words the single-widget makers
answer the same context with one widget. Follow-ups: a search answered with cards, then
"that one" / "the first one", which retrieval resolves from the MLS ids in the history.
"""

import random

from demo.dataset import phrasing as P
from demo.dataset import replies as R
from demo.dataset.actions import action_reply, booking, status_change
from demo.dataset.crm import DemoCrm, DemoListing
from demo.dataset.makers import (
    Draft,
    contacts_reply,
    finish,
    keys,
    listing_ref,
    make_search,
    mortgage_reply,
    quote_for,
    read,
    showing_reply,
    shows_only,
    terms_phrase,
    terms_read_right,
)
from demo.retrieval import retrieve_context

# ------------------------------------------------------------------ several widgets


def _with_agent(crm: DemoCrm, listing: DemoListing, question: str):
    context = retrieve_context(question)
    agent = crm.contacts.get(listing.agent or "")
    if keys(context) != {"listings", "contacts"} or context["contacts"] != [agent]:
        return None
    return context, [R.contact_block(agent)], R.LISTING_AND_AGENT


def _with_payment(crm: DemoCrm, listing: DemoListing, question: str):
    context = retrieve_context(question)
    if keys(context) != {"listings", "mortgage_quote"}:
        return None
    if not quote_for(context, listing.record["price"]):
        return None
    return context, [R.mortgage_block(context["mortgage_quote"])], R.LISTING_AND_PAYMENT


def _with_tour(crm: DemoCrm, listing: DemoListing, question: str):
    # The same context, and so the same answer, as "when can we see it?" (make_showing).
    context = retrieve_context(question)
    slots = context.get("open_slots", {}).get(listing.mls_id)
    if keys(context) != {"listings", "open_slots"} or not slots:
        return None
    return context, [R.scheduler_block(listing.record, slots)], R.LISTING_AND_TOUR


_COMBOS = [
    (P.LISTING_AND_AGENT, _with_agent),
    (P.LISTING_AND_PAYMENT, _with_payment),
    (P.LISTING_AND_TOUR, _with_tour),
]


def make_combo(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """The listing card, then its agent, payment or showing times."""
    templates, answer = rng.choice(_COMBOS)
    listing = rng.choice(crm.active())
    terms, want = terms_phrase(rng, listing.record["price"])
    template = rng.choice(templates)
    question = finish(rng, template.format(ref=listing_ref(rng, crm, listing), terms=terms))
    if "{terms}" in template and not terms_read_right(read(crm, question), want):
        return None
    made = answer(crm, listing, question)
    if made is None or not shows_only(made[0], listing):
        return None
    context, blocks, intros = made
    blocks = [R.listing_block(listing.record), *blocks]
    reply = R.compose(rng, intros, blocks, address=listing.address)
    return Draft(kind="combo", question=question, context=context, reply=reply)


# ------------------------------------------------------------------ two turns


def _follow_showing(rng: random.Random, crm: DemoCrm, target: DemoListing, context: dict):
    if keys(context) != {"listings", "open_slots"} or target.mls_id not in context["open_slots"]:
        return None
    if not shows_only(context, target):
        return None
    return "showing", showing_reply(rng, target, context, R.SHOWING)


def _follow_mortgage(rng: random.Random, crm: DemoCrm, target: DemoListing, context: dict):
    quote = quote_for(context, target.record["price"])
    if keys(context) != {"mortgage_quote"} or not quote:
        return None
    return "mortgage", mortgage_reply(rng, quote)


def _follow_agent(rng: random.Random, crm: DemoCrm, target: DemoListing, context: dict):
    agent = crm.contacts.get(target.agent or "")
    if keys(context) != {"contacts"} or context["contacts"] != [agent]:
        return None
    return "contact", contacts_reply(rng, [agent])


def _follow_comps(rng: random.Random, crm: DemoCrm, target: DemoListing, context: dict):
    if keys(context) != {"subject", "recent_sales"} or not context["recent_sales"]:
        return None
    if context["subject"] != {"address": target.address, "city": target.city}:
        return None
    block = R.comps_block(context["subject"], context["recent_sales"])
    return "comps", R.compose(rng, R.COMPS, [block], R.COMPS_OUTRO, address=target.address)


def _follow_book(rng: random.Random, crm: DemoCrm, target: DemoListing, context: dict):
    if keys(context) != {"listings", "open_slots"} or target.mls_id not in context["open_slots"]:
        return None
    slot = context["open_slots"][target.mls_id][0]
    return "action", action_reply(rng, *booking(target.record, slot))


def _follow_status(rng: random.Random, crm: DemoCrm, target: DemoListing, context: dict):
    listed = [x["mls_id"] for x in context.get("listings", [])]
    if keys(context) != {"listings"} or target.mls_id not in listed:
        return None
    return "action", action_reply(rng, *status_change(target.record, "pending"))


# (phrasings, answer, weight). Comps weigh double: a comps follow-up must drop the first
# turn's listing cards for a table, and at an even share (13 training rows) the adapter
# answered one with the first turn's cards again.
_FOLLOW_UPS = [
    (P.FOLLOW_SHOWING, _follow_showing, 1),
    (P.FOLLOW_MORTGAGE, _follow_mortgage, 1),
    (P.FOLLOW_AGENT, _follow_agent, 1),
    (P.FOLLOW_COMPS, _follow_comps, 2),
    (P.FOLLOW_BOOK, _follow_book, 1),
    (P.FOLLOW_STATUS, _follow_status, 1),
]


def make_follow_up(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """A search, then a question about the first card shown, resolved through history."""
    first = make_search(rng, crm, one=rng.random() < 0.7)
    if first is None:
        return None
    shown = first.reply.count('<widget type="listing_card">')
    target = next(x for x in crm.listings if x.mls_id == first.context["listings"][0]["mls_id"])
    templates, answer, _ = rng.choices(_FOLLOW_UPS, weights=[w for *_, w in _FOLLOW_UPS])[0]
    terms, want = terms_phrase(rng, target.record["price"])
    it = rng.choice(P.IT_ONE if shown == 1 else P.IT_FIRST)
    template = rng.choice(templates)
    question = finish(rng, rng.choice(P.OPENERS) + template.format(it=it, terms=terms))
    if "{terms}" in template and not terms_read_right(read(crm, question), want):
        return None
    history = (first.question, first.reply)
    context = retrieve_context(question, history=history)
    made = answer(rng, crm, target, context)
    if made is None:
        return None
    kind, reply = made
    return Draft(kind=kind, question=question, context=context, reply=reply, history=history)


# ------------------------------------------------------------------ prose only


def make_small_talk(rng: random.Random, crm: DemoCrm) -> Draft | None:
    """Definitions and chit-chat: no records, no widget, a short plain answer."""
    if rng.random() < 0.5:
        term = rng.choice(sorted(P.DEFINITIONS))
        question, reply = rng.choice(P.DEFINE).format(term=term), P.DEFINITIONS[term]
    else:
        question = rng.choice(sorted(P.SMALL_TALK))
        reply = P.SMALL_TALK[question]
    question = finish(rng, question)
    context = retrieve_context(question)
    if context:
        return None
    return Draft(kind="smalltalk", question=question, context=context, reply=reply)
