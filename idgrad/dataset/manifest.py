"""The manifest of a dataset run: what was asked, compared on resume; and clearing a run.

``out/manifest.json`` holds the format, the settings (method, parameters, target,
baselines, block size, input shapes, a digest of the first example, the model's
fingerprint, the idgrad version) and the environment. Its presence, with this
format, is what makes a folder an idgrad run: only such a folder is ever cleared
(:func:`clear`), and then only the files an idgrad run writes.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     is_run(d)
    False
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from idgrad.dataset.store import BLOCK_FILE, BLOCKS, TMP_FILE, BlockStore, InputSpec, read_json

__all__ = [
    "FORMAT",
    "InputsChangedError",
    "ResumeMismatchError",
    "check_settings",
    "clear",
    "is_run",
    "manifest_path",
    "read_manifest",
    "store_of",
]

#: Written into every manifest; a reader refuses any other value.
FORMAT = "idgrad-dataset/2"
#: Earlier formats: recognised as idgrad runs (so ``resume=False`` may clear them), not read.
OLD_FORMATS = ("idgrad-dataset/1",)

MANIFEST = "manifest.json"
INDEX = "index.json"
MERGED = "merged"
#: The names of the examples (and their class names) in index order, for a dataset that
#: names them (``example_names``); written beside the manifest, whose settings hold its
#: SHA-256.
EXAMPLES = "examples.json"

#: Names of the files :func:`idgrad.dataset.merge` writes in ``merged/``.
MERGED_FILE = re.compile(
    r"(index|target|status|delta|attributions(_\d+)?)\.npy|(errors|checksums)\.json"
)


class ResumeMismatchError(ValueError):
    """The output directory was started with different settings than this call's."""


class InputsChangedError(ResumeMismatchError):
    """Finished blocks whose examples changed since they were written (on resume).

    Attributes:
        blocks: the blocks whose input digest differs.
    """

    def __init__(self, message: str, blocks: Iterable[int]) -> None:
        super().__init__(message)
        self.blocks = tuple(blocks)


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


def manifest_path(out: str | os.PathLike[str]) -> Path:
    return Path(out) / MANIFEST


def _manifest_format(out: str | os.PathLike[str]) -> str | None:
    """The ``format`` of ``out``'s manifest; None when there is none or it is not JSON."""
    try:
        manifest = read_json(manifest_path(out))
    except (OSError, ValueError):
        return None
    fmt = manifest.get("format") if isinstance(manifest, dict) else None
    return fmt if isinstance(fmt, str) else None


def is_run(out: str | os.PathLike[str]) -> bool:
    """Whether ``out`` holds an idgrad run (of this format or an earlier one)."""
    return _manifest_format(out) in (FORMAT, *OLD_FORMATS)


def read_manifest(out: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an output directory.

    Raises:
        FileNotFoundError: ``out`` holds no run.
        ValueError: not a manifest of this format.
    """
    path = manifest_path(out)
    if not path.exists():
        raise FileNotFoundError(f"{out} holds no idgrad dataset run (no {MANIFEST})")
    fmt = _manifest_format(out)
    if fmt in OLD_FORMATS:
        raise ValueError(
            f"{out} is an {fmt} run, written by an older idgrad without block checksums; "
            "start it over (resume=False / --no-resume) or read it with that version"
        )
    if fmt != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} manifest")
    manifest: dict[str, Any] = read_json(path)
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
    """Delete a previous idgrad run's files from ``out``: the names this format uses, only.

    Anything else in ``out``, ``out/blocks`` or ``out/merged`` stays (and so do those
    folders then).

    Raises:
        ValueError: ``out`` holds no idgrad run (no manifest of ours): nothing is deleted.
    """
    root = Path(out)
    if not is_run(root):
        raise ValueError(
            f"{root} holds no idgrad run (no idgrad manifest.json); idgrad deletes only "
            "its own runs: choose another output folder, or empty this one yourself"
        )
    for folder, pattern in ((root / BLOCKS, BLOCK_FILE), (root / MERGED, MERGED_FILE)):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file() and (
                    pattern.fullmatch(path.name) or TMP_FILE.fullmatch(path.name)
                ):
                    path.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when nothing else is left in it
    for path in root.iterdir():
        if path.is_dir() and re.fullmatch(r"\.merged\.\d+\.tmp", path.name):
            shutil.rmtree(path, ignore_errors=True)  # an interrupted merge of ours
        elif path.is_file() and re.fullmatch(
            r"\.(manifest|index|examples)\.json\.\d+\.tmp", path.name
        ):
            path.unlink()
    for name in (INDEX, EXAMPLES):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    (root / MANIFEST).unlink()  # last: until here, the folder is still recognised as ours


def store_of(out: str | os.PathLike[str]) -> tuple[BlockStore, dict[str, Any]]:
    """Open an existing run for reading."""
    manifest = read_manifest(out)
    settings = manifest["settings"]
    spec = InputSpec.from_json(settings["inputs"])
    store = BlockStore(out, settings["n_examples"], settings["batch_size"], spec)
    return store, manifest
