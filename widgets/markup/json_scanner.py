"""Incremental scanner for one JSON object (RFC 8259), fed in chunks split anywhere.

Rules:
- The body must be exactly one object; its first non-whitespace character must be '{'.
  Strict RFC 8259: no NaN/Infinity, no leading zeros, no control characters in strings.
  Escapes of lone UTF-16 surrogates ("\\ud800" without its partner) are rejected, so every
  payload encodes to UTF-8 (json.loads would accept them; Postgres would not).
  Duplicate keys keep the last value, in the first key's place, as json.loads does.
- Structure lives on an explicit stack, so depth is bounded by memory, not recursion.
- Each character is looked at a bounded number of times. Runs of ordinary string
  characters, whitespace and number characters are skipped with one regex match each.
  A token cut by a chunk boundary is finished incrementally: strings and numbers keep their
  pieces; an escape or a literal (at most 11 characters) is carried and re-read with the
  next chunk. A carry is only ever a valid prefix, so it never hides a '<'.
- The value is built as it is read: containers are attached to their parent when they
  open, scalars when they end. A partial snapshot copies only the open path (root to the
  current leaf) and shares every finished subtree. Numbers and literals show up only once
  complete (a growing number would not be a prefix of its final value); a string value
  shows up as soon as its quote opens and grows from there.
"""

import re
from typing import Any

from .events import FieldError

# What the scanner expects next.
EXPECT_OBJECT = 0  # before the root '{'
EXPECT_VALUE = 1  # after ':', or after ',' in an array
EXPECT_VALUE_OR_CLOSE = 2  # after '['
EXPECT_KEY_OR_CLOSE = 3  # after '{'
EXPECT_KEY = 4  # after ',' in an object
EXPECT_COLON = 5
EXPECT_COMMA_OR_CLOSE_OBJECT = 6
EXPECT_COMMA_OR_CLOSE_ARRAY = 7
EXPECT_NOTHING = 8  # the root object has closed

# What a character starts, given the expectation.
(
    WHITESPACE,
    OPEN_OBJECT,
    OPEN_ARRAY,
    CLOSE_OBJECT,
    CLOSE_ARRAY,
    STRING,
    KEY,
    NUMBER,
    LITERAL,
    COLON,
    COMMA,
) = range(11)

_WHITESPACE = dict.fromkeys(" \t\n\r", WHITESPACE)
_VALUE_STARTS = {
    **_WHITESPACE,
    "{": OPEN_OBJECT,
    "[": OPEN_ARRAY,
    '"': STRING,
    "-": NUMBER,
    **dict.fromkeys("0123456789", NUMBER),
    "t": LITERAL,
    "f": LITERAL,
    "n": LITERAL,
}

# The transition table, indexed by expectation: character -> token it starts.
TRANSITIONS: tuple[dict[str, int], ...] = (
    {**_WHITESPACE, "{": OPEN_OBJECT},
    _VALUE_STARTS,
    {**_VALUE_STARTS, "]": CLOSE_ARRAY},
    {**_WHITESPACE, '"': KEY, "}": CLOSE_OBJECT},
    {**_WHITESPACE, '"': KEY},
    {**_WHITESPACE, ":": COLON},
    {**_WHITESPACE, ",": COMMA, "}": CLOSE_OBJECT},
    {**_WHITESPACE, ",": COMMA, "]": CLOSE_ARRAY},
    {},
)

# For error messages, in the same order.
EXPECTED = (
    "'{' (the body must be one JSON object)",
    "a value",
    "a value or ']'",
    "a string key or '}'",
    "a string key",
    "':'",
    "',' or '}'",
    "',' or ']'",
    "nothing",
)

# What the scanner reports back to its caller.
MORE = 0  # consumed everything; waiting for more text
DONE = 1  # the root object closed; the returned position is just after its '}'
ERROR = 2  # not one JSON object; the returned position is where it went wrong

# Inside a token that a chunk boundary may cut.
_BETWEEN_TOKENS, _IN_STRING, _IN_NUMBER = range(3)

