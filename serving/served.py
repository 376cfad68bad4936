"""Which model the chat serves, and with which prompt form: the one home the chat and
fine-tuning both read, so that the chat never imports fine-tuning.

Fine-tuning owns adapters and promotions; it registers itself as the catalogue of served
models when its app is ready (finetune/apps.py). With no catalogue (an install without
fine-tuning), the base model answers with the widget manual in its prompt.

Who may pick which model in the chat is decided here too (may_pick, models_for): staff any
registered model; everyone the served model, the base model, and adapters staff made
selectable.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from serving.backend import BASE_MODEL, get_backend, load_adapter_once


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    name: str
    manual_prompt: bool  # the prompt carries the widget manual (an adapter: as trained)
    path: str = ""  # an adapter's folder; "" for the base model
    selectable: bool = False  # every chat user may pick it, not only staff


BASE = ServedModel(name=BASE_MODEL, manual_prompt=True, selectable=True)


class Catalogue(Protocol):
    def promoted(self) -> ServedModel | None: ...

    def named(self, name: str) -> ServedModel | None: ...

    def adapters(self) -> list[ServedModel]: ...  # every registered adapter, newest first


_catalogue: Catalogue | None = None


def register_catalogue(catalogue: Catalogue) -> None:
    global _catalogue
    _catalogue = catalogue


def served_model() -> ServedModel:
    """What the chat answers with by default: the promoted adapter, or the base model."""
    return (_catalogue.promoted() if _catalogue else None) or BASE


def model_named(name: str) -> ServedModel | None:
    """The base model or a registered adapter; None for a name nobody registered."""
    if name == BASE_MODEL:
        return BASE
    return _catalogue.named(name) if _catalogue else None


def may_pick(name: str, *, staff: bool) -> bool:
    """Whether a user may have `name` answer: staff any registered model; everyone else the
    served model, the base model, and the adapters staff made selectable. An adapter that
    was never judged good enough to serve stays with the people who train them."""
    model = model_named(name)
    if model is None:
        return False
    return staff or model.selectable or model.name == served_model().name


def models_for(*, staff: bool) -> list[ServedModel]:
    """The models a user may pick (may_pick), the served one first, then the base model."""
    adapters = _catalogue.adapters() if _catalogue else []
    offered: dict[str, ServedModel] = {}
    for model in (served_model(), BASE, *(a for a in adapters if staff or a.selectable)):
        offered.setdefault(model.name, model)
    return list(offered.values())


def prompt_form_for(name: str) -> bool:
    """An adapter is served the prompt form it was trained with; the base model the manual."""
    model = model_named(name)
    return model.manual_prompt if model else True


def ensure_loaded(name: str, *, load: Callable = load_adapter_once) -> None:
    """Load a registered adapter into this process's backend if it is not there yet."""
    model = model_named(name)
    if model is None or not model.path:
        return  # the base model, or not ours: the backend will say it does not know it
    backend = get_backend()
    if any(m.name == name for m in backend.models()):
        return
    load(backend, model.name, model.path)
