"""Read what a chat question asks of the CRM: plain patterns, no model.

Pure functions over the question text, so retrieval is easy to test and replay.
"""

import re
from dataclasses import dataclass, field

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
# An amount, unless it is a term ("20 years"), a percentage or a house number ("566 Juniper Dr").
_AMOUNT = (
    r"\$?\s*(\d+(?:[.,]\d+)*)\s*(k|mm|m|million|thousand)?\b"
    r"(?!\s*(?:-?\s*years?|-?\s*yrs?|%|percent|[A-Za-z]+\s+(?:St|Ave|Ln|Dr|Ct|Blvd|Way|Rd|Pl|Trl)\b))"
)
_MAX_PRICE = re.compile(
    r"(?:under|below|less than|max(?:imum)?|up to|no more than|<)\s*" + _AMOUNT, re.I
)
# "no more than" is a maximum; "from" counts only with a currency sign ("from $400k").
_MIN_PRICE = re.compile(
    r"(?:(?<!no )(?:over|above|more than)|at least|min(?:imum)?|from(?=\s*\$)|>)\s*" + _AMOUNT, re.I
)
_BETWEEN = re.compile(r"between\s*" + _AMOUNT + r"\s*(?:and|-|to)\s*" + _AMOUNT, re.I)
_BEDS = re.compile(
    r"\b(\d|one|two|three|four|five|six)\s*(\+|or more)?\s*[- ]?(?:bed(?:room)?s?|br|bd)\b"
    r"(\s*(?:\+|or more|plus))?",
    re.I,
)
_AT_LEAST_BEDS = re.compile(r"at least\s+(\d|one|two|three|four|five|six)\s*(?:bed|br|bd)", re.I)
_DOWN_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*down", re.I)
_DOWN_AMOUNT = re.compile(_AMOUNT + r"\s*down", re.I)
_RATE = re.compile(r"(?:at|rate(?: of)?)\s*(\d+(?:\.\d+)?)\s*%(?!\s*down)", re.I)
_TERM = re.compile(r"(10|15|20|30)[- ]?(?:year|yr)", re.I)
# "$450,000", "$1.2 million", "450k": a sign or a unit makes a number a price.
_PLAIN_PRICE = re.compile(
    r"(?:\$\s*(\d[\d,]*(?:\.\d+)?)\s*(k|mm|m|million|thousand)?\b"
    r"|\b(\d+(?:\.\d+)?)\s*(k|mm|m|million|thousand)\b)",
    re.I,
)
_STATUS = re.compile(r"\b(?:mark|set|change)\b.*\b(?:as|to)\s+(active|pending|sold)\b", re.I)
_SUFFIX = r"(St|Ave|Ln|Dr|Ct|Blvd|Way|Rd|Pl|Trl)"
# "566 Juniper Dr", "566 Juniper", and lower-case "566 juniper dr" (suffix then required,
# so "3 bed" is never an address).
_ADDRESS = re.compile(rf"\b(\d{{1,5}})\s+([A-Z][a-z]+)(?:\s+{_SUFFIX})?\b")
_ADDRESS_ANY_CASE = re.compile(rf"\b(\d{{1,5}})\s+([a-z]+)\s+{_SUFFIX}\b", re.I)
_STREET = re.compile(rf"\b([A-Z][a-z]+)\s+{_SUFFIX}\b")
_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1}
_ORDINAL = re.compile(
    r"\b(first|1st|second|2nd|third|3rd|last)\s+(?:one|home|house|listing|place)\b", re.I
)

INTENT_WORDS = {
    "showing": r"\b(see|tour|showings?|visit|viewing|walk ?through|open house)\b",
    "comps": r"\b(list (?:it )?at|comps?|comparables?|worth|valu(?:e|ation)|price estimate"
    r"|what should we list|recent(?:ly)? sold|sold nearby)\b",
    "mortgage": r"\b(payment|mortgage|monthly|down payment|afford|loan)\b",
    "contact": r"\b(who(?:'s| is)|contact|phone|number|email address|reach|call)\b"
    r"|\b(agent|lender|inspector)\b",
    "action": r"\b(email|e-mail|send|book|schedule|mark|set .* as|remind|task|follow.?up)\b",
    # The listing itself is wanted, not only its payment, people or slots.
    "listing": r"\b(show me|details?|pull up|tell me about|look at)\b",
}
# A search that wants a single answer: "your top pick", "just one", "the single best".
_ONE = re.compile(r"\b(best|top pick|single|just one|pick one|one\b.{0,24}\boption)\b", re.I)


