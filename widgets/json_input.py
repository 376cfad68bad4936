"""Strict JSON for everything that comes in: finite numbers only, and nesting bounded.

Python's json accepts NaN, Infinity and 1e400 (read as inf). None of them is JSON: stored,
they make every later JSON response that includes them fail. Its decoder also recurses once
per level, so a document nested 100,000 deep raises RecursionError, not a parse error.
`load_json_strict` refuses all of these with a JSONInputError, a json.JSONDecodeError, so a
caller that caught json.loads' errors catches these unchanged. StrictJSONParser is the API's
JSON parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): each refusal is a 400 that says why.
"""

import json
import math
import re
from typing import Any, NoReturn

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Levels of arrays and objects. Schemas, payloads and dataset rows nest a dozen at most;
# json.loads would recurse into a deeper document and could exhaust the stack.
MAX_JSON_DEPTH = 64
# A string (skipped whole, escapes included, unterminated to the end) or a bracket.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[][{}]', re.DOTALL)


class JSONInputError(json.JSONDecodeError):
    """A document refused; `code` says why: invalid_json, json_not_finite, json_too_deep."""

    def __init__(self, msg: str, doc: str, pos: int, code: str = "invalid_json"):
        super().__init__(msg, doc, pos)
        self.code = code

    def __reduce__(self):
        return self.__class__, (self.msg, self.doc, self.pos, self.code)


def _text(document: str | bytes | bytearray) -> str:
    if isinstance(document, str):
        return document
    try:  # as json.loads does: UTF-8, -16 or -32, told apart by the first bytes
        return bytes(document).decode(json.detect_encoding(document), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise JSONInputError(f"not valid {exc.encoding} text", "", exc.start) from None


def _check_depth(text: str) -> None:
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise JSONInputError(
                    f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted",
                    text, match.start(), "json_too_deep",
                )  # fmt: skip
        elif token in ("]", "}"):
            depth -= 1


def _number_position(text: str, literal: str) -> int:
    """Where `literal` first stands as a number (not inside a string) in `text`."""
    number = re.compile(
        r'"[^"\\]*(?:\\.[^"\\]*)*"?|(?<![\w.+-])' + re.escape(literal) + r"(?![\w.])", re.DOTALL
    )
    for match in number.finditer(text):
        if not match.group().startswith('"'):
            return match.start()
    return 0


def load_json_strict(document: str | bytes | bytearray) -> Any:
    """The value of a JSON document; JSONInputError when it is not JSON, holds a number that
    is not finite, or nests deeper than MAX_JSON_DEPTH (checked before parsing)."""
    text = _text(document)
    _check_depth(text)

    def refuse(literal: str) -> NoReturn:
        raise JSONInputError(
            f"{literal} is not a finite number; JSON numbers must be finite",
            text, _number_position(text, literal), "json_not_finite",
        )  # fmt: skip

    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):  # 1e400 reads as inf
            refuse(literal)
        return value

    try:
        return json.loads(text, parse_constant=refuse, parse_float=finite)
    except JSONInputError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONInputError(exc.msg, text, exc.pos) from None
    except ValueError as exc:  # an integer longer than Python converts (4,300 digits)
        raise JSONInputError(str(exc), text, 0) from None


class StrictJSONParser(JSONParser):
    """DRF's JSON parser reading with load_json_strict: each refusal is a 400 naming it."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return load_json_strict(stream.read().decode(encoding))
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - not valid {encoding} text") from exc
        except JSONInputError as exc:
            raise ParseError(f"JSON parse error - {exc}", code=exc.code) from exc
