"""The pieces of ``benchmarks/paper_imagenet.py`` on a stand-in model and generated images.

The real protocol needs ImageNet and torchvision weights; here a three-class "colour"
classifier and a temporary folder of small PNG/JPEG images stand in for them.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks import paper_imagenet as pi

SIZE = 16
WNIDS = ["n00000003", "n00000001", "n00000002"]  # class-index order (not sorted on purpose)


class ColourNet(nn.Module):
    """Class c = the dominant colour channel c (a smooth, non-linear stand-in classifier)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(6.0), requires_grad=False)
        self.calls_with_grad = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.calls_with_grad += 1
        m = x.mean((2, 3))
        return self.scale * torch.tanh(m) + 0.5 * (x[:, :, :4, :4] ** 2).mean((2, 3))


def _grad_calls(spec: pi.ModelSpec) -> int:
    model = spec.model
    assert isinstance(model, ColourNet)
    return model.calls_with_grad


def _spec() -> pi.ModelSpec:
    return pi.ModelSpec("colour", ColourNet().eval(), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def _image(colour: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 90, (SIZE, SIZE, 3))
    img[..., colour] += 160
    return img.clip(0, 255).astype(np.uint8)


# (folder index in WNIDS order, true colour of the image, file name); class index = WNIDS.index
_FILES = [
    (0, 0, "ILSVRC2012_val_00000001.png"),
    (1, 1, "ILSVRC2012_val_00000002.png"),
    (0, 1, "ILSVRC2012_val_00000003.png"),  # mislabelled: looks like class 1
    (0, 0, "ILSVRC2012_val_00000004.JPEG"),
    (0, 0, "ILSVRC2012_val_00000005.png"),  # class 0 already has 2: not selected
    (2, 2, "ILSVRC2012_val_00000006.png"),
    (1, 1, "ILSVRC2012_val_00000007.png"),
]


def _write(path: Path, colour: int, seed: int) -> None:
    from PIL import Image

    Image.fromarray(_image(colour, seed)).save(path, quality=95)


@pytest.fixture
def val_folder(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "val"
    for i, (folder, colour, name) in enumerate(_FILES):
        d = root / WNIDS[folder]
        d.mkdir(parents=True, exist_ok=True)
        _write(d / name, colour, i)
    index = tmp_path / "wnids.txt"
    index.write_text("\n".join(WNIDS) + "\n")
    return root, index


def _protocol(**kw: object) -> pi.Protocol:
    base: dict[str, object] = {
        "n_steps": 4,
        "agi_max_iter": 3,
        "pixels_per_step": 32,
        "blur_kernel": 3,
        "blur_sigma": 1.0,
    }
    base.update(kw)
    return pi.Protocol(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ layouts


def test_folder_layout_maps_wnids_through_the_class_index(val_folder: tuple[Path, Path]) -> None:
    root, index = val_folder
    recs = pi.list_imagenet_val(root, class_index=index)
    assert [Path(r.image).name for r in recs] == [name for _, _, name in _FILES]  # file-name order
    assert [r.label for r in recs] == [folder for folder, _, _ in _FILES]
    with pytest.raises(ValueError, match="class-index"):
        pi.list_imagenet_val(root)  # 3 wnids, no index: cannot be mapped


def test_flat_layouts_select_the_same_records(
    tmp_path: Path, val_folder: tuple[Path, Path]
) -> None:
    root, index = val_folder
    flat = tmp_path / "flat"
    flat.mkdir()
    lines, kaggle = [], ["ImageId,PredictionString"]
    for r in pi.list_imagenet_val(root, class_index=index):
        (flat / Path(r.image).name).write_bytes(r.path.read_bytes())
        wnid = Path(r.image).parent.name
        lines.append(f"{Path(r.image).stem} {wnid}")
        kaggle.append(f"{Path(r.image).stem},{wnid} 1 2 3 4")
    (tmp_path / "labels.txt").write_text("\n".join(lines))
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(kaggle))
    folder = [(Path(r.image).name, r.label) for r in pi.list_imagenet_val(root, class_index=index)]
    for labels in ("labels.txt", "LOC_val_solution.csv"):
        got = pi.list_imagenet_val(flat, tmp_path / labels, index)
        assert [(r.image, r.label) for r in got] == folder
    # class indices given as numbers need no index file
    (tmp_path / "numeric.txt").write_text("\n".join(f"{Path(n).stem} {lab}" for n, lab in folder))
    assert [
        (r.image, r.label) for r in pi.list_imagenet_val(flat, tmp_path / "numeric.txt")
    ] == folder
    (flat / "ILSVRC2012_val_00000099.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no label"):
        pi.list_imagenet_val(flat, tmp_path / "labels.txt", index)


def test_load_image_shapes(val_folder: tuple[Path, Path]) -> None:
    root, index = val_folder
    path = pi.list_imagenet_val(root, class_index=index)[0].path
    for mode in ("squash", "crop"):
        x = pi.load_image(path, 8, mode)
        assert x.shape == (3, 8, 8) and x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    with pytest.raises(ValueError, match="resize"):
        pi.load_image(path, 8, "stretch")


# ------------------------------------------------------------------------------------ selection


class _Rec:
    def __init__(self, image: str, label: int, pred: int) -> None:
        self.image, self.label, self.pred = image, label, pred


def test_select_correct_keeps_correct_images_at_most_k_per_class() -> None:
    labels = [0, 0, 0, 0, 1, 1, 2, 2, 2, 0]
    preds = [0, 1, 0, 0, 1, 0, 2, 2, 2, 0]
    recs = [_Rec(f"im{i}", lab, p) for i, (lab, p) in enumerate(zip(labels, preds))]
    seen: list[str] = []

    def predict(batch: Sequence[_Rec]) -> list[int]:
        seen.extend(r.image for r in batch)
        return [r.pred for r in batch]

    chosen = pi.select_correct(recs, predict, per_class=2, limit=100, batch_size=1)
    assert [r.image for r, _ in chosen] == ["im0", "im2", "im4", "im6", "im7"]
    assert all(r.label == p for r, p in chosen)
    assert "im9" not in seen and "im8" not in seen  # full classes are not predicted
    limited = pi.select_correct(recs, predict, per_class=2, limit=3, batch_size=4)
    assert [r.image for r, _ in limited] == ["im0", "im2", "im4"]


# ------------------------------------------------------------------------------------ the run


def _run(root: Path, index: Path, out: Path, specs: list[pi.ModelSpec], **kw: object) -> Path:
    def factory() -> pi.ModelSpec:
        spec = _spec()
        specs.append(spec)
        return spec

    protocol = kw.pop("protocol", _protocol())
    return pi.run_protocol(
        {"colour": factory},
        pi.list_imagenet_val(root, class_index=index),
        out,
        protocol=protocol,
        methods=pi.METHODS,
        n_images=10,
        per_class=2,
        size=SIZE,  # type: ignore[arg-type]
        image_batch=2,
        log=lambda s: None,
        **kw,  # type: ignore[arg-type]
    )


def test_run_writes_the_schema_and_resumes(tmp_path: Path, val_folder: tuple[Path, Path]) -> None:
    root, index = val_folder
    out, specs = tmp_path / "out", list[pi.ModelSpec]()
    path = _run(root, index, out, specs)
    with path.open(newline="") as fh:
        assert tuple(next(csv.reader(fh))) == pi.COLUMNS
    rows = pi.read_rows(path)
    images = {r["image"] for r in rows}
    # the mislabelled image and the third class-0 image are not selected
    assert {Path(i).stem[-2:] for i in images} == {"01", "02", "04", "06", "07"}
    assert len(rows) == 5 * len(pi.METHODS)
    assert len({(r["model"], r["image"], r["method"]) for r in rows}) == len(rows)
    for r in rows:
        assert r["label"] == r["predicted"]
        assert 0.0 <= r["insertion"] <= 1.0 and 0.0 <= r["deletion"] <= 1.0
        assert math.isnan(r["sic"]) and math.isnan(r["aic"])  # PIC off
        assert r["n_gradient_evals"] > 0 and r["n_forward_evals"] > 0
    ig = [r for r in rows if r["method"] == "ig"]
    assert {(r["n_gradient_evals"], r["n_forward_evals"]) for r in ig} == {(4, 2)}
    assert _grad_calls(specs[0]) > 0

    # a rerun does nothing: no gradient evaluated, the file unchanged
    before = path.read_text()
    _run(root, index, out, specs)
    assert _grad_calls(specs[1]) == 0
    assert path.read_text() == before

    # an interrupted run (only 3 rows written) is completed, the 3 rows kept as they are
    lines = before.splitlines(keepends=True)
    path.write_text("".join(lines[:4]))
    _run(root, index, out, specs)
    after = path.read_text().splitlines(keepends=True)
    assert after[:4] == lines[:4] and len(after) == len(lines)

    def results(text: list[str]) -> list[str]:  # every column but the timing
        return sorted(line.rsplit(",", 1)[0] for line in text)

    assert results(after) == results(lines)

    # other settings refuse to mix with the rows already there
    with pytest.raises(ValueError, match="other settings"):
        _run(root, index, out, specs, protocol=_protocol(n_steps=5))


def test_evaluate_batch_counts_and_pic(val_folder: tuple[Path, Path]) -> None:
    root, index = val_folder
    recs = pi.list_imagenet_val(root, class_index=index)[:2]
    pixels = torch.stack([pi.load_image(r.path, SIZE) for r in recs])
    protocol = _protocol(pic=True, steps=(("idg-pilot", 6),))
    rows = pi.evaluate_batch(
        _spec(),
        pixels,
        [r.image for r in recs],
        [r.label for r in recs],
        ["idg-pilot", "left-ig", "agi"],
        protocol,
    )
    counts = {r["method"]: (r["n_gradient_evals"], r["n_forward_evals"]) for r in rows}
    assert counts["idg-pilot"] == (6, 3 + 1)  # 6 gradient points, pilot of 3 intervals
    assert counts["left-ig"] == (4, 2 + 1 + 8)  # pilot of 2 intervals + 8 bisection steps
    g, f = counts["agi"]
    assert 1 <= g <= 2 * 3 + 1 and f in (1, 2)
    assert all(isinstance(r["sic"], float) and isinstance(r["aic"], float) for r in rows)
    assert "SIC ↑" in pi.results_table(rows)


# ------------------------------------------------------------------------------------ tables


def _row(model: str, image: str, method: str, ins: float, dele: float) -> dict[str, object]:
    return {
        "model": model,
        "image": image,
        "method": method,
        "label": 0,
        "predicted": 0,
        "config": "x",
        "n_gradient_evals": 50,
        "n_forward_evals": 2,
        "insertion": ins,
        "deletion": dele,
        "sic": "",
        "aic": "",
        "seconds": 0.0,
    }


def test_table_aggregation_and_paired_comparison() -> None:
    rows = [
        _row("m", "a", "ig", 0.2, 0.10),
        _row("m", "b", "ig", 0.4, 0.30),
        _row("m", "c", "ig", 0.6, 0.20),
        _row("m", "a", "idg-pilot", 0.3, 0.05),
        _row("m", "b", "idg-pilot", 0.5, 0.35),
        _row("m", "c", "idg-pilot", 0.6, 0.10),
    ]
    s = {(x.method, x.metric): x for x in pi.summarize(rows)}
    assert s["ig", "insertion"].n == 3
    assert s["ig", "insertion"].mean == pytest.approx(0.4)
    assert s["ig", "insertion"].se == pytest.approx(0.2 / math.sqrt(3))  # std 0.2
    assert ("ig", "sic") not in s  # no PIC values: no PIC summary
    (ins, dele) = pi.paired_comparison(rows)
    assert (ins["wins"], ins["losses"], ins["ties"]) == (2, 0, 1)
    assert ins["diff_mean"] == pytest.approx(0.2 / 3)
    assert (dele["wins"], dele["losses"], dele["ties"]) == (2, 1, 0)  # lower deletion wins
    assert dele["p"] == pytest.approx(1.0)
    table = pi.results_table(rows)
    assert "| m | IDG (schedule=pilot) | 3 | 52 (50 + 2) | **0.467 ± 0.088** |" in table
    assert "SIC" not in table
    assert "2 / 0 / 1" in pi.paired_table(rows)


def test_results_written_before_the_engine_vocabulary_are_read_in_it(tmp_path: Path) -> None:
    # "idg" was the paper's schedule in these CSVs; today it is "idg-pilot"
    path = tmp_path / "old.csv"
    pi.append_rows(path, [_row("m", "a", "idg", 0.3, 0.05), _row("m", "a", "ig", 0.2, 0.1)])
    assert [r["method"] for r in pi.read_rows(path)] == ["idg-pilot", "ig"]


def test_sign_test() -> None:
    assert pi._sign_test(6, 0) == pytest.approx(2 / 64)
    assert pi._sign_test(0, 0) == 1.0


def test_fingerprint_ignores_batch_sizes() -> None:
    base = pi.Protocol()
    assert (
        base.fingerprint() == pi.Protocol(internal_batch_size=7, metric_batch_size=3).fingerprint()
    )
    assert base.fingerprint() != pi.Protocol(n_steps=49).fingerprint()
    assert pi.Protocol(steps=(("idg-pilot", 41),)).steps_for("idg-pilot") == 41
    assert base.steps_for("agi") == 20


def test_torchvision_models_are_lazy() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        pi.torchvision_model("vgg")
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(ImportError, match="torchvision"):
            pi.torchvision_model("resnet101")
