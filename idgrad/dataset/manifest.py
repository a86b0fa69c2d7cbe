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
from typing import Any, NoReturn

from idgrad.dataset.store import (
    BLOCK_FILE,
    BLOCKS,
    TMP_FILE,
    BlockStore,
    DamagedRunError,
    InputSpec,
    read_json,
    record_dtype,
)

__all__ = [
    "FORMAT",
    "InputsChangedError",
    "ResumeMismatchError",
    "check_manifest",
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
    """The manifest of an output directory, checked against its schema (:func:`check_manifest`).

    Raises:
        FileNotFoundError: ``out`` holds no run.
        ValueError: a run of an older format.
        DamagedRunError: not a manifest of this format, or one whose fields are not what
            idgrad writes (naming the field).
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
        raise DamagedRunError(f"{path} is not an {FORMAT} manifest")
    return check_manifest(read_json(path), path)


#: NumPy dtypes a run stores attributions in (those of torch's dtypes; bfloat16 as float32).
DTYPES = frozenset(
    ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"]
    + ["float16", "float32", "float64", "complex64", "complex128"]
)
#: Most axes of one input (NumPy's own limit is 64).
MAX_AXES = 32
#: Largest record of one example, in bytes (a structured NumPy dtype's size is an int32).
MAX_RECORD_BYTES = 2**31 - 1


def check_manifest(manifest: Any, path: str | os.PathLike[str] = MANIFEST) -> dict[str, Any]:
    """``manifest`` if it has the fields a reader uses, of the types and ranges idgrad writes.

    The schema (what :func:`idgrad.dataset.load_attributions`, :func:`idgrad.dataset.merge`
    and a resume read):

    ========================== ===================================================
    field                      value
    ========================== ===================================================
    ``format``                 ``"idgrad-dataset/2"``
    ``settings``               an object, with:
    ``settings.method``        a string
    ``settings.n_examples``    an int, 1 to 2**63 - 1
    ``settings.batch_size``    an int, 1 to 2**63 - 1 (examples per block)
    ``settings.inputs``        ``{"shapes": [[int >= 0, ...], ...], "dtypes": [name, ...],
                               "was_tuple": bool}``: one shape (at most 32 axes) and one
                               NumPy dtype name of :data:`DTYPES` per input, one input
                               unless ``was_tuple``; a record of at most 2**31 - 1 bytes
    ``environment``            an object, when present
    ========================== ===================================================

    Other settings are compared as they are on resume, never interpreted.

    Raises:
        DamagedRunError: naming the first field that is missing or wrong.

    Example:
        >>> check_manifest({"format": FORMAT, "settings": {"batch_size": 0}})
        Traceback (most recent call last):
        ...
        idgrad.dataset.store.DamagedRunError: manifest.json is damaged: settings.method ...
    """

    def bad(field: str, expected: str, value: Any = None, missing: bool = False) -> NoReturn:
        got = "it is missing" if missing else f"got {_short(value)}"
        raise DamagedRunError(
            f"{path} is damaged: {field} must be {expected}, {got} (idgrad did not write this "
            "manifest, or it was edited; restore it, or start the run over with resume=False "
            "/ --no-resume)"
        )

    def get(obj: dict[str, Any], key: str, field: str, expected: str) -> Any:
        if key not in obj:
            bad(field, expected, missing=True)
        return obj[key]

    def count(value: Any, field: str, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**63:
            bad(field, f"an int >= {low}", value)
        return value

    if not isinstance(manifest, dict):
        bad("the manifest", "a JSON object", manifest)
    if manifest.get("format") != FORMAT:
        bad("format", repr(FORMAT), manifest.get("format"), missing="format" not in manifest)
    settings = get(manifest, "settings", "settings", "an object")
    if not isinstance(settings, dict):
        bad("settings", "an object", settings)
    method = get(settings, "method", "settings.method", "a string")
    if not isinstance(method, str):
        bad("settings.method", "a string", method)
    count(
        get(settings, "n_examples", "settings.n_examples", "an int >= 1"), "settings.n_examples", 1
    )
    count(
        get(settings, "batch_size", "settings.batch_size", "an int >= 1"), "settings.batch_size", 1
    )
    inputs = get(settings, "inputs", "settings.inputs", "an object")
    if not isinstance(inputs, dict):
        bad("settings.inputs", "an object", inputs)
    shapes = get(inputs, "shapes", "settings.inputs.shapes", "a list of shapes")
    dtypes = get(inputs, "dtypes", "settings.inputs.dtypes", "a list of dtype names")
    was_tuple = get(inputs, "was_tuple", "settings.inputs.was_tuple", "true or false")
    if not isinstance(was_tuple, bool):
        bad("settings.inputs.was_tuple", "true or false", was_tuple)
    if not isinstance(shapes, list) or not shapes or (not was_tuple and len(shapes) != 1):
        many = "a list of one shape per input" if was_tuple else "a list of one shape"
        bad("settings.inputs.shapes", many, shapes)
    for i, shape in enumerate(shapes):
        if not isinstance(shape, list) or len(shape) > MAX_AXES:
            bad(f"settings.inputs.shapes[{i}]", f"a list of at most {MAX_AXES} sizes", shape)
        for k, side in enumerate(shape):
            count(side, f"settings.inputs.shapes[{i}][{k}]", 0)
    if not isinstance(dtypes, list) or len(dtypes) != len(shapes):
        bad("settings.inputs.dtypes", f"a list of {len(shapes)} dtype name(s)", dtypes)
    for i, name in enumerate(dtypes):
        if name not in DTYPES:
            bad(f"settings.inputs.dtypes[{i}]", f"one of {', '.join(sorted(DTYPES))}", name)
    try:
        size = record_dtype(InputSpec.from_json(inputs)).itemsize
    except (ValueError, TypeError, OverflowError, MemoryError):
        size = MAX_RECORD_BYTES + 1
    if size > MAX_RECORD_BYTES:
        bad(
            "settings.inputs.shapes",
            f"shapes of at most {MAX_RECORD_BYTES} bytes per example",
            shapes,
        )
    if "environment" in manifest and not isinstance(manifest["environment"], dict):
        bad("environment", "an object", manifest["environment"])
    return manifest


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    """Open an existing run for reading (its manifest checked; nothing is written).

    Raises:
        FileNotFoundError: ``out`` holds no run.
        DamagedRunError: its manifest is not one idgrad wrote (naming the field).
    """
    manifest = read_manifest(out)
    settings = manifest["settings"]
    spec = InputSpec.from_json(settings["inputs"])
    store = BlockStore(out, settings["n_examples"], settings["batch_size"], spec, create=False)
    return store, manifest
