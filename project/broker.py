"""Pick the Celery broker: Redis when it answers, else an embedded SQLite broker.

The fallback lets a laptop without Redis still run background jobs; it is slower and
single-machine, so start-up says so loudly rather than hiding it.
"""

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, kw_only=True)
class BrokerChoice:
    broker_url: str
    result_backend: str
    embedded: bool


def redis_answers(url: str, *, timeout_s: float = 0.5) -> bool:
    """True when a Redis server replies to PING at `url` (no client library needed)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout_s
        ) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # "-NOAUTH" still means a Redis is there; the client will authenticate with the URL.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def choose_broker(*, redis_url: str, data_dir: Path) -> BrokerChoice:
    if redis_answers(redis_url):
        return BrokerChoice(broker_url=redis_url, result_backend=redis_url, embedded=False)
    from project.broker_transport import SCHEME, register

    register()  # kombu's own "sqla" transport crashes a worker that races the web process
    return BrokerChoice(
        broker_url=f"{SCHEME}+sqlite:///{data_dir / 'celery-broker.sqlite3'}",
        result_backend=f"db+sqlite:///{data_dir / 'celery-results.sqlite3'}",
        embedded=True,
    )


def announce_fallback(choice: BrokerChoice, *, redis_url: str) -> None:
    if choice.embedded:
        print(
            f"weft: no Redis answers at {redis_url}; background jobs use the embedded "
            f"SQLite broker ({choice.broker_url}). Start Redis for production use.",
            file=sys.stderr,
        )
