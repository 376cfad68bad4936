"""Reference replies of the demo data: widget payloads copied from the turn's context.

One rule per widget, always the same, so a small model can learn it: a card is the context
record as it stands (same keys, same order, same values); a scheduler offers a listing's
first open slots; a comparables table lists the first recent sales; a mortgage estimate is
the CRM's quote. Prose is one short sentence before the blocks and sometimes one after,
naming only values that are in the context.
"""

import random

from serving.prompts import widget_block

MAX_SLOTS = 3  # slots offered by one showing_scheduler
MAX_COMPS = 5  # sales in one comparables_table

# ------------------------------------------------------------------ blocks


def listing_block(record: dict) -> str:
    return widget_block("listing_card", dict(record))


def contact_block(record: dict) -> str:
    return widget_block("contact_card", dict(record))


def scheduler_block(listing: dict, slots: list[dict]) -> str:
    payload = {"mls_id": listing["mls_id"], "address": listing["address"]}
    payload["slots"] = [dict(s) for s in slots[:MAX_SLOTS]]
    return widget_block("showing_scheduler", payload)


def comps_block(subject: dict, sales: list[dict]) -> str:
    payload = {"subject_address": subject["address"], "comps": [dict(s) for s in sales[:MAX_COMPS]]}
    return widget_block("comparables_table", payload)


def mortgage_block(quote: dict) -> str:
    return widget_block("mortgage_estimate", dict(quote))


def action_block(action: str, summary: str, params: dict) -> str:
    # Keys in the schema's declared order, as for every widget: constrained decoding enforces
    # that order, and data in another one (the 2026-11-21b run put the summary after the
    # params) made the constrained adapter run its summaries on, unable to close them where it
    # learnt to.
    return widget_block("action_request", {"action": action, "summary": summary, "params": params})


# ------------------------------------------------------------------ prose


def compose(rng: random.Random, intros: list[str], blocks: list[str], outros=(), **values) -> str:
    """Intro sentence, the blocks one per line, and now and then a closing sentence."""
    lines = [rng.choice(intros).format(**values), *blocks]
    if outros and rng.random() < 0.35:
        lines.append(rng.choice(outros).format(**values))
    return "\n".join(lines)


def count_word(n: int) -> str:
    return {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}[n]


SEARCH_MANY = [
    "Here are {n} that fit:",
    "{N} active listings match:",
    "These {n} match:",
    "I found {n} options:",
    "{N} good fits:",
    "Here are {n} in {city}:",
    "{N} active listings in {city} match:",
]
SEARCH_ONE = ["Here's the one match:", "One listing fits:", "Just one in {city} fits:"]
SEARCH_OUTRO = [
    "Want to book a showing?",
    "I can pull comps on any of them.",
    "Want a payment estimate?",
    "Let me know which one you like.",
]
NO_MATCH = [
    "Nothing active matches that right now. Want me to widen the search?",
    "No active listings fit those filters. Try a higher budget or fewer beds?",
    "I couldn't find a match. Should I loosen the criteria?",
]
ABOUT = ["Here's {address}:", "{address}:", "Here's the listing:", "This is {address}:"]
SHOWING = [
    "Open slots for {address}:",
    "Here are the showing times for {address}:",
    "{address} has these slots open:",
    "You can tour {address} at these times:",
]
SHOWING_MANY = ["Here are the open slots:", "Showing times for both:", "Open slots for each:"]
SHOWING_OUTRO = ["Pick one and I'll book it.", "Choose a time to book it."]
NO_SLOTS = [
    "{address} is {status}, so there are no open showing slots.",
    "No open slots: {address} is {status}.",
]
COMPS = [
    "Recent sales near {address}:",
    "Here are comps for {address}:",
    "These nearby sales support a price for {address}:",
]
COMPS_OUTRO = ["These should help set the price.", "Want me to draft a list price from these?"]
NO_SALES = [
    "I couldn't find recent sales near {address}.",
    "No recent comparable sales near {address}.",
]
MORTGAGE = [
    "Here's the estimate:",
    "At {rate}% for {term} years:",
    "Estimated payment:",
    "Here are the numbers:",
]
MORTGAGE_OUTRO = ["A lender can confirm the rate.", "Taxes and insurance are extra."]
CONTACT_ONE = [
    "Here's {name}:",
    "{name} is the {role}:",
    "You can reach {name} here:",
    "Here's the contact:",
]
CONTACT_MANY = ["Here are the {role}s:", "These {n} can help:", "Here are {n} {role}s:"]
NO_PERSON = [
    "There's no {role} on file for {address} yet.",
    "No {role} is linked to {address} in the CRM.",
]
# Every action intro starts with "Confirm": the first word of a reply is where a small model
# commits to a widget, and a word no other intro uses makes that choice easy to learn.
ACTION = [
    "Confirm and I'll do it:",
    "Confirm to run this request:",
    "Confirm this and it runs:",
]
ACTION_OUTRO = ["Nothing runs until you confirm."]
# The user asked for an action their account may not run (the context's `actions`).
NOT_ALLOWED = [
    "Your account can't {verb} from this chat. Ask an admin for access.",
    "I can't {verb} for you: that action isn't enabled for your account.",
    "That's not something I can do for you here: your account can't {verb}.",
]
SEVERAL = ["Here you go:", "Here's what you asked for:", "Both, in order:", "Here it is:"]