WHITESPACE_RUN = re.compile(r"[ \t\n\r]*").match
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*').match
_NUMBER_RUN = re.compile(r"[0-9eE.+\-]*").match
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?").fullmatch
_HEX4 = re.compile(r"[0-9a-fA-F]{4}").fullmatch
# What may still become a \uXXXX escape, or a high surrogate's \uXXXX partner.
_ESCAPE_PREFIX = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?").fullmatch
_LOW_SURROGATE_PREFIX = re.compile(r"\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]{0,1})?)?)?").fullmatch
_LITERALS = {"t": ("true", True), "f": ("false", False), "n": ("null", None)}
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class JsonObjectScanner:
    """Reads one JSON object from successive pieces of text; see the module rules."""

    def __init__(self) -> None:
        self.expect = EXPECT_OBJECT
        self.error: FieldError | None = None
        # Bumped when the partial value changes, and when its structure changes (a value
        # starts or ends, not a string growing): callers compare them, never read them.
        self.visible_version = 0
        self.structure_version = 0
        self._root: dict[str, Any] | None = None
        self._containers: list[Any] = []  # the open path, root first
        self._keys: list[Any] = []  # per open container: the key being read/filled
        self._mode = _BETWEEN_TOKENS
        self._pieces: list[str] = []  # the string or number cut by a chunk boundary
        self._in_key = False
        self._carry = ""
        self._number_start = 0
        self._fed = 0  # body characters consumed so far, for error offsets

    @property
    def value(self) -> dict[str, Any] | None:
        """The whole object once `expect` is EXPECT_NOTHING."""
        return self._root if self.expect == EXPECT_NOTHING else None

    def feed(self, text: str, pos: int) -> tuple[int, int]:
        """Read text[pos:]; return (MORE | DONE | ERROR, position in text where it stopped)."""
        caller_pos = pos
        carry = self._carry
        if carry:
            self._carry = ""
            text = carry + text[pos:]
            pos = 0
        # text[i] sits at body offset start + i; caller position = i + shift.
        shift = caller_pos - len(carry) - pos
        start = self._fed - len(carry) - pos
        status, end = self._scan(text, pos, start)
        caller_end = max(end + shift, caller_pos)
        self._fed += caller_end - caller_pos
        return status, caller_end

    def _scan(self, text: str, pos: int, start: int) -> tuple[int, int]:
        n = len(text)
        expect = self.expect
        mode = self._mode
        containers = self._containers
        keys = self._keys
        pieces = self._pieces
        visible = structure = False
        value: Any = None
        status = MORE
        failure: tuple[str, int] | None = None
        while pos < n:
            if mode == _IN_STRING:
                end = _STRING_RUN(text, pos).end()
                if end > pos:
                    pieces.append(text[pos:end])
                    visible = visible or not self._in_key
                    pos = end
                    if pos == n:
                        break
                char = text[pos]
                if char == '"':
                    pos += 1
                    mode = _BETWEEN_TOKENS
                    value = "".join(pieces)
                    pieces.clear()
                    if self._in_key:
                        keys[-1] = value
                        expect = EXPECT_COLON
                        continue
                    # fall through to attach the finished string
                elif char == "\\":
                    decoded, used = _read_escape(text, pos)
                    if used > 0:
                        pieces.append(decoded)
                        visible = visible or not self._in_key
                        pos += used
                        continue
                    if used == 0:  # cut by the chunk boundary
                        self._carry = text[pos:]
                        pos = n
                        break
                    failure = (decoded, start + pos)
                    status = ERROR
                    break
                else:
                    failure = (f"control character {char!r} in a string", start + pos)
                    status = ERROR
                    break
            elif mode == _IN_NUMBER:
                end = _NUMBER_RUN(text, pos).end()
                pieces.append(text[pos:end])
                pos = end
                if pos == n:
                    break
                mode = _BETWEEN_TOKENS
                literal = "".join(pieces)
                pieces.clear()
                value = _number(literal)
                if value is None:
                    failure = (f"invalid number {literal!r}", self._number_start)
                    status = ERROR
                    break
            else:
                char = text[pos]
                token = TRANSITIONS[expect].get(char)
                if token is None:
                    failure = (f"unexpected {char!r}, expected {EXPECTED[expect]}", start + pos)
                    status = ERROR
                    break
                if token == WHITESPACE:
                    pos = WHITESPACE_RUN(text, pos).end()
                    continue
                if token == STRING or token == KEY:
                    pos += 1
                    mode = _IN_STRING
                    self._in_key = token == KEY
                    if token == STRING:
                        visible = True
                    continue
                if token == COLON:
                    pos += 1
                    expect = EXPECT_VALUE
                    continue
                if token == COMMA:
                    pos += 1
                    expect = EXPECT_KEY if type(containers[-1]) is dict else EXPECT_VALUE
                    continue
                if token == NUMBER:
                    end = _NUMBER_RUN(text, pos).end()
                    if end == n:
                        self._number_start = start + pos
                        pieces.append(text[pos:])
                        mode = _IN_NUMBER
                        pos = n
                        break
                    literal = text[pos:end]
                    value = _number(literal)
                    if value is None:
                        failure = (f"invalid number {literal!r}", start + pos)
                        status = ERROR
                        pos = end
                        break
                    pos = end
                elif token == LITERAL:
                    word, value = _LITERALS[char]
                    if text.startswith(word, pos):
                        pos += len(word)
                    elif n - pos < len(word) and word.startswith(text[pos:]):
                        self._carry = text[pos:]
                        pos = n
                        break
                    else:
                        failure = (f"invalid literal, expected {word!r}", start + pos)
                        status = ERROR
                        break
                elif token == OPEN_OBJECT or token == OPEN_ARRAY:
                    pos += 1
                    container: Any = {} if token == OPEN_OBJECT else []
                    if containers:
                        parent = containers[-1]
                        if type(parent) is dict:
                            parent[keys[-1]] = container
                        else:
                            parent.append(container)
                    else:
                        self._root = container
                    containers.append(container)
                    keys.append(None)
                    expect = EXPECT_KEY_OR_CLOSE if token == OPEN_OBJECT else EXPECT_VALUE_OR_CLOSE
                    visible = structure = True
                    continue
                else:  # CLOSE_OBJECT or CLOSE_ARRAY
                    pos += 1
                    containers.pop()
                    keys.pop()
                    structure = True
                    if not containers:
                        expect = EXPECT_NOTHING
                        status = DONE
                        break
                    expect = (
                        EXPECT_COMMA_OR_CLOSE_OBJECT
                        if type(containers[-1]) is dict
                        else EXPECT_COMMA_OR_CLOSE_ARRAY
                    )
                    continue
            # A scalar value has just ended: attach it to the innermost open container.
            parent = containers[-1]
            if type(parent) is dict:
                parent[keys[-1]] = value
                expect = EXPECT_COMMA_OR_CLOSE_OBJECT
            else:
                parent.append(value)
                expect = EXPECT_COMMA_OR_CLOSE_ARRAY
            # A finished string was on show all along; a number or literal appears now.
            visible = visible or type(value) is not str
            structure = True
        self.expect = expect
        self._mode = mode
        if visible:
            self.visible_version += 1
        if structure:
            self.structure_version += 1
        if failure is not None:
            message, offset = failure
            self.error = FieldError(
                pointer=self.open_pointer(), message=f"{message} at body offset {offset}"
            )
        return status, pos

    def open_pointer(self) -> str:
        """JSON pointer of the value being read, or of the innermost open container."""
        containers = self._containers
        keys = self._keys
        last = len(containers) - 1
        in_value = (
            self._mode == _IN_NUMBER
            or (self._mode == _IN_STRING and not self._in_key)
            or self.expect in (EXPECT_VALUE, EXPECT_VALUE_OR_CLOSE)
        )
        parts = []
        for level, container in enumerate(containers):
            if level < last:
                parts.append(keys[level] if type(container) is dict else len(container) - 1)
            elif in_value:
                parts.append(keys[level] if type(container) is dict else len(container))
        return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)

    def partial(self) -> dict[str, Any] | None:
        """The best partial value: a copy of the open path sharing every finished subtree."""
        containers = self._containers
        if not containers:
            return self._root
        keys = self._keys
        child: Any = None
        if self._mode == _IN_STRING and not self._in_key:
            pieces = self._pieces
            if len(pieces) > 1:
                # Keep the join: the next snapshot then only joins what arrived since.
                pieces[:] = ["".join(pieces)]
            child = pieces[0] if pieces else ""
        have_child = child is not None
        for level in range(len(containers) - 1, -1, -1):
            container = containers[level]
            if type(container) is dict:
                copy: Any = container.copy()
                if have_child:
                    copy[keys[level]] = child
            else:
                copy = container.copy()
                if have_child:
                    if level + 1 < len(containers):
                        copy[-1] = child
                    else:
                        copy.append(child)
            child = copy
            have_child = True
        return child


