"""The layout shows the architecture: apps import each other in one direction only, nothing
imports the demo (it is reached through WEFT_DOMAIN), and the README's table of folders
names every package."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Lower layers first: an app may import only the apps before it. `project` is the
# composition root (settings, urls, Celery); the demo is a plug-in nobody imports.
LAYERS = ["widgets", "serving", "domains", "chat", "finetune", "project", "demo"]


def imported_apps(path: Path) -> set[tuple[str, int]]:
    """(app, line) of every import of another app in `path`, at any depth of the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(name.split(".")[0], node.lineno) for name in names}
    return {(app, line) for app, line in found if app in LAYERS}


def test_apps_import_each_other_in_one_direction_only():
    wrong = []
    for rank, app in enumerate(LAYERS):
        for path in sorted((REPO / app).rglob("*.py")):
            for other, line in imported_apps(path):
                if LAYERS.index(other) > rank:
                    wrong.append(f"{path.relative_to(REPO)}:{line} imports {other}")
    assert not wrong, "imports against the layers " + " < ".join(LAYERS) + ":\n" + "\n".join(wrong)


def test_the_readme_table_of_folders_matches_the_code():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z_]+)/`", readme, flags=re.MULTILINE))
    packages = {p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name != "tests"}
    assert packages <= listed, f"packages missing from README's table: {packages - listed}"
    missing = {name for name in listed if not (REPO / name).is_dir()}
    assert not missing, f"README's table names folders that do not exist: {missing}"
