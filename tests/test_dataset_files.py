"""Reading a dataset run's files back: hand-edited manifests, renamed blocks, crafted runs.

Every file of a run folder may have been edited by hand or made by someone else. A reader
(:func:`idgrad.dataset.load_attributions`, :func:`idgrad.dataset.merge`, a resume) checks
the manifest against its schema and raises :class:`DamagedRunError` naming the field,
never a ZeroDivisionError, KeyError or TypeError; it reads only files with the names a
run writes; and it never allocates what a manifest claims before it has checked that the
blocks are there.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from idgrad.dataset import (
    DamagedBlockError,
    DamagedRunError,
    IncompleteRunError,
    attribute_dataset,
    load_attributions,
    merge,
)

N, BS = 6, 2  # three blocks


def _attribute(out: Path) -> Any:
    """IG on a linear model, 6 examples in blocks of 2 (the same model and data each call)."""
    torch.manual_seed(0)
    model, data = torch.nn.Linear(3, 2), torch.rand(N, 3)
    return attribute_dataset("ig", model, data, out, target=1, batch_size=BS, progress=False)


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    """A finished run."""
    out = tmp_path / "run"
    assert _attribute(out).complete
    return out


def _edit_manifest(out: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # the four
    "batch_size 0": (
        _set("settings", "batch_size", value=0),
        "settings.batch_size must be an int >= 1, got 0",
    ),
    "inputs removed": (
        _drop("settings", "inputs"),
        "settings.inputs must be an object, it is missing",
    ),
    "dtype ../../x": (
        _set("settings", "inputs", "dtypes", value=["../../x"]),
        "settings.inputs.dtypes[0] must be one of bool, complex128",
    ),
    "n_examples '6'": (
        _set("settings", "n_examples", value="6"),
        "settings.n_examples must be an int >= 1, got '6'",
    ),
    # and their neighbours
    "n_examples true": (
        _set("settings", "n_examples", value=True),
        "settings.n_examples must be an int >= 1, got True",
    ),
    "n_examples 2**70": (
        _set("settings", "n_examples", value=2**70),
        "settings.n_examples must be an int >= 1, got 1180591620717411303424",
    ),
    "negative size": (
        _set("settings", "inputs", "shapes", value=[[-3]]),
        "settings.inputs.shapes[0][0] must be an int >= 0, got -3",
    ),
    "huge record": (
        _set("settings", "inputs", "shapes", value=[[2**40]]),
        "settings.inputs.shapes must be shapes of at most 2147483647 bytes per example",
    ),
    "two shapes, one input": (
        _set("settings", "inputs", "shapes", value=[[3], [3]]),
        "settings.inputs.shapes must be a list of one shape",
    ),
    "dtypes short": (
        _set("settings", "inputs", "dtypes", value=[]),
        "settings.inputs.dtypes must be a list of 1 dtype name(s), got []",
    ),
    "was_tuple 'no'": (
        _set("settings", "inputs", "was_tuple", value="no"),
        "settings.inputs.was_tuple must be true or false, got 'no'",
    ),
    "settings a list": (_set("settings", value=[1]), "settings must be an object, got [1]"),
    "method removed": (
        _drop("settings", "method"),
        "settings.method must be a string, it is missing",
    ),
    "environment a string": (_set("environment", value="x"), "environment must be an object"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_hand_edited_manifest_is_a_damaged_run_naming_the_field(run: Path, edit: str) -> None:
    change, message = EDITS[edit]
    _edit_manifest(run, change)
    for read in (
        lambda: load_attributions(run),
        lambda: load_attributions(run, allow_incomplete=True),
        lambda: merge(run),
    ):
        with pytest.raises(DamagedRunError) as info:
            read()
        text = str(info.value)
        assert text.startswith(f"{run / 'manifest.json'} is damaged: ") and message in text
        assert "\n" not in text
    assert not (run / "merged").exists()


@pytest.mark.parametrize(
    "content",
    [b"[" * 200_000, b"\xff\xfe not text", b"[1, 2]", b'{"format": "idgrad-dataset/2"}'],
    ids=["deep", "not UTF-8", "a list", "no settings"],
)
def test_a_manifest_that_is_not_one_is_a_damaged_run(run: Path, content: bytes) -> None:
    (run / "manifest.json").write_bytes(content)
    with pytest.raises(DamagedRunError) as info:
        load_attributions(run)
    assert str(run / "manifest.json") in str(info.value)


def test_a_resume_into_a_damaged_run_says_so(run: Path) -> None:
    _edit_manifest(run, _set("settings", "batch_size", value=0))
    with pytest.raises(DamagedRunError, match="settings.batch_size must be an int >= 1"):
        _attribute(run)


def test_a_renamed_block_is_not_done(run: Path) -> None:
    """000000001.npy renamed to 1.npy: block 1 is reported as not done (allow_incomplete),
    or named as missing; the other blocks read as written; a resume recomputes it."""
    reference = load_attributions(run)
    (run / "blocks" / "000000001.npy").rename(run / "blocks" / "1.npy")
    res = load_attributions(run, allow_incomplete=True)
    assert res.ok.tolist() == [True, True, False, False, True, True]
    assert res.errors == {2: "not done", 3: "not done"}
    keep = np.array([0, 1, 4, 5])
    assert np.array_equal(res.attributions[keep], reference.attributions[keep])
    assert np.isnan(res.attributions[2:4]).all()
    with pytest.raises(IncompleteRunError, match="1 of 3 blocks are not done .first: block 1,"):
        load_attributions(run)
    again = _attribute(run)
    assert again.complete and again.blocks_written == 1
    assert (run / "blocks" / "1.npy").exists()  # not ours by name: left alone


def test_a_folder_named_like_a_block_is_not_done(run: Path) -> None:
    block = run / "blocks" / "000000002.npy"
    block.unlink()
    block.mkdir()
    res = load_attributions(run, allow_incomplete=True)
    assert res.ok.tolist() == [True] * 4 + [False] * 2


def test_a_manifest_that_claims_a_huge_run_is_refused_before_allocating(run: Path) -> None:
    """2**62 examples in blocks of one: the missing blocks are named at once (not after
    looping over 2**62 blocks), merge makes no file, and reading what is there says how
    much memory the claim needs."""
    _edit_manifest(run, _set("settings", "n_examples", value=2**62))
    _edit_manifest(run, _set("settings", "batch_size", value=1))
    start = time.perf_counter()
    with pytest.raises(IncompleteRunError, match=f"{2**62 - 3} of {2**62} blocks are not done"):
        load_attributions(run)
    with pytest.raises(IncompleteRunError):
        merge(run)
    assert time.perf_counter() - start < 5
    assert not (run / "merged").exists()
    with pytest.raises(MemoryError, match="its manifest says 4611686018427387904 examples"):
        load_attributions(run, allow_incomplete=True)


def test_reading_a_run_writes_nothing(run: Path) -> None:
    import shutil

    shutil.rmtree(run / "blocks")
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(IncompleteRunError):
        load_attributions(run)
    assert sorted(p.name for p in run.iterdir()) == before


def _rewrite_sidecar(out: Path, block: int, change: Callable[[dict[str, Any]], None]) -> None:
    path = out / "blocks" / f"{block:09d}.json"
    sidecar = json.loads(path.read_text())
    change(sidecar)
    path.write_text(json.dumps(sidecar))


@pytest.mark.parametrize(
    "change",
    [
        _set("errors", value={"abc": "x"}),
        _set("errors", value={"2": 3}),
        _set("errors", value=[]),
        _set("bytes", value=True),
        _set("inputs", value=7),
    ],
    ids=["error key", "error message", "errors a list", "bytes a bool", "inputs digest"],
)
def test_a_crafted_sidecar_is_a_damaged_block(run: Path, change: Any) -> None:
    _rewrite_sidecar(run, 1, change)
    with pytest.raises(DamagedBlockError, match="block 1 .* sidecar 000000001.json is missing or"):
        load_attributions(run)
    res = load_attributions(run, allow_incomplete=True)
    assert res.ok.tolist() == [True, True, False, False, True, True]


def test_merged_arrays_must_have_the_manifests_shapes(run: Path) -> None:
    """A merged array replaced together with its checksum (a crafted run, not a bit flip):
    its shape and dtype are checked against the manifest too."""
    merge(run)
    path = run / "merged" / "attributions.npy"
    np.save(path, np.zeros((N, 5), np.float32))
    sums = json.loads((run / "merged" / "checksums.json").read_text())
    sums["attributions.npy"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (run / "merged" / "checksums.json").write_text(json.dumps(sums))
    wrong = r"attributions.npy has dtype float32 and shape \(6, 5\), the manifest says float32"
    with pytest.raises(DamagedBlockError, match=wrong):
        load_attributions(run, mmap=True)
    errors = run / "merged" / "errors.json"
    np.save(path, np.zeros((N, 3), np.float32))
    errors.write_text('["not", "a", "dict"]')
    sums["attributions.npy"] = hashlib.sha256(path.read_bytes()).hexdigest()
    sums["errors.json"] = hashlib.sha256(errors.read_bytes()).hexdigest()
    (run / "merged" / "checksums.json").write_text(json.dumps(sums))
    with pytest.raises(DamagedBlockError, match=r"errors.json is not \{index: message\}"):
        merge(run)


def test_npy_data_whose_header_claims_more_than_the_file_holds(tmp_path: Path) -> None:
    """Data and labels are mapped before they are read: a header that declares 80 GB in a
    file of 160 bytes is one ValueError naming the file, never a MemoryError."""
    from idgrad.dataset import ArrayDataset

    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    labels = tmp_path / "labels.npy"
    np.save(labels, np.zeros(4, np.int64))
    raw = labels.read_bytes()
    labels.write_bytes(raw.replace(b"(4,), }" + b" " * 10, b"(10000000000,), }"))
    assert len(labels.read_bytes()) == len(raw)
    for data, lab in ((tmp_path / "x.npy", labels), (labels, None)):
        with pytest.raises(ValueError, match="labels.npy: mmap length is greater than file size"):
            ArrayDataset.from_npy(data, labels=lab)
    (tmp_path / "short.npy").write_bytes(b"\x93NUMPY\x01\x00")
    with pytest.raises(ValueError, match="short.npy: EOF"):
        ArrayDataset.from_npy(tmp_path / "short.npy")
    ok = ArrayDataset.from_npy(tmp_path / "x.npy", labels=None)
    assert len(ok) == 4
