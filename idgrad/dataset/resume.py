"""Preparing an output folder for a run, and checking what an earlier run left there.

:func:`setup` refuses a folder that is not ours (a file, or ``blocks/``/``merged/``
without our manifest), clears an earlier idgrad run when asked to start over, and
writes or checks the manifest, with every rank agreeing before any block is written.
:func:`check_finished` finds, among the finished blocks of one rank, those whose
bytes differ from their SHA-256 and those whose examples changed since they were
written.
"""

from __future__ import annotations

import datetime
import functools
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from idgrad.dataset import distributed
from idgrad.dataset.collate import Collate, Guarded
from idgrad.dataset.manifest import (
    EXAMPLES,
    FORMAT,
    INDEX,
    MERGED,
    check_settings,
    clear,
    is_run,
    manifest_path,
    read_manifest,
)
from idgrad.dataset.store import BLOCKS, BlockStore, write_json_atomic
from idgrad.ops.outputs import write_file

__all__ = ["EXAMPLES", "check_finished", "examples_json", "not_ours", "setup"]


def examples_json(value: Mapping[str, Any]) -> bytes:
    """The bytes of ``examples.json`` (the same names give the same bytes and digest)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def not_ours(out: Path) -> str | None:
    """Why ``out`` may not be written into (a file, or a folder with another's files)."""
    if out.exists() and not out.is_dir():
        return f"{out} is a file; the output must be a folder"
    if manifest_path(out).exists():
        if is_run(out):
            return None
        return (
            f"{manifest_path(out)} is not an idgrad run's manifest; idgrad writes only into "
            "its own runs or folders that hold none: choose another output folder"
        )
    for name in (BLOCKS, MERGED):
        folder = out / name
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            return (
                f"{out} holds {name}/ but no idgrad manifest: it is not an idgrad run, and "
                "idgrad neither deletes nor mixes into files it did not write; choose "
                "another output folder (or empty this one yourself)"
            )
    for name in (INDEX, EXAMPLES):
        if (out / name).exists() or (out / name).is_symlink():
            return (
                f"{out} holds {name} but no idgrad manifest: a run would replace that file, "
                "which it did not write; choose another output folder (or move the file)"
            )
    return None


def setup(
    ctx: distributed.Context,
    out: Path,
    settings: dict[str, Any],
    resume: bool,
    files: Mapping[str, bytes] | None = None,
) -> None:
    """Create or check the manifest; every rank agrees before any block is written.

    ``files`` (name -> bytes, e.g. :data:`EXAMPLES`) are written beside the manifest,
    before it when the run starts (so a manifest always has them) and again on a resume
    whose settings (which hold their digests) match.
    """
    manifest = {
        "format": FORMAT,
        "settings": settings,
        "environment": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
            "world_size": ctx.world_size,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    error: BaseException | None = None
    writer = ctx.rank == 0 or not ctx.collective
    if writer:
        try:
            problem = not_ours(out)
            if problem is not None:
                raise ValueError(problem)
            if not resume:
                if not ctx.collective and ctx.world_size > 1:
                    raise ValueError(
                        "resume=False with independent ranks (explicit rank/world_size "
                        "without a process group) would delete other ranks' work; "
                        "clear the output directory first"
                    )
                if is_run(out):
                    clear(out)
            out.mkdir(parents=True, exist_ok=True)
            resuming = manifest_path(out).exists()
            if resuming:
                check_settings(out, read_manifest(out), settings)
            for name, data in (files or {}).items():
                write_file(out / name, functools.partial(_write, data), overwrite=True)
            if not resuming:
                write_json_atomic(manifest_path(out), manifest)
        except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
            error = err
    distributed.raise_if_any_failed(ctx, error, f"rank 0 could not prepare {out}")
    if not writer:
        try:
            check_settings(out, read_manifest(out), settings)
        except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
            error = err
    distributed.raise_if_any_failed(
        ctx, error, "another rank's settings differ from this run's manifest"
    )


def _write(data: bytes, f: IO[bytes]) -> None:
    f.write(data)


def check_finished(
    source: Any, store: BlockStore, finished: list[int], with_labels: bool
) -> tuple[list[int], list[int]]:
    """``(damaged, changed)``: finished blocks whose bytes, or whose inputs, are not as written.

    Each block file is read once (SHA-256 against its sidecar); the examples of the intact
    ones are loaded again (in the DataLoader's workers, without stacking) and their digest
    compared with the one recorded with the block.
    """
    damaged = [b for b in finished if store.check_block(b) is not None]
    intact = [b for b in finished if b not in damaged]
    if not intact:
        return damaged, []
    loader = DataLoader(
        Guarded(source.dataset),
        batch_sampler=[list(store.block_range(b)) for b in intact],
        num_workers=source.num_workers,
        collate_fn=Collate(store.spec, None, with_labels=with_labels, stack=False),
    )
    changed = []
    for block, batch in zip(intact, loader):
        if store.read_inputs_digest(block) != batch.digest:
            changed.append(block)
    return damaged, changed
