"""The on-disk format of a dataset run: a manifest and one ``.npy`` file per block.

Layout of an output directory::

    out/
      manifest.json          what was asked: method, parameters, model fingerprint,
                             number of examples, block size, input shapes and dtypes
      blocks/
        000000000.npy        block 0: records of examples 0 .. block_size - 1
        000000000.errors.json   (only when some of its examples failed)
        000000001.npy
        ...
      index.json             the merged index, written by rank 0 when a run ends:
                             blocks done, examples failed (with messages), complete?
      merged/                optional single arrays made by :func:`merge`

Each block file is a NumPy structured array, one record per example, with the
fields ``index`` (int64), ``target`` (int64, -1 when not one class), ``status``
(int8: 0 done, 1 failed), ``delta`` (float64 convergence delta) and
``attributions`` (the input's shape and dtype; ``attributions_0``,
``attributions_1``, ... for models with several inputs). Failed examples hold NaN.

Why this format (and not Zarr or one big memory map):

* **a commit is one rename.** A block is written to a temporary file in the same
  folder, flushed and ``fsync``-ed, then ``os.replace``-d to its final name, and the
  folder is ``fsync``-ed. A block's final name existing *is* "this block is done";
  there is no separate index that could disagree with the data, so a crash, a
  ``SIGKILL`` or a full disk at any instant leaves either a whole block or none
  (a stray temporary file at most, which is ignored and later removed).
* **no shared file is written by two processes.** Ranks write disjoint blocks; only
  rank 0 writes ``manifest.json`` and ``index.json``, and only through the same
  write-then-rename. That holds on network file systems, where concurrent writes to
  disjoint ranges of one memory-mapped file are not safe.
* **the world size may change between runs** (a restart on fewer GPUs): a block is
  identified by its indices, not by the rank that made it.
* **no dependency beyond NumPy**, and every file opens with ``numpy.load`` (memory
  mapped if wanted) or any ``.npy`` reader. Zarr v3 would give chunked arrays too,
  but its chunk writes are not a commit protocol: a done-marker on top of it would
  still be needed, plus an extra required package.

Example:
    >>> import tempfile, numpy as np, torch
    >>> spec = InputSpec(shapes=((2,),), dtypes=("float32",), was_tuple=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = BlockStore(d, n_examples=3, block_size=2, spec=spec)
    ...     rec = store.empty_records(range(0, 2))
    ...     rec["attributions"] = np.ones((2, 2), np.float32)
    ...     rec["status"] = 0  # done (records start as failed)
    ...     store.write_block(0, rec)
    ...     store.done_blocks()
    {0}
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "FORMAT",
    "BlockStore",
    "DatasetAttributions",
    "IncompleteRunError",
    "InputSpec",
    "ResumeMismatchError",
    "load_attributions",
    "merge",
    "write_json_atomic",
]

#: Written into every manifest; a reader refuses any other value.
FORMAT = "idgrad-dataset/1"

MANIFEST = "manifest.json"
INDEX = "index.json"
BLOCKS = "blocks"
MERGED = "merged"
OK, FAILED = 0, 1


class ResumeMismatchError(ValueError):
    """The output directory was started with different settings than this call's."""


class IncompleteRunError(RuntimeError):
    """Some blocks of the run are not on disk (yet)."""


class InputSpec(NamedTuple):
    """Shape (without the batch axis) and dtype name of each model input."""

    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    was_tuple: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "shapes": [list(s) for s in self.shapes],
            "dtypes": list(self.dtypes),
            "was_tuple": self.was_tuple,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> InputSpec:
        return cls(
            tuple(tuple(int(d) for d in s) for s in obj["shapes"]),
            tuple(str(d) for d in obj["dtypes"]),
            bool(obj["was_tuple"]),
        )

    def field_names(self) -> list[str]:
        if not self.was_tuple:
            return ["attributions"]
        return [f"attributions_{i}" for i in range(len(self.shapes))]


def record_dtype(spec: InputSpec) -> np.dtype:
    """The structured dtype of one example's record."""
    fields: list[tuple[Any, ...]] = [
        ("index", "<i8"),
        ("target", "<i8"),
        ("status", "i1"),
        ("delta", "<f8"),
    ]
    for name, shape, dtype in zip(spec.field_names(), spec.shapes, spec.dtypes):
        fields.append((name, np.dtype(dtype), shape))
    return np.dtype(fields)


