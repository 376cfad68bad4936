"""A task round trip through the real broker and a real worker process."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from project.tasks import ping


@pytest.fixture(scope="module")
def celery_worker_process():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            "--pool=solo",
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield worker
    worker.terminate()
    worker.wait(timeout=30)


def test_ping_round_trip_through_redis(celery_worker_process):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    result = ping.delay()
    assert result.get(timeout=60) == "pong"
    assert celery_worker_process.poll() is None


def test_ping_round_trip_through_the_embedded_broker(tmp_path):
    """With no Redis, jobs still run: the SQLite broker carries them (a laptop's setup)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        "WEFT_DATA_DIR": str(tmp_path),
        # Chosen, as the web process and its worker must agree (not guessed by each at start).
        "WEFT_BROKER": "embedded",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", "worker", "--pool=solo",
         "--loglevel=warning", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"embedded-{os.getpid()}@%h"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = subprocess.run(
            [sys.executable, "-c",
             "import django; django.setup(); from django.conf import settings; "
             "from project.tasks import ping; print(settings.CELERY_BROKER_URL); "
             "print(ping.delay().get(timeout=90))"],
            cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    diagnostics = client.stderr + (tmp_path / "worker.log").read_text()
    assert client.returncode == 0, diagnostics
    broker_url, reply = client.stdout.split()
    assert broker_url.startswith("weftsqla+sqlite:///") and reply == "pong", diagnostics
