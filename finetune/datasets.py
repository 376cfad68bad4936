"""Datasets: import, build from conversations, export, new versions.

Every row is checked against the active widget schemas when it comes in. Invalid rows are
listed with their reasons and refused, unless the caller explicitly chooses to leave them
out; then they are recorded on the dataset. Duplicates (exact or near-exact) are dropped and
recorded the same way. The split comes from the row id, so it is stable.

An import is bounded before it is parsed: its size in bytes and in lines (`import_limits`),
and only the first MAX_LISTED_PROBLEMS problems are kept, with a count of the rest.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from finetune.models import Dataset, DatasetRow
from finetune.rows import fingerprint, row_id, row_problems, stable_split
from widgets.json_input import load_json_strict
from widgets.selectors import registry_validators

MAX_LISTED_PROBLEMS = 50  # a file of junk gives one problem a line: list these, count the rest
# The multipart body of an upload carries boundaries, part headers and the form's other
# fields besides the file; a body larger than the file limit plus this is refused unread.
UPLOAD_BODY_ALLOWANCE = 64 * 1024

# A name goes into export file names and Content-Disposition headers.
NAME_RULE = "1 to 80 letters, digits, _ or -"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# A row id goes into URLs (the row's page), file names and logs. The first character is a
# letter or digit, so an id is never "." or "..", which browsers fold away in a path.
ROW_ID_RULE = "1 to 120 of A-Z a-z 0-9 . _ : -, starting with a letter or digit"
ROW_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,119}")


class DatasetRejected(Exception):
    """Rows that cannot go in; `problems` lists (line number or row id, reason), the first
    MAX_LISTED_PROBLEMS of them; `more` counts the others."""

    def __init__(self, problems: list[tuple[str, str]], *, more: int = 0):
        shown = problems[:MAX_LISTED_PROBLEMS]
        self.problems = shown
        self.more = more + len(problems) - len(shown)
        super().__init__(f"{len(shown) + self.more} problems; nothing was stored")

    def messages(self) -> list[str]:
        """One line a problem, then how many more there are."""
        listed = [f"{where}: {problem}" for where, problem in self.problems]
        return listed + ([f"… and {self.more} more"] if self.more else [])


class DatasetTooLarge(Exception):
    """A file past the import limits (WEFT_DATASET_MAX_BYTES, WEFT_DATASET_MAX_LINES)."""


class DatasetFrozen(Exception):
    """A job used this dataset; make a new version instead of changing it."""


@dataclass(frozen=True, kw_only=True)
class ImportLimits:
    max_bytes: int  # of one imported file, UTF-8
    max_lines: int  # of one imported file, blank lines included


def import_limits() -> ImportLimits:
    """The one place the import limits are read from settings."""
    return ImportLimits(
        # 20 MiB: json.loads takes tens of times a line's size in memory while it parses.
        max_bytes=getattr(settings, "WEFT_DATASET_MAX_BYTES", 20 * 1024 * 1024),
        # Every row is checked against the widget schemas in the request: keep that bounded.
        max_lines=getattr(settings, "WEFT_DATASET_MAX_LINES", 50_000),
    )


def import_size_check(*, file_bytes: int | None = None, body_bytes: int | None = None) -> None:
    """Refuse an import by the size of its file, or of the request body that carries it,
    before either is read. Raises DatasetTooLarge."""
    limit = import_limits().max_bytes
    if (file_bytes or 0) > limit or (body_bytes or 0) > limit + UPLOAD_BODY_ALLOWANCE:
        raise DatasetTooLarge(
            f"The file is larger than {limit:,} bytes, the most a dataset import may be "
            "(WEFT_DATASET_MAX_BYTES)."
        )


def read_upload(upload) -> str:
    """The text of an uploaded file (Django's UploadedFile), refused by its size before any of
    it is read. Raises DatasetTooLarge, or UnicodeDecodeError when it is not UTF-8."""
    import_size_check(file_bytes=upload.size)
    # Never more than the limit in memory, whatever `size` said.
    data = upload.read(import_limits().max_bytes + 1)
    import_size_check(file_bytes=len(data))
    return data.decode("utf-8")


def validate_dataset_name(name) -> None:
    """The one check of a dataset's name, for the API, the pages and the services."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(f"A dataset name is {NAME_RULE}.", code="dataset_name")


def dataset_name_from_filename(filename: str) -> str:
    """A valid dataset name made from an uploaded file's name, for an upload left unnamed."""
    stem = filename.rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:80] or "import"