def _fsync_dir(path: Path) -> None:
    # Makes a rename durable. Not possible on every platform (Windows); best effort.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def _commit(tmp: Path, final: Path) -> None:
    """Make ``tmp`` (already written and fsync-ed) visible as ``final``, atomically."""
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _write_atomic(final: Path, write: Any) -> None:
    """Write through ``write(fh)`` into a temporary file, fsync, then commit."""
    tmp = _tmp_name(final)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _commit(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` so that readers see the old or the new file."""
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    _write_atomic(Path(path), lambda fh: fh.write(data))


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                out.append(f"{name}: (absent) -> {new[key]!r}")
            elif key not in new:
                out.append(f"{name}: {old[key]!r} -> (absent)")
            else:
                out.extend(_diff(old[key], new[key], name))
        return out
    if old != new:
        return [f"{prefix}: {old!r} -> {new!r}"]
    return []


class BlockStore:
    """Blocks of records in one output directory; writes are commit-or-nothing.

    Block ``b`` holds examples ``b * block_size`` up to ``(b + 1) * block_size``
    (fewer in the last block). Only the block being written is held in memory.

    Args:
        out: the output directory (created if needed).
        n_examples: number of examples in the dataset.
        block_size: examples per block.
        spec: the inputs' shapes and dtypes (the attribution fields follow them).
    """

    def __init__(
        self, out: str | os.PathLike[str], n_examples: int, block_size: int, spec: InputSpec
    ) -> None:
        self.root = Path(out)
        self.n_examples = int(n_examples)
        self.block_size = int(block_size)
        self.spec = spec
        self.dtype = record_dtype(spec)
        self.blocks_dir = self.root / BLOCKS
        self.blocks_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ geometry
    @property
    def n_blocks(self) -> int:
        return -(-self.n_examples // self.block_size)

    def block_range(self, block: int) -> range:
        """The example indices of ``block``."""
        start = block * self.block_size
        return range(start, min(start + self.block_size, self.n_examples))

    def block_path(self, block: int) -> Path:
        return self.blocks_dir / f"{block:09d}.npy"

    def errors_path(self, block: int) -> Path:
        return self.blocks_dir / f"{block:09d}.errors.json"

    # ------------------------------------------------------------------ state
    def done_blocks(self) -> set[int]:
        """Blocks whose file is committed (the only definition of done)."""
        done = set()
        for path in self.blocks_dir.glob("*.npy"):
            stem = path.name[:-4]
            if stem.isdigit():
                b = int(stem)
                if 0 <= b < self.n_blocks:
                    done.add(b)
        return done

    def remove_stale_temporaries(self) -> int:
        """Delete temporary files left by killed writers; returns how many."""
        count = 0
        for path in self.blocks_dir.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                path.unlink()
                count += 1
        return count

    # ------------------------------------------------------------------ writing
    def empty_records(self, indices: Iterable[int]) -> np.ndarray:
        """Records for ``indices``, all marked failed and filled with NaN / -1."""
        idx = np.fromiter(indices, dtype=np.int64)
        rec = np.zeros(len(idx), dtype=self.dtype)
        rec["index"] = idx
        rec["target"] = -1
        rec["status"] = FAILED
        rec["delta"] = np.nan
        for name in self.spec.field_names():
            if np.issubdtype(self.dtype[name].base, np.floating):
                rec[name] = np.nan
        return rec

    def write_block(
        self, block: int, records: np.ndarray, errors: Mapping[int, str] | None = None
    ) -> None:
        """Commit ``block``: error messages first, then the records (the commit).

        If anything fails before the final rename (an exception, a full disk, the
        process being killed) the block is not done, and a later run redoes it.

        Raises:
            ValueError: records of the wrong dtype or indices for this block.
        """
        expected = self.block_range(block)
        if records.dtype != self.dtype:
            raise ValueError(
                f"block {block}: records have dtype {records.dtype}, expected {self.dtype}"
            )
        if records.shape != (len(expected),) or not np.array_equal(
            records["index"], np.asarray(expected)
        ):
            raise ValueError(
                f"block {block}: records must be indices "
                f"{expected.start}..{expected.stop - 1} in order"
            )
        failed = set(records["index"][records["status"] != OK].tolist())
        if set(errors or {}) != failed:
            raise ValueError(
                f"block {block}: failed examples {sorted(failed)} and error messages "
                f"{sorted(errors or {})} disagree"
            )
        if errors:
            write_json_atomic(
                self.errors_path(block), {str(k): v for k, v in sorted(errors.items())}
            )
        else:  # a message file left by an earlier, uncommitted attempt must not survive
            with contextlib.suppress(FileNotFoundError):
                self.errors_path(block).unlink()
        _write_atomic(self.block_path(block), lambda fh: np.save(fh, records, allow_pickle=False))

    # ------------------------------------------------------------------ reading
    def read_block(self, block: int, mmap: bool = False) -> np.ndarray:
        path = self.block_path(block)
        try:
            rec: np.ndarray = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except FileNotFoundError:
            raise IncompleteRunError(f"block {block} ({path}) is not done") from None
        except (ValueError, OSError) as err:
            raise ValueError(f"block file {path} is unreadable: {err}") from err
        if rec.dtype != self.dtype or rec.shape != (len(self.block_range(block)),):
            raise ValueError(
                f"block file {path} has dtype {rec.dtype} and shape {rec.shape}, "
                f"expected {self.dtype} and ({len(self.block_range(block))},)"
            )
        return rec

    def read_errors(self, block: int) -> dict[int, str]:
        path = self.errors_path(block)
        if not path.exists():
            return {}
        return {int(k): str(v) for k, v in read_json(path).items()}

    def iter_blocks(self, mmap: bool = True) -> Iterator[tuple[int, np.ndarray | None]]:
        """``(block, records or None when not done)`` in order."""
        done = self.done_blocks()
        for b in range(self.n_blocks):
            yield b, (self.read_block(b, mmap=mmap) if b in done else None)

    # ------------------------------------------------------------------ index
    def summary(self) -> dict[str, Any]:
        """The merged index: what is done and what failed.

        Made from the names of the committed blocks and their error files alone
        (every failed example has its message there), so it costs no block reads.
        """
        done = self.done_blocks()
        failed: dict[str, str] = {}
        n_in_done = 0
        for b in sorted(done):
            n_in_done += len(self.block_range(b))
            failed.update((str(i), msg) for i, msg in self.read_errors(b).items())
        n_ok = n_in_done - len(failed)
        missing = [b for b in range(self.n_blocks) if b not in done]
        return {
            "format": FORMAT,
            "n_examples": self.n_examples,
            "n_blocks": self.n_blocks,
            "n_blocks_done": len(done),
            "n_done": n_ok,
            "n_failed": len(failed),
            "complete": not missing,
            "missing_blocks": missing[:1000],
            "failed": failed,
        }


# ---------------------------------------------------------------------- manifest


def manifest_path(out: str | os.PathLike[str]) -> Path:
    return Path(out) / MANIFEST


def read_manifest(out: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an output directory.

    Raises:
        FileNotFoundError: ``out`` holds no run.
        ValueError: not a manifest of this format.
    """
    path = manifest_path(out)
    if not path.exists():
        raise FileNotFoundError(f"{out} holds no idgrad dataset run (no {MANIFEST})")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} manifest")
    return manifest


def check_settings(
    out: str | os.PathLike[str], manifest: Mapping[str, Any], settings: Mapping[str, Any]
) -> None:
    """Refuse to resume into ``out`` with settings other than those it was started with.

    Raises:
        ResumeMismatchError: naming every setting that differs.
    """
    changes = _diff(manifest.get("settings"), json.loads(json.dumps(settings)))
    if changes:
        listing = "\n  ".join(changes)
        raise ResumeMismatchError(
            f"{out} was started with different settings; refusing to resume "
            "(pass resume=False / --no-resume to start over, or choose another output):"
            f"\n  {listing}"
        )


def clear(out: str | os.PathLike[str]) -> None:
    """Remove a previous run's files from ``out`` (only the names this format uses)."""
    root = Path(out)
    for name in (MANIFEST, INDEX):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    for name in (BLOCKS, MERGED):
        shutil.rmtree(root / name, ignore_errors=True)


def store_of(out: str | os.PathLike[str]) -> tuple[BlockStore, dict[str, Any]]:
    """Open an existing run for reading."""
    manifest = read_manifest(out)
    settings = manifest["settings"]
    spec = InputSpec.from_json(settings["inputs"])
    store = BlockStore(out, settings["n_examples"], settings["batch_size"], spec)
    return store, manifest


# ---------------------------------------------------------------------- reading a run


class DatasetAttributions(NamedTuple):
    """A whole run's results, in index order.

    Attributes:
        attributions: ``(N, ...)`` array, or a tuple of them for several inputs.
        delta: ``(N,)`` float64 convergence deltas (NaN where failed).
        target: ``(N,)`` int64 explained class (-1 when not one class index).
        indices: ``(N,)`` int64, ``0 .. N - 1`` (the records' ``index`` field).
        ok: ``(N,)`` bool, False for failed examples (and missing ones when allowed).
        errors: ``{index: message}`` of the failed examples.
        manifest: the run's manifest.
    """

    attributions: np.ndarray | tuple[np.ndarray, ...]
    delta: np.ndarray
    target: np.ndarray
    indices: np.ndarray
    ok: np.ndarray
    errors: dict[int, str]
    manifest: dict[str, Any]


def _allocate(store: BlockStore, make: Any) -> dict[str, np.ndarray]:
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


def _fill(
    store: BlockStore, arrays: Mapping[str, np.ndarray], allow_incomplete: bool
) -> dict[int, str]:
    errors: dict[int, str] = {}
    missing = sorted(set(range(store.n_blocks)) - store.done_blocks())
    if missing and not allow_incomplete:
        raise IncompleteRunError(
            f"{store.root}: {len(missing)} of {store.n_blocks} blocks are not done "
            f"(first: block {missing[0]}, examples {store.block_range(missing[0]).start}..); "
            "run attribute_dataset again to finish, or pass allow_incomplete=True"
        )
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
        rec = store.read_block(b, mmap=True)  # one block in memory at a time
        for name in arrays:
            arrays[name][sl] = rec[name]
        messages = store.read_errors(b)
        for i in rec["index"][rec["status"] != OK].tolist():
            errors[i] = messages.get(i, "failed (no message recorded)")
    return errors


def _result(
    store: BlockStore,
    arrays: Mapping[str, np.ndarray],
    errors: dict[int, str],
    manifest: dict[str, Any],
) -> DatasetAttributions:
    names = store.spec.field_names()
    attributions: np.ndarray | tuple[np.ndarray, ...] = (
        tuple(arrays[n] for n in names) if store.spec.was_tuple else arrays[names[0]]
    )
    return DatasetAttributions(
        attributions,
        arrays["delta"],
        arrays["target"],
        arrays["index"],
        np.asarray(arrays["status"]) == OK,
        dict(sorted(errors.items())),
        manifest,
    )


def load_attributions(
    out: str | os.PathLike[str], *, mmap: bool = False, allow_incomplete: bool = False
) -> DatasetAttributions:
    """Read a run's results into arrays in index order, whatever the world size was.

    Args:
        out: the output directory of :func:`idgrad.dataset.attribute_dataset`.
        mmap: return memory-mapped arrays from ``out/merged`` (made by :func:`merge`
            on first use, one block at a time) instead of arrays in memory.
        allow_incomplete: fill blocks that are not done with NaN (``ok`` False)
            instead of raising.

    Raises:
        FileNotFoundError: ``out`` holds no run.
        IncompleteRunError: blocks are missing and ``allow_incomplete`` is False.
    """
    if mmap:
        if allow_incomplete:
            raise ValueError("mmap=True needs a complete run (merge writes complete arrays only)")
        return merge(out)
    store, manifest = store_of(out)
    arrays = _allocate(store, lambda name, shape, dtype: np.empty(shape, dtype))
    errors = _fill(store, arrays, allow_incomplete)
    return _result(store, arrays, errors, manifest)


def merge(out: str | os.PathLike[str]) -> DatasetAttributions:
    """Write a complete run as single ``.npy`` arrays in ``out/merged`` and map them.

    Streams one block at a time into memory-mapped files (bounded memory for any
    dataset size), writes ``errors.json`` beside them, and renames the folder into
    place last, so an interrupted merge leaves no half-merged ``merged/``. Calling it
    again returns the existing merge.

    Raises:
        IncompleteRunError: some blocks are not done.
    """
    store, manifest = store_of(out)
    root = Path(out)
    final = root / MERGED
    if not final.exists():
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
            _commit(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    arrays = {}
    for name in ["index", "target", "status", "delta", *store.spec.field_names()]:
        arrays[name] = np.load(final / f"{name}.npy", mmap_mode="r")
    errors = {int(k): v for k, v in read_json(final / "errors.json").items()}
    return _result(store, arrays, errors, manifest)
