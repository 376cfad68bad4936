"""A line diff of a widget version's content against another (usually the active one)."""

import difflib
import json
from dataclasses import dataclass

CONTENT_FIELDS = ("json_schema", "card_template", "examples")


@dataclass(frozen=True, kw_only=True)
class FieldDiff:
    field: str
    lines: list[tuple[str, str]]  # (kind, text): kind is "add", "del", "hunk" or "same"

    @property
    def changed(self) -> bool:
        return any(kind in ("add", "del") for kind, _ in self.lines)


def _as_text(field: str, value) -> list[str]:
    if field == "card_template":
        return (value or "").splitlines()
    return json.dumps(value, indent=2, ensure_ascii=False).splitlines()


def content_diff(old: dict | None, new: dict) -> list[FieldDiff]:
    """Per field: unified-diff lines from `old` to `new` (every line added when old is None)."""
    diffs = []
    for field in CONTENT_FIELDS:
        before = _as_text(field, old[field]) if old is not None else []
        after = _as_text(field, new[field])
        lines = []
        for line in list(difflib.unified_diff(before, after, lineterm="", n=3))[2:]:
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
            lines.append((kind, line))
        diffs.append(FieldDiff(field=field, lines=lines))
    return diffs
