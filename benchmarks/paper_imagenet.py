"""The IDG paper's evaluation protocol on ImageNet validation images, resumable.

Walker et al. (AAAI 2024, arXiv:2305.20052) compare IDG with IG, Left-IG, Guided IG and AGI
by insertion and deletion (and PIC) on 5000 correctly classified ImageNet validation images
(at most 5 per class) for three torchvision classifiers. This module runs that protocol for a
user who has the validation images and the torchvision weights; it cannot run on the machines
idgrad is developed on (no downloads), so its pieces are tested on a stand-in model and a
folder of generated images (``tests/test_paper_imagenet.py``), and
:mod:`benchmarks.paper_offline` runs the same code on the models and photos that ship offline.

Protocol (defaults of :class:`Protocol`):

* models: ResNet-101 (``IMAGENET1K_V2``), ResNet-152 (``IMAGENET1K_V2``), ResNeXt-101 64x4d
  (``IMAGENET1K_V1``) from torchvision, imported only when one of them is built; any other
  model comes in through a factory returning a :class:`ModelSpec` (``run_protocol(factories=)``);
* images: 224x224 RGB, normalised with the ImageNet mean and std; the first ``n_images``
  (5000) images, in file-name order, that the model classifies correctly, at most
  ``per_class`` (5) per class;
* attribution target: the predicted class (= the label, for the selected images); the raw
  logit is attributed; baseline 0 in normalised space; 50 steps;
* Left-IG: ``alpha*`` at 0.9 of the way from ``F(x')`` to ``F(x)``; Guided IG: fraction 0.5,
  ``max_dist`` 1.0; AGI: ``epsilon`` 0.05 in pixel units (``[0, 1]``, steps clipped there),
  20 iterations, one false class drawn at random per image (seeded by the image id, so the
  same whatever the batch). The IDG authors' code used one false class too (class 0 for
  every image); the runner-up class (``agi_classes="top"``) is a poor choice: one or two
  sign steps reach it, and AGI's path degenerates to a step or two;
* saliency map: ``|sum over channels|`` of the attributions;
* insertion: from the Gaussian-blurred image (kernel 11, sigma 5) towards the image; deletion:
  pixels set to 0 in normalised space; 224 pixels per step, softmax probability of the
  target, trapezoid AUC over the fraction of pixels changed;
* optional PIC (SIC and AIC, PAIR saliency library settings), one AUC per image.

Accepted ImageNet-val layouts (:func:`list_imagenet_val`):

1. ``VAL/<wnid>/<file>.JPEG`` (torchvision ``ImageFolder``, e.g. after the usual ``valprep.sh``):
   class index = position of the wnid among the 1000 sorted wnids (torchvision's indices), or
   the line number of the wnid in a ``--class-index`` file (one wnid per line); folders named
   by integers are taken as class indices.
2. ``VAL/ILSVRC2012_val_00000001.JPEG`` ... (flat) with ``--labels FILE``: either Kaggle's
   ``LOC_val_solution.csv`` (``ImageId,PredictionString``; the first word of the prediction
   string is the wnid) or a text file of ``<file name or stem> <wnid or class index>`` lines.
   (The devkit's ``ILSVRC2012_validation_ground_truth.txt`` uses the devkit's own class ids,
   not torchvision's; convert it to wnids first.)

Both layouts are visited in the order of the file names, so they select the same images.

Output (in ``--out``): ``paper_imagenet.csv``, one row per (model, image, method), appended as
soon as a batch is done; a rerun skips the rows already there (and refuses a CSV written
with other protocol settings); ``selection_<model>_....csv`` caches the selected images;
``paper_imagenet.md`` is the table (mean +- standard error per model and method) and the
paired comparison of IDG (on the paper's pilot schedule) with every other method.

Run: ``python -m benchmarks.paper_imagenet --imagenet /data/imagenet/val --out results/``
(``--help`` for the rest; ``--device cuda`` where there is a GPU).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import importlib
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from idgrad.methods import (
    adversarial_gradient_integration,
    blur_integrated_gradients,
    guided_integrated_gradients,
    integrated_decision_gradients,
    integrated_gradients,
    left_integrated_gradients,
)
from idgrad.metrics import deletion, gaussian_blur, insertion, pic, saliency_map

__all__ = [
    "COLUMNS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "METHODS",
    "TORCHVISION_MODELS",
    "ImageRecord",
    "ModelSpec",
    "Protocol",
    "Summary",
    "append_rows",
    "attribute",
    "done_keys",
    "evaluate_batch",
    "list_imagenet_val",
    "load_image",
    "main",
    "paired_comparison",
    "paired_table",
    "random_false_classes",
    "read_rows",
    "report",
    "results_table",
    "run_protocol",
    "select_correct",
    "summarize",
    "torchvision_model",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

METHODS: tuple[str, ...] = ("ig", "idg-pilot", "left-ig", "guided-ig", "agi")
"""The paper's methods, in table order (``"idg-pilot"`` is IDG on the paper's schedule,
``schedule="pilot"``: a forward-only pilot, midpoints inside its intervals). ``"blur-ig"`` and
``"idg-graded"`` (IDG on idgrad's graded schedule, ``schedule="graded"``, IDG's default: every
point a gradient evaluation) are accepted as extras."""

#: Method names of results written before the engine's vocabulary (``"idg"`` was the
#: paper's schedule), read as today's.
_OLD_NAMES: dict[str, str] = {"idg": "idg-pilot"}

_ALL_METHODS: tuple[str, ...] = (*METHODS, "blur-ig", "idg-graded")

_LABELS: dict[str, str] = {
    "ig": "IG",
    "idg-pilot": "IDG (schedule=pilot)",
    "left-ig": "Left-IG",
    "guided-ig": "Guided IG",
    "agi": "AGI",
    "blur-ig": "Blur IG",
    "idg-graded": "IDG (schedule=graded)",
}

COLUMNS: tuple[str, ...] = (
    "model",
    "image",
    "label",
    "predicted",
    "method",
    "config",
    "n_gradient_evals",
    "n_forward_evals",
    "insertion",
    "deletion",
    "sic",
    "aic",
    "seconds",
)
"""The CSV schema: one row per (model, image, method).