def _row_id_problems(line) -> list[str]:
    """The given id, when there is one, must be in ROW_ID's alphabet (a blank id is none: the
    id is derived from the content, see row_id)."""
    meta = line.get("meta") if isinstance(line, dict) else None
    given = meta.get("id") if isinstance(meta, dict) else None
    if given is None or (isinstance(given, str) and not given.strip()):
        return []
    if isinstance(given, str) and ROW_ID.fullmatch(given.strip()):
        return []
    shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:39] + "…"
    return [f"meta.id: {shown} is not a row id ({ROW_ID_RULE})"]


@dataclass(frozen=True, kw_only=True)
class _Checked:
    accepted: list[tuple[str, dict]]
    excluded: list[dict]
    invalid: list[tuple[str, str]]  # the first MAX_LISTED_PROBLEMS
    more_invalid: int  # and how many others


def _check(lines: Iterable[tuple[str, object]]) -> _Checked:
    validators = registry_validators()
    accepted, excluded, invalid = [], [], []
    more_invalid = 0
    seen_ids: dict[str, str] = {}
    seen_prints: dict[str, str] = {}
    for where, line in lines:
        if problems := row_problems(line, validators) or _row_id_problems(line):
            room = max(0, MAX_LISTED_PROBLEMS - len(invalid))
            invalid += [(where, p) for p in problems[:room]]
            more_invalid += len(problems[room:])
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
    return _Checked(
        accepted=accepted, excluded=excluded, invalid=invalid, more_invalid=more_invalid
    )


def jsonl_lines(text: str) -> list[str]:
    r"""The lines of JSONL text. Split at \n alone (a trailing \r dropped), not with
    str.splitlines(): that also splits at U+2028, U+0085 and other breaks a JSON string may
    hold raw, as our own export writes them."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def parse_jsonl(text: str) -> Iterator[tuple[str, object]]:
    """(where, value) per non-empty line; a line that is not JSON yields its error as value.

    Strict JSON: NaN, Infinity and deep nesting are refused like any other error."""
    for number, raw in enumerate(jsonl_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            yield f"line {number}", load_json_strict(raw)
        except json.JSONDecodeError as exc:  # JSONInputError is one
            yield f"line {number}", f"not JSON: {exc.msg} at column {exc.colno}"


@transaction.atomic
def _store(*, name, lines, source, filters, exclude_invalid, author, description="") -> Dataset:
    try:
        validate_dataset_name(name)
    except ValidationError as exc:
        raise DatasetRejected([("name", exc.messages[0])]) from exc
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
        raise DatasetRejected(invalid, more=checked.more_invalid)
    if not checked.accepted:
        raise DatasetRejected(
            invalid or [("dataset", "no rows to store")], more=checked.more_invalid
        )
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
    """A new version of dataset `name` from JSONL text, within `import_limits()`."""
    limits = import_limits()
    # Characters never outnumber UTF-8 bytes: a long text is refused without encoding it.
    size = len(text) if len(text) > limits.max_bytes else len(text.encode("utf-8"))
    import_size_check(file_bytes=size)
    count = text.count("\n") + (not text.endswith("\n") and bool(text))
    if count > limits.max_lines:
        raise DatasetTooLarge(
            f"The file has {count:,} lines; a dataset import may have at most "
            f"{limits.max_lines:,} (WEFT_DATASET_MAX_LINES)."
        )
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


def dataset_export_filename(dataset: Dataset) -> str:
    return f"{dataset.name}-v{dataset.version}.jsonl"


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


def dataset_rows_to_migrate(*, dataset: Dataset) -> list[tuple[str, list[str]]]:
    """(row id, problems) of every row the active widget schemas refuse, in order.

    Rows are checked when they come in, against the versions active then; after a new
    version is activated (action_request v2's typed params, say), these are the rows to
    migrate, or leave out of a new version, before training on the dataset again.
    """
    validators = registry_validators()
    return [
        (row.row_id, problems)
        for row in dataset.rows.all()
        if (problems := row_problems(row.as_line(), validators))
    ]


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
