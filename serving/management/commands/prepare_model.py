"""Convert the base model once (GGUF -> safetensors under WEFT_MODEL_DIR) and print its folder."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from serving.backend import BackendError
from serving.model_files import ensure_base_model, is_converted


class Command(BaseCommand):
    help = "Convert the base model to a cached safetensors copy (once) and print its folder."

    def handle(self, *args, **options):
        model_dir = Path(settings.WEFT_MODEL_DIR)
        already = is_converted(model_dir)
        started = time.monotonic()
        try:
            folder = ensure_base_model(model_dir)
        except BackendError as error:
            raise CommandError(error.message) from error
        if not already:
            self.stderr.write(f"Converted in {time.monotonic() - started:.1f} s.")
        self.stdout.write(str(folder))
