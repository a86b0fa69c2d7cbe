"""The on-disk format of a dataset run: a manifest, and per block a records file and a sidecar.

Layout of an output directory::

    out/
      manifest.json          what was asked: method, parameters, model fingerprint,
                             number of examples, block size, input shapes and dtypes
      blocks/
        000000000.npy        block 0: records of examples 0 .. block_size - 1
        000000000.json       its sidecar: SHA-256 and size of the .npy file, a digest of
                             the block's inputs, messages of its failed examples
        000000001.npy
        000000001.json
        ...
      index.json             the merged index, written by rank 0 when a run ends:
                             blocks done, examples failed (with messages), complete?
      merged/                optional single arrays made by :func:`idgrad.dataset.merge`

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
  (a stray temporary file at most, which is ignored and later removed). The sidecar
  is committed the same way, *before* the block, so a done block always has one.
* **what is read back is what was written.** A done block is *intact* when its
  sidecar's SHA-256 and size match the file. Resuming recomputes a done block that
  is not (flipped bits, a truncated copy, a lost sidecar) and reports it; reading a
  run refuses it (:class:`DamagedBlockError`). The sidecar's input digest lets a
  resume notice that a finished block's examples changed.
* **no shared file is written by two processes.** Ranks write disjoint blocks; only
  rank 0 writes ``manifest.json`` and ``index.json``, and only through the same
  write-then-rename. That holds on network file systems, where concurrent writes to
  disjoint ranges of one memory-mapped file are not safe.
* **the world size may change between runs** (a restart on fewer GPUs): a block is
  identified by its indices, not by the rank that made it.
* **no dependency beyond NumPy**, and every file opens with ``numpy.load`` or any
  ``.npy`` reader. Zarr v3 would give chunked arrays too, but its chunk writes are
  not a commit protocol: a done-marker on top of it would still be needed, plus an
  extra required package.

Only files with these names are ever deleted (:func:`idgrad.dataset.manifest.clear`),
and only in a folder whose manifest says it is an idgrad run.

Example:
    >>> import tempfile, numpy as np, torch
    >>> spec = InputSpec(shapes=((2,),), dtypes=("float32",), was_tuple=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = BlockStore(d, n_examples=3, block_size=2, spec=spec)
    ...     rec = store.empty_records(range(0, 2))
    ...     rec["attributions"] = np.ones((2, 2), np.float32)
    ...     rec["status"] = 0  # done (records start as failed)
    ...     store.write_block(0, rec)
    ...     store.done_blocks(), store.check_block(0)
    ({0}, None)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "BlockStore",
    "DamagedBlockError",
    "DamagedRunError",
    "IncompleteRunError",
    "InputSpec",
    "sha256_file",
    "write_json_atomic",
]

BLOCKS = "blocks"
OK, FAILED = 0, 1

#: Names of the files a run writes in ``blocks/`` (and temporaries: ``.NAME.PID.tmp``).
BLOCK_FILE = re.compile(r"\d{9}\.(npy|json|errors\.json)")
#: The name of a committed block's records file (block ``b``: ``f"{b:09d}.npy"``).
BLOCK_NPY = re.compile(r"\d{9}\.npy")
TMP_FILE = re.compile(r"\..+\.\d+\.tmp")


class IncompleteRunError(RuntimeError):
    """Some blocks of the run are not on disk (yet)."""


class DamagedRunError(ValueError):
    """A file of a run (its manifest, a block, a sidecar, a merged array) is not what idgrad
    wrote: edited, truncated, or made by someone else. The message names the file and the
    field."""


class DamagedBlockError(DamagedRunError):
    """A done block whose bytes are not those that were written (or cannot be checked)."""


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
    """A JSON file of a run; ValueError (not RecursionError) for one nested too deep."""
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except RecursionError:
            raise ValueError(f"{path} nests deeper than Python's JSON reader goes") from None


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """SHA-256 of a file, read in chunks of ``chunk`` bytes (bounded memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk)
            if not data:
                return h.hexdigest()
            h.update(data)


