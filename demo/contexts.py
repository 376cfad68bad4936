"""The shape of a demo turn's context: one order of keys for retrieval and the demo data.

Retrieval is recall-minded (shared/demo/README.md, "The context a turn carries"): it brings
what may be relevant, a listing with its people, a pricing ask with the subject's listing, a
search with every hit. Which of those records an answer shows is the model's decision.
"""

CONTEXT_KEYS = (
    "listings",
    "open_slots",
    "subject",
    "recent_sales",
    "mortgage_quote",
    "contacts",
    "actions",
)
MAX_SEARCH_HITS = 6  # a search brings every hit up to this many; the answer shows each
MAX_SLOTS = 4  # open slots per listing brought to a turn
MAX_SALES = 5


def context_of(**parts) -> dict:
    """The context with its keys in CONTEXT_KEYS order; None parts are left out."""
    if unknown := set(parts) - set(CONTEXT_KEYS):
        raise ValueError(f"not a demo context key: {', '.join(sorted(unknown))}")
    return {key: parts[key] for key in CONTEXT_KEYS if parts.get(key) is not None}