``label`` is the ground-truth class (-1 when unknown), ``predicted`` the class explained,
``config`` a fingerprint of the :class:`Protocol`, ``n_*_evals`` the model evaluations the
method spent on this image (gradient = forward + backward), ``insertion``/``deletion`` the
AUCs, ``sic``/``aic`` the PIC AUCs (empty when PIC is off, ``nan`` when the image is not a
valid PIC example), ``seconds`` the attribution time per image (the batch's time divided by
its size).
"""

TORCHVISION_MODELS: dict[str, tuple[str, str, str]] = {
    "resnet101": ("resnet101", "ResNet101_Weights", "IMAGENET1K_V2"),
    "resnet152": ("resnet152", "ResNet152_Weights", "IMAGENET1K_V2"),
    "resnext101_64x4d": ("resnext101_64x4d", "ResNeXt101_64X4D_Weights", "IMAGENET1K_V1"),
}
"""Model name -> (torchvision builder, weights enum, weights member), as in the paper."""

_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


# --------------------------------------------------------------------------------------------
# Settings and models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """Every setting of the evaluation; the defaults are the IDG paper's.

    ``steps`` overrides ``n_steps`` per method (``(("idg-pilot", 41), ...)``), e.g. for the
    equal-cost runs of :mod:`benchmarks.paper_offline`; for AGI the step count is
    ``agi_max_iter``. Batch sizes do not change results and are left out of
    :meth:`fingerprint`.
    """

    n_steps: int = 50
    steps: tuple[tuple[str, int], ...] = ()
    idg_pilot_steps: int | None = None
    left_ig_fraction: float = 0.9
    left_ig_pilot_steps: int | None = None
    left_ig_refine: int = 8
    guided_ig_fraction: float = 0.5
    guided_ig_max_dist: float = 1.0
    agi_epsilon: float = 0.05
    agi_max_iter: int = 20
    agi_top_k: int = 1
    agi_classes: Literal["random", "top"] = "random"
    blur_ig_max_sigma: float = 50.0
    pixels_per_step: int = 224
    blur_kernel: int = 11
    blur_sigma: float = 5.0
    blur_padding: Literal["reflect", "replicate", "zeros"] = "reflect"
    deletion_value: float = 0.0
    pic: bool = False
    internal_batch_size: int | None = None
    metric_batch_size: int = 64

    def steps_for(self, method: str) -> int:
        """Steps of ``method``: its override, else ``agi_max_iter`` (AGI) or ``n_steps``."""
        override = dict(self.steps)
        if method in override:
            return int(override[method])
        return self.agi_max_iter if method == "agi" else self.n_steps

    def fingerprint(self) -> str:
        """Short hash of every setting that changes results (not the batch sizes)."""
        fields = dataclasses.asdict(self)
        for name in ("internal_batch_size", "metric_batch_size"):
            fields.pop(name)
        fields["steps"] = sorted(fields["steps"])
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass
class ModelSpec:
    """A classifier and the affine map from pixels in ``[0, 1]`` to its input space.

    ``x = (pixels - mean) / std`` per channel. The map is used to load images, to run AGI in
    pixel units (its ``epsilon`` and clipping are defined there) and to give PIC 8-bit images.
    The model must be in eval mode and return ``(N, n_classes)`` logits.
    """

    name: str
    model: nn.Module
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def _shape(self, values: Sequence[float], like: Tensor) -> Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).reshape(1, -1, 1, 1)

    def normalize(self, pixels: Tensor) -> Tensor:
        """Pixels ``(B, C, H, W)`` in ``[0, 1]`` -> model input."""
        return (pixels - self._shape(self.mean, pixels)) / self._shape(self.std, pixels)

    def to_pixels(self, x: Tensor) -> Tensor:
        """Model input -> pixels in ``[0, 1]``."""
        return x * self._shape(self.std, x) + self._shape(self.mean, x)


ModelFactory = Callable[[], ModelSpec]


def torchvision_model(name: str) -> ModelSpec:
    """Build one of :data:`TORCHVISION_MODELS` with its ImageNet weights (eval mode).

    torchvision is imported here, not at module import; the weights are downloaded by
    torchvision into its cache on first use.
    """
    if name not in TORCHVISION_MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(TORCHVISION_MODELS)}")
    try:
        models = importlib.import_module("torchvision.models")
    except ImportError as err:
        raise ImportError(
            "the ImageNet protocol needs torchvision for its models (`pip install torchvision`)"
        ) from err
    builder, enum, member = TORCHVISION_MODELS[name]
    weights = getattr(getattr(models, enum), member)
    model = getattr(models, builder)(weights=weights).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelSpec(name, model, IMAGENET_MEAN, IMAGENET_STD)


class _PixelModel(nn.Module):
    """``model((pixels - mean) / std)``: a classifier seen from pixel space (for AGI)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec

    def forward(self, pixels: Tensor) -> Tensor:
        out: Tensor = self.spec.model(self.spec.normalize(pixels))
        return out


