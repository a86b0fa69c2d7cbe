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
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from idgrad.dataset import distributed
from idgrad.dataset.sources import (
    Batch,
    Collate,
    Guarded,
    as_map_dataset,
    item_digest,
    spec_of,
    split_item,
)
from idgrad.dataset.store import (
    FORMAT,
    OK,
    BlockStore,
    InputSpec,
    check_settings,
    clear,
    manifest_path,
    read_manifest,
    write_json_atomic,
)
from idgrad.methods.registry import METHODS as REGISTERED_METHODS
from idgrad.methods.registry import get_method
from idgrad.progress import Progress

__all__ = [
    "METHODS",
    "DatasetError",
    "DatasetItemError",
    "DatasetRun",
    "attribute_dataset",
    "model_fingerprint",
    "resolve_method",
]

#: Method names accepted by :func:`attribute_dataset` (and ``idgrad dataset --method``):
#: the shared registry of :mod:`idgrad.methods.registry` (``_`` may stand for ``-``).
METHODS = REGISTERED_METHODS

_RESERVED = (
    "inputs",
    "forward_func",
    "target",
    "baselines",
    "return_convergence_delta",
    "return_details",
)


class DatasetError(RuntimeError):
    """A block of the dataset could not be attributed (and no single item is to blame)."""


class DatasetItemError(DatasetError):
    """One example could not be loaded or attributed.

    Attributes:
        index: the example's index in the dataset.
        message: what went wrong.
    """

    def __init__(self, index: int, message: str) -> None:
        super().__init__(
            f"example {index}: {message} (pass skip_errors=True / --skip-errors to record "
            "it as failed and go on; blocks already written are kept)"
        )
        self.index = index
        self.message = message


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


# ---------------------------------------------------------------------- settings


def resolve_method(method: str | Callable[..., Any]) -> tuple[Callable[..., Any], str]:
    """The method function and a stable name for the manifest.

    Raises:
        ValueError: an unknown name, or a method not available in this build.
        TypeError: a callable that cannot return a convergence delta.
    """
    name = None
    if isinstance(method, str):
        key = method.lower().replace("_", "-")
        fn = get_method(key)
        name = f"idgrad.methods.registry:{key}"
    elif callable(method):
        fn = method
    else:
        raise TypeError(f"method must be a name or an idgrad function, got {type(method).__name__}")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    if (
        params
        and "return_convergence_delta" not in params
        and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    ):
        raise TypeError(
            f"{getattr(fn, '__name__', fn)!r} does not take return_convergence_delta; "
            "attribute_dataset needs an idgrad path method"
        )
    if name is None:
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    return fn, name


def _check_arguments(fn: Callable[..., Any], kwargs: Mapping[str, Any], baselines: Any) -> None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    asked = [*kwargs, *(["baselines"] if baselines is not None else [])]
    unknown = [k for k in asked if k not in params]
    if unknown:
        accepted = [k for k in params if k not in ("forward_func", "inputs", *_RESERVED)]
        raise ValueError(
            f"{getattr(fn, '__name__', 'the method')} takes no argument "
            f"{', '.join(map(repr, unknown))}; it takes {', '.join(accepted)}"
        )


def model_fingerprint(model: Any) -> str:
    """SHA-256 of a model's class, train/eval flags and every state_dict entry.

    For a plain callable (no state_dict), its qualified name only: pass
    ``fingerprint=`` to :func:`attribute_dataset` to make resumes safe then.

    Example:
        >>> m = torch.nn.Linear(2, 1)
        >>> model_fingerprint(m) == model_fingerprint(m)
        True
    """
    h = hashlib.sha256()
    if isinstance(model, torch.nn.Module):
        kind = getattr(model, "original_name", type(model).__qualname__)
        h.update(f"module:{type(model).__module__}.{kind}".encode())
        h.update(str([m.training for m in model.modules()]).encode())
        for name, t in model.state_dict().items():
            t = t.detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}|{t.dtype}|{t.numel()}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
    else:
        name = getattr(model, "__qualname__", type(model).__qualname__)
        h.update(f"callable:{getattr(model, '__module__', '?')}.{name}".encode())
    return h.hexdigest()


