"""Pick the Celery broker: Redis, or an embedded SQLite broker for a laptop without Redis.

The web process and the worker each choose at start-up, and they must choose the same: a
task published to one broker is never seen by a worker reading the other. So the choice is
a setting (WEFT_BROKER: redis or embedded). Only "auto" (DEBUG's default when WEFT_BROKER is
unset) looks for a Redis at start-up and falls back when none answers; it is slower and
single-machine, so start-up says so loudly rather than hiding it.
"""

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("redis", "embedded", "auto")
# A publish happens inside a web request, so a Redis that is down or hung must fail it within
# seconds, not hold the request (redis-py waits forever for a reply by default).
REDIS_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,  # seconds
    # Seconds for a reply; above the worker's 1 s BRPOP poll (kombu's brpop_timeout), which
    # must answer before it.
    "socket_timeout": 2,
}


class BrokerConfigError(ValueError):
    pass


@dataclass(frozen=True, kw_only=True)
class BrokerChoice:
    broker_url: str
    result_backend: str
    embedded: bool
    transport_options: dict  # Celery's broker_transport_options (the SQLite one takes none)


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


def choose_broker(*, redis_url: str, data_dir: Path, mode: str = "auto") -> BrokerChoice:
    """`mode`: "redis", "embedded", or "auto" (Redis if it answers now, else embedded)."""
    if mode not in MODES:
        raise BrokerConfigError(f"WEFT_BROKER is redis, embedded or auto, not {mode!r}.")
    if mode == "redis" or (mode == "auto" and redis_answers(redis_url)):
        return BrokerChoice(
            broker_url=redis_url,
            result_backend=redis_url,
            embedded=False,
            transport_options=dict(REDIS_TRANSPORT_OPTIONS),
        )
    from project.broker_transport import SCHEME, register

    register()  # kombu's own "sqla" transport crashes a worker that races the web process
    return BrokerChoice(
        broker_url=f"{SCHEME}+sqlite:///{data_dir / 'celery-broker.sqlite3'}",
        result_backend=f"db+sqlite:///{data_dir / 'celery-results.sqlite3'}",
        embedded=True,
        transport_options={},  # kombu hands them to SQLAlchemy's create_engine, which refuses
    )


def announce_fallback(choice: BrokerChoice, *, redis_url: str, mode: str) -> None:
    if choice.embedded and mode == "auto":
        print(
            f"weft: no Redis answers at {redis_url}; background jobs use the embedded "
            f"SQLite broker ({choice.broker_url}). Start Redis for production use, and set "
            "WEFT_BROKER=redis or WEFT_BROKER=embedded so that the web process and the "
            "worker cannot choose differently.",
            file=sys.stderr,
        )
