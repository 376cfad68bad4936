"""The cores of fine-tuning, finetune/training and finetune/evaluation, import no Django.

A training worker, a benchmark or a script runs them without Django settings, and the web
process imports them to check a job before queueing it, so they import neither Django nor
torch (torch is imported inside the functions that train). The modules are found by walking
the two folders, so a module added there is covered without editing this test; whatever
they import in turn (finetune.rows, serving.backend, widgets.markup, ...) is covered too.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORES = ("finetune/training", "finetune/evaluation")
FORBIDDEN = ("django", "torch")
PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {forbidden})))
"""


def modules_under(root: Path, folder: str) -> list[str]:
    """Dotted names of every module and package in `folder` (relative to `root`)."""
    names = []
    for path in sorted((root / folder).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def forbidden_imports(modules: list[str], *, root: Path = REPO) -> list[str]:
    """What of FORBIDDEN a fresh interpreter holds after importing `modules` from `root`."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(forbidden=set(FORBIDDEN)), *modules],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_walk_finds_every_module_of_both_cores():
    found = [name for folder in CORES for name in modules_under(REPO, folder)]
    assert {
        "finetune.training", "finetune.training.run", "finetune.training.worker",
        "finetune.evaluation", "finetune.evaluation.scoring", "finetune.evaluation.values",
    } <= set(found)  # fmt: skip
    on_disk = sum(len(list((REPO / folder).rglob("*.py"))) for folder in CORES)
    assert len(found) == len(set(found)) == on_disk


def test_the_cores_import_no_django_and_no_torch():
    modules = [name for folder in CORES for name in modules_under(REPO, folder)]
    assert forbidden_imports(modules) == []


def test_a_module_that_imports_django_is_caught(tmp_path):
    # The probe itself: a core module importing Django must make the test above fail.
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "clean.py").write_text("import json\n")
    (tmp_path / "core" / "sneaky.py").write_text("from django.utils.text import slugify\n")
    assert forbidden_imports(["core.clean"], root=tmp_path) == []
    assert "django" in forbidden_imports(modules_under(tmp_path, "core"), root=tmp_path)
