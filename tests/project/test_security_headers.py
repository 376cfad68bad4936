"""Hardening: the Content-Security-Policy on every page, HSTS behind TLS with DEBUG off, and
login throttling (django-axes). The browser check that no page breaks the policy is in
tests/test_accessibility.py."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone

from chat.services import conversation_create
from finetune.datasets import dataset_import
from finetune.jobs import finetune_job_start
from widgets.models import WidgetSchemaVersion

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # Autouse fixtures run first, so the users below are created with it: the dozen logins
    # here would take seconds with the real hasher, and the hasher is not what they test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' https: data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


def policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict([*part.strip().split(" ", 1), ""][:2] for part in header.split(";") if part.strip())


def tiny_job():
    text = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                 {"role": "assistant", "content": f"a{i}"}]})
        for i in range(4)
    )  # fmt: skip
    return finetune_job_start(
        dataset=dataset_import(name="tiny", text=text), name="tiny", config={}, enqueue=False
    )


# ---------------------------------------------------------------- Content-Security-Policy


def test_every_page_answers_with_the_policy(client, plain_user, staff_user, demo_registry):
    assert policy(client.get("/accounts/login/")) == POLICY

    client.force_login(plain_user)
    assert policy(client.get("/")) == POLICY  # no conversation yet: the start page
    conversation = conversation_create(owner=plain_user)
    for url in (f"/c/{conversation.pk}/", f"/api/conversations/{conversation.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == POLICY, url

    client.force_login(staff_user)
    job = tiny_job()
    version = WidgetSchemaVersion.objects.filter(is_active=True).first()
    for url in (
        "/finetune/",
        f"/finetune/jobs/{job.pk}/",
        f"/finetune/datasets/{job.dataset.pk}/",
        "/finetune/evals/",
        "/admin/",
        "/admin/widgets/widgettype/",
        f"/admin/widgets/widgetschemaversion/{version.pk}/change/",
        f"/admin/widgets/widgetschemaversion/add/?widget={version.widget.pk}",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == POLICY, url


def test_the_policy_is_also_on_redirects_and_refusals(client, plain_user):
    assert policy(client.get("/finetune/")) == POLICY  # to the login page
    client.force_login(plain_user)
    refused = client.get("/finetune/")
    assert refused.status_code in (302, 403) and policy(refused) == POLICY


# ---------------------------------------------------------------- HSTS and the TLS proxy


def _settings_in_a_fresh_process(env_overrides: dict) -> subprocess.CompletedProcess:
    """Settings as a server started with this environment sees them: HSTS and secure cookies
    are decided at import from DEBUG, which override_settings cannot replay."""
    ours = {"DEBUG", "SECRET_KEY", "SECURE_COOKIES", "SECURE_PROXY_SSL_HEADER"}
    env = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("SECURE_HSTS")}
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE and s.CSRF_COOKIE_SECURE]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**env, **env_overrides, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_hsts_and_secure_cookies_only_with_debug_off_and_the_proxy_header_from_the_env():
    production = _settings_in_a_fresh_process(
        {
            "DEBUG": "0",
            "SECRET_KEY": "x" * 50,
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
        }
    )
    assert production.returncode == 0, production.stderr
    seconds, subdomains, proxy, secure_cookies = json.loads(production.stdout.splitlines()[-1])
    assert (seconds, subdomains, secure_cookies) == (31536000, False, True)
    assert proxy == ["HTTP_X_FORWARDED_PROTO", "https"]

    laptop = _settings_in_a_fresh_process({"DEBUG": "1"})
    assert laptop.returncode == 0, laptop.stderr
    assert json.loads(laptop.stdout.splitlines()[-1]) == [0, False, None, False]

    wrong = _settings_in_a_fresh_process({"DEBUG": "1", "SECURE_PROXY_SSL_HEADER": "https"})
    assert wrong.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https'" in wrong.stderr


def test_hsts_header_is_sent_on_requests_the_tls_proxy_marks_as_https(client, settings):
    # SecurityMiddleware reads its settings when the client builds the middleware chain, at
    # the first request: these overrides are in place by then.
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_tls = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain_http = client.get("/accounts/login/")
    assert "Strict-Transport-Security" not in plain_http.headers


# ---------------------------------------------------------------- login throttling


def log_in(client, username, password, address="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_the_eleventh_login_after_ten_failures_is_refused_even_with_the_right_password(
    client, plain_user
):
    assert settings.AXES_FAILURE_LIMIT == 10
    for _ in range(9):
        response = log_in(client, "agent", "wrong")
        assert response.status_code == 200 and b"didn't match" in response.content
    assert log_in(client, "agent", "wrong").status_code == 429  # the tenth locks the pair
    refused = log_in(client, "agent", "pw-agent-123")
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed logins" in page and "paused for 15 minutes" in page
    assert "_auth_user_id" not in client.session
    assert policy(refused) == POLICY

    # Only that username from that address: the user elsewhere, and others here, log in.
    assert log_in(client, "agent", "pw-agent-123", address="10.0.0.2").status_code == 302
    client.logout()
    assert log_in(client, "staff", "wrong").status_code == 200

    # After the lockout (15 minutes), the right password works again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "agent", "pw-agent-123").status_code == 302


def test_a_successful_login_forgets_earlier_failures(client, plain_user):
    for _ in range(9):
        log_in(client, "agent", "wrong")
    assert log_in(client, "agent", "pw-agent-123").status_code == 302
    client.logout()
    assert log_in(client, "agent", "wrong").status_code == 200  # counting starts again


def test_the_admin_login_is_throttled_too(client, staff_user):
    for _ in range(10):
        client.post(
            "/admin/login/", {"username": "staff", "password": "wrong"}, REMOTE_ADDR="10.0.0.3"
        )
    refused = client.post(
        "/admin/login/", {"username": "staff", "password": "pw-staff-123"}, REMOTE_ADDR="10.0.0.3"
    )
    assert refused.status_code == 429 and "Too many failed logins" in refused.content.decode()


@pytest.mark.django_db
def test_the_api_docs_page_runs_no_inline_script(admin_client):
    response = admin_client.get("/api/docs/")
    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self';" in policy + ";"
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )
    html = response.content.decode()
    assert "<script>" not in html and "<script " in html  # a script file, not inline code
    assert admin_client.get("/api/docs/?script=").status_code == 200
