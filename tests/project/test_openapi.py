from django.core.management import call_command


def test_openapi_schema_validates_without_warnings(tmp_path):
    # --fail-on-warn: an undocumented field or an unresolvable serializer fails here.
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/messages/{id}/stream/" in out.read_text()
