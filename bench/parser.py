"""Benchmark: Weft's streaming markup parser against re-parsing the open block per chunk.

    .venv/bin/python bench/parser.py            # 4 KB, 16 KB, 64 KB, 1 MB
    .venv/bin/python bench/parser.py --quick    # 4 KB and 16 KB only (CI smoke)

Every contender gets the same text (prose with listing_card blocks, fixed seed) in the same
4-character chunks. The re-parsers share one tag splitter, so only their JSON handling
differs; each re-parses the open block's body after every chunk, as a UI showing partial
cards would. All must end with the same payloads (asserted).
"""

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jiter
import json_repair
import partial_json_parser

from widgets.markup import MarkupParser, WidgetClosed, parse_markup, validator_for
from widgets.markup.tags import CLOSE_TAG, OPEN_TAG, close_tag_prefix_start, could_open_tag

CHUNK = 4  # characters per feed(), about one model token
SEED = 20240611
SIZES = {"4 KB": 4 << 10, "16 KB": 16 << 10, "64 KB": 64 << 10, "1 MB": 1 << 20}
QUICK_SIZES = ("4 KB", "16 KB")
# Re-parsers slower than this per MB (measured at 64 KB) are skipped at 1 MB.
SKIP_ABOVE_S = 60.0
SCHEMAS = Path(__file__).resolve().parents[1] / "demo" / "spec" / "widgets"

_WORDS = (
    "the a home near park quiet street kitchen renovated light schools commute budget "
    "offer tour garden garage market price listed week buyers seller inspection roof "
    "open plan bright neighbourhood transit"
).split()
_STREETS = ["Oak St", "Elm Ave", "Maple Dr", "Cedar Ln", "Birch Rd", "Pine Ct"]
_CITIES = ["Austin", "Round Rock", "Pflugerville", "Cedar Park", "Georgetown"]


# --- the text -------------------------------------------------------------------------------


def listing(rng: random.Random) -> dict[str, Any]:
    card = {
        "mls_id": f"TX-{rng.randrange(10_000, 99_999_999)}",
        "address": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)}",
        "city": rng.choice(_CITIES),
        "price": rng.randrange(150, 2500) * 1000,
        "beds": rng.randrange(1, 7),
        "baths": rng.randrange(2, 10) / 2,
        "sqft": rng.randrange(600, 6000),
        "status": rng.choice(["active", "pending", "sold"]),
    }
    if rng.random() < 0.5:
        card["photo_url"] = f"https://photos.example.com/{card['mls_id']}/front.jpg"
    return card


