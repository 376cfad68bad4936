"""Datasets: import, build from conversations, export, new versions.

Every row is checked against the active widget schemas when it comes in. Invalid rows are
listed with their reasons and refused, unless the caller explicitly chooses to leave them
out; then they are recorded on the dataset. Duplicates (exact or near-exact) are dropped and
recorded the same way. The split comes from the row id, so it is stable.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from finetune.models import Dataset, DatasetRow
from finetune.rows import fingerprint, row_id, row_problems, stable_split
from widgets.selectors import registry_validators


class DatasetRejected(Exception):
    """Rows that cannot go in; `problems` lists (line number or row id, reason)."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__(f"{len(problems)} rows are invalid; nothing was stored")
        self.problems = problems


class DatasetFrozen(Exception):
    """A job used this dataset; make a new version instead of changing it."""


@dataclass(frozen=True, kw_only=True)
class _Checked:
    accepted: list[tuple[str, dict]]
    excluded: list[dict]
    invalid: list[tuple[str, str]]


def _check(lines: Iterable[tuple[str, object]]) -> _Checked:
    validators = registry_validators()
    accepted, excluded, invalid = [], [], []
    seen_ids: dict[str, str] = {}
    seen_prints: dict[str, str] = {}
    for where, line in lines:
        if problems := row_problems(line, validators):
            invalid += [(where, p) for p in problems]
            excluded.append({"where": where, "reasons": problems})
            continue
        identifier = row_id(line)
        duplicate_of = seen_ids.get(identifier) or seen_prints.get(fingerprint(line))
        if duplicate_of:
            excluded.append(
                {"where": where, "id": identifier, "reasons": [f"duplicate of {duplicate_of}"]}
            )
            continue
        seen_ids[identifier] = seen_prints[fingerprint(line)] = identifier
        accepted.append((identifier, line))
    return _Checked(accepted=accepted, excluded=excluded, invalid=invalid)


def parse_jsonl(text: str) -> Iterator[tuple[str, object]]:
    """(where, value) per non-empty line; a line that is not JSON yields its error as value."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield f"line {number}", json.loads(raw)
        except json.JSONDecodeError as exc:
            yield f"line {number}", f"not JSON: {exc.msg} at column {exc.colno}"


@transaction.atomic
def _store(*, name, lines, source, filters, exclude_invalid, author, description="") -> Dataset:
    materialised = []
    parse_errors = []
    for where, value in lines:
        if isinstance(value, str):  # a JSON error from parse_jsonl
            parse_errors.append((where, value))
        else:
            materialised.append((where, value))
    checked = _check(materialised)
    invalid = parse_errors + checked.invalid
    if invalid and not exclude_invalid:
        raise DatasetRejected(invalid)
    if not checked.accepted:
        raise DatasetRejected(invalid or [("dataset", "no rows to store")])
    version = (Dataset.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1
    dataset = Dataset.objects.create(
        name=name,
        version=version,
        source=source,
        filters=filters,
        description=description,
        excluded=[{"where": w, "reasons": [p]} for w, p in parse_errors] + checked.excluded,
        created_by=author,
    )
    DatasetRow.objects.bulk_create(
        DatasetRow(
            dataset=dataset,
            row_id=identifier,
            split=stable_split(identifier),
            messages=line["messages"],
            context=line.get("context") or {},
            meta={k: v for k, v in (line.get("meta") or {}).items() if k not in ("id", "split")},
            position=position,
        )
        for position, (identifier, line) in enumerate(checked.accepted)
    )
    return dataset


def dataset_import(
    *, name: str, text: str, author=None, exclude_invalid: bool = False, source: str = "import"
) -> Dataset:
    """A new version of dataset `name` from JSONL text."""
    return _store(
        name=name, lines=list(parse_jsonl(text)), source=source, filters={},
        exclude_invalid=exclude_invalid, author=author,
    )  # fmt: skip


def dataset_create_from_rows(
    *, name: str, rows: list[dict], author=None, source: str, description: str = ""
) -> Dataset:
    lines = [(f"row {i + 1}", r) for i, r in enumerate(rows)]
    return _store(
        name=name, lines=lines, source=source, filters={}, exclude_invalid=False,
        author=author, description=description,
    )  # fmt: skip


def dataset_export(dataset: Dataset, *, split: str | None = None) -> Iterator[str]:
    rows = dataset.rows.all()
    if split:
        rows = rows.filter(split=split)
    for row in rows:
        yield json.dumps(row.as_line(), ensure_ascii=False) + "\n"


def dataset_freeze(*, dataset: Dataset) -> Dataset:
    """Called when a job starts on it: from now on the rows never change."""
    Dataset.objects.filter(pk=dataset.pk).update(frozen=True)
    dataset.frozen = True
    return dataset


def dataset_rows(dataset: Dataset, *, split: str | None = None) -> list[dict]:
    rows = dataset.rows.all() if split is None else dataset.rows.filter(split=split)
    return [row.as_line() for row in rows]


def dataset_delete_rows(*, dataset: Dataset, row_ids: list[str]) -> int:
    if dataset.frozen:
        raise DatasetFrozen(f"{dataset} trained a model; create a new version to change it")
    return dataset.rows.filter(row_id__in=row_ids).delete()[0]


def dataset_build_from_conversations(
    *, name: str, author=None, exclude_invalid: bool = False, **filters
) -> Dataset:
    """A new version of `name` from accepted answers and corrections (see conversation_rows)."""
    from finetune.conversation_rows import conversation_rows

    return _store(
        name=name, lines=conversation_rows(**filters), source="conversations",
        filters={k: str(v) if v is not None else None for k, v in filters.items()},
        exclude_invalid=exclude_invalid, author=author,
    )  # fmt: skip
