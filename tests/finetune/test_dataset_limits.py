"""Dataset imports are bounded: bytes, lines, and how many problems are listed (Hardening A)."""

import json
from unittest import mock

import pytest
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.test.client import BOUNDARY, encode_multipart
from rest_framework.parsers import MultiPartParser

from finetune.datasets import DatasetRejected, DatasetTooLarge, dataset_import
from finetune.models import Dataset

pytestmark = pytest.mark.django_db


def row(n: int) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"question {n}"},
                {"role": "assistant", "content": f"answer {n}"},
            ],
            "meta": {"id": f"r{n}"},
        }
    )


def rows_text(count: int) -> str:
    return "".join(row(n) + "\n" for n in range(count))


# Equal to the test client's MULTIPART_CONTENT but not it: the client encodes a body only when
# given that very object, and these bodies are encoded already.
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def encoded(form: dict) -> bytes:
    """A multipart body made before the upload's `read` is patched (the test client reads)."""
    return encode_multipart(BOUNDARY, form)


@pytest.fixture
def limits(settings):
    settings.WEFT_DATASET_MAX_BYTES = 2_000
    settings.WEFT_DATASET_MAX_LINES = 10
    return settings


def test_a_file_over_the_byte_limit_is_refused(limits, demo_registry):
    text = rows_text(30)
    assert len(text.encode()) > 2_000
    with pytest.raises(DatasetTooLarge, match="2,000 bytes"):
        dataset_import(name="big", text=text)
    assert not Dataset.objects.exists()


def test_a_file_over_the_line_limit_is_refused(limits, demo_registry):
    dataset_import(name="ten", text=rows_text(10))  # exactly the limit is fine
    with pytest.raises(DatasetTooLarge, match=r"11 lines.*at most 10"):
        dataset_import(name="eleven", text=rows_text(11))
    assert list(Dataset.objects.values_list("name", flat=True)) == ["ten"]


def test_the_limits_default_to_20_mib_and_50000_lines(settings):
    from finetune.datasets import import_limits

    del settings.WEFT_DATASET_MAX_BYTES  # not set in settings.py: the defaults apply
    del settings.WEFT_DATASET_MAX_LINES
    assert import_limits().max_bytes == 20 * 1024 * 1024
    assert import_limits().max_lines == 50_000


def test_only_the_first_50_problems_are_listed_then_a_count(demo_registry):
    text = "".join("{not json\n" for _ in range(70))
    with pytest.raises(DatasetRejected) as caught:
        dataset_import(name="junk", text=text)
    assert len(caught.value.problems) == 50 and caught.value.more == 20
    assert caught.value.messages()[-1] == "… and 20 more"
    assert len(caught.value.messages()) == 51


def test_the_api_lists_50_problems_and_how_many_more(staff_api, demo_registry):
    upload = SimpleUploadedFile("junk.jsonl", b"{not json\n" * 70)
    response = staff_api.post("/api/datasets/", {"name": "junk", "file": upload})
    assert response.status_code == 400
    listed = response.json()["rows"]
    assert len(listed) == 51 and listed[-1] == "… and 20 more"


def test_the_api_refuses_a_large_body_before_parsing_it(limits, staff_api, demo_registry):
    # Far past the limit by Content-Length: refused before the multipart body is parsed.
    upload = SimpleUploadedFile("big.jsonl", rows_text(1_000).encode())
    with mock.patch.object(MultiPartParser, "parse", side_effect=AssertionError("parsed")):
        response = staff_api.post("/api/datasets/", {"name": "big", "file": upload})
    assert response.status_code == 413
    assert "2,000 bytes" in response.json()["file"][0]
    assert not Dataset.objects.exists()


def test_the_api_checks_the_file_size_before_reading_it(limits, staff_api, demo_registry):
    # Over the limit but within the body's allowance for multipart overhead: the upload's
    # size refuses it, unread.
    body = encoded({"name": "big", "file": SimpleUploadedFile("big.jsonl", rows_text(30).encode())})
    with mock.patch.object(InMemoryUploadedFile, "read", side_effect=AssertionError("read")):
        response = staff_api.post("/api/datasets/", body, content_type=MULTIPART)
    assert response.status_code == 413 and "2,000 bytes" in response.json()["file"][0]
    assert not Dataset.objects.exists()


def test_the_page_refuses_a_large_upload_without_reading_it(limits, client, staff_user):
    client.force_login(staff_user)
    body = encoded({"name": "big", "file": SimpleUploadedFile("big.jsonl", rows_text(30).encode())})
    with mock.patch.object(InMemoryUploadedFile, "read", side_effect=AssertionError("read")):
        response = client.post("/finetune/datasets/upload/", body, content_type=MULTIPART)
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "2,000 bytes" in page
    assert not Dataset.objects.exists()


def test_the_page_lists_problems_up_to_the_cap(client, staff_user, demo_registry):
    client.force_login(staff_user)
    upload = SimpleUploadedFile("junk.jsonl", b"{not json\n" * 70)
    response = client.post("/finetune/datasets/upload/", {"name": "junk", "file": upload})
    page = client.get(response.url).content.decode()
    assert page.count("not JSON") == 50 and "… and 20 more" in page