# --------------------------------------------------------------------------------------------
# Attribution and metrics
# --------------------------------------------------------------------------------------------


def _agi_counts(details: Any, batch: int) -> tuple[list[int], list[int]]:
    """Per-image evaluations of AGI from its path lengths.

    Per image: one forward pass at ``x``; per path of ``t`` moves: ``2 t + 1`` gradients if it
    reached its class (one gradient at every point, one more per move), otherwise ``2 t``
    gradients and one forward pass at its end.
    """
    iters, reached = details.n_iterations, details.reached
    grads = (2 * iters + reached.long()).sum(1)
    fwds = 1 + (~reached).long().sum(1)
    g, f = [int(v) for v in grads], [int(v) for v in fwds]
    if sum(g) != details.n_gradient_evals or sum(f) != details.n_forward_evals:
        raise RuntimeError(
            f"AGI evaluation counts do not add up: {sum(g)}/{details.n_gradient_evals} gradient, "
            f"{sum(f)}/{details.n_forward_evals} forward"
        )
    return g, f


def random_false_classes(images: Sequence[str], target: Tensor, n_classes: int, k: int) -> Tensor:
    """``(B, k)`` distinct classes other than ``target``, drawn per image from a generator
    seeded by the image id (CRC-32), so an image gets the same classes in any batch."""
    rows = []
    for image, t in zip(images, target.tolist()):
        gen = torch.Generator().manual_seed(zlib.crc32(image.encode()))
        draw = torch.randperm(n_classes - 1, generator=gen)[:k]
        rows.append(draw + (draw >= t).long())  # skip the target class
    return torch.stack(rows)


def attribute(
    method: str,
    spec: ModelSpec,
    x: Tensor,
    target: Tensor,
    protocol: Protocol,
    false_classes: Tensor | None = None,
) -> tuple[Tensor, list[int], list[int]]:
    """Attributions of ``method`` for the batch ``x`` (model space) and its evaluation counts.

    ``false_classes`` ``(B, k)`` are AGI's classes when ``protocol.agi_classes == "random"``
    (see :func:`random_false_classes`); ignored by the other methods.

    Returns:
        ``(attributions (B, C, H, W), gradient evaluations per image, forward evaluations per
        image)``.
    """
    model, ibs, batch = spec.model, protocol.internal_batch_size, x.shape[0]
    n = protocol.steps_for(method)
    details: Any
    if method == "ig":
        details = integrated_gradients.details(
            model, x, 0.0, target, n_steps=n, internal_batch_size=ibs
        )
    elif method == "idg-pilot":
        details = integrated_decision_gradients.details(
            model,
            x,
            0.0,
            target,
            n_steps=n,
            schedule="pilot",  # the paper's schedule: pilot, midpoints inside
            rule="riemann_middle",
            n_pilot_steps=protocol.idg_pilot_steps,
            internal_batch_size=ibs,
        )
    elif method == "idg-graded":
        details = integrated_decision_gradients.details(
            model, x, 0.0, target, n_steps=n, schedule="graded", internal_batch_size=ibs
        )
    elif method == "left-ig":
        details = left_integrated_gradients.details(
            model,
            x,
            0.0,
            target,
            n_steps=n,
            fraction=protocol.left_ig_fraction,
            n_pilot_steps=protocol.left_ig_pilot_steps,
            n_refine=protocol.left_ig_refine,
            internal_batch_size=ibs,
        )
    elif method == "guided-ig":
        details = guided_integrated_gradients.details(
            model,
            x,
            0.0,
            target,
            n_steps=n,
            fraction=protocol.guided_ig_fraction,
            max_dist=protocol.guided_ig_max_dist,
            internal_batch_size=ibs,
        )
    elif method == "blur-ig":
        details = blur_integrated_gradients.details(
            model,
            x,
            target,
            n_steps=n,
            max_sigma=protocol.blur_ig_max_sigma,
            internal_batch_size=ibs,
        )
    elif method == "agi":
        classes: Any = protocol.agi_classes
        if classes == "random":
            if false_classes is None:
                raise ValueError("agi_classes='random' needs the false classes of the images")
            classes = false_classes
        details = adversarial_gradient_integration.details(
            _PixelModel(spec),
            spec.to_pixels(x),
            target,
            epsilon=protocol.agi_epsilon,
            max_iter=n,
            top_k=protocol.agi_top_k,
            classes=classes,
            clip=(0.0, 1.0),
            internal_batch_size=ibs,
        )
        grads, fwds = _agi_counts(details, batch)
        return details.attributions.detach(), grads, fwds
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(_ALL_METHODS)}")
    per_g, per_f = details.n_gradient_evals // batch, details.n_forward_evals // batch
    return details.attributions.detach(), [per_g] * batch, [per_f] * batch


