import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from serving.backend import get_backend

pytest_plugins = ["tests.browser"]  # browser and live-server fixtures


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        "staff", password="pw-staff-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def plain_user(db):
    return get_user_model().objects.create_user("agent", password="pw-agent-123")


@pytest.fixture
def staff_api(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def user_api(plain_user):
    client = APIClient()
    client.force_authenticate(plain_user)
    return client


@pytest.fixture
def demo_registry(db):
    from demo.widget_files import demo_widgets_load

    demo_widgets_load()


@pytest.fixture
def demo_registry_v1(db, tmp_path):
    """The demo registry as it was before action_request v2: v1 its only version, active.
    Load the demo's files afterwards (demo_widgets_load) to activate v2 on top of it."""
    import json
    from pathlib import Path

    from django.conf import settings

    from domains.services import domain_widgets_load

    folder = tmp_path / "registry-v1"
    folder.mkdir()
    for path in (Path(settings.BASE_DIR) / "demo" / "registry").glob("*.json"):
        doc = json.loads(path.read_text())
        if doc["name"] == "action_request":
            doc["versions"] = [{**doc["versions"][0], "active": True}]
        (folder / path.name).write_text(json.dumps(doc))
    domain_widgets_load(widgets_dir=folder)


@pytest.fixture
def scripted(settings):
    """The scripted backend, emptied, as the configured one: it says what tests enqueue."""
    settings.WEFT_BACKEND = "scripted"
    backend = get_backend("scripted")
    backend.reset()
    yield backend
    backend.reset()
