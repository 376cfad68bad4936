import subprocess
import sys

import widgets.markup
from tests.markup.replay import REPO


def test_the_package_imports_no_django():
    probe = (
        "import widgets.markup, sys; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_public_api_is_complete():
    expected = {
        "MarkupParser", "ProseDelta", "WidgetOpened", "WidgetProgress", "WidgetClosed",
        "FieldError", "Outcome", "PayloadValidator", "validator_for", "parse_markup", "Segment",
        "widget_segments",
    }  # fmt: skip
    assert expected <= set(widgets.markup.__all__)
    assert all(hasattr(widgets.markup, name) for name in widgets.markup.__all__)
    assert [o.value for o in widgets.markup.Outcome] == [
        "valid", "invalid", "malformed", "unknown_type", "unterminated",
    ]  # fmt: skip
