import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from finetune.demo_data import (
    DEMO_ROWS,
    DemoDataError,
    demo_dataset_counts,
    eval_split_gaps,
    generate_demo_conversations,
)


def _pairs(counts: dict) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


class Command(BaseCommand):
    help = "Write the demo training data (JSONL) generated from the CRM. Run load_demo first."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="JSONL file to write")
        parser.add_argument("--count", type=int, default=DEMO_ROWS, help="rows to generate")
        parser.add_argument("--seed", type=int, default=11, help="same seed, same rows")

    def handle(self, *args, out, count, seed, **options):
        if count < 1:
            raise CommandError("--count must be at least 1")
        try:
            rows = generate_demo_conversations(count=count, seed=seed)
        except DemoDataError as exc:
            raise CommandError(str(exc)) from exc
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as file:
            for row in rows:
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = demo_dataset_counts(rows)
        self.stdout.write(f"Wrote {counts['rows']} rows to {path}")
        self.stdout.write(f"kind: {_pairs(counts['kind'])}")
        self.stdout.write(f"split: {_pairs(counts['split'])}")
        self.stdout.write(f"widget (rows): {_pairs(counts['widget_rows'])}")
        self.stdout.write(f"widget (blocks): {_pairs(counts['widget_blocks'])}")
        shapes = ("several_widget_types", "several_blocks", "prose_only", "two_turn")
        self.stdout.write("replies: " + _pairs({k.replace("_", " "): counts[k] for k in shapes}))
        if gaps := eval_split_gaps(rows):
            self.stderr.write(f"warning: no eval row shows {', '.join(gaps)}")