def _number(literal: str) -> int | float | None:
    """The value of a JSON number, as json.loads computes it; None when it is not one."""
    if _NUMBER(literal) is None:
        return None
    try:
        if "." in literal or "e" in literal or "E" in literal:
            return float(literal)
        return int(literal)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        return None


def _read_escape(text: str, pos: int) -> tuple[str, int]:
    """Decode the escape at text[pos] (a backslash).

    Returns (decoded, characters used); (_, 0) when the chunk ends before the escape is
    known to be whole or wrong; (message, -1) when it is wrong.
    """
    rest = len(text) - pos
    if rest < 2:
        return "", 0
    kind = text[pos + 1]
    if kind != "u":
        decoded = _SIMPLE_ESCAPES.get(kind)
        if decoded is None:
            return f"invalid escape '\\{kind}'", -1
        return decoded, 2
    if rest < 6:
        return ("", 0) if _ESCAPE_PREFIX(text, pos) else ("invalid \\u escape", -1)
    digits = text[pos + 2 : pos + 6]
    if _HEX4(digits) is None:
        return "invalid \\u escape", -1
    code = int(digits, 16)
    if 0xDC00 <= code <= 0xDFFF:
        return "lone low surrogate escape", -1
    if code < 0xD800 or code > 0xDBFF:
        return chr(code), 6
    # A high surrogate is only whole with its low partner right after it.
    if rest < 12:
        partner = text[pos + 6 :]
        if not partner or _LOW_SURROGATE_PREFIX(partner):
            return "", 0
        return "lone high surrogate escape", -1
    partner = text[pos + 6 : pos + 12]
    low = int(partner[2:], 16) if partner[:2] == "\\u" and _HEX4(partner[2:]) else 0
    if not 0xDC00 <= low <= 0xDFFF:
        return "lone high surrogate escape", -1
    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
