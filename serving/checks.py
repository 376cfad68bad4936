"""System checks: a backend nobody registered fails at start-up, not at the first chat."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register

from serving.backend import registered_backends


@register()
def check_backend(app_configs, **kwargs):
    name = settings.WEFT_BACKEND
    if name not in registered_backends():
        return [
            Error(
                f"WEFT_BACKEND is {name!r}, which no backend registered.",
                hint=f"Use one of: {', '.join(registered_backends())}.",
                id="serving.E001",
            )
        ]
    if name == "local":
        from serving.backend import BackendError
        from serving.model_files import is_converted

        try:
            ready = is_converted(Path(settings.WEFT_MODEL_DIR))
        except BackendError as error:
            return [Error(error.message, id="serving.E002")]
        if not ready:
            return [
                Warning(
                    "The base model has not been converted yet; the first chat will wait ~30 s.",
                    hint="Run `python manage.py prepare_model`.",
                    id="serving.W001",
                )
            ]
    return []
