"""Attribute a whole dataset, block by block, straight to disk; resumable and shardable.

The loop: split the ``N`` examples into blocks of ``batch_size`` consecutive indices;
this rank takes blocks ``rank, rank + world_size, ...``, skips those already on
disk, loads each remaining block (in DataLoader workers if asked), attributes it
with one call of the chosen idgrad method, and commits it
(:meth:`idgrad.dataset.store.BlockStore.write_block`) before loading the next. So at
most one block of inputs and one of results are in memory, a run killed at any
point loses at most the blocks in flight, and because a block's content depends only
on its indices, a resumed or sharded run writes exactly what one uninterrupted
single-process run writes.

What ``target`` means for a block lives in :mod:`idgrad.dataset.block_targets`
(:mod:`idgrad.core.targets`' rules, and ``"label"``); the settings, the output folder's
set-up and the resume checks in :mod:`idgrad.dataset.settings` and
:mod:`idgrad.dataset.resume`; the checks before any work in :mod:`idgrad.dataset.preflight`;
one block's attribution in :mod:`idgrad.dataset.block_attribution`; its errors in
:mod:`idgrad.dataset.errors`.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader

from idgrad.dataset import distributed
from idgrad.dataset.block_attribution import attribute_block
from idgrad.dataset.block_targets import BlockTargets, guarded_outputs
from idgrad.dataset.collate import Collate, Guarded
from idgrad.dataset.errors import DatasetError as DatasetError
from idgrad.dataset.errors import DatasetItemError as DatasetItemError
from idgrad.dataset.errors import ExampleNamer
from idgrad.dataset.manifest import InputsChangedError
from idgrad.dataset.preflight import check_method_options, first_target, probe_first_example
from idgrad.dataset.resume import EXAMPLES, check_finished, examples_json, setup
from idgrad.dataset.settings import (
    RESERVED,
    check_arguments,
    idgrad_version,
    jsonable,
    model_fingerprint,
    resolve_method,
)
from idgrad.dataset.sources import as_map_dataset, example_names
from idgrad.dataset.store import BlockStore, write_json_atomic
from idgrad.defaults import DATASET_BATCH_SIZE
from idgrad.frameworks.boundary import at_boundary
from idgrad.methods.registry import METHODS as REGISTERED_METHODS
from idgrad.ops.progress import Progress

# DatasetError, DatasetItemError and check_method_options, defined here before, stay
# importable from here.
__all__ = [
    "METHODS",
    "DatasetRun",
    "attribute_dataset",
    "model_fingerprint",
    "resolve_method",
]

#: Method names accepted by :func:`attribute_dataset` (and ``idgrad dataset --method``):
#: the shared registry of :mod:`idgrad.methods.registry` (``_`` may stand for ``-``).
METHODS = REGISTERED_METHODS


class DatasetRun(NamedTuple):
    """What one call of :func:`attribute_dataset` did on this rank.

    Attributes:
        out: the output directory.
        rank, world_size: this process's place in the job.
        n_examples: examples in the dataset.
        n_blocks: blocks in the whole run.
        blocks_skipped: blocks of this rank already on disk (resumed).
        blocks_written: blocks this call committed.
        examples_written: examples in those blocks (done or failed).
        examples_failed: of those, how many failed (``skip_errors=True``).
        seconds: wall time of the loop.
        write_seconds: of which, time spent writing and committing blocks.
        complete: whether every block of the run is on disk (rank 0 after the
            final barrier; None on other ranks).
        damaged_blocks: finished blocks of this rank whose bytes were not those
            written (checksum), recomputed by this call.
        changed_blocks: finished blocks of this rank whose inputs changed since they
            were written, recomputed by this call (``changed_inputs="recompute"``).
    """

    out: Path
    rank: int
    world_size: int
    n_examples: int
    n_blocks: int
    blocks_skipped: int
    blocks_written: int
    examples_written: int
    examples_failed: int
    seconds: float
    write_seconds: float
    complete: bool | None
    damaged_blocks: tuple[int, ...] = ()
    changed_blocks: tuple[int, ...] = ()


# ---------------------------------------------------------------------- the loop


def _model_device(model: Any) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
        for b in model.buffers():
            return b.device
    return torch.device("cpu")


@at_boundary(models=("model",), numpy_inputs=None)  # frameworks hook
def attribute_dataset(
    method: str | Callable[..., Any],
    model: Any,
    data: Any,
    out: str | os.PathLike[str],
    *,
    target: Any = None,
    baselines: Any = None,
    batch_size: int | None = None,
    method_kwargs: Mapping[str, Any] | None = None,
    resume: bool = True,
    changed_inputs: str = "refuse",
    skip_errors: bool = False,
    progress: bool = True,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    fingerprint: str | None = None,
) -> DatasetRun:
    """Attribute every example of ``data`` with ``method`` and stream the results to ``out``.

    Examples are processed in blocks of ``batch_size`` consecutive indices; each
    block is one call of the method and one file in ``out/blocks``, committed by an
    atomic rename after its data are on disk (format and its reasons:
    :mod:`idgrad.dataset.store`). Memory holds one block of inputs and one of
    results, whatever the dataset size.

    **Resume.** Run the same call again after a crash or a kill: finished blocks are
    skipped and the final arrays are bit-for-bit those of one uninterrupted run (a
    block's results depend only on its indices; the data must be deterministic).
    The manifest records the method, its parameters, the target, the baselines, the
    block size, the inputs' shapes and dtypes, a digest of the first example and a
    fingerprint of the model's weights; a resume with any of them changed is
    refused with :class:`~idgrad.dataset.manifest.ResumeMismatchError`. Before any
    new block is computed, each finished block of this rank is checked: one whose
    bytes differ from its recorded SHA-256 (or whose sidecar is lost) is recomputed
    and reported (``DatasetRun.damaged_blocks`` and a ``RuntimeWarning``); its
    examples are loaded again and one whose inputs differ from the digest recorded
    with it is refused (:class:`~idgrad.dataset.manifest.InputsChangedError`), or
    recomputed with ``changed_inputs="recompute"``. So a resume reads every finished
    block and loads every finished example once (no attribution).

    **Several processes.** Under ``torchrun`` (or any initialised
    ``torch.distributed`` group) each rank takes blocks ``rank, rank + world_size,
    ...`` and writes them itself; after a barrier rank 0 writes ``out/index.json``.
    :func:`~idgrad.dataset.results.load_attributions` returns the same arrays whatever
    the world size. Without a process group, explicit ``rank``/``world_size`` shard
    independent jobs (e.g. a scheduler's job array).

    **Faults.** An example that cannot be loaded (an exception in
    ``dataset[i]``), whose input has a different shape or dtype than the first
    example's, contains NaN/Inf, or makes the method fail on its own raises
    :class:`~idgrad.dataset.errors.DatasetItemError` naming its index; with
    ``skip_errors=True`` it is recorded as failed (NaN, ``status`` 1, the message in the
    index) and the run goes on. Blocks written before are never touched.

    Args:
        method: an idgrad path method (e.g. :func:`idgrad.integrated_decision_gradients`)
            or its name in :data:`idgrad.methods.registry.METHODS` (``"ig"``, ``"idg"``,
            ``"idg-uniform"``, ``"left-ig"``, ``"guided-ig"``, ``"blur-ig"``, ``"agi"``,
            ``"ig-sign"``; ``_`` may stand for ``-``).
        model: the model (``nn.Module`` or callable); inputs are moved to its device.
        data: a map-style ``Dataset``, a ``DataLoader`` over one (its workers, collate
            function and batch size are used, its sampler is not), or an array/tensor
            ``(N, ...)``. Items: see :mod:`idgrad.dataset.sources`.
        out: output directory (created).
        target: any form the methods take, with the same meaning (see
            :mod:`idgrad.core.targets`): None (the model returns one scalar per example),
            ``"predicted"`` (each example's predicted class), an int or a tuple index
            (negative counts from the end), one index per example of the dataset
            (``N`` entries), one entry for every example, or a callable; or
            ``"label"``: each example's label from the dataset. See
            :mod:`idgrad.dataset.block_targets` for what is recorded.
        baselines: passed to the method with every block (None: its default).
        batch_size: examples per block and per method call (default: the
            DataLoader's, else :data:`idgrad.defaults.DATASET_BATCH_SIZE`, 32). Part of
            the settings: results depend on it only through floating-point rounding,
            but bit-for-bit resumes need it fixed.
        method_kwargs: further keyword arguments of the method (``n_steps``,
            ``internal_batch_size``, ...).
        resume: skip blocks already in ``out``; False deletes a previous idgrad run
            there (its own files only). A folder that holds files but no idgrad run
            (``blocks/`` or ``merged/`` without our manifest) is refused either way.
        changed_inputs: what a resume does with finished blocks whose inputs changed:
            ``"refuse"`` (raise before any work) or ``"recompute"``.
        skip_errors: record failing examples instead of raising.
        progress: show a progress bar (rank 0 only).
        num_workers: DataLoader worker processes for loading (default: the
            DataLoader's, else 0).
        device: where to run (default: the model's device).
        rank, world_size: explicit sharding without a process group.
        fingerprint: a string identifying the model, instead of hashing its weights.

    Returns:
        A :class:`DatasetRun` saying what this call did.

    Raises:
        ResumeMismatchError: ``out`` was started with other settings.
        InputsChangedError: finished blocks' inputs changed (``changed_inputs="refuse"``).
        DatasetItemError: a bad example (without ``skip_errors``).
        DatasetError: a block failed with no single example to blame.

    Example:
        >>> import tempfile, torch, idgrad
        >>> from idgrad.dataset import attribute_dataset, load_attributions
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
        >>> x = torch.rand(10, 4)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     run = attribute_dataset("idg", model, x, out, target=0, batch_size=4,
        ...                             method_kwargs={"n_steps": 8}, progress=False)
        ...     res = load_attributions(out)
        >>> run.blocks_written, res.attributions.shape, bool(res.ok.all())
        (3, (10, 4), True)
    """
    fn, method_name = resolve_method(method)
    if changed_inputs not in ("refuse", "recompute"):
        raise ValueError(f"changed_inputs must be 'refuse' or 'recompute', got {changed_inputs!r}")
    kwargs = dict(method_kwargs or {})
    clash = [k for k in kwargs if k in RESERVED]
    if clash:
        raise ValueError(
            f"method_kwargs may not set {clash}; use attribute_dataset's own arguments"
        )
    check_arguments(fn, kwargs, baselines)
    source = as_map_dataset(data, num_workers)
    if batch_size is None:
        batch_size = source.batch_size or DATASET_BATCH_SIZE
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    dataset = source.dataset
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset is empty")
    dev = torch.device(device) if device is not None else _model_device(model)
    ctx = distributed.context(rank, world_size, dev)
    out = Path(out)
    try:
        error: BaseException | None = None
        try:
            named = example_names(dataset)
            name = ExampleNamer(named)
            targets = BlockTargets(target, n)
            first = probe_first_example(dataset, skip_errors, name)
            if targets.needs_labels and first.label is None:
                raise ValueError("target='label' but the dataset's items carry no label")
            one = tuple(t[None].to(dev) for t in first.inputs)
            extra = kwargs.get("additional_forward_args")
            output = guarded_outputs(model, one, extra)
            targets.check(output, first.label)
            check_method_options(
                fn,
                one,
                first.spec.was_tuple,
                first_target(targets, first, output),
                _on_device(baselines, dev),
                kwargs,
            )
            settings = {
                "method": method_name,
                "method_kwargs": jsonable(kwargs),
                "target": targets.settings(),
                "baselines": jsonable(baselines),
                "batch_size": int(batch_size),
                "n_examples": n,
                "inputs": first.spec.to_json(),
                "first_example": first.digest,
                "model": fingerprint if fingerprint is not None else model_fingerprint(model),
                "idgrad": idgrad_version(),
            }
            files: dict[str, bytes] = {}
            if named is not None:
                files[EXAMPLES] = examples_json(named.to_json())
                settings["examples"] = {
                    "file": EXAMPLES,
                    "sha256": hashlib.sha256(files[EXAMPLES]).hexdigest(),
                }
        except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
            error = err
        distributed.raise_if_any_failed(
            ctx, error, "another rank failed to read the dataset or the model"
        )
        setup(ctx, out, settings, resume, files)
        store = BlockStore(out, n, int(batch_size), first.spec)
        return _run(
            fn,
            model,
            source,
            store,
            ctx,
            targets,
            baselines,
            kwargs,
            dev,
            skip_errors,
            progress,
            changed_inputs == "recompute",
            name,
        )
    finally:
        distributed.close(ctx)


def _on_device(baselines: Any, dev: torch.device) -> Any:
    if isinstance(baselines, torch.Tensor):
        return baselines.to(dev)
    if isinstance(baselines, tuple):
        return tuple(b.to(dev) if isinstance(b, torch.Tensor) else b for b in baselines)
    return baselines


def _run(
    fn: Callable[..., Any],
    model: Any,
    source: Any,
    store: BlockStore,
    ctx: distributed.Context,
    targets: BlockTargets,
    baselines: Any,
    kwargs: dict[str, Any],
    dev: torch.device,
    skip_errors: bool,
    progress: bool,
    recompute_changed: bool,
    name: ExampleNamer,
) -> DatasetRun:
    start = time.perf_counter()
    spec = store.spec
    mine = range(ctx.rank, store.n_blocks, ctx.world_size)
    done = store.done_blocks()
    error: BaseException | None = None
    damaged: list[int] = []
    changed: list[int] = []
    try:
        damaged, changed = check_finished(
            source, store, [b for b in mine if b in done], targets.needs_labels
        )
        if changed and not recompute_changed:
            raise InputsChangedError(
                f"{store.root}: the inputs of {len(changed)} finished block(s) changed since "
                f"they were written (block {changed[0]}: examples "
                f"{store.block_range(changed[0]).start}..{store.block_range(changed[0]).stop - 1}"
                f"{', ...' if len(changed) > 1 else ''}); refusing to resume. Restore the "
                "data, start over (resume=False / --no-resume), or recompute those blocks "
                "(changed_inputs='recompute' / --recompute-changed)",
                changed,
            )
    except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
        error = err
    distributed.raise_if_any_failed(ctx, error, "another rank found changed or unreadable inputs")
    if damaged:
        warnings.warn(
            f"{store.root}: {len(damaged)} finished block(s) were damaged (their bytes differ "
            f"from the SHA-256 written with them) and are recomputed: {damaged[:10]}",
            RuntimeWarning,
            stacklevel=3,
        )
    redo = set(damaged) | set(changed)
    pending = [b for b in mine if b not in done or b in redo]
    baselines = _on_device(baselines, dev)
    loader = DataLoader(
        Guarded(source.dataset),
        batch_sampler=[list(store.block_range(b)) for b in pending],
        num_workers=source.num_workers,
        collate_fn=Collate(
            spec,
            source.collate_fn,
            with_labels=targets.needs_labels,
            shape_hint=getattr(source.dataset, "shape_hint", None),
        ),
        pin_memory=source.pin_memory and dev.type == "cuda",
    )
    bar = Progress(
        sum(len(store.block_range(b)) for b in pending),
        unit="ex",
        enabled=progress and ctx.rank == 0,
        description=f"idgrad {store.root.name}"
        + (f" rank 0/{ctx.world_size}" if ctx.world_size > 1 else ""),
    )
    written = examples = failed = 0
    write_seconds = 0.0
    extra = kwargs.get("additional_forward_args")
    try:
        for batch in loader:
            block = batch.indices[0] // store.block_size
            rec, errors = attribute_block(
                fn, model, batch, store, targets, baselines, kwargs, extra, dev, skip_errors, name
            )
            t0 = time.perf_counter()
            store.write_block(block, rec, errors, inputs=batch.digest)
            write_seconds += time.perf_counter() - t0
            written += 1
            examples += len(rec)
            failed += len(errors)
            bar.update(len(rec))
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    distributed.barrier(ctx)
    complete: bool | None = None
    if ctx.rank == 0 or not ctx.collective:
        summary = store.summary()
        complete = bool(summary["complete"])
        if complete:
            store.remove_stale_temporaries()
        write_json_atomic(store.root / "index.json", summary)
    return DatasetRun(
        store.root,
        ctx.rank,
        ctx.world_size,
        store.n_examples,
        store.n_blocks,
        len(mine) - len(pending),
        written,
        examples,
        failed,
        seconds,
        write_seconds,
        complete,
        tuple(damaged),
        tuple(changed),
    )
