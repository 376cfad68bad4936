import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from project.broker import choose_broker, redis_answers


def _run_settings(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update(env_overrides)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DEBUG)",
        ],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _run_settings({"DEBUG": "0"})
    assert result.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert _run_settings({"DEBUG": "0", "SECRET_KEY": "x" * 50}).stdout.strip() == "False"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_broker_falls_back_to_embedded_sqlite_when_no_redis_answers(tmp_path):
    url = f"redis://127.0.0.1:{_free_port()}/0"
    assert not redis_answers(url)
    choice = choose_broker(redis_url=url, data_dir=tmp_path)
    assert choice.embedded and choice.broker_url.startswith("weftsqla+sqlite:///")


def test_broker_is_redis_when_it_answers(tmp_path):
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert redis_answers(url), "the test command starts Redis; it must answer here"
    assert choose_broker(redis_url=url, data_dir=tmp_path).broker_url == url
    assert settings.CELERY_BROKER_URL == url


def test_fallback_is_announced_at_start_up():
    result = _run_settings({"DEBUG": "1", "REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"})
    assert result.returncode == 0, result.stderr
    assert "no Redis answers" in result.stderr and "embedded SQLite broker" in result.stderr


@pytest.mark.django_db
def test_database_is_the_one_database_url_names():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"
    assert connection.vendor == expected