def _amount(number: str, unit: str | None) -> int:
    value = float(number.replace(",", ""))
    unit = (unit or "").lower()
    if unit in ("k", "thousand"):
        value *= 1_000
    elif unit in ("m", "mm", "million"):
        value *= 1_000_000
    elif value < 10_000:  # "under 500" in a housing search means 500k
        value *= 1_000
    return round(value)


def _count(word: str) -> int:
    return _NUMBER_WORDS.get(word.lower()) or int(word)


@dataclass(frozen=True, kw_only=True)
class Ask:
    cities: tuple[str, ...] = ()
    beds: int | None = None
    beds_at_least: bool = False
    price_min: int | None = None
    price_max: int | None = None
    addresses: tuple[tuple[str | None, str, str | None], ...] = ()  # (number, street, suffix)
    names: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    intents: frozenset[str] = field(default_factory=frozenset)
    status: str | None = None
    down_percent: float | None = None
    down_amount: int | None = None
    rate_percent: float | None = None
    term_years: int | None = None
    amounts: tuple[int, ...] = ()
    ordinal: int | None = None  # "the first one" -> 0, "the last one" -> -1
    one: bool = False  # a search for the single best match


def read_question(text: str, *, cities: list[str], people: list[str]) -> Ask:
    lowered = text.lower()
    found_cities = tuple(c for c in cities if re.search(rf"\b{re.escape(c.lower())}\b", lowered))
    beds = at_least = None
    if match := _AT_LEAST_BEDS.search(text):
        beds, at_least = _count(match.group(1)), True
    elif match := _BEDS.search(text):
        beds, at_least = _count(match.group(1)), bool(match.group(2) or match.group(3))
    price_min = price_max = None
    if match := _BETWEEN.search(text):
        price_min, price_max = _amount(*match.group(1, 2)), _amount(*match.group(3, 4))
    else:
        if match := _MAX_PRICE.search(text):
            price_max = _amount(*match.group(1, 2))
        if match := _MIN_PRICE.search(text):
            price_min = _amount(*match.group(1, 2))
    addresses = tuple((m.group(1), m.group(2), m.group(3)) for m in _ADDRESS.finditer(text))
    addresses += tuple(
        (m.group(1), m.group(2).capitalize(), m.group(3).capitalize())
        for m in _ADDRESS_ANY_CASE.finditer(text)
        if not any(a[0] == m.group(1) for a in addresses)
    )
    addresses += tuple(
        (None, m.group(1), m.group(2))
        for m in _STREET.finditer(text)
        if not any(a[1] == m.group(1) for a in addresses)
    )
    # A full name wins; a last name alone ("the Nguyens") matches everyone who has it.
    names = tuple(p for p in people if re.search(rf"\b{re.escape(p.lower())}\b", lowered))
    if not names:
        names = tuple(
            p for p in people if re.search(rf"\b{re.escape(p.split()[-1].lower())}s?\b", lowered)
        )
    roles = tuple(
        r
        for r in ("agent", "buyer", "seller", "lender", "inspector")
        if re.search(rf"\b{r}s?\b", lowered)
    )
    intents = frozenset(i for i, pattern in INTENT_WORDS.items() if re.search(pattern, lowered))
    down_amount = None
    if (match := _DOWN_AMOUNT.search(text)) and "%" not in match.group(0):
        down_amount = _amount(*match.group(1, 2))
    return Ask(
        cities=found_cities,
        beds=beds,
        beds_at_least=bool(at_least),
        price_min=price_min,
        price_max=price_max,
        addresses=addresses,
        names=names,
        roles=roles,
        intents=intents,
        status=(m.group(1).lower() if (m := _STATUS.search(text)) else None),
        down_percent=float(m.group(1)) if (m := _DOWN_PERCENT.search(text)) else None,
        down_amount=down_amount,
        rate_percent=float(m.group(1)) if (m := _RATE.search(text)) else None,
        term_years=int(m.group(1)) if (m := _TERM.search(text)) else None,
        ordinal=_ORDINALS[m.group(1).lower()] if (m := _ORDINAL.search(text)) else None,
        one=bool(_ONE.search(text)),
        amounts=tuple(
            _amount(m.group(1), m.group(2)) if m.group(1) else _amount(m.group(3), m.group(4))
            for m in _PLAIN_PRICE.finditer(text)
        ),
    )
