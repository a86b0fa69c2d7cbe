"""Reading a dataset run back: arrays in index order, every block verified as it is read.

:func:`load_attributions` reads the blocks one at a time, each checked against the SHA-256
in its sidecar (:meth:`idgrad.dataset.store.BlockStore.read_block`): a damaged block is
refused with :class:`~idgrad.dataset.store.DamagedBlockError` (resume the run to recompute
it). :func:`merge` writes the run once as single ``.npy`` arrays in ``out/merged`` with
their SHA-256 in ``merged/checksums.json``, which are checked whenever the merge is read.

Example:
    >>> import tempfile, torch
    >>> from idgrad.dataset import attribute_dataset
    >>> with tempfile.TemporaryDirectory() as out:
    ...     _ = attribute_dataset("ig", torch.nn.Linear(3, 2), torch.rand(5, 3), out,
    ...                           target=1, batch_size=2, progress=False)
    ...     res = load_attributions(out)
    ...     merged = merge(out)
    >>> res.attributions.shape, bool(res.ok.all()), merged.delta.shape
    ((5, 3), True, (5,))
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from idgrad.dataset.manifest import EXAMPLES, MERGED, store_of
from idgrad.dataset.store import (
    OK,
    BlockStore,
    DamagedBlockError,
    IncompleteRunError,
    _commit,
    read_json,
    sha256_file,
    write_json_atomic,
)

__all__ = ["DatasetAttributions", "load_attributions", "merge"]

CHECKSUMS = "checksums.json"


class DatasetAttributions(NamedTuple):
    """A whole run's results, in index order.

    Attributes:
        attributions: ``(N, ...)`` array, or a tuple of them for several inputs.
        delta: ``(N,)`` float64 convergence deltas (NaN where failed).
        target: ``(N,)`` int64 explained class (-1 when not one class index).
        indices: ``(N,)`` int64, ``0 .. N - 1``: each row's index in the dataset (stored
            in the block files' ``index`` column; ``.index`` would be the tuple method).
        ok: ``(N,)`` bool, False for failed examples (and missing ones when allowed).
        errors: ``{index: message}`` of the failed examples.
        manifest: the run's manifest.
        names: ``(N,)`` each row's name when the dataset names its examples (an image
            folder: the file's path relative to the folder), else None.
        classes: ``(N,)`` each row's class name (an image folder's class sub-folder),
            else None.
    """

    attributions: np.ndarray | tuple[np.ndarray, ...]
    delta: np.ndarray
    target: np.ndarray
    indices: np.ndarray
    ok: np.ndarray
    errors: dict[int, str]
    manifest: dict[str, Any]
    names: tuple[str, ...] | None = None
    classes: tuple[str, ...] | None = None


def _allocate(store: BlockStore, make: Any) -> dict[str, Any]:
    n = store.n_examples
    arrays = {
        "index": make("index", (n,), np.int64),
        "target": make("target", (n,), np.int64),
        "status": make("status", (n,), np.int8),
        "delta": make("delta", (n,), np.float64),
    }
    for name, shape, dtype in zip(store.spec.field_names(), store.spec.shapes, store.spec.dtypes):
        arrays[name] = make(name, (n, *shape), np.dtype(dtype))
    return arrays


def _check_complete(store: BlockStore) -> set[int]:
    """The done blocks; IncompleteRunError when some are missing (in time that grows with
    the blocks on disk, not with the number the manifest claims)."""
    done = store.done_blocks()
    if len(done) < store.n_blocks:
        first = next(b for b in range(len(done) + 1) if b not in done)
        raise IncompleteRunError(
            f"{store.root}: {store.n_blocks - len(done)} of {store.n_blocks} blocks are not "
            f"done (first: block {first}, examples {store.block_range(first).start}..); "
            "run attribute_dataset again to finish, or pass allow_incomplete=True"
        )
    return done


def _allocate_in_memory(store: BlockStore) -> dict[str, np.ndarray]:
    try:
        return _allocate(store, lambda name, shape, dtype: np.empty(shape, dtype))
    except (MemoryError, ValueError):  # ValueError: more bytes than NumPy can address
        need = store.n_examples * store.dtype.itemsize
        raise MemoryError(
            f"{store.root}: its manifest says {store.n_examples} examples of "
            f"{store.dtype.itemsize} bytes ({need / 2**30:.1f} GiB), more than this machine "
            "can hold; finish the run and read it with mmap=True"
        ) from None


def _fill(
    store: BlockStore, arrays: Mapping[str, np.ndarray], allow_incomplete: bool
) -> dict[int, str]:
    errors: dict[int, str] = {}
    done = store.done_blocks() if allow_incomplete else _check_complete(store)
    missing = set(range(store.n_blocks)) - done
    for b in range(store.n_blocks):
        r = store.block_range(b)
        sl = slice(r.start, r.stop)
        if b in missing:
            blank = store.empty_records(r)
            for name in arrays:
                arrays[name][sl] = blank[name]
            for i in r:
                errors[i] = "not done"
            continue
        try:
            rec = store.read_block(b)  # one block in memory at a time, verified
        except DamagedBlockError as err:
            if not allow_incomplete:
                raise
            blank = store.empty_records(r)
            for name in arrays:
                arrays[name][sl] = blank[name]
            for i in r:
                errors[i] = f"not done: {err}"
            continue
        for name in arrays:
            arrays[name][sl] = rec[name]
        messages = store.read_errors(b)
        for i in rec["index"][rec["status"] != OK].tolist():
            errors[i] = messages.get(i, "failed (no message recorded)")
    return errors


def _examples(root: Path, store: BlockStore, manifest: dict[str, Any]) -> tuple[Any, Any]:
    """``(names, classes)`` from ``examples.json`` when the run names its examples.

    Raises:
        DamagedBlockError: the file is missing or not the one written (its SHA-256 is in
            the settings), or does not hold one name per example.
    """
    recorded = manifest.get("settings", {}).get("examples")
    if not isinstance(recorded, Mapping):
        return None, None
    path = root / EXAMPLES
    fix = "resume the run (it rewrites the file) or start it over"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DamagedBlockError(f"{path} cannot be read ({err}); {fix}") from None
    if hashlib.sha256(data).hexdigest() != recorded.get("sha256"):
        raise DamagedBlockError(f"{path} is not the file the run wrote (SHA-256); {fix}")
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    names = value.get("names") if isinstance(value, dict) else None
    classes = value.get("classes") if isinstance(value, dict) else None
    n = store.n_examples
    if not (isinstance(names, list) and len(names) == n) or not (
        classes is None or (isinstance(classes, list) and len(classes) == n)
    ):
        raise DamagedBlockError(f"{path} does not name the run's {n} examples; {fix}")
    return tuple(map(str, names)), None if classes is None else tuple(map(str, classes))


def _result(
    store: BlockStore,
    arrays: Mapping[str, np.ndarray],
    errors: dict[int, str],
    manifest: dict[str, Any],
) -> DatasetAttributions:
    fields = store.spec.field_names()
    attributions: np.ndarray | tuple[np.ndarray, ...] = (
        tuple(arrays[n] for n in fields) if store.spec.was_tuple else arrays[fields[0]]
    )
    names, classes = _examples(store.root, store, manifest)
    return DatasetAttributions(
        attributions,
        arrays["delta"],
        arrays["target"],
        arrays["index"],
        np.asarray(arrays["status"]) == OK,
        dict(sorted(errors.items())),
        manifest,
        names,
        classes,
    )


def load_attributions(
    out: str | os.PathLike[str], *, mmap: bool = False, allow_incomplete: bool = False
) -> DatasetAttributions:
    """Read a run's results into arrays in index order, whatever the world size was.

    Args:
        out: the output directory of :func:`idgrad.dataset.attribute_dataset`.
        mmap: return memory-mapped arrays from ``out/merged`` (made by :func:`merge`
            on first use, one block at a time) instead of arrays in memory.
        allow_incomplete: fill blocks that are not done (or damaged) with NaN (``ok``
            False, the reason in ``errors``) instead of raising.

    Raises:
        FileNotFoundError: ``out`` holds no run.
        IncompleteRunError: blocks are missing and ``allow_incomplete`` is False.
        DamagedBlockError: a block's bytes are not those written (or a merged array's,
            with ``mmap=True``) and ``allow_incomplete`` is False; or the run names its
            examples and ``examples.json`` is not the file it wrote.
        DamagedRunError: the manifest is not one idgrad wrote (a field missing, of the
            wrong type or out of range: named), whatever ``allow_incomplete`` says.
        MemoryError: the arrays the manifest asks for do not fit in memory (saying how
            large they are).
    """
    if mmap:
        if allow_incomplete:
            raise ValueError("mmap=True needs a complete run (merge writes complete arrays only)")
        return merge(out)
    store, manifest = store_of(out)
    if not allow_incomplete:
        _check_complete(store)  # before allocating what the manifest asks for
    arrays = _allocate_in_memory(store)
    errors = _fill(store, arrays, allow_incomplete)
    return _result(store, arrays, errors, manifest)


def merge(out: str | os.PathLike[str]) -> DatasetAttributions:
    """Write a complete run as single ``.npy`` arrays in ``out/merged`` and map them.

    Streams one block at a time (each verified) into memory-mapped files (bounded
    memory for any dataset size), writes ``errors.json`` and the files' SHA-256
    (``checksums.json``) beside them, and renames the folder into place last, so an
    interrupted merge leaves no half-merged ``merged/``. Calling it again returns the
    existing merge, after checking every file against its SHA-256 (one read of each).

    Raises:
        IncompleteRunError: some blocks are not done.
        DamagedBlockError: a block, or an existing merged file, is not what was written
            (its SHA-256, or its shape and dtype against the manifest).
        DamagedRunError: the manifest is not one idgrad wrote.
    """
    store, manifest = store_of(out)
    root = Path(out)
    final = root / MERGED
    if not final.exists():
        _check_complete(store)  # before any file of the manifest's size is made
        tmp = root / f".{MERGED}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            arrays = _allocate(
                store,
                lambda name, shape, dtype: np.lib.format.open_memmap(
                    tmp / f"{name}.npy", mode="w+", dtype=dtype, shape=shape
                ),
            )
            errors = _fill(store, arrays, allow_incomplete=False)
            for arr in arrays.values():
                arr.flush()  # type: ignore[attr-defined]
            del arrays
            write_json_atomic(tmp / "errors.json", {str(k): v for k, v in errors.items()})
            sums = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            write_json_atomic(tmp / CHECKSUMS, sums)
            _commit(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    names = ["index", "target", "status", "delta", *store.spec.field_names()]
    _verify_merged(final, names)
    expected = _allocate(store, lambda name, shape, dtype: (np.dtype(dtype), shape))
    arrays = {}
    for name in names:
        path = final / f"{name}.npy"
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise _damaged_merge(final, f"{path.name} is not an array ({err})") from None
        dtype, shape = expected[name]
        if arrays[name].dtype != dtype or arrays[name].shape != shape:
            raise _damaged_merge(
                final,
                f"{path.name} has dtype {arrays[name].dtype} and shape {arrays[name].shape}, "
                f"the manifest says {dtype} and {shape}",
            )
    errors = read_json(final / "errors.json")
    if not isinstance(errors, dict) or not all(
        isinstance(k, str) and k.isdecimal() and isinstance(v, str) for k, v in errors.items()
    ):
        raise _damaged_merge(final, "errors.json is not {index: message}")
    return _result(store, arrays, {int(k): v for k, v in errors.items()}, manifest)


def _damaged_merge(folder: Path, problem: str) -> DamagedBlockError:
    return DamagedBlockError(
        f"{folder} is damaged: {problem}; delete {folder} and call merge again (it is "
        "rebuilt from the verified blocks)"
    )


def _verify_merged(folder: Path, names: list[str]) -> None:
    """Every merged file is there with the SHA-256 recorded when it was written."""
    try:
        sums = read_json(folder / CHECKSUMS)
    except (OSError, ValueError):
        sums = None
    if not isinstance(sums, dict):
        raise DamagedBlockError(
            f"{folder} has no readable {CHECKSUMS}; delete {folder} and call merge again"
        )
    for name in [*(f"{n}.npy" for n in names), "errors.json"]:
        path = folder / name
        if name not in sums or not path.is_file() or sha256_file(path) != sums[name]:
            raise DamagedBlockError(
                f"merged array {path} is missing or not the one written; delete {folder} "
                "and call merge again (it is rebuilt from the verified blocks)"
            )
