"""The `demo` dataset: the generated demo conversations, loaded once by load_demo."""

from demo.dataset.data import generate_demo_conversations
from finetune.datasets import dataset_create_from_rows
from finetune.models import Dataset

DEMO_DATASET = "demo"


def demo_dataset_load(*, author=None) -> tuple[Dataset, bool]:
    """The demo dataset (created from the demo CRM if missing) and whether it was created."""
    existing = Dataset.objects.filter(name=DEMO_DATASET).order_by("-version").first()
    if existing is not None:
        return existing, False
    rows = generate_demo_conversations()
    dataset = dataset_create_from_rows(
        name=DEMO_DATASET,
        rows=rows,
        author=author,
        source="demo",
        description="Generated from the demo CRM: all six widgets, several per reply, prose-only "
        "replies, two-turn follow-ups. The eval split is held out of training.",
    )
    return dataset, True
