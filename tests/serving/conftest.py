import time
from pathlib import Path

import pytest
from django.conf import settings

from demo.widget_files import demo_widget_specs
from serving.backend import BackendSettings
from serving.prompts import WidgetSpec
from widgets.markup import validator_for


@pytest.fixture(scope="session")
def demo_specs() -> list[WidgetSpec]:
    """The demo registry straight from demo/ (no database): what the prompt builder takes."""
    return demo_widget_specs()


@pytest.fixture(scope="session")
def listing_only() -> list[WidgetSpec]:
    """A registry of one widget whose one required field is grounded."""
    return [
        WidgetSpec(
            name="listing_card",
            title="",
            description="",
            json_schema={
                "type": "object",
                "required": ["mls_id"],
                "properties": {"mls_id": {"type": "string"}},
            },
            grounded_fields=("mls_id",),
        )
    ]


@pytest.fixture(scope="session")
def demo_validators(demo_specs):
    return {spec.name: validator_for(spec.json_schema) for spec in demo_specs}


@pytest.fixture(scope="session")
def base_model_folder() -> Path:
    """The converted base model under WEFT_MODEL_DIR: converted once, reused by every test."""
    from serving.model_files import ensure_base_model, is_converted

    model_dir = Path(settings.WEFT_MODEL_DIR)
    fresh = not is_converted(model_dir)
    started = time.monotonic()
    folder = ensure_base_model(model_dir)
    if fresh:
        print(f"\nconverted the base model in {time.monotonic() - started:.1f} s -> {folder}")
    return folder


@pytest.fixture(scope="session")
def local_backend(base_model_folder):
    from serving.local import LocalBackend

    return LocalBackend(BackendSettings(model_dir=Path(settings.WEFT_MODEL_DIR)))
