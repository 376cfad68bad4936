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
