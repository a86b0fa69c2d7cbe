"""Who am I in a ``torch.distributed`` job, and the two collective steps a run needs.

A dataset run uses the process group only to agree: every rank checks the output
directory's manifest and reports success, and all ranks wait for each other before
rank 0 writes the merged index. No attribution data travels between ranks; each rank
writes its own blocks.

Under ``torchrun`` the process group is created here when the caller has not created
one (``gloo`` on CPU, ``nccl`` when the model lives on a CUDA device) and destroyed
again when the run ends.

Example:
    >>> ctx = context(None, None, torch.device("cpu"))
    >>> ctx.rank, ctx.world_size
    (0, 1)
"""

from __future__ import annotations

import datetime
import os
from typing import NamedTuple

import torch

__all__ = ["Context", "agree", "barrier", "close", "context", "raise_if_any_failed"]


class Context(NamedTuple):
    """This process's place in the job.

    Attributes:
        rank: index of this process, ``0 <= rank < world_size``.
        world_size: number of processes sharing the dataset.
        collective: True when a ``torch.distributed`` process group connects them
            (False for independent jobs given explicit ``rank``/``world_size``).
        created_group: True when this module created the process group.
        device: where the collective's small tensors live (CUDA for ``nccl``).
    """

    rank: int
    world_size: int
    collective: bool
    created_group: bool
    device: torch.device


def _env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def context(rank: int | None, world_size: int | None, device: torch.device) -> Context:
    """Resolve ``rank`` and ``world_size``.

    Explicit values win (for independent jobs such as a scheduler's job array; no
    collective calls are then made). Otherwise an initialised default process group
    is used; otherwise, when the ``torchrun`` environment says ``WORLD_SIZE > 1``,
    a process group is created; otherwise this is a single process.

    Raises:
        ValueError: an explicit pair that is not ``0 <= rank < world_size``.
    """
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise ValueError("give both rank and world_size, or neither")
        if isinstance(rank, bool) or isinstance(world_size, bool):
            raise TypeError("rank and world_size must be ints")
        if not (0 <= int(rank) < int(world_size)):
            raise ValueError(
                f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}"
            )
        return Context(int(rank), int(world_size), False, False, torch.device("cpu"))
    import torch.distributed as dist

    created = False
    if dist.is_available() and not dist.is_initialized() and _env_world_size() > 1:
        backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
        # A long timeout: ranks meet at the end of their shards, which may finish
        # minutes apart on uneven hardware.
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(hours=6))
        created = True
    if dist.is_available() and dist.is_initialized():
        backend = dist.get_backend()
        comm_device = torch.device("cpu")
        if backend == "nccl":
            comm_device = (
                device
                if device.type == "cuda"
                else torch.device("cuda", torch.cuda.current_device())
            )
        return Context(dist.get_rank(), dist.get_world_size(), True, created, comm_device)
    return Context(0, 1, False, False, torch.device("cpu"))


def agree(ctx: Context, ok: bool) -> bool:
    """True when every rank passes ``ok=True`` (always ``ok`` without a group)."""
    if not ctx.collective or ctx.world_size == 1:
        return ok
    import torch.distributed as dist

    flag = torch.tensor([1 if ok else 0], dtype=torch.int32, device=ctx.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def raise_if_any_failed(ctx: Context, error: BaseException | None, elsewhere: str) -> None:
    """Every rank learns whether any rank failed; if one did, every rank raises.

    This rank raises its own ``error``; a rank that did not fail raises a
    ``RuntimeError(elsewhere)`` (what the failed rank was doing), so that no rank waits
    for a failed one.
    """
    if not agree(ctx, error is None):
        raise error if error is not None else RuntimeError(f"{elsewhere}; see its error")


def barrier(ctx: Context) -> None:
    """Wait for every rank (no-op without a group)."""
    agree(ctx, True)


def close(ctx: Context) -> None:
    """Destroy the process group if this module created it."""
    if ctx.created_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
