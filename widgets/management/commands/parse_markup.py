import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from widgets.markup import MarkupParser, ProseDelta, WidgetClosed
from widgets.selectors import registry_validators


def file_segments(text: str, validators, chunk_size: int) -> list[dict]:
    """Segments of `text` fed through the streaming parser in chunks of `chunk_size`."""
    parser = MarkupParser(validators)
    events = []
    for start in range(0, len(text), chunk_size):
        events += parser.feed(text[start : start + chunk_size])
    events += parser.close()
    segments: list[dict] = []
    for event in events:
        if isinstance(event, ProseDelta):
            if segments and segments[-1]["kind"] == "prose":
                segments[-1]["text"] += event.text
            else:
                segments.append({"kind": "prose", "text": event.text})
        elif isinstance(event, WidgetClosed):
            segments.append(
                {
                    "kind": "widget",
                    "type": event.type,
                    "outcome": str(event.outcome),
                    "raw": event.raw,
                    "payload": event.payload,
                    "errors": [{"pointer": e.pointer, "message": e.message} for e in event.errors],
                }
            )
    return segments


class Command(BaseCommand):
    help = "Parse files of model output with the active widget registry; one JSON line per file."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=0,
            help="feed N characters at a time (default: whole file)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print JSON lines (the only format)"
        )

    def handle(self, *args, files, chunk_size, **options):
        if chunk_size < 0:
            raise CommandError("--chunk-size must be a positive number of characters")
        validators = registry_validators()
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{path}: cannot read as UTF-8 text ({exc})") from exc
            segments = file_segments(text, validators, chunk_size or max(len(text), 1))
            self.stdout.write(
                json.dumps({"file": str(path), "segments": segments}, ensure_ascii=False)
            )
