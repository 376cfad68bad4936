"""Checkpoints of a training run: written atomically, read back to resume.

    out_dir/checkpoints/step-00020/
        lora.safetensors   the trainable (LoRA) weights, by parameter name
        trainer.pt         AdamW's state and torch's RNG state
        state.json         step, the resolved config, the row ids, loss history, counters

A checkpoint is written into a hidden scratch folder and renamed into place, so a folder
named step-* is always complete: a worker killed mid-write leaves only scratch, which the
next save clears. The learning rate is a pure function of the step (run.learning_rate_at),
so there is no scheduler state to keep. Only the newest KEEP checkpoints stay on disk.

No Django here.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

KEEP = 2  # checkpoints kept; the older one covers a crash while the newer was being renamed
FOLDER = "checkpoints"
_PREFIX = "step-"


def checkpoint_dir(out_dir: Path, step: int) -> Path:
    return Path(out_dir) / FOLDER / f"{_PREFIX}{step:05d}"


def latest_checkpoint(out_dir: Path) -> Path | None:
    root = Path(out_dir) / FOLDER
    if not root.is_dir():
        return None
    done = [p for p in root.glob(f"{_PREFIX}*") if (p / "state.json").is_file()]
    return max(done, key=lambda p: int(p.name.removeprefix(_PREFIX)), default=None)


def save_checkpoint(out_dir: Path, *, step: int, model, optimizer, state: dict[str, Any]) -> Path:
    import torch
    from safetensors.torch import save_file

    target = checkpoint_dir(out_dir, step)
    scratch = target.with_name(f".writing-{target.name}-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    weights = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(weights, scratch / "lora.safetensors")
    torch.save(
        {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()},
        scratch / "trainer.pt",
    )
    (scratch / "state.json").write_text(json.dumps({**state, "step": step}, indent=1))
    if target.exists():  # a rerun reached the same step again: the new one replaces it
        shutil.rmtree(target)
    scratch.rename(target)
    _prune(target.parent)
    return target


def load_checkpoint(folder: Path, *, model, optimizer) -> dict[str, Any]:
    """Restore weights, optimiser and RNG from `folder`; returns its state.json."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(folder / "lora.safetensors")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(weights) != set(params):
        raise ValueError(f"{folder} holds other LoRA weights than this model has")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    trainer = torch.load(folder / "trainer.pt", weights_only=True)
    optimizer.load_state_dict(trainer["optimizer"])
    torch.set_rng_state(trainer["torch_rng"])
    return json.loads((folder / "state.json").read_text())


def read_state(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "state.json").read_text())


def _prune(root: Path) -> None:
    done = sorted(
        (p for p in root.glob(f"{_PREFIX}*") if (p / "state.json").is_file()),
        key=lambda p: int(p.name.removeprefix(_PREFIX)),
    )
    for old in done[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    for scratch in root.glob(".writing-*"):
        if not scratch.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(scratch, ignore_errors=True)
