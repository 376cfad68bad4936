"""Adapters: promote one to the chat, roll back, package it, and make sure it is loaded."""

import io
import json
import zipfile
from pathlib import Path

from django.db import transaction

from finetune.models import Adapter, Promotion
from serving.backend import BASE_MODEL, AdapterError, BackendError, get_backend


class PromotionRefused(Exception):
    pass


def promoted_adapter() -> Adapter | None:
    latest = Promotion.objects.select_related("adapter").first()
    return latest.adapter if latest else None


def served_model() -> tuple[str, bool]:
    """What the chat uses by default: (model name, whether its prompt carries the manual)."""
    adapter = promoted_adapter()
    return (adapter.name, adapter.manual_prompt) if adapter else (BASE_MODEL, True)


def prompt_form_for(model_name: str) -> bool:
    """An adapter is served the prompt form it was trained with; the base model the manual."""
    adapter = Adapter.objects.filter(name=model_name).first()
    return adapter.manual_prompt if adapter else True


def adapter_ensure_loaded(name: str) -> None:
    """Load a registered adapter into this process's backend if it is not there yet."""
    if name == BASE_MODEL:
        return
    backend = get_backend()
    if any(m.name == name for m in backend.models()):
        return
    adapter = Adapter.objects.filter(name=name).first()
    if adapter is None:
        return  # not ours: the backend will say it does not know the model
    try:
        backend.load_adapter(adapter.name, adapter.path)
    except AdapterError:
        # Another process may have loaded it into the same vLLM server a moment ago.
        if not any(m.name == name for m in backend.models()):
            raise


@transaction.atomic
def adapter_promote(*, adapter: Adapter | None, user=None, reason: str = "") -> Promotion:
    """Make `adapter` (None: the base model) what the chat serves; loads it with no restart."""
    if adapter is not None:
        if not Path(adapter.path, "adapter_config.json").is_file():
            raise PromotionRefused(f"{adapter.name}: its files are missing at {adapter.path}")
        try:
            adapter_ensure_loaded(adapter.name)
        except BackendError as exc:
            raise PromotionRefused(f"{adapter.name} could not be loaded: {exc.message}") from exc
    return Promotion.objects.create(adapter=adapter, promoted_by=user, reason=reason)


def adapter_rollback(*, user=None) -> Promotion:
    """Serve again what was promoted before the current promotion."""
    history = list(Promotion.objects.select_related("adapter")[:2])
    if len(history) < 2:
        raise PromotionRefused("nothing to roll back to")
    return adapter_promote(
        adapter=history[1].adapter, user=user, reason=f"roll back from {history[0]}"
    )


def adapter_zip(adapter: Adapter) -> bytes:
    """The adapter folder as a zip that plain peft and vLLM load (plus how it was trained)."""
    folder = Path(adapter.path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{adapter.name}/{path.relative_to(folder)}")
        card = {
            "name": adapter.name,
            "base_model": "SmolLM2-135M-Instruct",
            "prompt": "manual" if adapter.manual_prompt else "short",
            "dataset": str(adapter.dataset),
            "rows": len(adapter.row_ids),
            "metrics": adapter.metrics,
            "config": adapter.config,
        }
        archive.writestr(f"{adapter.name}/weft.json", json.dumps(card, indent=2))
    return buffer.getvalue()