def model_text(size: int, seed: int = SEED) -> str:
    """Prose paragraphs with listing cards between them, at least `size` characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        words = [rng.choice(_WORDS) for _ in range(rng.randrange(20, 60))]
        paragraph = " ".join(words).capitalize() + ". "
        if rng.random() < 0.3:
            paragraph += f"**{rng.choice(_WORDS)}** is a plus <3.\n\n"
        parts.append(paragraph)
        for _ in range(rng.randrange(1, 3)):
            parts.append(f'<widget type="listing_card">{json.dumps(listing(rng))}</widget>\n')
        length += sum(len(p) for p in parts[-3:])
        length = sum(len(p) for p in parts)
    return "".join(parts)


def long_block_text(size: int, seed: int = SEED) -> str:
    """One action_request carrying a long list of listings: a single block of `size`."""
    rng = random.Random(seed)
    listings = []
    length = 0
    while length < size:
        listings.append(listing(rng))
        length += len(json.dumps(listings[-1])) + 2
    payload = {
        "action": "send_email",
        "summary": "Send the buyer every match from this week",
        "params": {"to": "buyer@example.com", "listings": listings},
    }
    return f'Drafted it:\n<widget type="action_request">{json.dumps(payload)}</widget>\nSend?'


# --- the shared tag splitter for the re-parsers ------------------------------------------------


class TagSplitter:
    """Finds open and close tags in a chunked stream; knows nothing about JSON.

    Like the spec's naive reading, a '</widget>' ends the body wherever it stands, so the
    benchmark text has none inside strings.
    """

    def __init__(self) -> None:
        self.in_block = False
        self._held = ""

    def feed(self, chunk: str) -> tuple[str, bool]:
        """Returns (body text that arrived, whether the block closed in this chunk)."""
        text = self._held + chunk
        self._held = ""
        body = []
        pos = 0
        closed = False
        while pos < len(text):
            if not self.in_block:
                lt = text.find("<", pos)
                while lt >= 0:
                    match = OPEN_TAG.match(text, lt)
                    if match:
                        self.in_block = True
                        pos = match.end()
                        break
                    if could_open_tag(text, lt):
                        self._held = text[lt:]
                        return "".join(body), closed
                    lt = text.find("<", lt + 1)
                else:
                    return "".join(body), closed
            else:
                end = text.find(CLOSE_TAG, pos)
                if end < 0:
                    keep = close_tag_prefix_start(text, pos)
                    body.append(text[pos:keep])
                    self._held = text[keep:]
                    return "".join(body), closed
                body.append(text[pos:end])
                self.in_block = False
                closed = True
                # Whatever follows waits for the next chunk: one block per call.
                self._held = text[end + len(CLOSE_TAG) :]
                return "".join(body), closed
        return "".join(body), closed


def reparse_stream(chunks: list[str], loads: Callable[[str], Any]) -> tuple[list[Any], list[int]]:
    splitter = TagSplitter()
    buf = ""
    payloads = []
    times = []
    clock = time.perf_counter_ns
    for chunk in chunks:
        started = clock()
        body, closed = splitter.feed(chunk)
        buf += body
        if closed:
            payloads.append(loads(buf))
            buf = ""
        elif splitter.in_block and buf:
            loads(buf)  # the partial card a UI would render now
        times.append(clock() - started)
    return payloads, times


def jiter_loads(buf: str) -> Any:
    return jiter.from_json(buf.encode(), partial_mode="trailing-strings")


# --- Weft and the floor ----------------------------------------------------------------------


def weft_stream(chunks: list[str], registry: dict) -> tuple[list[Any], list[int]]:
    parser = MarkupParser(registry)
    payloads = []
    times = []
    clock = time.perf_counter_ns
    for chunk in chunks:
        started = clock()
        events = parser.feed(chunk)
        times.append(clock() - started)
        payloads.extend(e.payload for e in events if type(e) is WidgetClosed)
    payloads.extend(e.payload for e in parser.close() if type(e) is WidgetClosed)
    return payloads, times


_FLOOR = re.compile(r'<widget type="[a-z][a-z0-9_]{0,63}">(.*?)</widget>', re.S)


def floor(text: str) -> list[Any]:
    return [json.loads(m.group(1)) for m in _FLOOR.finditer(text)]


# --- the table -------------------------------------------------------------------------------


def best_of(runs: int, fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - started)
    return best, result


def p99_us(times: list[int]) -> float:
    ordered = sorted(times)
    return ordered[int(len(ordered) * 0.99)] / 1000


SCENARIOS = {
    # name: (text for a size, sizes, how a re-parser's time grows with size)
    "cards": (model_text, ("4 KB", "16 KB", "64 KB", "1 MB"), 1),
    "one long block": (long_block_text, ("4 KB", "16 KB", "64 KB"), 2),
}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true", help="only 4 KB and 16 KB")
    quick = args.parse_args().quick
    registry = {
        name: validator_for(json.loads((SCHEMAS / f"{name}.schema.json").read_text()))
        for name in ("listing_card", "action_request")
    }
    reparsers = {
        "partial-json-parser": partial_json_parser.loads,
        "json_repair": json_repair.loads,
        "jiter": jiter_loads,
    }
    print(f"{CHUNK}-character chunks; s/MB is the best of a few runs, per MB of text")
    per_mb: dict[tuple[str, str, str], float] = {}
    for scenario, (make_text, labels, growth) in SCENARIOS.items():
        header = f"{'size':>6} {'contender':<22} {'s/MB':>9} {'p99 µs':>9} {'vs Weft':>9}"
        print(f"\n{scenario}\n{header}\n{'-' * len(header)}")
        seconds_at: dict[str, float] = {}
        previous = None
        for label in labels:
            if quick and label not in QUICK_SIZES:
                continue
            text = make_text(SIZES[label])
            chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
            mb = len(text) / (1 << 20)
            runs = 3 if SIZES[label] <= 64 << 10 else 1
            expected = floor(text)

            key = (scenario, label)

            def row(
                name: str,
                seconds: float,
                times: Any,
                payloads: list[Any],
                *,
                key=key,
                mb=mb,
                expected=expected,
            ) -> None:
                assert payloads == expected, f"{name} disagrees at {key}"
                per_mb[(*key, name)] = seconds / mb
                ratio = seconds / mb / per_mb[(*key, "Weft streaming")]
                p99 = f"{p99_us(times):9.1f}" if times else f"{'-':>9}"
                print(f"{key[1]:>6} {name:<22} {seconds / mb:9.3f} {p99} {ratio:8.2f}x")

            seconds, (payloads, times) = best_of(runs, weft_stream, chunks, registry)
            per_mb[(*key, "Weft streaming")] = seconds / mb
            row("Weft streaming", seconds, times, payloads)
            for name, loads in reparsers.items():
                if previous is not None and (previous, name) in seconds_at:
                    scale = SIZES[label] / SIZES[previous]
                    guess = seconds_at[previous, name] * scale**growth
                    if guess > SKIP_ABOVE_S:
                        print(f"{label:>6} {name:<22} skipped: would take ~{guess:.0f} s")
                        continue
                seconds, (payloads, times) = best_of(runs, reparse_stream, chunks, loads)
                seconds_at[label, name] = seconds
                row(name, seconds, times, payloads)
            seconds, segments = best_of(runs * 3, parse_markup, text, registry)
            widgets = [s.payload for s in segments if s.kind == "widget"]
            row("Weft parse_markup", seconds, None, widgets)
            seconds, payloads = best_of(runs * 3, floor, text)
            row("regex + json.loads", seconds, None, payloads)
            previous = label
    print()
    report_targets(per_mb)


# (what, numerator, denominator, low, high): keys are (scenario, size, contender).
TARGETS = [
    ("partial-json-parser / Weft, cards 16 KB", ("cards", "16 KB", "partial-json-parser"),
     ("cards", "16 KB", "Weft streaming"), 50, None),
    ("jiter / Weft, cards 64 KB", ("cards", "64 KB", "jiter"),
     ("cards", "64 KB", "Weft streaming"), 20, None),
    ("Weft time 64 KB / 16 KB, cards", ("cards", "64 KB", "Weft streaming"),
     ("cards", "16 KB", "Weft streaming"), 3.2, 4.8),
    ("parse_markup / regex + json.loads, cards 16 KB", ("cards", "16 KB", "Weft parse_markup"),
     ("cards", "16 KB", "regex + json.loads"), None, 3),
    ("parse_markup / regex + json.loads, cards 64 KB", ("cards", "64 KB", "Weft parse_markup"),
     ("cards", "64 KB", "regex + json.loads"), None, 3),
    ("partial-json-parser / Weft, long 16 KB", ("one long block", "16 KB", "partial-json-parser"),
     ("one long block", "16 KB", "Weft streaming"), 50, None),
    ("jiter / Weft, long 64 KB", ("one long block", "64 KB", "jiter"),
     ("one long block", "64 KB", "Weft streaming"), 20, None),
    ("Weft time 64 KB / 16 KB, long", ("one long block", "64 KB", "Weft streaming"),
     ("one long block", "16 KB", "Weft streaming"), 3.2, 4.8),
]  # fmt: skip


def report_targets(per_mb: dict[tuple[str, str, str], float]) -> None:
    print(f"{'target':<48} {'measured':>9}  {'wanted':<10}")
    for name, top, bottom, low, high in TARGETS:
        if top not in per_mb or bottom not in per_mb:
            continue
        value = per_mb[top] / per_mb[bottom]
        if "Weft time" in name:
            value *= 4  # from per-MB figures to total time, for 4x the text
        met = (low is None or value >= low) and (high is None or value <= high)
        wanted = f">= {low}" if high is None else f"<= {high}" if low is None else f"{low}-{high}"
        print(f"{name:<48} {value:9.2f}  {wanted:<10} {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
