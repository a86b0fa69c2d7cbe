"""Dataset-scale attribution: streaming, resume after a kill, sharding, faults, CLI."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import dataset_job
import hostile
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import idgrad
from idgrad.cli import main as cli_main
from idgrad.dataset import (
    ArrayDataset,
    BatchAttributor,
    DamagedBlockError,
    DatasetError,
    DatasetItemError,
    ImageFolderDataset,
    IncompleteRunError,
    InputsChangedError,
    ResumeMismatchError,
    attribute_dataset,
    load_attributions,
    merge,
)
from idgrad.dataset import store as store_module
from idgrad.ops.extras import install_hint

JOB = Path(dataset_job.__file__)
REPO = JOB.parent.parent
N, BS = dataset_job.N_EXAMPLES, dataset_job.BATCH_SIZE


def _block_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "blocks").glob("*.npy"))}


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-for-bit: the same block files, hence the same arrays."""
    assert _block_bytes(a) == _block_bytes(b)
    ra, rb = load_attributions(a), load_attributions(b)
    assert np.array_equal(ra.attributions, rb.attributions, equal_nan=True)
    assert np.array_equal(ra.delta, rb.delta, equal_nan=True)
    assert np.array_equal(ra.target, rb.target) and np.array_equal(ra.ok, rb.ok)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """Every run here with one thread, as in the subprocesses: bit-for-bit comparisons
    hold for a fixed thread count (a BLAS may split sums differently with more)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted single-process run of the job."""
    out = tmp_path_factory.mktemp("reference")
    run = dataset_job.run(str(out))
    assert run.complete and run.blocks_written == N // BS
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    env["MASTER_ADDR"] = "127.0.0.1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Items(Dataset):  # type: ignore[type-arg]
    """The job's images, with chosen indices broken (raising, or a wrong shape, or NaN)."""

    def __init__(self, broken: dict[int, str] | None = None, log: list[int] | None = None) -> None:
        self.base = dataset_job.SlowImages()
        self.broken = broken or {}
        self.log = log

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> Any:
        if self.log is not None:
            self.log.append(i)
        x, y = self.base[i]
        kind = self.broken.get(i)
        if kind == "missing":
            raise FileNotFoundError(f"item-{i}.png")
        if kind == "shape":
            x = x[:, :5]
        if kind == "nan":
            x = x.clone()
            x[0, 0, 0] = float("nan")
        return x, y


def _run(out: Path, data: Any = None, method: Any = "idg", model: Any = None, **kwargs: Any) -> Any:
    """The job's run (IDG, labels, blocks of BS, 8 steps) with the changes given."""
    kwargs.setdefault("target", "label")
    kwargs.setdefault("batch_size", BS)
    kwargs.setdefault("method_kwargs", dataset_job.METHOD_KWARGS)
    return attribute_dataset(
        method,
        model if model is not None else dataset_job.model(),
        data if data is not None else Items(),
        out,
        progress=False,
        **kwargs,
    )


# ---------------------------------------------------------------------- results


def test_results_equal_the_method_called_per_block(reference: Path) -> None:
    res = load_attributions(reference)
    data = dataset_job.SlowImages()
    model = dataset_job.model()
    for start in range(0, N, BS):
        x, y = data.x[start : start + BS], data.y[start : start + BS]
        det = idgrad.integrated_decision_gradients.details(model, x, target=y, n_steps=8)
        attr, delta = det.attributions, det.delta
        assert np.array_equal(res.attributions[start : start + BS], attr.numpy())
        assert np.array_equal(res.delta[start : start + BS], delta.double().numpy())
    assert np.array_equal(res.target, data.y.numpy()) and np.array_equal(res.indices, np.arange(N))
    assert res.ok.all() and res.errors == {}
    index = json.loads((reference / "index.json").read_text())
    assert index["complete"] and index["n_done"] == N and index["n_failed"] == 0


def test_method_by_function_equals_by_name(reference: Path, tmp_path: Path) -> None:
    _run(tmp_path, method=idgrad.integrated_decision_gradients)
    assert_same_run(reference, tmp_path)


@pytest.mark.parametrize(
    "options",
    [
        {"schedule": "uniform", "rule": "riemann_trapezoid"},
        {"schedule": "pilot", "rule": "gausslegendre", "n_pilot_steps": 3},
        {"schedule": "graded", "n_steps": 20},
        {"rtol": 1e-3, "max_evaluations": 64},
    ],
)
def test_the_schedule_and_rule_are_the_methods_and_recorded(
    options: dict[str, Any], tmp_path: Path
) -> None:
    kwargs = {"n_steps": 6, **options} if "rtol" not in options else options
    attribute_dataset(
        "idg",
        _classifier(),
        X5,
        tmp_path,
        target=0,
        batch_size=5,
        method_kwargs=kwargs,
        progress=False,
    )
    res = load_attributions(tmp_path)
    want = idgrad.integrated_decision_gradients.details(_classifier(), X5, target=0, **kwargs)
    assert np.array_equal(res.attributions, want.attributions.numpy())
    assert np.array_equal(res.delta, want.delta.numpy())
    assert res.manifest["settings"]["method_kwargs"] == kwargs


def test_the_deprecated_registry_names_warn_and_give_the_same_run(tmp_path: Path) -> None:
    for old, schedule in (("idg-pilot", "pilot"), ("idg-uniform", "uniform")):
        with pytest.warns(
            DeprecationWarning, match=f"'{old}' is deprecated.*schedule='{schedule}'"
        ):
            attribute_dataset(
                old,
                _classifier(),
                X5,
                tmp_path / old,
                target=0,
                batch_size=2,
                method_kwargs={"n_steps": 6},
                progress=False,
            )
        attribute_dataset(
            "idg",
            _classifier(),
            X5,
            tmp_path / schedule,
            target=0,
            batch_size=2,
            method_kwargs={"n_steps": 6, "schedule": schedule},
            progress=False,
        )
        a, b = load_attributions(tmp_path / old), load_attributions(tmp_path / schedule)
        assert np.array_equal(a.attributions, b.attributions)
        assert np.array_equal(a.delta, b.delta)


def test_dataloader_with_workers_and_arrays(reference: Path, tmp_path: Path) -> None:
    loader = DataLoader(Items(), batch_size=BS, num_workers=1, shuffle=True)  # sampler ignored
    _run(tmp_path / "a", loader, batch_size=None)  # the DataLoader's batch size
    assert_same_run(reference, tmp_path / "a")
    base = dataset_job.SlowImages()
    _run(tmp_path / "b", base.x.numpy(), target=base.y.numpy())
    assert_same_run(reference, tmp_path / "b")


