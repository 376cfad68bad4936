"""The two tags of markup.md, and what may still become one when text arrives in chunks.

A streaming parser must hold back text that could still turn into a tag, but no more than
that: prose is released the moment it cannot be a tag. These patterns answer "is this a
tag", "could this suffix still become one" for both tags.
"""

import re

NAME = r"[a-z][a-z0-9_]{0,63}"
OPEN_TAG = re.compile(rf'<widget type="({NAME})">')
CLOSE_TAG = "</widget>"
# The longest text an open tag can span: '<widget type="' + 64 name characters + '">'.
OPEN_TAG_MAX_LEN = len('<widget type="">') + 64


def _prefixes(literal: str, then: str = "") -> str:
    """A pattern that fullmatches every non-empty prefix of `literal`, or all of it + `then`."""
    pattern = then
    for char in reversed(literal[1:]):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return re.escape(literal[0]) + pattern


# Every proper prefix of an open tag: a prefix of '<widget type="', then a name that may
# still grow, then the closing quote still waiting for its '>'.
OPEN_TAG_PREFIX = re.compile(_prefixes('<widget type="', then=f'(?:{NAME}"?)?'))


def could_open_tag(text: str, start: int) -> bool:
    """True when text[start:], all that has arrived, may still grow into an open tag."""
    if len(text) - start >= OPEN_TAG_MAX_LEN:
        return False
    return OPEN_TAG_PREFIX.fullmatch(text, start) is not None


def close_tag_prefix_start(text: str, start: int) -> int:
    """Where the longest suffix of text[start:] that may still become '</widget>' begins.

    Returns len(text) when no suffix can. A prefix of '</widget>' holds one '<', so only the
    last '<' among the final eight characters is a candidate.
    """
    end = len(text)
    lt = text.rfind("<", max(start, end - len(CLOSE_TAG) + 1))
    if lt >= 0 and CLOSE_TAG.startswith(text[lt:]):
        return lt
    return end