def _digest(values: Any) -> str:
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    h = hashlib.sha256(str((arr.shape, str(arr.dtype))).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    """A JSON value that changes whenever ``value`` would change the results."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else repr(v)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return {"array": _digest(value), "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if callable(value):
        name = getattr(value, "__qualname__", repr(value))
        return {"callable": f"{getattr(value, '__module__', '?')}.{name}"}
    return {"repr": repr(value)}


# ---------------------------------------------------------------------- targets


class _Target(NamedTuple):
    kind: str  # none, int, tuple, label, predicted, per_index, callable
    value: Any


def _target_rule(target: Any, n: int) -> tuple[_Target, Any]:
    if target is None:
        return _Target("none", None), None
    if isinstance(target, str):
        if target not in ("label", "predicted"):
            raise ValueError(
                f"target must be an int, 'label', 'predicted', per-example targets, "
                f"a tuple or a callable; got {target!r}"
            )
        return _Target(target, None), target
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return _Target("int", int(target)), int(target)
    if isinstance(target, tuple):
        return _Target("tuple", target), {"tuple": _jsonable(target)}
    if isinstance(target, (list, np.ndarray, torch.Tensor)):
        arr = np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target)
        if arr.ndim != 1 or len(arr) != n or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"per-example targets must be {n} integers (one per example), "
                f"got shape {arr.shape} and dtype {arr.dtype}"
            )
        arr = arr.astype(np.int64)
        return _Target("per_index", arr), {"per_index": _digest(arr)}
    if callable(target):
        return _Target("callable", target), _jsonable(target)
    raise TypeError(f"unsupported target of type {type(target).__name__}")


def _labels_tensor(labels: Any, n: int) -> torch.Tensor:
    if isinstance(labels, torch.Tensor):
        t = labels.reshape(-1)
    else:
        t = torch.as_tensor([int(lab) for lab in labels])
    if t.numel() != n or t.is_floating_point():
        raise ValueError(f"labels must be {n} integers, got {t.numel()} of dtype {t.dtype}")
    return t.to(torch.int64)


def _block_target(
    rule: _Target,
    model: Any,
    inputs: tuple[torch.Tensor, ...],
    labels: Any,
    indices: Sequence[int],
    extra_args: Any,
) -> tuple[Any, np.ndarray]:
    """The target to pass to the method and the int64 targets to record."""
    m = len(indices)
    none = np.full(m, -1, dtype=np.int64)
    if rule.kind == "none":
        return None, none
    if rule.kind == "int":
        return rule.value, np.full(m, rule.value, dtype=np.int64)
    if rule.kind in ("tuple", "callable"):
        return rule.value, none
    if rule.kind == "per_index":
        t = torch.from_numpy(rule.value[np.asarray(indices)])
    elif rule.kind == "label":
        t = _labels_tensor(labels, m)
    else:  # predicted
        args = (
            ()
            if extra_args is None
            else (extra_args if isinstance(extra_args, tuple) else (extra_args,))
        )
        with torch.no_grad():
            out = model(*inputs, *args)
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            raise ValueError(
                "target='predicted' needs a model output of shape (B, classes), got "
                f"{getattr(out, 'shape', type(out).__name__)}"
            )
        t = out.argmax(1).cpu()
    return t.to(inputs[0].device), t.cpu().numpy().astype(np.int64)


# ---------------------------------------------------------------------- the loop


def _model_device(model: Any) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
        for b in model.buffers():
            return b.device
    return torch.device("cpu")


def _probe(dataset: Any, skip_errors: bool) -> tuple[InputSpec, bool, str]:
    """Spec, has-label and digest of the first loadable example."""
    for i in range(len(dataset)):
        try:
            inputs, was_tuple, label = split_item(dataset[i])
        except Exception as err:
            if skip_errors:
                continue
            raise DatasetItemError(i, f"{type(err).__name__}: {err}") from err
        for k, t in enumerate(inputs):
            if not t.is_floating_point():
                raise TypeError(
                    f"example {i}: input {k} has dtype {t.dtype}; attributions need "
                    "floating-point inputs (convert in the dataset)"
                )
        return spec_of(inputs, was_tuple), label is not None, item_digest(inputs)
    raise DatasetError("no example of the dataset could be loaded")


def _attribute(
    fn: Callable[..., Any],
    model: Any,
    inputs: tuple[torch.Tensor, ...],
    was_tuple: bool,
    target: Any,
    baselines: Any,
    kwargs: Mapping[str, Any],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    call = dict(kwargs)
    if baselines is not None:
        call["baselines"] = baselines
    attr, delta = fn(
        model,
        inputs if was_tuple else inputs[0],
        target=target,
        return_convergence_delta=True,
        **call,
    )
    attrs = list(attr) if was_tuple else [attr]
    return attrs, delta


def _slice_target(target: Any, rows: list[int]) -> Any:
    return target[rows] if isinstance(target, torch.Tensor) else target


def _fill_records(
    rec: np.ndarray,
    spec: InputSpec,
    positions: list[int],
    attrs: list[torch.Tensor],
    delta: torch.Tensor,
    targets: np.ndarray,
) -> None:
    for name, a in zip(spec.field_names(), attrs):
        a = a.detach().cpu()
        if a.dtype == torch.bfloat16:
            a = a.float()
        rec[name][positions] = a.numpy()
    rec["delta"][positions] = delta.detach().cpu().double().numpy()
    rec["target"][positions] = targets
    rec["status"][positions] = OK


def _setup(ctx: distributed.Context, out: Path, settings: dict[str, Any], resume: bool) -> None:
    """Create or check the manifest; every rank agrees before any block is written."""
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
            if not resume:
                if not ctx.collective and ctx.world_size > 1:
                    raise ValueError(
                        "resume=False with independent ranks (explicit rank/world_size "
                        "without a process group) would delete other ranks' work; "
                        "clear the output directory first"
                    )
                clear(out)
            out.mkdir(parents=True, exist_ok=True)
            if manifest_path(out).exists():
                check_settings(out, read_manifest(out), settings)
            else:
                if (out / "blocks").exists() and any((out / "blocks").iterdir()):
                    raise ValueError(
                        f"{out} has blocks but no manifest; refusing to mix runs "
                        "(pass resume=False to start over)"
                    )
                write_json_atomic(manifest_path(out), manifest)
        except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
            error = err
    if not distributed.agree(ctx, error is None):
        raise (
            error
            if error is not None
            else RuntimeError(f"rank 0 could not prepare {out}; see its error")
        )
    if not writer:
        try:
            check_settings(out, read_manifest(out), settings)
        except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
            error = err
    if not distributed.agree(ctx, error is None):
        raise (
            error
            if error is not None
            else RuntimeError(
                "another rank's settings differ from this run's manifest; see its error"
            )
        )


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
    refused with :class:`~idgrad.dataset.store.ResumeMismatchError`.

    **Several processes.** Under ``torchrun`` (or any initialised
    ``torch.distributed`` group) each rank takes blocks ``rank, rank + world_size,
    ...`` and writes them itself; after a barrier rank 0 writes ``out/index.json``.
    :func:`~idgrad.dataset.store.load_attributions` returns the same arrays whatever
    the world size. Without a process group, explicit ``rank``/``world_size`` shard
    independent jobs (e.g. a scheduler's job array).

    **Faults.** An example that cannot be loaded (an exception in
    ``dataset[i]``), whose input has a different shape or dtype than the first
    example's, contains NaN/Inf, or makes the method fail on its own raises
    :class:`DatasetItemError` naming its index; with ``skip_errors=True`` it is
    recorded as failed (NaN, ``status`` 1, the message in the index) and the run goes
    on. Blocks written before are never touched.

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
        target: None, an int, ``"label"`` (each item's label), ``"predicted"`` (the
            model's arg-max), ``N`` per-example ints, a tuple index, or a callable
            passed to the method.
        baselines: passed to the method with every block (None: its default).
        batch_size: examples per block and per method call (default: the
            DataLoader's, else 32). Part of the settings: results depend on it only
            through floating-point rounding, but bit-for-bit resumes need it fixed.
        method_kwargs: further keyword arguments of the method (``n_steps``,
            ``internal_batch_size``, ...).
        resume: skip blocks already in ``out``; False deletes a previous run there.
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
    kwargs = dict(method_kwargs or {})
    clash = [k for k in kwargs if k in _RESERVED]
    if clash:
        raise ValueError(
            f"method_kwargs may not set {clash}; use attribute_dataset's own arguments"
        )
    _check_arguments(fn, kwargs, baselines)
    source = as_map_dataset(data, num_workers)
    if batch_size is None:
        batch_size = source.batch_size or 32
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
            rule, target_json = _target_rule(target, n)
            spec, has_label, digest = _probe(dataset, skip_errors)
            if rule.kind == "label" and not has_label:
                raise ValueError("target='label' but the dataset's items carry no label")
            settings = {
                "method": method_name,
                "method_kwargs": _jsonable(kwargs),
                "target": target_json,
                "baselines": _jsonable(baselines),
                "batch_size": int(batch_size),
                "n_examples": n,
                "inputs": spec.to_json(),
                "first_example": digest,
                "model": fingerprint if fingerprint is not None else model_fingerprint(model),
                "idgrad": _idgrad_version(),
            }
        except BaseException as err:  # noqa: BLE001 -- reported to the other ranks, then raised
            error = err
        if not distributed.agree(ctx, error is None):  # no rank may wait for a failed one
            raise (
                error
                if error is not None
                else RuntimeError(
                    "another rank failed to read the dataset or the model; see its error"
                )
            )
        _setup(ctx, out, settings, resume)
        store = BlockStore(out, n, int(batch_size), spec)
        return _run(
            fn, model, source, store, ctx, rule, baselines, kwargs, dev, skip_errors, progress
        )
    finally:
        distributed.close(ctx)


def _idgrad_version() -> str:
    from idgrad import __version__

    return __version__


def _run(
    fn: Callable[..., Any],
    model: Any,
    source: Any,
    store: BlockStore,
    ctx: distributed.Context,
    rule: _Target,
    baselines: Any,
    kwargs: dict[str, Any],
    dev: torch.device,
    skip_errors: bool,
    progress: bool,
) -> DatasetRun:
    start = time.perf_counter()
    spec = store.spec
    mine = range(ctx.rank, store.n_blocks, ctx.world_size)
    done = store.done_blocks()
    pending = [b for b in mine if b not in done]
    if isinstance(baselines, torch.Tensor):
        baselines = baselines.to(dev)
    elif isinstance(baselines, tuple):
        baselines = tuple(b.to(dev) if isinstance(b, torch.Tensor) else b for b in baselines)
    loader = DataLoader(
        Guarded(source.dataset),
        batch_sampler=[list(store.block_range(b)) for b in pending],
        num_workers=source.num_workers,
        collate_fn=Collate(spec, source.collate_fn),
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
            rec, errors = _attribute_block(
                fn, model, batch, store, rule, baselines, kwargs, extra, dev, skip_errors
            )
            t0 = time.perf_counter()
            store.write_block(block, rec, errors)
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
    )


def _attribute_block(
    fn: Callable[..., Any],
    model: Any,
    batch: Batch,
    store: BlockStore,
    rule: _Target,
    baselines: Any,
    kwargs: dict[str, Any],
    extra: Any,
    dev: torch.device,
    skip_errors: bool,
) -> tuple[np.ndarray, dict[int, str]]:
    """The records of one block and the messages of its failed examples."""
    errors = dict(batch.errors)
    if errors and not skip_errors:
        first = min(errors)
        raise DatasetItemError(first, errors[first])
    rec = store.empty_records(batch.indices)
    if batch.inputs is None:
        return rec, errors
    spec = store.spec
    inputs = tuple(t.to(dev) for t in batch.inputs)
    good_indices = [batch.indices[p] for p in batch.good]
    target, targets = _block_target(rule, model, inputs, batch.labels, good_indices, extra)
    try:
        attrs, delta = _attribute(fn, model, inputs, spec.was_tuple, target, baselines, kwargs)
        _fill_records(rec, spec, batch.good, attrs, delta, targets)
        return rec, errors
    except Exception as block_error:
        if len(batch.good) == 1 and not skip_errors:
            raise DatasetItemError(
                good_indices[0], f"{type(block_error).__name__}: {block_error}"
            ) from block_error
        err = block_error
    # Find the culprit(s): attribute the examples one at a time.
    for j, (pos, i) in enumerate(zip(batch.good, good_indices)):
        one = tuple(t[j : j + 1] for t in inputs)
        try:
            attrs, delta = _attribute(
                fn, model, one, spec.was_tuple, _slice_target(target, [j]), baselines, kwargs
            )
        except Exception as item_error:
            if not skip_errors:
                raise DatasetItemError(
                    i, f"{type(item_error).__name__}: {item_error}"
                ) from item_error
            errors[i] = f"{type(item_error).__name__}: {item_error}"
            continue
        if skip_errors:
            _fill_records(rec, spec, [pos], attrs, delta, targets[j : j + 1])
    r = store.block_range(batch.indices[0] // store.block_size)
    if not skip_errors:
        raise DatasetError(
            f"examples {r.start}..{r.stop - 1} failed together but not one by one: "
            f"{type(err).__name__}: {err}"
        ) from err
    if len(good_indices) > 1 and all(i in errors for i in good_indices):
        # Every example failing on its own is a set-up error (model, target, method
        # arguments), not bad data: stop instead of recording the whole dataset as failed.
        raise DatasetError(
            f"every example of {r.start}..{r.stop - 1} failed: {type(err).__name__}: {err}"
        ) from err
    return rec, errors
