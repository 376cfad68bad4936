"""Staff choose which adapters every chat user may pick: in the API, on the adapter page
(a form), and in the admin."""

import pytest

from finetune.models import Adapter, Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def adapter(db):
    dataset = Dataset.objects.create(name="d", source="import")
    return Adapter.objects.create(name="trial-v1", dataset=dataset, path="/x", manual_prompt=True)


def test_staff_make_an_adapter_selectable_through_the_api(adapter, staff_api, user_api):
    url = f"/api/adapters/{adapter.name}/selectable/"
    assert user_api.put(url, {"selectable": True}, format="json").status_code == 403
    response = staff_api.put(url, {"selectable": True}, format="json")
    assert response.status_code == 200
    assert response.json() == {"name": "trial-v1", "selectable": True}
    assert Adapter.objects.get(pk=adapter.pk).selectable
    assert staff_api.put(url, {}, format="json").status_code == 400


def test_staff_toggle_it_with_the_page_form(adapter, client, staff_user, plain_user):
    url = f"/finetune/adapters/{adapter.name}/selectable/"
    client.force_login(plain_user)
    client.post(url, {"selectable": "1"})
    assert not Adapter.objects.get(pk=adapter.pk).selectable
    client.force_login(staff_user)
    response = client.post(url, {"selectable": "1"})
    assert response.status_code == 302 and Adapter.objects.get(pk=adapter.pk).selectable
    client.post(url, {"selectable": "0"})
    assert not Adapter.objects.get(pk=adapter.pk).selectable


def test_the_admin_lists_adapters_with_selectable_editable(adapter, client, staff_user):
    client.force_login(staff_user)
    page = client.get("/admin/finetune/adapter/").content.decode()
    assert "trial-v1" in page and 'name="form-0-selectable"' in page
    assert client.get("/admin/finetune/adapter/add/").status_code == 403
