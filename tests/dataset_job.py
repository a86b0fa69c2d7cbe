"""A small deterministic dataset job for tests/test_dataset.py, also run as a script.

The tests run it in a subprocess (to kill it mid-run) and under ``torchrun`` (to
check that a sharded run equals a single-process one)::

    python tests/dataset_job.py OUT [--delay SECONDS] [--threads N] [--kill-at FILE:POINT]

``--kill-at 000000005.npy:fsync`` kills the job with SIGKILL inside the write of that
file, after its bytes are written and before they are fsync-ed (``:rename``: after the
fsync, before the rename that commits it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

import torch
from torch.utils.data import Dataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from models import SmallCNN

from idgrad.dataset import attribute_dataset

N_EXAMPLES = 40
BATCH_SIZE = 4
METHOD_KWARGS = {"n_steps": 8}


class SlowImages(Dataset):  # type: ignore[type-arg]
    """``N`` seeded ``(2, 6, 6)`` float32 images with labels; optionally slow to read."""

    def __init__(self, n: int = N_EXAMPLES, delay: float = 0.0) -> None:
        g = torch.Generator().manual_seed(1234)
        self.x = torch.rand(n, 2, 6, 6, generator=g)
        self.y = torch.randint(0, 3, (n,), generator=g)
        self.delay = delay

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        if self.delay:
            time.sleep(self.delay)
        return self.x[i], int(self.y[i])


def model() -> torch.nn.Module:
    return SmallCNN(in_channels=2, n_classes=3, width=4, seed=0, dtype=torch.float32).eval()


def run(out: str, delay: float = 0.0, **kwargs: Any) -> Any:
    """The job: IDG of the label class, blocks of 4, 8 steps."""
    return attribute_dataset(
        "idg",
        model(),
        SlowImages(delay=delay),
        out,
        target="label",
        batch_size=BATCH_SIZE,
        method_kwargs=METHOD_KWARGS,
        progress=False,
        **kwargs,
    )


def kill_inside_write(name: str, point: str) -> None:
    """SIGKILL this process inside the commit of the file ``name`` (see the module doc)."""
    from idgrad.dataset import store

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "fsync":
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}").endswith(f"/.{name}.{os.getpid()}.tmp"):
                die()
            real_fsync(fd)

        os.fsync = fsync  # the store calls os.fsync (this process only)
    elif point == "rename":
        real_commit = store._commit

        def commit(tmp: Any, final: Any) -> None:
            if final.name == name:
                die()
            real_commit(tmp, final)

        store._commit = commit  # type: ignore[attr-defined]
    else:
        raise ValueError(f"unknown point {point!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kill-at", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.kill_at:
        kill_inside_write(*args.kill_at.split(":"))
    result = run(args.out, delay=args.delay)
    print(
        f"rank {result.rank}/{result.world_size}: wrote {result.blocks_written} blocks, "
        f"skipped {result.blocks_skipped}",
        flush=True,
    )