def test_several_inputs_give_several_attribution_arrays(tmp_path: Path) -> None:
    class TwoInputs(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.stack([(a * b).sum(1), (a**2).sum(1) - b.sum(1)], 1)

    a, b = torch.rand(7, 3, dtype=torch.float64), torch.rand(7, 3, dtype=torch.float64)
    attribute_dataset(
        "ig",
        TwoInputs(),
        ArrayDataset(a, b),
        tmp_path,
        target=1,
        batch_size=3,
        method_kwargs={"n_steps": 4},
        progress=False,
    )
    res = load_attributions(tmp_path)
    want = idgrad.integrated_gradients(TwoInputs(), (a, b), target=1, n_steps=4)
    assert isinstance(res.attributions, tuple) and len(res.attributions) == 2
    for got, w in zip(res.attributions, want):
        np.testing.assert_allclose(got, w.numpy(), rtol=0, atol=1e-12)
    merged = merge(tmp_path)
    assert isinstance(merged.attributions[0], np.memmap)
    assert np.array_equal(merged.attributions[1], res.attributions[1])


# ---------------------------------------------------------------------- resume


def test_resume_after_sigkill_is_bit_identical(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, str(JOB), str(out), "--delay", "0.1", "--threads", "1"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(list((out / "blocks").glob("*.npy"))) < 2:
            assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the job wrote no blocks in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(list((out / "blocks").glob("*.npy")))
    assert 2 <= done_before < N // BS, "killed too late to test a resume"
    assert not (out / "index.json").exists()
    with pytest.raises(IncompleteRunError, match="not done"):
        load_attributions(out)
    run = dataset_job.run(str(out))
    assert run.blocks_skipped == done_before and run.blocks_written == N // BS - done_before
    assert run.complete
    assert not list((out / "blocks").glob(".*.tmp"))  # a killed writer's temporary is cleaned
    assert_same_run(reference, out)


def test_interrupted_write_is_never_marked_done(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = store_module._commit

    def commit(tmp: Path, final: Path) -> None:
        if final.name == "000000003.npy":
            assert tmp.stat().st_size > 0  # the data are written, only the commit is missing
            raise OSError(28, "No space left on device")
        real_commit(tmp, final)

    monkeypatch.setattr(store_module, "_commit", commit)
    with pytest.raises(OSError, match="No space left"):
        _run(tmp_path, Items({13: "missing"}), skip_errors=True)
    assert sorted(p.name for p in (tmp_path / "blocks").iterdir()) == sorted(
        [f"{b:09d}.{ext}" for b in range(3) for ext in ("npy", "json")] + ["000000003.json"]
    )  # block 3 not done: its sidecar is committed first, its records never
    monkeypatch.setattr(store_module, "_commit", real_commit)

    real_save = np.save

    def half_save(fh: Any, arr: np.ndarray, **kw: Any) -> None:  # disk full halfway through
        fh.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.np, "save", half_save)
    with pytest.raises(OSError, match="No space left"):
        _run(tmp_path)
    monkeypatch.setattr(store_module.np, "save", real_save)
    assert len(list((tmp_path / "blocks").glob("*.npy"))) == 3  # and no temporary left behind
    assert not list((tmp_path / "blocks").glob(".*"))
    run = _run(tmp_path)  # the data are fixed now
    assert run.blocks_skipped == 3 and run.complete
    assert_same_run(reference, tmp_path)
    # the uncommitted attempt's error messages did not survive the commit of block 3
    assert json.loads((tmp_path / "blocks" / "000000003.json").read_text())["errors"] == {}
    assert load_attributions(tmp_path).errors == {}


def test_resume_with_other_settings_is_refused(reference: Path, tmp_path: Path) -> None:
    _run(tmp_path)
    changed = {
        "method_kwargs.n_steps": {"method_kwargs": {"n_steps": 9}},
        "batch_size": {"batch_size": 5},
        "target": {"target": 0},
        "baselines": {"baselines": 0.5},
    }
    for key, kwargs in changed.items():
        with pytest.raises(ResumeMismatchError, match=key.replace(".", r"\.")):
            _run(tmp_path, **kwargs)
    other_model = dataset_job.model()
    with torch.no_grad():
        other_model.head.bias.add_(1.0)
    with pytest.raises(ResumeMismatchError, match="model"):
        _run(tmp_path, model=other_model)
    with pytest.raises(ResumeMismatchError, match="method"):
        _run(tmp_path, method="ig")
    assert_same_run(reference, tmp_path)  # nothing was touched
    run = _run(tmp_path, batch_size=5, resume=False)  # start over
    assert run.blocks_skipped == 0 and run.blocks_written == N // 5
    assert load_attributions(tmp_path).manifest["settings"]["batch_size"] == 5


# ---------------------------------------------------------------------- several processes


def test_torchrun_two_processes_equal_one(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(JOB),
        str(out),
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rank 0/2: wrote 5 blocks" in proc.stdout and "rank 1/2: wrote 5 blocks" in proc.stdout
    assert json.loads((out / "index.json").read_text())["complete"]
    assert load_attributions(out).manifest["environment"]["world_size"] == 2
    assert_same_run(reference, out)


def test_independent_shards_and_a_changed_world_size(reference: Path, tmp_path: Path) -> None:
    first = _run(tmp_path, rank=1, world_size=3)  # e.g. one job of a scheduler's array
    assert first.blocks_written == 3 and first.complete is False
    with pytest.raises(IncompleteRunError):
        load_attributions(tmp_path)
    partial = load_attributions(tmp_path, allow_incomplete=True)
    assert partial.ok.sum() == 3 * BS and np.isnan(partial.delta[~partial.ok]).all()
    second = _run(tmp_path, rank=0, world_size=2)
    third = _run(tmp_path, rank=1, world_size=2)
    assert (second.blocks_skipped, third.blocks_skipped) == (1, 2)  # blocks 1, 4, 7 were done
    assert third.complete
    assert_same_run(reference, tmp_path)


# ---------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "FileNotFoundError: item-13.png"),
        ("shape", r"shape \(2, 5, 6\), expected \(2, 6, 6\)"),
        ("nan", "NaN or Inf"),
    ],
)
def test_bad_item_raises_with_its_index_and_keeps_earlier_blocks(
    reference: Path, tmp_path: Path, kind: str, message: str
) -> None:
    with pytest.raises(DatasetItemError, match=f"example 13: .*{message}") as info:
        _run(tmp_path, Items({13: kind}))
    assert info.value.index == 13
    assert sorted(p.name for p in (tmp_path / "blocks").glob("*.npy")) == [
        f"{b:09d}.npy" for b in range(3)
    ]  # blocks before the bad one are kept
    run = _run(tmp_path)  # fixed data: resume finishes the run
    assert run.blocks_skipped == 3
    assert_same_run(reference, tmp_path)


def test_skip_errors_records_failures_and_goes_on(reference: Path, tmp_path: Path) -> None:
    loader = DataLoader(Items({5: "missing", 6: "shape", 30: "nan"}), batch_size=BS, num_workers=1)
    run = _run(tmp_path, loader, batch_size=None, skip_errors=True)
    assert run.examples_failed == 3 and run.complete
    res = load_attributions(tmp_path)
    assert sorted(res.errors) == [5, 6, 30] and "item-5.png" in res.errors[5]
    assert not res.ok[[5, 6, 30]].any() and res.ok.sum() == N - 3
    assert np.isnan(res.attributions[[5, 6, 30]]).all() and (res.target[[5, 6, 30]] == -1).all()
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["n_failed"] == 3 and "NaN" in index["failed"]["30"]
    ref = load_attributions(reference)
    # examples in blocks without failures are bit-identical; the others match to rounding
    # (their block was one call with fewer rows).
    clean = np.ones(N, bool)
    clean[4:8] = clean[28:32] = False
    assert np.array_equal(res.attributions[clean], ref.attributions[clean])
    np.testing.assert_allclose(
        res.attributions[res.ok], ref.attributions[res.ok], rtol=1e-5, atol=1e-6
    )


def test_model_failing_on_one_example_is_found(tmp_path: Path) -> None:
    class Picky(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if (x[:, 0] > 99).any():
                raise RuntimeError("cannot handle this input")
            return x * 2

    x = torch.rand(9, 2, dtype=torch.float64)
    x[4, 0] = 100.0
    with pytest.raises(DatasetItemError, match="example 4: RuntimeError: cannot handle") as info:
        attribute_dataset("ig", Picky(), x, tmp_path / "a", target=1, batch_size=3, progress=False)
    assert info.value.index == 4
    run = attribute_dataset(
        "ig", Picky(), x, tmp_path / "b", target=1, batch_size=3, skip_errors=True, progress=False
    )
    assert run.examples_failed == 1
    res = load_attributions(tmp_path / "b")
    assert list(res.errors) == [4] and res.ok.sum() == 8
    np.testing.assert_allclose(res.attributions[res.ok][:, 1], 2 * x[res.ok.tolist()][:, 1].numpy())


class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        return iter(torch.rand(4, 2, 6, 6))


def test_bad_arguments(tmp_path: Path) -> None:
    model, x = dataset_job.model(), torch.rand(4, 2, 6, 6)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        attribute_dataset("nope", model, x, tmp_path)
    with pytest.raises(ValueError, match="may not set"):
        attribute_dataset("ig", model, x, tmp_path, method_kwargs={"target": 1})
    with pytest.raises(ValueError, match="takes no argument 'n_stepz'"):
        attribute_dataset("ig", model, x, tmp_path, method_kwargs={"n_stepz": 1})
    with pytest.raises(ValueError, match="carry no label"):
        attribute_dataset("ig", model, x, tmp_path, target="label")
    with pytest.raises(ValueError, match="2 entries for a dataset of 4"):
        attribute_dataset("ig", model, x, tmp_path, target=[0, 1])
    with pytest.raises(TypeError, match="map-style"):
        attribute_dataset("ig", model, Stream(), tmp_path)
    with pytest.raises(TypeError, match="floating-point"):
        attribute_dataset(
            "ig", model, [torch.ones(2, 6, 6, dtype=torch.int64)] * 4, tmp_path, target=0
        )
    with pytest.raises(FileNotFoundError, match="no idgrad dataset run"):
        load_attributions(tmp_path / "nothing")
    with pytest.raises(DatasetError, match="no example"):
        attribute_dataset(
            "ig",
            model,
            Items({i: "missing" for i in range(N)}),
            tmp_path / "x",
            target=0,
            skip_errors=True,
            progress=False,
        )


# ---------------------------------------------------------------------- bounded memory


def test_streams_one_block_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item i is read only after block i // BS - 1 is on disk; each write is one block."""
    events: list[tuple[str, int]] = []
    data = Items()
    original_get = Items.__getitem__

    def get(self: Items, i: int) -> Any:
        events.append(("read", i))
        return original_get(self, i)

    real_write = store_module.BlockStore.write_block

    def write(self: Any, block: int, records: np.ndarray, errors: Any = None, **kw: Any) -> None:
        assert records.shape == (BS,)  # never more than one block of records
        events.append(("write", block))
        real_write(self, block, records, errors, **kw)

    monkeypatch.setattr(Items, "__getitem__", get)
    monkeypatch.setattr(store_module.BlockStore, "write_block", write)
    _run(tmp_path, data)
    written = -1
    for kind, value in events:
        if kind == "write":
            assert value == written + 1
            written = value
        elif value >= BS:  # the probe reads item 0 first; after that, strictly by block
            assert value // BS <= written + 1, (
                f"item {value} read before block {written + 1} was written"
            )
    assert written == N // BS - 1


# ---------------------------------------------------------------------- CLI


def _script(model: torch.nn.Module, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is what the CLI takes
        torch.jit.save(torch.jit.script(model), str(path))


def _dataset_argv(*options: str | Path) -> list[str]:
    """``idgrad dataset`` arguments: a string may hold several words, a path is one."""
    words = [w for o in options for w in (o.split() if isinstance(o, str) else [str(o)])]
    return ["dataset", *words]


@pytest.fixture()
def cli_files(tmp_path: Path) -> dict[str, Path]:
    data = dataset_job.SlowImages()
    model_path = tmp_path / "model.pt"
    _script(dataset_job.model(), model_path)
    x_path, y_path = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x_path, data.x.numpy())
    np.save(y_path, data.y.numpy())
    return {"model": model_path, "x": x_path, "y": y_path, "dir": tmp_path}


def test_cli_npy_matches_the_function(
    reference: Path, cli_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli_files["dir"] / "out"
    model, x, y = cli_files["model"], cli_files["x"], cli_files["y"]
    argv = _dataset_argv("--model", model, "--data", x, "--labels", y, "--out", out)
    argv += f"--target label --method idg --steps 8 --batch-size {BS} --no-progress".split()
    assert cli_main(argv) == 0
    assert "wrote 10 blocks (40 examples, 0 failed)" in capsys.readouterr().out
    assert np.array_equal(
        load_attributions(out).attributions, load_attributions(reference).attributions
    )
    assert cli_main(argv) == 0  # resumes: nothing to do
    assert "wrote 0 blocks" in capsys.readouterr().out
    assert cli_main([*argv, "--steps", "9"]) == 2
    err = capsys.readouterr().err  # the listing of what changed, on the one line
    assert err.count("\n") == 1 and "refusing to resume" in err
    assert "method_kwargs.n_steps: 8 -> 9" in err
    assert cli_main([*argv, "--steps", "9", "--no-resume"]) == 0
    assert load_attributions(out).manifest["settings"]["method_kwargs"] == {"n_steps": 9}


def test_cli_exported_program(reference: Path, cli_files: dict[str, Path]) -> None:
    program = torch.export.export(
        dataset_job.model(),
        (torch.rand(2, 2, 6, 6),),
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    torch.export.save(program, str(cli_files["dir"] / "model.pt2"))
    out = cli_files["dir"] / "out"
    model, x, y = cli_files["dir"] / "model.pt2", cli_files["x"], cli_files["y"]
    argv = _dataset_argv("--model", model, "--data", x, "--target", y, "--out", out)
    argv += f"--steps 8 --batch-size {BS} --no-progress".split()
    assert cli_main(argv) == 0
    np.testing.assert_allclose(
        load_attributions(out).attributions,
        load_attributions(reference).attributions,
        rtol=1e-5,
        atol=1e-6,
    )


def test_cli_image_folder_corrupt_file(
    cli_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    root = cli_files["dir"] / "images"
    rng = np.random.default_rng(0)
    for name in ["cat", "dog"]:
        (root / name).mkdir(parents=True)
        for k in range(3):
            img = (rng.random((6, 6)) * 255).astype(np.uint8)
            Image.fromarray(img, mode="L").save(root / name / f"{k}.png")
    (root / "dog" / "1.png").write_bytes(b"not a png")  # example 4
    _script(
        dataset_job.SmallCNN(in_channels=1, n_classes=2, width=2, dtype=torch.float32).eval(),
        cli_files["dir"] / "gray.pt",
    )
    argv = _dataset_argv("--model", cli_files["dir"] / "gray.pt", "--data", root)
    argv += ["--out", str(cli_files["dir"] / "img")]
    argv += "--grayscale --target label --steps 4 --batch-size 2 --no-progress".split()
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "example 4 (dog/1.png):" in err and "--skip-errors" in err
    assert cli_main([*argv, "--skip-errors"]) == 0
    res = load_attributions(cli_files["dir"] / "img")
    assert list(res.errors) == [4] and res.attributions.shape == (6, 1, 6, 6)
    assert res.target.tolist() == [0, 0, 0, 1, -1, 1]


def test_cli_user_errors(cli_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    d = cli_files["dir"]
    model, x = cli_files["model"], cli_files["x"]
    cases = [
        (["--model", d / "missing.pt", "--data", x], "model file not found"),
        (["--model", x, "--data", x], "not a model file idgrad reads"),
        (["--model", model, "--data", d / "none.npy"], "data .* does not exist"),
        (["--model", model, "--data", model], "image folder or .npy"),
        (["--model", model, "--data", x, "--target best"], "--target must be"),
        (["--model", model, "--data", x, "--target label"], "carry no label"),
        (["--model", model, "--data", x, "--labels", model], "cannot read the data"),
    ]
    import re

    for args, pattern in cases:
        assert cli_main(_dataset_argv(*args, "--no-progress --out", d / "o")) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("idgrad: error: ") and re.search(pattern, err), err


# ---------------------------------------------------------------------- engines' batch callable


def test_batch_attributor_matches_attribute_dataset(reference: Path, tmp_path: Path) -> None:
    """The callable of the Ray Data recipe (``map_batches``), without Ray."""
    data = dataset_job.SlowImages()
    attributor = BatchAttributor(
        "idg", dataset_job.model, target="label", method_kwargs={"n_steps": 8}, device="cpu"
    )
    ref = load_attributions(reference)
    for start in range(0, N, BS):
        rows = slice(start, start + BS)
        out = attributor(
            {
                "index": np.arange(N)[rows],
                "input": data.x[rows].numpy(),
                "label": data.y[rows].numpy(),
            }
        )
        assert np.array_equal(out["attributions"], ref.attributions[rows])
        assert np.array_equal(out["delta"], ref.delta[rows])
        assert np.array_equal(out["target"], ref.target[rows])
        assert np.array_equal(out["index"], np.arange(N)[rows])
    path = tmp_path / "model.pt"
    _script(dataset_job.model(), path)
    from_file = BatchAttributor("idg", str(path), target=0, method_kwargs={"n_steps": 8})
    out = from_file({"input": data.x[:2].numpy()})
    assert out["attributions"].shape == (2, 2, 6, 6) and out["target"].tolist() == [0, 0]


# ---------------------------------------------------------------------- what is ours


def _all_block_files(out: Path) -> dict[str, bytes]:
    """Every file in out/blocks (records and sidecars), by name."""
    return {p.name: p.read_bytes() for p in sorted((out / "blocks").iterdir())}


@pytest.mark.parametrize("resume", [True, False])
def test_a_folder_that_is_not_an_idgrad_run_is_never_cleared(tmp_path: Path, resume: bool) -> None:
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "mine.txt").write_text("user data")
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "model.ckpt").write_text("more user data")
    with pytest.raises(ValueError, match="not an idgrad run") as info:
        _run(tmp_path, resume=resume)
    assert "resume=False" not in str(info.value)  # starting over is not the way out
    assert (tmp_path / "blocks" / "mine.txt").read_text() == "user data"
    assert (tmp_path / "merged" / "model.ckpt").read_text() == "more user data"
    assert not (tmp_path / "manifest.json").exists()
    (tmp_path / "manifest.json").write_text('{"format": "someone-else/3"}')
    with pytest.raises(ValueError, match="not an idgrad run's manifest"):
        _run(tmp_path, resume=resume)
    assert (tmp_path / "manifest.json").read_text() == '{"format": "someone-else/3"}'


def test_starting_over_deletes_only_our_files(reference: Path, tmp_path: Path) -> None:
    _run(tmp_path, rank=0, world_size=3)  # an unfinished run
    merge_dir = tmp_path / "merged"
    merge_dir.mkdir()
    (merge_dir / "notes.txt").write_text("keep me")
    (tmp_path / "blocks" / "README").write_text("keep me too")
    (tmp_path / "plots").mkdir()
    run = _run(tmp_path, resume=False)
    assert run.blocks_skipped == 0 and run.complete
    assert (merge_dir / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "blocks" / "README").read_text() == "keep me too"
    assert (tmp_path / "plots").is_dir()
    assert _block_bytes(tmp_path) == _block_bytes(reference)


def test_a_run_of_the_older_format_is_ours_but_not_resumed(tmp_path: Path) -> None:
    _run(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format"] = "idgrad-dataset/1"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="older idgrad without block checksums"):
        _run(tmp_path)
    assert _run(tmp_path, resume=False).blocks_written == N // BS


# ---------------------------------------------------------------------- checksums


def _flip(path: Path, offset: int = -3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "sidecar lost"])
def test_a_damaged_block_is_refused_on_load_and_recomputed_on_resume(
    reference: Path, tmp_path: Path, damage: str
) -> None:
    _run(tmp_path)
    block = tmp_path / "blocks" / "000000004.npy"
    if damage == "flipped byte":
        size = block.stat().st_size
        _flip(block)
        assert block.stat().st_size == size  # same size: only a checksum can tell
    elif damage == "truncated":
        block.write_bytes(block.read_bytes()[:-100])
    else:
        (tmp_path / "blocks" / "000000004.json").unlink()
    with pytest.raises(DamagedBlockError, match="block 4 .* is damaged"):
        load_attributions(tmp_path)
    partial = load_attributions(tmp_path, allow_incomplete=True)
    assert not partial.ok[16:20].any() and partial.ok.sum() == N - BS
    assert "damaged" in partial.errors[16]
    with pytest.warns(RuntimeWarning, match="1 finished block"):
        run = _run(tmp_path)
    assert run.damaged_blocks == (4,) and run.blocks_written == 1 and run.complete
    assert _all_block_files(tmp_path) == _all_block_files(reference)
    assert load_attributions(tmp_path).ok.all()


def test_merged_arrays_are_verified_when_read(reference: Path, tmp_path: Path) -> None:
    _run(tmp_path)
    first = merge(tmp_path)
    assert np.array_equal(first.attributions, load_attributions(reference).attributions)
    del first
    _flip(tmp_path / "merged" / "attributions.npy")
    with pytest.raises(DamagedBlockError, match="merged array .* is missing or not the one"):
        load_attributions(tmp_path, mmap=True)


# ---------------------------------------------------------------------- changed data


class Changed(Dataset):  # type: ignore[type-arg]
    """The job's images with example 21 (block 5) altered, or its label."""

    def __init__(self, what: str = "input") -> None:
        self.base = dataset_job.SlowImages()
        self.what = what

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> Any:
        x, y = self.base[i]
        if i == 21 and self.what == "input":
            x = x.clone()
            x[0, 0, 0] += 0.25
        if i == 21 and self.what == "label":
            y = (y + 1) % 3
        return x, y


@pytest.mark.parametrize("what", ["input", "label"])
def test_changed_examples_are_refused_on_resume_or_recomputed(
    reference: Path, tmp_path: Path, what: str
) -> None:
    out = tmp_path / "run"
    _run(out)
    before = _all_block_files(out)
    with pytest.raises(InputsChangedError, match=r"block 5: examples 20\.\.23") as info:
        _run(out, Changed(what))
    assert info.value.blocks == (5,)
    assert _all_block_files(out) == before  # refused before any work
    run = _run(out, Changed(what), changed_inputs="recompute")
    assert run.changed_blocks == (5,) and run.blocks_written == 1
    fresh = tmp_path / "fresh"
    _run(fresh, Changed(what))
    assert _all_block_files(out) == _all_block_files(fresh)
    assert _run(out, Changed(what)).blocks_written == 0  # the new inputs are now recorded


def test_labels_do_not_count_when_they_are_not_the_target(tmp_path: Path) -> None:
    _run(tmp_path, target=0)
    assert _run(tmp_path, Changed("label"), target=0).blocks_written == 0


# ---------------------------------------------------------------------- faults inside a write


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
@pytest.mark.parametrize(
    "kill_at",
    [
        "000000005.npy:fsync",
        "000000005.npy:rename",
        "000000005.json:fsync",
        "000000005.json:rename",
    ],
)
def test_kill_inside_a_block_write_then_resume_is_byte_identical(
    reference: Path, tmp_path: Path, kill_at: str
) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, str(JOB), str(out), "--kill-at", kill_at]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    name, point = kill_at.split(":")
    temporaries = list((out / "blocks").glob(".*.tmp"))
    assert [t.name.split(".")[1:3] for t in temporaries] == [name.split(".")]  # mid-write
    assert sorted(p.name for p in (out / "blocks").glob("*.npy")) == [
        f"{b:09d}.npy" for b in range(5)
    ]  # block 5 not done
    run = dataset_job.run(str(out))
    assert run.blocks_skipped == 5 and run.blocks_written == N // BS - 5 and run.complete
    assert run.damaged_blocks == () and not list((out / "blocks").glob(".*.tmp"))
    assert _all_block_files(out) == _all_block_files(reference)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_full_disk_inside_a_block_write_then_resume_is_byte_identical(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    real_write = store_module._write_atomic

    def full_disk(final: Path, write: Any) -> None:
        if final.name != "000000006.npy":
            return real_write(final, write)

        def half(fh: Any) -> None:
            if where == "write":
                fh.write(b"\x93NUMPY half a block")
                raise OSError(errno.ENOSPC, "No space left on device")
            write(fh)

        if where == "fsync":
            monkeypatch.setattr(
                store_module.os,
                "fsync",
                lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")),
            )
        try:
            return real_write(final, half)
        finally:
            monkeypatch.undo()

    monkeypatch.setattr(store_module, "_write_atomic", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _run(tmp_path)
    monkeypatch.undo()
    assert len(list((tmp_path / "blocks").glob("*.npy"))) == 6
    assert not list((tmp_path / "blocks").glob(".*.tmp"))  # the half-written file is gone
    run = _run(tmp_path)
    assert run.blocks_skipped == 6 and run.complete
    assert _all_block_files(tmp_path) == _all_block_files(reference)


# ---------------------------------------------------------------------- image folders


def _png(path: Path, seed: int, size: tuple[int, int] = (6, 6)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random(size) * 255).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(path)


def test_images_beside_class_folders_are_not_dropped_silently(tmp_path: Path) -> None:
    for k in range(5):
        _png(tmp_path / f"{k}.png", k)
    _png(tmp_path / "thumbs" / "0.png", 9, (3, 3))
    with pytest.raises(ValueError, match=r"5 images at its top level .* sub-folders \(thumbs\)"):
        ImageFolderDataset(tmp_path)
    assert (
        cli_main(
            [
                "dataset",
                "--model",
                "unused.pt",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )


def test_image_folder_uses_every_image_of_a_class_folder(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "a.png", 0)
    _png(tmp_path / "cat" / "more" / "b.png", 1)  # nested: still a cat
    _png(tmp_path / "dog" / "c.PNG", 2)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    _png(tmp_path / ".cache" / "d.png", 3)  # hidden: not part of the dataset
    ds = ImageFolderDataset(tmp_path, mode="L")
    assert ds.classes == ["cat", "dog"]
    assert [(p.name, c) for p, c in ds.samples] == [("a.png", 0), ("b.png", 0), ("c.PNG", 1)]
    x, y = ds[0]
    assert x.shape == (1, 6, 6) and 0 <= float(x.min()) and float(x.max()) <= 1 and y == 0


def test_missing_pillow_is_one_set_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _png(tmp_path / "imgs" / "a.png", 0)
    _png(tmp_path / "imgs" / "b.png", 1)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ImportError, match=re.escape(install_hint("images"))):
        ImageFolderDataset(tmp_path / "imgs")
    argv = ["dataset", "--model", "m.pt", "--data", str(tmp_path / "imgs"), "--out"]
    assert cli_main([*argv, str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and install_hint("images") in err
    assert "--skip-errors" not in err and not (tmp_path / "o").exists()


# ---------------------------------------------------------------------- target and version


class Scalar(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x**2).sum(1)


def test_target_none_means_one_scalar_per_example(tmp_path: Path) -> None:
    x = torch.rand(6, 3, dtype=torch.float64)
    attribute_dataset("ig", Scalar(), x, tmp_path / "a", batch_size=4, progress=False)
    res = load_attributions(tmp_path / "a")
    want = idgrad.integrated_gradients(Scalar(), x, target=None)
    np.testing.assert_allclose(res.attributions, want.numpy(), rtol=0, atol=1e-12)
    assert (res.target == -1).all()
    with pytest.raises(ValueError, match="one scalar per example, but the model's output per"):
        attribute_dataset("ig", torch.nn.Linear(3, 2), x.float(), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="needs a classifier output of shape"):
        attribute_dataset("ig", Scalar(), x, tmp_path / "c", target="predicted", progress=False)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()  # before any work


# ---------------------------------------------------------------------- one target vocabulary


def _classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).double().eval()


X5 = torch.rand(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))


def _dataset_run(out: Path, data: Any = X5, model: Any = None, **kwargs: Any) -> Any:
    attribute_dataset(
        "ig",
        model if model is not None else _classifier(),
        data,
        out,
        batch_size=2,
        method_kwargs={"n_steps": 4},
        progress=False,
        **kwargs,
    )
    return load_attributions(out)


@pytest.mark.parametrize(
    ("target", "explained"),
    [
        (-1, [2] * 5),
        ([2], [2] * 5),  # one element: for every example
        (torch.tensor([-1]), [2] * 5),
        (np.array([2]), [2] * 5),
        (torch.tensor(2), [2] * 5),
        ([0, -1, 1, -3, 2], [0, 2, 1, 0, 2]),  # one per example, negatives from the end
        (np.array([[0], [2], [1], [0], [-2]]), [0, 2, 1, 0, 1]),  # (N, 1)
        (torch.tensor([1, 1, 0, 2, -1]), [1, 1, 0, 2, 2]),
    ],
)
def test_targets_mean_what_they_mean_in_the_methods(
    tmp_path: Path, target: Any, explained: list[int]
) -> None:
    """The runner passes, slices and records every form as the methods read it."""
    res = _dataset_run(tmp_path, target=target)
    want = idgrad.integrated_gradients(_classifier(), X5, target=torch.tensor(explained), n_steps=4)
    np.testing.assert_allclose(res.attributions, want.numpy(), rtol=0, atol=1e-12)
    direct = idgrad.integrated_gradients(_classifier(), X5, target=target, n_steps=4)
    np.testing.assert_allclose(res.attributions, direct.numpy(), rtol=0, atol=1e-12)
    assert res.target.tolist() == explained  # the class explained, counted from the start


@pytest.mark.parametrize(
    "target",
    [
        True,
        np.array([True, False, True, False, True]),
        torch.tensor([True]),
        np.array([0.0, 1.0, 2.0, 0.0, 1.0]),
        torch.tensor([1.0]),
        3,
        -4,
        [0, 0, 0, 0, 5],
        (0, 1),  # more indices than the output has axes
        [0, 1],  # neither one per example nor one for every example
    ],
)
def test_bad_targets_get_the_methods_errors_before_any_work(tmp_path: Path, target: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as from_method:
        idgrad.integrated_gradients(_classifier(), X5, target=target, n_steps=4)
    with pytest.raises(type(from_method.value)) as from_runner:
        _dataset_run(tmp_path / "out", target=target)
    same = str(from_method.value).replace("a batch of", "a dataset of")
    assert str(from_runner.value) == same
    assert not (tmp_path / "out").exists()


def test_label_is_the_runners_word_for_the_datasets_labels(tmp_path: Path) -> None:
    labels = np.array([0, -1, 2, 1, -3])  # negative labels count from the end, as targets do
    res = _dataset_run(tmp_path / "a", data=ArrayDataset(X5.numpy(), labels=labels), target="label")
    assert res.target.tolist() == [0, 2, 2, 1, 0]
    want = idgrad.integrated_gradients(_classifier(), X5, target=labels.tolist(), n_steps=4)
    np.testing.assert_allclose(res.attributions, want.numpy(), rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="labels must be integer classes, got dtype bool"):
        ArrayDataset(X5.numpy(), labels=np.array([True, False, True, False, True]))
    floats = [(x, float(i % 3)) for i, x in enumerate(X5)]  # items with float labels
    with pytest.raises(TypeError, match="target='label' needs one integer class .*float"):
        _dataset_run(tmp_path / "b", data=floats, target="label")
    with pytest.raises(TypeError, match="or 'label' .*; got the string 'labels'"):
        _dataset_run(tmp_path / "c", target="labels")
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_a_label_out_of_range_fails_its_own_example(tmp_path: Path) -> None:
    data = ArrayDataset(X5.numpy(), labels=np.array([0, 1, 7, 2, 1]))
    with pytest.raises(DatasetItemError, match="example 2: .*out of range") as info:
        _dataset_run(tmp_path / "a", data=data, target="label")
    assert info.value.index == 2
    res = _dataset_run(tmp_path / "b", data=data, target="label", skip_errors=True)
    assert list(res.errors) == [2] and res.target.tolist() == [0, 1, -1, 2, 1]


def test_batch_attributor_reads_targets_as_the_methods_do() -> None:
    batch = {"input": X5.numpy(), "label": np.array([0, -1, 2, 1, -3])}
    for target, explained in ((-1, [2] * 5), ([2], [2] * 5), ("label", [0, 2, 2, 1, 0])):
        attributor = BatchAttributor(
            "ig", _classifier(), target=target, method_kwargs={"n_steps": 4}, device="cpu"
        )
        out = attributor(batch)
        want = idgrad.integrated_gradients(
            _classifier(), X5, target=torch.tensor(explained), n_steps=4
        )
        np.testing.assert_allclose(out["attributions"], want.numpy(), rtol=0, atol=1e-12)
        assert out["target"].tolist() == explained
    predicted = BatchAttributor("ig", _classifier(), method_kwargs={"n_steps": 4}, device="cpu")
    assert predicted(batch)["target"].tolist() == _classifier()(X5).argmax(1).tolist()
    with pytest.raises(TypeError, match="target array holds bools"):
        BatchAttributor("ig", _classifier(), target=np.array([True]))
    with pytest.raises(ValueError, match="5 entries, but these batches come without"):
        BatchAttributor("ig", _classifier(), target=[0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="out of range for axis 0 of size 3"):
        BatchAttributor("ig", _classifier(), target=3, method_kwargs={"n_steps": 4})(batch)


def test_cli_targets_mean_what_they_mean_in_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_path = tmp_path / "model.pt"
    _script(_classifier(), model_path)
    np.save(tmp_path / "x.npy", X5.numpy())
    base = ["dataset", "--model", str(model_path), "--data", str(tmp_path / "x.npy")]
    base += ["--method", "ig", "--steps", "4", "--batch-size", "2", "--no-progress"]
    files = {
        "one.npy": np.array([-1]),
        "per.npy": np.array([0, -1, 1, -3, 2]),
        "column.npy": np.array([[0], [2], [1], [0], [-2]]),
        "bools.npy": np.array([True, False, True, False, True]),
        "floats.npy": np.zeros(5),
        "short.npy": np.array([0, 1]),
        "labels.npy": np.array([0, -1, 2, 1, -3]),
        "bool-labels.npy": np.array([True, False, True, False, True]),
    }
    for name, values in files.items():
        np.save(tmp_path / name, values)
    for target, explained in [
        ("-1", [2] * 5),
        ("one.npy", [2] * 5),
        ("per.npy", [0, 2, 1, 0, 2]),
        ("column.npy", [0, 2, 1, 0, 1]),
    ]:
        argv = [*base, "--target", str(tmp_path / target) if "." in target else target]
        assert main_ok(argv + ["--out", str(tmp_path / f"o-{target}")], capsys)
        res = load_attributions(tmp_path / f"o-{target}")
        want = idgrad.integrated_gradients(
            _classifier(), X5, target=torch.tensor(explained), n_steps=4
        )
        np.testing.assert_allclose(res.attributions, want.numpy(), rtol=1e-6, atol=1e-7)
        assert res.target.tolist() == explained
    labelled = [*base, "--labels", str(tmp_path / "labels.npy"), "--target", "label"]
    assert main_ok(labelled + ["--out", str(tmp_path / "o-label")], capsys)
    assert load_attributions(tmp_path / "o-label").target.tolist() == [0, 2, 2, 1, 0]
    for argv, message in [
        ([*base, "--target", str(tmp_path / "bools.npy")], "target tensor holds bools"),
        ([*base, "--target", str(tmp_path / "floats.npy")], "must hold integers"),
        ([*base, "--target", str(tmp_path / "short.npy")], "(5,) or (5, depth) for a dataset of 5"),
        ([*base, "--target", "3"], "out of range for axis 0 of size 3"),
        ([*base, "--target", "-4"], "target index -4 is out of range"),
        (
            [*base, "--labels", str(tmp_path / "bool-labels.npy"), "--target", "label"],
            "labels must be integer classes, got dtype bool",
        ),
    ]:
        assert cli_main([*argv, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not (tmp_path / "bad").exists()


def main_ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> bool:
    code = cli_main(argv)
    err = capsys.readouterr().err
    assert code == 0, err
    return True


def test_manifest_records_the_installed_version(reference: Path) -> None:
    import importlib.metadata

    manifest = load_attributions(reference).manifest
    assert manifest["settings"]["idgrad"] == importlib.metadata.version("idgrad")


# ---------------------------------------------------------------------- hostile files


def test_hostile_run_files_are_refused_without_unpickling(tmp_path: Path) -> None:
    """A block file holding pickled objects (with a matching sidecar), a manifest that is a
    pickle, and .npy data or labels with pickled objects: refused, nothing runs."""
    import hashlib

    marker = tmp_path / "marker"
    out = tmp_path / "run"
    _run(out)
    block = out / "blocks" / "000000002.npy"
    hostile.object_npy(block, marker)  # same name; the sidecar made to match it
    sidecar = json.loads((out / "blocks" / "000000002.json").read_text())
    sidecar.update(sha256=hashlib.sha256(block.read_bytes()).hexdigest())
    sidecar.update(bytes=block.stat().st_size)
    (out / "blocks" / "000000002.json").write_text(json.dumps(sidecar))
    with pytest.raises(DamagedBlockError, match="not a records array"):
        load_attributions(out)
    (out / "manifest.json").write_bytes(hostile.pickle_payload(marker))
    with pytest.raises(ValueError, match="not an idgrad-dataset/2 manifest"):
        load_attributions(out)
    data = hostile.object_npy(tmp_path / "x.npy", marker)
    with pytest.raises(ValueError, match="x.npy: .*Python objects"):
        ArrayDataset.from_npy(data)
    np.save(tmp_path / "ok.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="x.npy: .*allow_pickle"):
        ArrayDataset.from_npy(tmp_path / "ok.npy", labels=data)
    assert not marker.exists()


# ---------------------------------------------------------------------- CLI: loading, early checks


def test_cli_output_folder_is_checked_before_any_work(
    cli_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d = cli_files["dir"]
    argv = ["dataset", "--model", str(cli_files["model"]), "--data", str(cli_files["x"])]
    (d / "a-file").write_text("x")
    for out, message in [
        (d / "a-file", "is a file; give a folder"),
        (d / "a-file" / "sub", "a-file is a file, not a folder"),
    ]:
        assert cli_main([*argv, "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    # no file can be created under /proc, as root too: found by trying (it raised
    # FileNotFoundError from deep inside the run before)
    assert cli_main([*argv, "--out", "/proc/idgrad-run", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out /proc/idgrad-run: cannot create files in /proc" in err


def test_cli_state_dict_with_factory(
    reference: Path,
    cli_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = cli_files["dir"]
    (d / "job_factory.py").write_text(
        "import dataset_job\ndef make():\n    return dataset_job.model()\n"
    )
    monkeypatch.syspath_prepend(str(d))
    torch.save(dataset_job.model().state_dict(), d / "weights.pt")
    argv = ["dataset", "--model", str(d / "weights.pt"), "--factory", "job_factory:make"]
    argv += ["--data", str(cli_files["x"]), "--labels", str(cli_files["y"]), "--target", "label"]
    argv += ["--steps", "8", "--batch-size", str(BS), "--out", str(d / "sd"), "--no-progress"]
    assert cli_main(argv) == 0
    assert _block_bytes(d / "sd") == _block_bytes(reference)
    sys.modules.pop("job_factory", None)
    assert cli_main([*argv[:2], str(cli_files["model"]), *argv[3:]]) == 2  # TorchScript + factory
    assert "a factory is only for a state dict" in capsys.readouterr().err


def test_cli_image_options_do_not_apply_to_arrays(
    cli_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["dataset", "--model", str(cli_files["model"]), "--data", str(cli_files["x"])]
    assert cli_main([*argv, "--normalize", "imagenet", "--out", str(cli_files["dir"] / "o")]) == 2
    assert "--normalize apply to an image folder" in capsys.readouterr().err


def test_targets_on_the_device(tmp_path: Path, device: torch.device) -> None:
    """The model and a target tensor on the device; the records on the host."""
    model = _classifier().to(device)
    want_classes = model(X5.to(device)).argmax(1).tolist()
    per = torch.tensor([0, 2, 1, 0, 2], device=device)
    cases = [(per, per.tolist()), (torch.tensor([-1], device=device), [2] * 5)]
    for k, (target, explained) in enumerate([*cases, ("predicted", want_classes)]):
        res = _dataset_run(tmp_path / str(k), model=model, target=target)
        want = idgrad.integrated_gradients(model, X5.to(device), target=target, n_steps=4)
        np.testing.assert_allclose(res.attributions, want.cpu().numpy(), rtol=0, atol=1e-12)
        assert res.target.tolist() == explained


# ---------------------------------------------------------------------- set-up errors, once


class _Counting(torch.nn.Module):
    """A classifier that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _classifier()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("skip_errors", [False, True])
@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method_kwargs": {"rule": "riemann_middle"}}, "rule= is for schedule='uniform' or"),
        ({"method_kwargs": {"schedule": "pilot", "rtol": 0.01}}, "rtol needs the graded schedule"),
        ({"baselines": float("nan")}, "baselines is nan; it must be finite"),
        ({"method_kwargs": {"internal_batch_size": 0}}, "internal_batch_size must be >= 1"),
        ({"baselines": torch.zeros(3, 4)}, "baselines has shape (3, 4)"),
    ],
)
def test_a_set_up_error_raises_before_the_first_block(
    options: dict[str, Any], message: str, skip_errors: bool, batch_size: int, tmp_path: Path
) -> None:
    """The reported case: every example failed and the run said complete=True."""
    model = _Counting()
    out = tmp_path / "run"
    with pytest.raises(ValueError) as info:
        attribute_dataset(
            "idg",
            model,
            X5,
            out,
            target=0,
            batch_size=batch_size,
            skip_errors=skip_errors,
            progress=False,
            **options,
        )
    text = str(info.value)
    assert message in text and "set-up error" in text, text
    assert "example 0" not in text and "--skip-errors" not in text
    assert model.calls == 1  # the target's check on the first example; no attribution
    assert not out.exists()  # nothing written


def test_the_set_up_check_reaches_the_model_for_every_registered_method() -> None:
    """With valid options each method's checks pass and it stops at its first evaluation."""
    from idgrad.dataset.runner import check_method_options
    from idgrad.methods.registry import METHODS, get_method

    for name in sorted(METHODS):  # AGI wants 20 false classes: 30 outputs
        check_method_options(get_method(name), (X5[:1],), False, torch.tensor([1]), None, {})
    with pytest.raises(TypeError, match="set-up error.*n_step"):
        check_method_options(get_method("ig"), (X5[:1],), False, 0, None, {"n_step": 3})


def test_batch_attributor_checks_the_options_on_its_first_batch() -> None:
    batch = {"index": np.arange(2), "input": X5[:2].numpy()}
    kwargs = {"schedule": "graded", "rule": "riemann_middle"}  # the graded schedule picks its rules
    attributor = BatchAttributor("idg", _classifier(), target=0, method_kwargs=kwargs)
    for _ in range(2):  # still checked on the next batch: nothing was attributed
        with pytest.raises(ValueError, match="set-up error.*graded schedule chooses its own"):
            attributor(batch)


# ---------------------------------------------------------------------- which file each row is


def _folder(root: Path) -> list[str]:
    names = ["cat/a.png", "cat/b.png", "dog/deep/c.png", "dog/d.png", "dog/e.png"]
    for k, name in enumerate(names):
        _png(root / name, k)
    return sorted(names[:2]) + sorted(names[2:])


def _gray_cnn() -> torch.nn.Module:
    return dataset_job.SmallCNN(in_channels=1, n_classes=2, width=2, dtype=torch.float32).eval()


def test_an_image_folder_run_says_which_file_each_row_came_from(tmp_path: Path) -> None:
    expected = _folder(tmp_path / "imgs")
    data = ImageFolderDataset(tmp_path / "imgs", mode="L")
    assert data.example_names == [
        "cat/a.png",
        "cat/b.png",
        "dog/d.png",
        "dog/deep/c.png",
        "dog/e.png",
    ]
    assert sorted(data.example_names) == sorted(expected)
    out = tmp_path / "run"
    kwargs: dict[str, Any] = {"target": "label", "batch_size": 2, "progress": False}
    attribute_dataset("ig", _gray_cnn(), data, out, method_kwargs={"n_steps": 4}, **kwargs)
    res = load_attributions(out)
    assert res.names == tuple(data.example_names)
    assert res.classes == ("cat", "cat", "dog", "dog", "dog")
    assert res.target.tolist() == [0, 0, 1, 1, 1]  # the labels, by class sub-folder
    merged = merge(out)
    assert merged.names == res.names and merged.classes == res.classes
    again = attribute_dataset(
        "ig", _gray_cnn(), data, out, method_kwargs={"n_steps": 4}, **kwargs
    )  # a resume with the same files: nothing to do
    assert again.blocks_skipped == 3 and again.blocks_written == 0
    arrays = attribute_dataset(
        "ig",
        _gray_cnn(),
        torch.rand(3, 1, 6, 6),
        tmp_path / "plain",
        target=0,
        method_kwargs={"n_steps": 4},
        progress=False,
    )
    assert arrays.complete and load_attributions(tmp_path / "plain").names is None


def test_a_renamed_file_or_a_changed_names_file_is_noticed(tmp_path: Path) -> None:
    _folder(tmp_path / "imgs")
    out = tmp_path / "run"

    def run(**extra: Any) -> Any:
        data = ImageFolderDataset(tmp_path / "imgs", mode="L")
        return attribute_dataset(
            "ig",
            _gray_cnn(),
            data,
            out,
            target="label",
            batch_size=2,
            progress=False,
            method_kwargs={"n_steps": 4},
            **extra,
        )

    run()
    examples = out / "examples.json"
    text = examples.read_text(encoding="utf-8")
    examples.write_text(text.replace("cat/a.png", "cat/z.png"), encoding="utf-8")
    with pytest.raises(DamagedBlockError, match="examples.json is not the file the run wrote"):
        load_attributions(out)
    run()  # a resume with the same files writes it again
    assert examples.read_text(encoding="utf-8") == text and load_attributions(out).names
    (tmp_path / "imgs" / "cat" / "b.png").rename(tmp_path / "imgs" / "cat" / "bb.png")
    with pytest.raises(ResumeMismatchError, match=r"examples\.sha256"):
        run()
    run(resume=False)  # starting over clears the old run, its names file included
    assert "cat/bb.png" in load_attributions(out).names
    attribute_dataset(
        "ig",
        _classifier(),
        X5,
        out,
        target=0,
        progress=False,
        resume=False,
        method_kwargs={"n_steps": 4},
    )
    assert not examples.exists() and load_attributions(out).names is None


def test_a_size_mismatch_names_the_file_and_the_fix(tmp_path: Path) -> None:
    _png(tmp_path / "imgs" / "a.png", 0)
    _png(tmp_path / "imgs" / "b.png", 1, (7, 6))
    data = ImageFolderDataset(tmp_path / "imgs", mode="L")
    with pytest.raises(DatasetItemError) as info:
        attribute_dataset(
            "ig",
            _gray_cnn(),
            data,
            tmp_path / "run",
            target=0,
            batch_size=2,
            progress=False,
            method_kwargs={"n_steps": 4},
        )
    text = str(info.value)
    assert text.startswith("example 1 (b.png): ValueError: input has shape (1, 7, 6)")
    assert "--image-size H W" in text and info.value.name == "b.png"
    sized = ImageFolderDataset(tmp_path / "imgs", mode="L", size=(6, 6))
    assert sized.shape_hint is None
    attribute_dataset(
        "ig",
        _gray_cnn(),
        sized,
        tmp_path / "ok",
        target=0,
        batch_size=2,
        progress=False,
        method_kwargs={"n_steps": 4},
    )
    assert load_attributions(tmp_path / "ok").ok.all()


def test_example_names_must_be_one_string_per_example(tmp_path: Path) -> None:
    class Named(ArrayDataset):
        example_names = ["only one"]

    with pytest.raises(TypeError, match="example_names must be 5 strings"):
        attribute_dataset(
            "ig", _classifier(), Named(X5.numpy()), tmp_path / "r", target=0, progress=False
        )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["index.json", "examples.json"])
def test_a_foreign_file_of_a_run_name_is_not_replaced(name: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text("mine")
    with pytest.raises(ValueError, match=f"holds {name} but no idgrad manifest"):
        _dataset_run(tmp_path, target=0)
    assert (tmp_path / name).read_text() == "mine" and not (tmp_path / "manifest.json").exists()