def _blur(protocol: Protocol) -> Callable[[Tensor], Tensor]:
    def blur(images: Tensor) -> Tensor:
        return gaussian_blur(
            images, protocol.blur_kernel, protocol.blur_sigma, padding=protocol.blur_padding
        )

    return blur


def evaluate_batch(
    spec: ModelSpec,
    pixels: Tensor,
    images: Sequence[str],
    labels: Sequence[int],
    methods: Sequence[str],
    protocol: Protocol,
    done: set[tuple[str, str, str]] | None = None,
    device: torch.device | str | None = None,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Attribute and score a batch of images with every method; one row per (image, method).

    Args:
        spec: the model.
        pixels: ``(B, C, H, W)`` in ``[0, 1]``.
        images: ``B`` image ids; labels: ``B`` classes (-1 when unknown).
        methods: method names (:data:`METHODS`, ``"blur-ig"``).
        protocol: the settings.
        done: ``(model, image, method)`` keys to skip.
        device: where to compute (default: where the model's parameters are).
        on_rows: called with the rows of each method as soon as they exist (to append them
            to the CSV).

    Returns:
        The new rows (dicts with the keys of :data:`COLUMNS`).
    """
    done = done or set()
    if device is None:
        param = next(spec.model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    x = spec.normalize(pixels.to(device))
    with torch.no_grad():
        logits = spec.model(x)
    target = logits.argmax(1)
    false = random_false_classes(images, target.cpu(), logits.shape[1], protocol.agi_top_k)
    config, rows = protocol.fingerprint(), []
    for method in methods:
        keep = [i for i, im in enumerate(images) if (spec.name, im, method) not in done]
        if not keep:
            continue
        sel = torch.tensor(keep, device=x.device)
        xs, ts = x[sel], target[sel]
        start = time.perf_counter()
        attr, grads, fwds = attribute(method, spec, xs, ts, protocol, false[keep])
        seconds = (time.perf_counter() - start) / len(keep)
        sal = saliency_map(attr.to(xs.dtype))
        mbs = protocol.metric_batch_size
        ins = insertion(
            spec.model,
            xs,
            sal,
            ts,
            pixels_per_step=protocol.pixels_per_step,
            substrate=_blur(protocol),
            batch_size=mbs,
        ).auc
        dele = deletion(
            spec.model,
            xs,
            sal,
            ts,
            pixels_per_step=protocol.pixels_per_step,
            substrate=protocol.deletion_value,
            batch_size=mbs,
        ).auc
        sic: list[float | str] = [""] * len(keep)
        aic: list[float | str] = [""] * len(keep)
        if protocol.pic:

            def to_uint8(t: Tensor) -> Tensor:
                return spec.to_pixels(t) * 255.0

            pic_kinds: tuple[tuple[Literal["sic", "aic"], list[float | str]], ...] = (
                ("sic", sic),
                ("aic", aic),
            )
            for kind, values in pic_kinds:
                auc = pic(
                    spec.model,
                    xs,
                    sal,
                    ts,
                    kind=kind,
                    to_uint8=to_uint8,  # type: ignore[arg-type]
                    batch_size=mbs,
                ).auc
                values[:] = [float(v) for v in auc]
        new = []
        for j, i in enumerate(keep):
            new.append(
                {
                    "model": spec.name,
                    "image": images[i],
                    "label": int(labels[i]),
                    "predicted": int(ts[j]),
                    "method": method,
                    "config": config,
                    "n_gradient_evals": grads[j],
                    "n_forward_evals": fwds[j],
                    "insertion": float(ins[j]),
                    "deletion": float(dele[j]),
                    "sic": sic[j],
                    "aic": aic[j],
                    "seconds": seconds,
                }
            )
        if on_rows is not None:
            on_rows(new)
        rows += new
    return rows


# --------------------------------------------------------------------------------------------
# The CSV
# --------------------------------------------------------------------------------------------


def _parse(row: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    out["method"] = _OLD_NAMES.get(row["method"], row["method"])
    for name in ("label", "predicted", "n_gradient_evals", "n_forward_evals"):
        out[name] = int(row[name])
    for name in ("insertion", "deletion", "seconds"):
        out[name] = float(row[name])
    for name in ("sic", "aic"):
        out[name] = _value(row[name])
    return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a results CSV, typed (an absent file has none); checks the header.

    Rows written before the engine's vocabulary name the paper's schedule ``"idg"``: they
    are read as ``"idg-pilot"``.
    """
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path} does not have the columns {', '.join(COLUMNS)}")
        return [_parse(r) for r in reader]


def append_rows(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows to the CSV (writing the header first if the file is new), and flush."""
    new = not path.is_file() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in COLUMNS})
        fh.flush()
        os.fsync(fh.fileno())


def done_keys(
    rows: Iterable[Mapping[str, Any]], config: str, model: str | None = None
) -> set[tuple[str, str, str]]:
    """``(model, image, method)`` of the rows (of ``model`` only, when given).

    Raises ValueError if one of these rows was made with another ``config``.
    """
    keys = set()
    for r in rows:
        if model is not None and r["model"] != model:
            continue
        if r["config"] != config:
            raise ValueError(
                f"the results CSV holds rows made with other settings (config {r['config']}, "
                f"now {config}); write to another --out or remove it"
            )
        keys.add((r["model"], r["image"], r["method"]))
    return keys


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Mean and standard error of one metric of one method on one model."""

    model: str
    method: str
    metric: str
    n: int
    mean: float
    se: float


def _value(v: Any) -> float:
    """A metric value as a float; an empty cell (PIC off) is NaN."""
    return math.nan if v in ("", None) else float(v)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return mean, se


def _order(methods: Iterable[str]) -> list[str]:
    rank = {m: i for i, m in enumerate(_ALL_METHODS)}
    return sorted(set(methods), key=lambda m: (rank.get(m, len(rank)), m))


def _models(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["model"] for r in rows))


def summarize(
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] = ("insertion", "deletion", "sic", "aic"),
) -> list[Summary]:
    """Mean +- standard error (sample std / sqrt(n)) per model, method and metric.

    NaN values (PIC's invalid examples) are left out of their metric; a metric with no value
    for a (model, method) is left out.
    """
    out = []
    for model in _models(rows):
        mine = [r for r in rows if r["model"] == model]
        for method in _order(r["method"] for r in mine):
            these = [r for r in mine if r["method"] == method]
            for metric in metrics:
                vals = [_value(r[metric]) for r in these if not math.isnan(_value(r[metric]))]
                if vals:
                    mean, se = _mean_se(vals)
                    out.append(Summary(model, method, metric, len(vals), mean, se))
    return out


