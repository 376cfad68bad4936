"""Which URL values may reach a rendered page: http(s) only, however the scheme is disguised."""

import re

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
# Browsers drop ASCII whitespace and control characters inside a scheme ("java\tscript:").
_IGNORED_BY_BROWSERS = re.compile(r"[\x00-\x20\x7f]+")
ALLOWED_SCHEMES = frozenset({"http", "https"})
# Schemes that execute or embed content; dropped wherever they appear, not only in URL fields.
DANGEROUS_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob"})


def url_scheme(value: str) -> str | None:
    match = _SCHEME.match(_IGNORED_BY_BROWSERS.sub("", value).lower())
    return match.group(1) if match else None


def is_safe_url(value: str) -> bool:
    return url_scheme(value) in ALLOWED_SCHEMES


def is_dangerous_url(value: str) -> bool:
    return url_scheme(value) in DANGEROUS_SCHEMES
