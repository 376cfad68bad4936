import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from domains.loading import current_domain
from finetune.rows import eval_split_gaps, rows_summary


def _pairs(counts: dict) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


class Command(BaseCommand):
    help = (
        "Write the selected domain's demo training data (JSONL) from its generator "
        "(WEFT_DOMAIN; the demo's needs load_demo first)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="JSONL file to write")
        parser.add_argument("--count", type=int, help="rows to generate (the domain's default)")
        parser.add_argument("--seed", type=int, help="same seed, same rows")

    def handle(self, *args, out, count, seed, **options):
        if count is not None and count < 1:
            raise CommandError("--count must be at least 1")
        domain = current_domain()
        generate = getattr(domain, "demo_conversations", None)
        if not callable(generate):
            raise CommandError(f"The domain {domain.name!r} has no demo conversation generator.")
        try:
            rows = list(generate(count=count, seed=seed))
        except Exception as exc:  # the domain's own code: say what it said, not a traceback
            raise CommandError(f"{domain.name}: {exc}") from exc
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as file:
            for row in rows:
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts = rows_summary(rows)
        self.stdout.write(f"Wrote {counts['rows']} rows to {path}")
        self.stdout.write(f"kind: {_pairs(counts['kind'])}")
        self.stdout.write(f"split: {_pairs(counts['split'])}")
        self.stdout.write(f"widget (rows): {_pairs(counts['widget_rows'])}")
        self.stdout.write(f"widget (blocks): {_pairs(counts['widget_blocks'])}")
        shapes = ("several_widget_types", "several_blocks", "prose_only", "two_turn")
        self.stdout.write("replies: " + _pairs({k.replace("_", " "): counts[k] for k in shapes}))
        if gaps := eval_split_gaps(rows):
            self.stderr.write(f"warning: no eval row shows {', '.join(gaps)}")
