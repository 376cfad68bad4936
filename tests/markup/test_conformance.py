"""JSONTestSuite (shared/conformance/README.md): every file wrapped as a widget body."""

import json
from pathlib import Path

import pytest

from tests.markup.replay import REGISTRY, REPO, check_invariants, replay, stable
from widgets.markup import Outcome, WidgetClosed, widget_segments

SUITE = REPO.parent / "shared" / "conformance" / "JSONTestSuite" / "test_parsing"


def suite_files() -> list[Path]:
    return sorted(SUITE.glob("*.json")) if SUITE.is_dir() else []


def body_of(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None  # out of scope, per the suite's README


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"{SUITE} is absent")
@pytest.mark.parametrize("path", suite_files(), ids=lambda path: path.name)
def test_json_test_suite(path):
    body = body_of(path)
    if body is None:
        pytest.skip("not valid UTF-8")
    text = f'<widget type="action_request">{body}</widget>'
    events = replay([text])
    check_invariants(text, events)
    assert stable(replay(list(text))) == stable(events)
    closed = [e for e in events if isinstance(e, WidgetClosed)]
    widgets = widget_segments(text, REGISTRY)
    assert [(s.outcome, s.text) for s in widgets] == [(e.outcome, e.raw) for e in closed]
    if path.name.startswith("i_"):
        return
    first = closed[0]
    expected = json.loads(body) if path.name.startswith("y_") else None
    if isinstance(expected, dict):
        assert first.outcome in (Outcome.VALID, Outcome.INVALID), first.errors
        assert first.payload == expected
        assert len(closed) == 1
    else:
        # n_ files, and y_ files whose value is not an object.
        assert first.outcome is Outcome.MALFORMED or (
            first.outcome is Outcome.UNTERMINATED and "</widget>" not in text[len("<w") :]
        ), (first.outcome, first.errors)


def test_the_suite_is_there_when_the_shared_folder_is():
    if (REPO.parent / "shared").is_dir():
        assert len(suite_files()) > 300
