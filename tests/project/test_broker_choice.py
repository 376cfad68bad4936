"""Which broker the web process and the worker use: chosen the same way in both, never a
silent per-process fallback in production, and publishing gives up within seconds."""

import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings

from project.broker import BrokerConfigError, choose_broker


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def _settings_of(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "WEFT_BROKER", "REDIS_URL")
    }
    env.update({"WEFT_DATA_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.CELERY_BROKER_URL)",
        ],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_uses_redis_even_when_it_does_not_answer_at_start_up(tmp_path):
    """With DEBUG off the web process and the worker both use Redis: one of them starting
    while Redis is down must not quietly move its tasks to a SQLite file the other never
    reads."""
    url = _closed_port_url()
    result = _settings_of({"DEBUG": "0", "SECRET_KEY": "x" * 50, "REDIS_URL": url}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == url
    assert "embedded" not in result.stderr


def test_weft_broker_chooses_explicitly_whatever_answers(tmp_path):
    url = _closed_port_url()
    redis = _settings_of({"DEBUG": "1", "REDIS_URL": url, "WEFT_BROKER": "redis"}, tmp_path)
    assert redis.returncode == 0 and redis.stdout.strip() == url, redis.stderr
    live = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    embedded = _settings_of({"DEBUG": "0", "SECRET_KEY": "x" * 50, "REDIS_URL": live,
                             "WEFT_BROKER": "embedded"}, tmp_path)  # fmt: skip
    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stdout.strip().startswith("weftsqla+sqlite:///")


def test_an_unknown_weft_broker_stops_start_up(tmp_path):
    result = _settings_of({"DEBUG": "1", "WEFT_BROKER": "rabbit"}, tmp_path)
    assert result.returncode != 0 and "WEFT_BROKER" in result.stderr


def test_debug_without_a_choice_falls_back_as_before_and_says_how_to_choose(tmp_path):
    result = _settings_of({"DEBUG": "1", "REDIS_URL": _closed_port_url()}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("weftsqla+sqlite:///")
    assert "embedded SQLite broker" in result.stderr and "WEFT_BROKER" in result.stderr


@pytest.mark.parametrize(
    ("mode", "embedded"), [("redis", False), ("embedded", True), ("auto", True)]
)
def test_choose_broker_modes(tmp_path, mode, embedded):
    choice = choose_broker(redis_url=_closed_port_url(), data_dir=tmp_path, mode=mode)
    assert choice.embedded is embedded


def test_choose_broker_refuses_an_unknown_mode(tmp_path):
    with pytest.raises(BrokerConfigError, match="WEFT_BROKER"):
        choose_broker(redis_url=_closed_port_url(), data_dir=tmp_path, mode="rabbit")


def test_publishing_is_bounded():
    """A publish retries once, and each try waits seconds, not the defaults' minutes."""
    assert settings.CELERY_TASK_PUBLISH_RETRY_POLICY["max_retries"] <= 1
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 3
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["socket_connect_timeout"] <= 3 and options["socket_timeout"] <= 3
