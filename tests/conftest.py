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
def scripted(settings):
    """The scripted backend, emptied, as the configured one: it says what tests enqueue."""
    settings.WEFT_BACKEND = "scripted"
    backend = get_backend("scripted")
    backend.reset()
    yield backend
    backend.reset()
