"""Data parallelism for finetune.training.run: one process per core, each step's rows shared out.

On a 2-core CPU one process with 2 torch threads trained 1.4x one thread on one VM and slower
than one thread on another (small per-row matmuls, allocation and kernel set-up split badly
across threads), while two 1-thread processes side by side each keep their pace: 1.8x one
thread (bench/README.md, "the 2026-11-21b run"). So the trainer (rank 0)
starts `workers - 1` helpers (`python -m finetune.training.worker`), and every step runs so
in each process:

1. rank 0 broadcasts what comes next: train step s, score the eval rows, or stop;
2. each process runs its share of the step's rows (split by length, so the shares take
   about as long), accumulating gradients divided by the step's total loss tokens;
3. one all-reduce sums the gradients and the loss over processes (gloo, over loopback);
4. every process clips and steps its own AdamW on the same summed gradients, so the
   weights stay identical without being sent.

Only rank 0 talks to the caller (progress, checkpoints, the adapter). A helper dies with its
parent (PR_SET_PDEATHSIG), and a helper that dies fails the run at the next collective with
a clear error; the job then resumes from its last checkpoint like any other failed run.

No Django here.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

# A collective that waits longer than this means a process is gone or stuck. The longest
# wait is a helper's for rank 0 while it scores the eval rows or writes a checkpoint.
TIMEOUT = timedelta(minutes=10)
SPEC_FILE = "parallel-spec.json"


class Command(IntEnum):
    STOP = 0
    TRAIN = 1  # the step's index follows
    EVALUATE = 2


class ParallelError(RuntimeError):
    """A helper process could not start or stopped answering."""


def shares(lengths: Sequence[int], world: int) -> list[list[int]]:
    """Indices of `lengths` for each rank: longest first, each to the least loaded rank.

    A pure function, so every process computes the same split without talking. Cost is
    taken as tokens, which is close enough for rows of a few hundred tokens.
    """
    load = [0] * world
    out: list[list[int]] = [[] for _ in range(world)]
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        rank = min(range(world), key=lambda r: (load[r], r))
        out[rank].append(i)
        load[rank] += lengths[i]
    return [sorted(s) for s in out]


class Group:
    """The processes of one run, seen from one of them (`rank`)."""

    def __init__(self, rank: int, world: int, helpers: Sequence[subprocess.Popen] = ()) -> None:
        self.rank, self.world = rank, world
        self._helpers = list(helpers)

    # ------------------------------------------------------------ joining

    @classmethod
    def start(cls, world: int, spec: dict[str, Any], folder: Path) -> "Group":
        """Rank 0: write the spec, start the helpers, and join them."""
        import torch.distributed as dist

        folder.mkdir(parents=True, exist_ok=True)
        spec_file = folder / SPEC_FILE
        spec_file.write_text(json.dumps(spec))
        port = _free_port()
        helpers = []
        try:
            for rank in range(1, world):
                command = [sys.executable, "-m", "finetune.training.worker"]
                command += [str(spec_file), str(rank), str(world), str(port)]
                helpers.append(
                    subprocess.Popen(  # noqa: S603 - our own module, our own arguments
                        command,
                        env=_env(),
                        preexec_fn=_die_with_parent,
                        stdin=subprocess.DEVNULL,
                    )
                )
            _join(0, world, port)
        except Exception as exc:
            for helper in helpers:
                helper.kill()
            if dist.is_initialized():
                dist.destroy_process_group()
            raise ParallelError(f"could not start {world - 1} training helper(s): {exc}") from exc
        return cls(0, world, helpers)

    @classmethod
    def join(cls, rank: int, world: int, port: int) -> "Group":
        """A helper: join rank 0's group."""
        _join(rank, world, port)
        return cls(rank, world)

    # ------------------------------------------------------------ collectives

    def send(self, command: Command, step: int = 0) -> None:
        """Rank 0: tell the helpers what comes next."""
        import torch

        self._collective(lambda dist: dist.broadcast(torch.tensor([command, step]), src=0))

    def receive(self) -> tuple[Command, int]:
        """A helper: wait for rank 0's next command."""
        import torch

        message = torch.zeros(2, dtype=torch.int64)
        self._collective(lambda dist: dist.broadcast(message, src=0))
        return Command(int(message[0])), int(message[1])

    def sum(self, tensors: Sequence) -> None:
        """Sum each tensor over the processes, in place (one all-reduce for all of them)."""
        self._flat_collective(tensors, lambda dist, flat: dist.all_reduce(flat))

    def same_as_rank0(self, tensors: Sequence) -> None:
        """Overwrite each tensor with rank 0's (the starting weights)."""
        self._flat_collective(tensors, lambda dist, flat: dist.broadcast(flat, src=0))

    def mine(self, lengths: Sequence[int]) -> list[int]:
        return shares(lengths, self.world)[self.rank]

    def _flat_collective(self, tensors: Sequence, call) -> None:
        """`call` on one flat copy of the tensors, then the result copied back into each."""
        import torch

        flat = torch.cat([t.detach().reshape(-1) for t in tensors])
        self._collective(lambda dist: call(dist, flat))
        offset = 0
        with torch.no_grad():
            for t in tensors:
                t.copy_(flat[offset : offset + t.numel()].view_as(t))
                offset += t.numel()

    def _collective(self, call) -> None:
        import torch.distributed as dist

        try:
            call(dist)
        except RuntimeError as exc:
            gone = [h.args[4] for h in self._helpers if h.poll() is not None]
            detail = f" (helper rank {', '.join(gone)} exited)" if gone else ""
            raise ParallelError(f"a training process stopped answering{detail}: {exc}") from exc

    # ------------------------------------------------------------ leaving

    def close(self, *, graceful: bool = True) -> None:
        """Leave the group. Rank 0: graceful tells the helpers to stop between steps; after
        an error they may be inside a collective that would never complete, so kill them."""
        import torch.distributed as dist

        if graceful and self.rank == 0 and self._helpers:
            try:
                self.send(Command.STOP)
            except ParallelError:
                graceful = False  # a helper is gone already
        if not graceful:
            for helper in self._helpers:
                helper.kill()
        if dist.is_initialized():
            dist.destroy_process_group()
        for helper in self._helpers:
            try:
                helper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()


def _join(rank: int, world: int, port: int) -> None:
    import torch.distributed as dist

    # gloo picks its interface from the hostname, which need not resolve here; all of a
    # run's processes are on this machine.
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=TIMEOUT,
    )  # fmt: skip


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