def _fmt(mean: float, se: float) -> str:
    return f"{mean:.3f}" if math.isnan(se) else f"{mean:.3f} ± {se:.3f}"


def _fmt_count(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"


def _markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def results_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: per model and method, images, evaluations per image, metrics (mean +- SE).

    The best mean of each metric per model is in bold (highest insertion/SIC/AIC, lowest
    deletion). PIC columns appear only when some row has PIC values.
    """
    summaries = summarize(rows)
    has_pic = any(s.metric in ("sic", "aic") for s in summaries)
    metrics = ["insertion", "deletion"] + (["sic", "aic"] if has_pic else [])
    heads = {"insertion": "insertion ↑", "deletion": "deletion ↓", "sic": "SIC ↑", "aic": "AIC ↑"}
    columns = ["model", "method", "images", "evaluations / image (gradient + forward)"]
    columns += [heads[m] for m in metrics]
    by = {(s.model, s.method, s.metric): s for s in summaries}
    table = []
    for model in _models(rows):
        mine = [r for r in rows if r["model"] == model]
        methods = _order(r["method"] for r in mine)
        best = {}
        for metric in metrics:
            means = [by[model, m, metric].mean for m in methods if (model, m, metric) in by]
            if means:
                best[metric] = min(means) if metric == "deletion" else max(means)
        for method in methods:
            these = [r for r in mine if r["method"] == method]
            g = statistics.fmean(r["n_gradient_evals"] for r in these)
            f = statistics.fmean(r["n_forward_evals"] for r in these)
            cells = [
                model,
                _LABELS.get(method, method),
                len(these),
                f"{_fmt_count(g + f)} ({_fmt_count(g)} + {_fmt_count(f)})",
            ]
            for metric in metrics:
                s = by.get((model, method, metric))
                if s is None:
                    cells.append("–")
                    continue
                text = _fmt(s.mean, s.se)
                cells.append(f"**{text}**" if s.mean == best.get(metric) else text)
            table.append(cells)
    return _markdown(columns, table)


def _sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial (sign) test of wins vs losses (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(
    rows: Sequence[Mapping[str, Any]],
    reference: str = "idg-pilot",
    metrics: Sequence[str] = ("insertion", "deletion"),
) -> list[dict[str, Any]]:
    """``reference`` against every other method, image by image.

    A win is a higher insertion (SIC, AIC) or a lower deletion on the same image; the
    difference is ``reference - other``. Only images that both methods scored count.

    Returns:
        One dict per (model, metric, other method): ``model, metric, other, n, wins, losses,
        ties, diff_mean, diff_se, p`` (two-sided sign test).
    """
    out = []
    for model in _models(rows):
        mine = [r for r in rows if r["model"] == model]
        score = {(r["method"], r["image"]): r for r in mine}
        ref_images = [r["image"] for r in mine if r["method"] == reference]
        for metric in metrics:
            lower = metric == "deletion"
            for other in _order(r["method"] for r in mine):
                if other == reference:
                    continue
                diffs = []
                for im in ref_images:
                    if (other, im) not in score:
                        continue
                    a, b = _value(score[reference, im][metric]), _value(score[other, im][metric])
                    if not (math.isnan(a) or math.isnan(b)):
                        diffs.append(a - b)
                if not diffs:
                    continue
                wins = sum(d < 0 if lower else d > 0 for d in diffs)
                losses = sum(d > 0 if lower else d < 0 for d in diffs)
                mean, se = _mean_se(diffs)
                out.append(
                    {
                        "model": model,
                        "metric": metric,
                        "other": other,
                        "n": len(diffs),
                        "wins": wins,
                        "losses": losses,
                        "ties": len(diffs) - wins - losses,
                        "diff_mean": mean,
                        "diff_se": se,
                        "p": _sign_test(wins, losses),
                    }
                )
    return out


def paired_table(rows: Sequence[Mapping[str, Any]], reference: str = "idg-pilot") -> str:
    """Markdown of :func:`paired_comparison`."""
    metrics = ["insertion", "deletion"]
    if any(not math.isnan(_value(r["sic"])) for r in rows):
        metrics += ["sic", "aic"]
    table = []
    for c in paired_comparison(rows, reference, metrics):
        table.append(
            [
                c["model"],
                c["metric"],
                f"{_LABELS[reference]} vs {_LABELS.get(c['other'], c['other'])}",
                c["n"],
                f"{c['wins']} / {c['losses']} / {c['ties']}",
                f"{c['diff_mean']:+.4f}"
                + ("" if math.isnan(c["diff_se"]) else f" ± {c['diff_se']:.4f}"),
                f"{c['p']:.3g}",
            ]
        )
    columns = [
        "model",
        "metric",
        "pair",
        "images",
        "wins / losses / ties",
        f"{_LABELS[reference]} − other (mean ± SE)",
        "sign test p",
    ]
    return _markdown(columns, table)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRecord:
    """One validation image: its id (path relative to the root), class index and file."""

    image: str
    label: int
    path: Path


def _read_class_index(path: Path) -> dict[str, int]:
    wnids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return {w: i for i, w in enumerate(wnids)}


def _class_map(names: Sequence[str], class_index: Path | None, what: str) -> dict[str, int]:
    if class_index is not None:
        mapping = _read_class_index(class_index)
        missing = [n for n in names if n not in mapping]
        if missing:
            raise ValueError(f"{what} not in the class index {class_index}: {missing[:5]}")
        return mapping
    if names and all(n.isdigit() for n in names):
        return {n: int(n) for n in names}
    if len(set(names)) == 1000:
        return {n: i for i, n in enumerate(sorted(set(names)))}
    raise ValueError(
        f"cannot map {len(set(names))} class names to ImageNet indices: give a class-index file "
        "(one wnid per line, in class-index order) or use all 1000 wnids"
    )


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES


def _read_labels(path: Path) -> dict[str, str]:
    """File stem -> wnid or class index (as text)."""
    text = path.read_text()
    out: dict[str, str] = {}
    if text.lstrip().lower().startswith("imageid"):
        for row in csv.DictReader(text.splitlines()):
            out[Path(row["ImageId"]).stem] = row["PredictionString"].split()[0]
        return out
    for line in text.splitlines():
        parts = re.split(r"[\s,]+", line.strip())
        if len(parts) >= 2:
            out[Path(parts[0]).stem] = parts[1]
    return out


def list_imagenet_val(
    root: Path, labels: Path | None = None, class_index: Path | None = None
) -> list[ImageRecord]:
    """Every image of an ImageNet-val folder with its class index, in file-name order.

    See the module docstring for the two layouts. ``labels`` selects the flat layout.

    Raises:
        FileNotFoundError: no such folder, or no image in it.
        ValueError: class names that cannot be mapped to indices, or images without a label.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no ImageNet validation folder at {root}")
    records = []
    if labels is None:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        mapping = _class_map([p.name for p in folders], class_index, "class folders")
        for folder in folders:
            for p in sorted(folder.iterdir()):
                if _is_image(p):
                    records.append(ImageRecord(f"{folder.name}/{p.name}", mapping[folder.name], p))
    else:
        by_stem = _read_labels(labels)
        files = sorted(p for p in root.iterdir() if _is_image(p))
        unlabelled = [p.name for p in files if p.stem not in by_stem]
        if unlabelled:
            raise ValueError(
                f"{len(unlabelled)} images have no label in {labels}: {unlabelled[:3]}"
            )
        names = [by_stem[p.stem] for p in files]
        words = sorted({n for n in names if not n.isdigit()})
        mapping = _class_map(list(by_stem.values()) if words else names, class_index, "labels")
        records = [ImageRecord(p.name, mapping[by_stem[p.stem]], p) for p in files]
    if not records:
        raise FileNotFoundError(f"no images (*.JPEG, *.jpg, *.png) under {root}")
    return sorted(records, key=lambda r: (Path(r.image).name, r.image))


def load_image(path: Path, size: int = 224, resize: str = "squash") -> Tensor:
    """An RGB image as ``(3, size, size)`` float32 pixels in ``[0, 1]``.

    ``resize="squash"`` resizes to ``size x size`` directly (bilinear, antialiased; what the
    IDG authors' evaluation does); ``"crop"`` resizes the short side to ``size * 256 / 224``
    and takes the centre ``size x size`` crop (the usual ImageNet evaluation transform).
    Grey-scale and CMYK images are converted to RGB.
    """
    from PIL import Image

    with Image.open(path) as opened:
        im: Image.Image = opened.convert("RGB")
    if resize == "squash":
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    elif resize == "crop":
        short = round(size * 256 / 224)
        w, h = im.size
        scale = short / min(w, h)
        im = im.resize(
            (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR
        )
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
    else:
        raise ValueError(f"resize must be 'squash' or 'crop', got {resize!r}")
    data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    return data.reshape(size, size, 3).permute(2, 0, 1).to(torch.float32) / 255.0


def select_correct(
    records: Sequence[Any],
    predict: Callable[[Sequence[Any]], Sequence[int]],
    per_class: int = 5,
    limit: int = 5000,
    batch_size: int = 64,
) -> list[tuple[Any, int]]:
    """The first ``limit`` records, in order, that ``predict`` classifies as their ``label``.

    At most ``per_class`` per class. Records of a class that is already full are not
    predicted at all.

    Args:
        records: objects with a ``label`` attribute (:class:`ImageRecord`).
        predict: records -> predicted classes, one per record.
        per_class, limit: the caps.
        batch_size: records per ``predict`` call.

    Returns:
        ``(record, predicted class)`` pairs in record order.
    """
    chosen: list[tuple[Any, int]] = []
    count: dict[int, int] = {}
    pending: list[Any] = []

    def flush() -> None:
        for rec, pred in zip(pending, predict(pending)):
            if len(chosen) >= limit:
                break
            if int(pred) == rec.label and count.get(rec.label, 0) < per_class:
                count[rec.label] = count.get(rec.label, 0) + 1
                chosen.append((rec, int(pred)))
        pending.clear()

    for rec in records:
        if len(chosen) >= limit:
            break
        if count.get(rec.label, 0) >= per_class:
            continue
        pending.append(rec)
        if len(pending) >= batch_size:
            flush()
    if pending and len(chosen) < limit:
        flush()
    return chosen


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _selection(
    spec: ModelSpec,
    records: Sequence[ImageRecord],
    out_dir: Path,
    per_class: int,
    limit: int,
    size: int,
    resize: str,
    device: torch.device,
    batch_size: int,
) -> list[tuple[ImageRecord, int]]:
    """Selected images, cached in ``selection_<model>_k<per_class>_n<limit>_<resize><size>.csv``."""
    path = out_dir / f"selection_{spec.name}_k{per_class}_n{limit}_{resize}{size}.csv"
    by_id = {r.image: r for r in records}
    if path.is_file():
        with path.open(newline="") as fh:
            return [(by_id[row["image"]], int(row["predicted"])) for row in csv.DictReader(fh)]

    def predict(batch: Sequence[ImageRecord]) -> list[int]:
        pixels = torch.stack([load_image(r.path, size, resize) for r in batch]).to(device)
        with torch.no_grad():
            return spec.model(spec.normalize(pixels)).argmax(1).tolist()

    chosen = select_correct(records, predict, per_class, limit, batch_size)
    lines = ["image,label,predicted"] + [f"{r.image},{r.label},{p}" for r, p in chosen]
    _write_atomic(path, "\n".join(lines) + "\n")
    return chosen


def run_protocol(
    factories: Mapping[str, ModelFactory],
    records: Sequence[ImageRecord],
    out_dir: Path,
    protocol: Protocol = Protocol(),
    methods: Sequence[str] = METHODS,
    n_images: int = 5000,
    per_class: int = 5,
    size: int = 224,
    resize: str = "squash",
    device: torch.device | str = "cpu",
    image_batch: int = 4,
    selection_batch: int = 64,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the protocol for every model; returns the CSV (``out_dir/paper_imagenet.csv``).

    Resumable: rows already in the CSV (same :meth:`Protocol.fingerprint`) are not redone.
    Each factory is called once, when its model's turn comes, and must return the model in
    eval mode; it is moved to ``device``.
    """
    for m in methods:
        if m not in _ALL_METHODS:
            raise ValueError(f"unknown method {m!r}; expected some of {', '.join(_ALL_METHODS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "paper_imagenet.csv"
    device = torch.device(device)
    done = done_keys(read_rows(csv_path), protocol.fingerprint())
    for name, factory in factories.items():
        spec = factory()
        spec.name = name
        spec.model.to(device)
        chosen = _selection(
            spec, records, out_dir, per_class, n_images, size, resize, device, selection_batch
        )
        todo = [(r, p) for r, p in chosen if any((name, r.image, m) not in done for m in methods)]
        log(f"{name}: {len(chosen)} images selected, {len(todo)} still to do")
        started = time.perf_counter()
        for lo in range(0, len(todo), image_batch):
            batch = [r for r, _ in todo[lo : lo + image_batch]]
            pixels = torch.stack([load_image(r.path, size, resize) for r in batch])

            def save(rows: list[dict[str, Any]]) -> None:
                append_rows(csv_path, rows)
                done.update((r["model"], r["image"], r["method"]) for r in rows)

            evaluate_batch(
                spec,
                pixels,
                [r.image for r in batch],
                [r.label for r in batch],
                methods,
                protocol,
                done,
                device,
                save,
            )
            n = min(lo + image_batch, len(todo))
            log(f"{name}: {n}/{len(todo)} images ({time.perf_counter() - started:.0f} s)")
    return csv_path


def report(csv_path: Path, title: str, command: str) -> str:
    """Markdown report of a results CSV: settings line, table, paired comparison."""
    rows = read_rows(csv_path)
    return (
        f"## {title}\n\nCommand: `{command}`\n\n"
        f"### Insertion ↑ / deletion ↓ (mean ± standard error over images)\n\n"
        f"{results_table(rows)}\n"
        f"### IDG (schedule=pilot) against each method, image by image\n\n{paired_table(rows)}"
    )


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imagenet", type=Path, required=True, help="ImageNet val folder")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labels file for a flat folder (LOC_val_solution.csv or 'file wnid')",
    )
    parser.add_argument(
        "--class-index", type=Path, default=None, help="wnids, one per line, in class-index order"
    )
    parser.add_argument("--out", type=Path, default=Path("paper_imagenet_results"))
    parser.add_argument("--models", default=",".join(TORCHVISION_MODELS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--n-images", type=int, default=5000)
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--resize", choices=("squash", "crop"), default="squash")
    parser.add_argument("--pic", action="store_true", help="also PIC (SIC, AIC)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-batch", type=int, default=4)
    parser.add_argument("--internal-batch-size", type=int, default=None)
    parser.add_argument("--metric-batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    protocol = Protocol(
        n_steps=args.steps,
        pic=args.pic,
        internal_batch_size=args.internal_batch_size,
        metric_batch_size=args.metric_batch_size,
    )
    records = list_imagenet_val(args.imagenet, args.labels, args.class_index)
    names = [m for m in args.models.split(",") if m]
    factories = {n: (lambda n=n: torchvision_model(n)) for n in names}
    methods = [m for m in args.methods.split(",") if m]
    csv_path = run_protocol(
        factories,
        records,
        args.out,
        protocol,
        methods,
        args.n_images,
        args.per_class,
        resize=args.resize,
        device=args.device,
        image_batch=args.image_batch,
    )
    command = " ".join(
        ["python -m benchmarks.paper_imagenet", *(sys.argv[1:] if argv is None else argv)]
    )
    text = report(csv_path, "The IDG paper's protocol on ImageNet validation", command)
    (args.out / "paper_imagenet.md").write_text(text)
    print(text)
    return csv_path


if __name__ == "__main__":
    main()
