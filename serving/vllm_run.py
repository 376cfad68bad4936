"""A vLLM backend for one batch job (an evaluation): the configured server, or one started for it.

The evaluate command and the evaluation task both use this, so a run that finds no server
behaves the same from either. A server is only started on loopback: a remote URL that does
not answer is a deployment problem this process cannot fix.
"""

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from serving.backend import BackendSettings, BackendUnavailable

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def vllm_backend_for_run(
    *, log_name: str = "vllm-evaluate.log", notify: Callable[[str], None] | None = None
) -> Iterator:
    """Yield a VLLMBackend; a server this started is stopped when the block ends."""
    from serving.model_files import ensure_base_model
    from serving.vllm import VLLMBackend
    from serving.vllm_server import RunningServer, ServerConfig, is_healthy

    url = settings.WEFT_VLLM_URL
    if is_healthy(url):
        yield VLLMBackend(BackendSettings(model_dir=settings.WEFT_MODEL_DIR, vllm_url=url))
        return
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise BackendUnavailable(f"no vLLM server answers at {url}")
    if notify:
        notify(f"no vLLM server at {url}; starting one for this run")
    config = ServerConfig(
        model_folder=ensure_base_model(Path(settings.WEFT_MODEL_DIR)), port=parts.port or 8001
    )
    with (
        open(Path(settings.DATA_DIR) / log_name, "w") as log,
        RunningServer(config, log=log) as server,
    ):
        yield VLLMBackend(BackendSettings(model_dir=settings.WEFT_MODEL_DIR, vllm_url=server.url))
