"""Load check of the chat's streaming path: N concurrent SSE streams through the real stack.

uvicorn serves the ASGI app in this process; a paced scripted backend emits a 500-token reply
per stream (one token every --token-ms) and records when it yielded each token; raw asyncio
HTTP clients read the SSE streams and record when each `ops` event arrived. Added latency of
a token = arrival of the first event that includes it (its `seq`) minus the backend's yield.

    .venv/bin/python bench/chat_stream.py [--streams 50] [--tokens 500] [--token-ms 4]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(tempfile.mkdtemp(prefix="weft-bench-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="project.settings", DEBUG="1", WEFT_DATA_DIR=str(DATA),
    DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{DATA}/bench.sqlite3"),
    WEFT_CHAT_CONSTRAINED="0",
)  # fmt: skip

import django  # noqa: E402

django.setup()

import uvicorn  # noqa: E402
from django.core.management import call_command  # noqa: E402

from serving.backend import TextDelta, register_backend  # noqa: E402
from serving.scripted import ScriptedBackend  # noqa: E402

LISTING = (
    '<widget type="listing_card">{"mls_id": "TX-10492", "address": "12 Oak St", "city": "Austin", '
    '"price": 449000, "beds": 3, "baths": 2, "sqft": 1640, "status": "active"}</widget>'
)


class PacedBackend(ScriptedBackend):
    """ScriptedBackend that streams at a model-like pace and notes when each token left it."""

    token_s = 0.004
    emitted: dict[int, list[float]] = {}

    def stream(self, messages, **options):
        times = []
        PacedBackend.emitted[id(times)] = times
        for item in super().stream(messages, **options):
            if isinstance(item, TextDelta):
                time.sleep(self.token_s)
                times.append(time.perf_counter())
            yield item


def reply_text(tokens: int) -> str:
    """4 * `tokens` characters of prose with two listing cards in it."""
    prose = "Here are homes that fit what you asked for in Austin this week. " * tokens
    third = tokens * 4 // 3
    text = prose[:third] + "\n" + LISTING + "\n" + prose[:third] + "\n" + LISTING + "\n" + prose
    return text[: tokens * 4]


async def read_stream(port: int, path: str, token: str) -> tuple[list[tuple[int, float]], str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    arrivals, last, status = [], "", (await reader.readline()).decode()
    while line := await reader.readline():
        text = line.decode()
        if text.startswith("data: "):
            event = json.loads(text[6:])
            last = event["event"]
            if last == "ops":
                arrivals.append((event["seq"], time.perf_counter()))
    writer.close()
    return arrivals, last if " 200 " in status else status.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--token-ms", type=float, default=4.0)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    call_command("load_demo", stdout=open(os.devnull, "w"))
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from chat.services import chat_message_create, conversation_create

    user = get_user_model().objects.get(username="demo")
    token = Token.objects.get_or_create(user=user)[0].key
    register_backend("paced", "__main__:PacedBackend")
    from django.conf import settings

    settings.WEFT_BACKEND = "paced"
    from serving.backend import get_backend

    backend = get_backend()
    PacedBackend.token_s = args.token_ms / 1000
    text = reply_text(args.tokens)
    replies = []
    for _ in range(args.streams):
        conversation = conversation_create(owner=user)
        replies.append(chat_message_create(conversation=conversation, text="hi")[1])
        backend.enqueue(text, chunk_size=4)  # 4 characters: about one model token

    config = uvicorn.Config(
        "project.asgi:application", host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]

    async def run_all():
        return await asyncio.gather(
            *(read_stream(port, f"/api/messages/{r.pk}/stream/", token) for r in replies),
            return_exceptions=True,
        )

    started = time.perf_counter()
    results = asyncio.run(run_all())
    wall = time.perf_counter() - started
    server.should_exit = True

    errors = [r for r in results if isinstance(r, BaseException) or r[1] != "done"]
    emitted = sorted(PacedBackend.emitted.values(), key=lambda t: t[0] if t else 0)
    # Match streams to emission logs by order of first token: both start in request order.
    lags = []
    streams_ok = [r for r in results if not isinstance(r, BaseException) and r[1] == "done"]
    by_first = sorted(streams_ok, key=lambda r: r[0][0][1] if r[0] else 0)
    for (arrivals, _), times in zip(by_first, emitted, strict=False):
        seen = 0
        for seq, arrived in arrivals:
            for k in range(seen, min(seq, len(times))):
                lags.append((arrived - times[k]) * 1000)
            seen = max(seen, seq)
    lags.sort()

    def pct(q: float) -> float:
        return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")

    head = f"{args.streams} concurrent SSE streams x {args.tokens} tokens"
    print(f"{head}, backend pace {args.token_ms} ms/token")
    print(f"{'wall s':>8} {'tokens':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7}")
    row = (wall, len(lags), pct(0.5), pct(0.9), pct(0.99), len(errors))
    print("{:8.2f} {:8d} {:8.2f} {:8.2f} {:8.2f} {:7d}".format(*row))
    verdict = "met" if pct(0.5) < 2 and not errors else "NOT MET"
    print(f"target: p50 added latency per token < 2 ms, 0 errors -> {verdict}")
    if errors:
        print("first error:", errors[0])
    print(f"(mean {statistics.fmean(lags):.2f} ms)" if lags else "")


if __name__ == "__main__":
    main()