class BlockStore:
    """Blocks of records in one output directory; writes are commit-or-nothing.

    Block ``b`` holds examples ``b * block_size`` up to ``(b + 1) * block_size``
    (fewer in the last block). Only the block being written or read is held in memory.

    Args:
        out: the output directory (created if needed).
        n_examples: number of examples in the dataset.
        block_size: examples per block.
        spec: the inputs' shapes and dtypes (the attribution fields follow them).
        create: make ``out/blocks`` if it is missing (False: only read what is there).
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        n_examples: int,
        block_size: int,
        spec: InputSpec,
        *,
        create: bool = True,
    ) -> None:
        self.root = Path(out)
        self.n_examples = int(n_examples)
        self.block_size = int(block_size)
        self.spec = spec
        self.dtype = record_dtype(spec)
        self.blocks_dir = self.root / BLOCKS
        if create:
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

    def sidecar_path(self, block: int) -> Path:
        return self.blocks_dir / f"{block:09d}.json"

    # ------------------------------------------------------------------ state
    def done_blocks(self) -> set[int]:
        """Blocks whose file is committed (the only definition of done)."""
        done = set()
        for path in self.blocks_dir.glob("*.npy"):
            # only the names a run writes: a block renamed to 1.npy is not block 1
            if BLOCK_NPY.fullmatch(path.name) and path.is_file():
                b = int(path.name[:-4])
                if b < self.n_blocks:
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
        self,
        block: int,
        records: np.ndarray,
        errors: Mapping[int, str] | None = None,
        inputs: str | None = None,
    ) -> None:
        """Commit ``block``: its sidecar first, then the records (the commit).

        If anything fails before the final rename (an exception, a full disk, the
        process being killed) the block is not done, and a later run redoes it.

        Args:
            block: the block number.
            records: its records (:meth:`empty_records` filled in).
            errors: ``{index: message}`` of its failed examples.
            inputs: a digest of the block's inputs, compared on resume.

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
        buffer = io.BytesIO()
        np.save(buffer, records, allow_pickle=False)
        data = buffer.getvalue()
        sidecar = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "inputs": inputs,
            "errors": {str(k): v for k, v in sorted((errors or {}).items())},
        }
        write_json_atomic(self.sidecar_path(block), sidecar)
        _write_atomic(self.block_path(block), lambda fh: fh.write(data))

    # ------------------------------------------------------------------ reading
    def read_sidecar(self, block: int) -> dict[str, Any] | None:
        """The block's sidecar, or None when it is missing or unreadable."""
        try:
            sidecar = read_json(self.sidecar_path(block))
        except (OSError, ValueError):
            return None
        ok = (
            isinstance(sidecar, dict)
            and isinstance(sidecar.get("sha256"), str)
            and isinstance(sidecar.get("bytes"), int)
            and not isinstance(sidecar.get("bytes"), bool)
            and isinstance(sidecar.get("errors"), dict)
            and all(
                isinstance(k, str) and k.isdecimal() and isinstance(v, str)
                for k, v in sidecar["errors"].items()
            )
            and (sidecar.get("inputs") is None or isinstance(sidecar.get("inputs"), str))
        )
        return sidecar if ok else None

    def check_block(self, block: int) -> str | None:
        """Why done ``block`` is not intact (its bytes are not those written), or None.

        Reads the whole file once (in chunks) to compare its SHA-256 with the sidecar's.
        """
        path = self.block_path(block)
        sidecar = self.read_sidecar(block)
        if sidecar is None:
            return f"its sidecar {self.sidecar_path(block).name} is missing or unreadable"
        try:
            size = path.stat().st_size
            if size != sidecar["bytes"]:
                return f"it has {size} bytes, {sidecar['bytes']} were written"
            if sha256_file(path) != sidecar["sha256"]:
                return "its SHA-256 differs from the one written"
        except OSError as err:
            return f"it cannot be read ({err})"
        return None

    def read_block(self, block: int) -> np.ndarray:
        """The records of done ``block``, verified against its sidecar.

        Raises:
            IncompleteRunError: the block is not done.
            DamagedBlockError: its bytes are not those written, or not a records array.
        """
        path = self.block_path(block)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise IncompleteRunError(f"block {block} ({path}) is not done") from None
        except OSError as err:  # a folder of that name, no permission, ...
            raise self._damaged(block, f"it cannot be read ({err.strerror or err})") from None
        sidecar = self.read_sidecar(block)
        if sidecar is None:
            raise self._damaged(
                block, f"its sidecar {self.sidecar_path(block).name} is missing or unreadable"
            )
        if len(data) != sidecar["bytes"]:
            raise self._damaged(block, f"it has {len(data)} bytes, {sidecar['bytes']} were written")
        if hashlib.sha256(data).hexdigest() != sidecar["sha256"]:
            raise self._damaged(block, "its SHA-256 differs from the one written")
        try:
            rec: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise self._damaged(block, f"it is not a records array ({err})") from None
        want = (len(self.block_range(block)),)
        if rec.dtype != self.dtype or rec.shape != want:
            raise self._damaged(
                block,
                f"it has dtype {rec.dtype} and shape {rec.shape}, expected {self.dtype} and {want}",
            )
        return rec

    def _damaged(self, block: int, problem: str) -> DamagedBlockError:
        return DamagedBlockError(
            f"block {block} ({self.block_path(block)}) is damaged: {problem}; run "
            "attribute_dataset again on this folder (resume) to recompute it"
        )

    def read_errors(self, block: int) -> dict[int, str]:
        """``{index: message}`` of the block's failed examples (from its sidecar)."""
        sidecar = self.read_sidecar(block)
        if sidecar is None:
            return {}
        return {int(k): str(v) for k, v in sidecar["errors"].items()}

    def read_inputs_digest(self, block: int) -> str | None:
        """The digest of the block's inputs recorded when it was written."""
        sidecar = self.read_sidecar(block)
        value = None if sidecar is None else sidecar.get("inputs")
        return value if isinstance(value, str) else None

    # ------------------------------------------------------------------ index
    def summary(self) -> dict[str, Any]:
        """The merged index: what is done and what failed.

        Made from the names of the committed blocks and their sidecars alone (every
        failed example has its message there), so it costs no block reads.
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
            "n_examples": self.n_examples,
            "n_blocks": self.n_blocks,
            "n_blocks_done": len(done),
            "n_done": n_ok,
            "n_failed": len(failed),
            "complete": not missing,
            "missing_blocks": missing[:1000],
            "failed": failed,
        }
