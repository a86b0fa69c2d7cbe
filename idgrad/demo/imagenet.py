"""IG vs IDG on a real ImageNet classifier, offline: the job behind ``idgrad demo``.

For each photo, EfficientNet-Lite0 (:func:`idgrad.zoo.load_efficientnet_lite0`) predicts a
class; Integrated Gradients on a uniform rule and adaptive Integrated Decision Gradients
explain that class's logit from the all-zero baseline (the mean image in model space, as in the
IDG paper) **at the same cost**, and the attributions are scored by the paper's insertion and
deletion protocol (:mod:`idgrad.metrics`). Everything is written to one folder:

* ``<photo>_attributions.png``: the photo, then IG and IDG saliency blended over it;
* ``<photo>_path_dynamics.png``: the target logit ``F(γ(α))`` and its path derivative
  ``F'(α)`` with the points each method evaluated (:func:`idgrad.plot.path_dynamics`);
* ``<photo>_insertion_deletion.png``: both curves per method with their AUCs;
* ``overview.png``: every photo with its two saliency maps;
* ``report.html``: one page with the table and the figures (relative links).

Equal cost, counted in model evaluations (one image through the network, with or without a
backward pass; a forward-only pass is really about a third of a forward + backward, so the
rule is conservative for IDG). IG with ``n`` uniform points costs ``n`` gradient evaluations
plus the 2 forward passes at ``α = 0`` and ``α = 1`` that its convergence delta needs:
``n + 2``. Adaptive IDG with ``m`` gradient points and a pilot of ``N`` intervals costs
``m + N + 1`` (the pilot's ``N + 1`` forward passes include both endpoints). The demo gives
IDG the largest ``m`` with ``m + N + 1 <= n + 2`` (see :func:`equal_cost_steps`), and checks the
count by wrapping the model in a counter.

The deltas printed are the honest convergence deltas, ``Σ_k w_k F'(α_k) − (F(x) − F(x'))``:
for IG this is ``Σ IG − (F(x) − F(x'))``; for IDG it is computed before the rescaling that
makes IDG's attributions sum to ``F(x) − F(x')`` exactly. Both measure how well the schedule
integrates the same function, so they compare the two schedules directly.

Example:
    >>> result = run_imagenet_demo("idgrad-demo", photos=["chelsea"])  # doctest: +SKIP
    >>> print(format_summary(result))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch

from idgrad import metrics, zoo
from idgrad.methods import default_pilot_steps, integrated_decision_gradients, integrated_gradients
from idgrad.progress import Progress
from idgrad.results import Details

__all__ = [
    "DEFAULT_PHOTOS",
    "DEFAULT_STEPS",
    "NATURAL_PHOTOS",
    "DemoResult",
    "MethodResult",
    "PhotoResult",
    "equal_cost_steps",
    "format_summary",
    "run_imagenet_demo",
]

#: The everyday photos of :mod:`idgrad.zoo`, in order (the others are scientific images).
NATURAL_PHOTOS: tuple[str, ...] = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "motorcycle",
    "china",
    "flower",
)

#: Photos explained by default. Each costs about 45 s of 2 idle CPU cores, most of it the
#: 4 x 225 forward passes of the insertion and deletion curves; two keep ``idgrad demo`` under
#: two minutes.
DEFAULT_PHOTOS: tuple[str, ...] = NATURAL_PHOTOS[:2]

#: IG's gradient points per photo (the IDG paper's 50); IDG gets the same number of model
#: evaluations.
DEFAULT_STEPS = 50

#: Percentile of the saliency map drawn at full colour in the figures.
SALIENCY_CLIP_PERCENTILE = 99.0

#: Insertion/deletion protocol of the IDG paper: 224 pixels per step, softmax probability.
PIXELS_PER_STEP = 224

_IG_LABEL = "IG"
_IDG_LABEL = "IDG"


class MethodResult(NamedTuple):
    """One method's explanation of one photo.

    Attributes:
        method: ``"IG"`` or ``"IDG"``.
        attributions: ``(1, 3, 224, 224)`` float32 attributions of the target logit.
        details: The :class:`~idgrad.results.Details` of the call (points, weights, outputs,
            path derivatives, pilot).
        evaluations: Model evaluations the call made (gradient points + forward-only points),
            as counted by a wrapper around the model.
        seconds: Wall time of the call.
        delta: Honest convergence delta ``Σ_k w_k F'(α_k) − (F(x) − F(x'))`` (see the module
            docstring).
        insertion: Insertion curve (blurred start, softmax probability); higher AUC is better.
        deletion: Deletion curve (pixels set to 0); lower AUC is better.
    """

    method: str
    attributions: torch.Tensor
    details: Details
    evaluations: int
    seconds: float
    delta: float
    insertion: metrics.Curve
    deletion: metrics.Curve

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve (higher is better)."""
        return float(self.insertion.auc[0])

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve (lower is better)."""
        return float(self.deletion.auc[0])


class PhotoResult(NamedTuple):
    """Everything the demo computed and drew for one photo.

    Attributes:
        name: Photo name (see :func:`idgrad.zoo.photo_names`).
        class_index: The predicted ImageNet class, the target of both methods.
        class_name: Its name.
        probability: Softmax probability of the class on the photo.
        logit: ``F(x)``, the class logit on the photo.
        baseline_logit: ``F(x')``, the class logit on the all-zero baseline.
        ig: Integrated Gradients (uniform rule).
        idg: Integrated Decision Gradients (adaptive), at the same cost.
        figures: Figure kind (``"attributions"``, ``"path_dynamics"``,
            ``"insertion_deletion"``) -> file written.
    """

    name: str
    class_index: int
    class_name: str
    probability: float
    logit: float
    baseline_logit: float
    ig: MethodResult
    idg: MethodResult
    figures: dict[str, Path]


class DemoResult(NamedTuple):
    """What :func:`run_imagenet_demo` did.

    Attributes:
        out_dir: The output folder.
        photos: One result per photo, in the order explained.
        report: The ``report.html`` written.
        overview: The ``overview.png`` written.
        n_steps: IG's gradient points per photo.
        idg_steps: IDG's gradient points per photo.
        n_pilot_steps: IDG's pilot intervals ``N`` (``N + 1`` forward passes).
        ig_rule: IG's quadrature rule.
        seconds: Wall time of the whole run, by phase: ``"load"``, ``"attribution"``,
            ``"metrics"``, ``"figures"``, ``"total"``.
    """

    out_dir: Path
    photos: list[PhotoResult]
    report: Path
    overview: Path
    n_steps: int
    idg_steps: int
    n_pilot_steps: int
    ig_rule: str
    seconds: dict[str, float]


# --------------------------------------------------------------------------------------------
# Equal cost
# --------------------------------------------------------------------------------------------


def equal_cost_steps(n_steps: int, n_pilot_steps: int | None = None) -> tuple[int, int]:
    """IDG's ``(gradient points m, pilot intervals N)`` costing no more than IG with ``n_steps``.

    IG with ``n`` points makes ``n + 2`` model evaluations (its gradient points and the two
    endpoints its delta needs); adaptive IDG makes ``m + N + 1`` (the pilot's ``N + 1``
    forward passes include the endpoints). With ``n_pilot_steps=None`` the pilot is the
    library default :func:`~idgrad.methods.default_pilot_steps` of ``m``, and ``m`` is the
    largest that fits with ``m >= N`` (so that every pilot interval gets a gradient point);
    when no ``m`` does (``n < 7``), the pilot takes about a third of the budget instead.
    A given ``n_pilot_steps`` is kept and ``m`` is what is left.

    Args:
        n_steps: IG's gradient points, ``>= 1``.
        n_pilot_steps: IDG's pilot intervals, or ``None`` for the default rule above.

    Returns:
        ``(m, N)`` with ``m >= 1``, ``N >= 1`` and ``m + N + 1 <= n_steps + 2``.

    Raises:
        ValueError: If a count is below 1 or the given pilot leaves no gradient point.

    Example:
        >>> equal_cost_steps(50)  # 43 + 8 + 1 = 52 = 50 + 2
        (43, 8)
        >>> equal_cost_steps(4)
        (3, 1)
        >>> equal_cost_steps(20, n_pilot_steps=8)
        (13, 8)
    """
    for name, value in (("n_steps", n_steps), ("n_pilot_steps", n_pilot_steps)):
        if value is None and name == "n_pilot_steps":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    budget = n_steps + 2
    if n_pilot_steps is not None:
        m = budget - n_pilot_steps - 1
        if m < 1:
            raise ValueError(
                f"a pilot of {n_pilot_steps} intervals costs {n_pilot_steps + 1} evaluations, "
                f"leaving no gradient point within IG's {budget}; use fewer pilot steps"
            )
        return m, n_pilot_steps
    for m in range(n_steps, 0, -1):
        pilot = default_pilot_steps(m)
        if pilot <= m and m + pilot + 1 <= budget:
            return m, pilot
    pilot = max(1, (n_steps + 1) // 3)
    return budget - pilot - 1, pilot


# --------------------------------------------------------------------------------------------
# Counting model evaluations, with a progress bar
# --------------------------------------------------------------------------------------------


class _CountingModel:
    """Calls the model and counts the images it sees (one evaluation each)."""

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], progress: Progress) -> None:
        self.model = model
        self.progress = progress
        self.count = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[0])
        out = self.model(x)
        self.count += n
        self.progress.update(n)
        return out


# --------------------------------------------------------------------------------------------
# The demo
# --------------------------------------------------------------------------------------------


def _check_photos(photos: Sequence[str] | None) -> list[str]:
    if photos is None:
        return list(DEFAULT_PHOTOS)
    if isinstance(photos, str):
        photos = [photos]
    names = list(photos)
    if not names:
        raise ValueError("photos is empty; give at least one name")
    known = zoo.photo_names()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown photo(s) {unknown}; choose from {', '.join(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"photos lists a name twice: {names}")
    return names


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _curves_per_point(size: int) -> int:
    """Points of one insertion or deletion curve on a ``size x size`` image."""
    return 1 + -(-(size * size) // PIXELS_PER_STEP)


def run_imagenet_demo(
    out_dir: str | Path = "idgrad-demo",
    photos: Sequence[str] | None = None,
    n_steps: int = DEFAULT_STEPS,
    *,
    ig_rule: str = "riemann_middle",
    n_pilot_steps: int | None = None,
    batch_size: int | None = None,
    metrics_batch_size: int | None = None,
    progress: bool = True,
    dpi: int = 100,
    image_size: int = 224,
) -> DemoResult:
    """Explain each photo's top class with IG and adaptive IDG at equal cost; write figures.

    Args:
        out_dir: Folder for the figures and ``report.html`` (created if missing).
        photos: Names from :func:`idgrad.zoo.photo_names`; ``None`` uses
            :data:`DEFAULT_PHOTOS`.
        n_steps: IG's gradient points per photo; IDG gets the same number of model
            evaluations (:func:`equal_cost_steps`).
        ig_rule: IG's rule (uniform by default, the schedule the IDG paper compares with; any
            of :data:`idgrad.RULES`).
        n_pilot_steps: IDG's pilot intervals; ``None`` for the rule of
            :func:`equal_cost_steps`.
        batch_size: Most path points per forward/backward pass of the attribution methods;
            ``None`` for idgrad's automatic choice (``internal_batch_size="auto"``).
        metrics_batch_size: Most images per forward pass of the insertion/deletion curves;
            ``None`` for the automatic choice.
        progress: Show a progress bar over model evaluations on stderr (tqdm when installed).
        dpi: Resolution of the PNG figures.
        image_size: Side of the square photos. The model was trained at 224; smaller sizes
            run much faster (the insertion/deletion curves shrink with the pixel count) and
            are meant for smoke tests, not for judging the methods.

    Returns:
        A :class:`DemoResult`.

    Raises:
        ValueError: For an unknown or repeated photo, a count below 1 or an unknown rule.
        ImportError: If the ``zoo`` or ``plot`` extras are missing.
    """
    names = _check_photos(photos)
    n_steps = _check_positive("n_steps", n_steps)
    chunk: int | Literal["auto"] = (
        "auto" if batch_size is None else _check_positive("batch_size", batch_size)
    )
    metrics_chunk: int | Literal["auto"] = (
        "auto"
        if metrics_batch_size is None
        else _check_positive("metrics_batch_size", metrics_batch_size)
    )
    dpi = _check_positive("dpi", dpi)
    image_size = _check_positive("image_size", image_size)
    from idgrad.schedules import check_rule

    check_rule(ig_rule)
    idg_steps, pilot_steps = equal_cost_steps(n_steps, n_pilot_steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    seconds = {"load": 0.0, "attribution": 0.0, "metrics": 0.0, "figures": 0.0}
    t_total = time.perf_counter()
    t0 = time.perf_counter()
    model = zoo.load_efficientnet_lite0()
    # The demo owns this copy: no parameter gradients are needed (the methods differentiate
    # with respect to the input only) and channels-last convolutions are faster on CPUs.
    model.requires_grad_(False)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    classes = zoo.imagenet_classes()
    pixels = zoo.photos_to_tensor([zoo.load_photo(name, size=image_size) for name in names])
    images = zoo.normalize_imagenet_lite(pixels)
    seconds["load"] = time.perf_counter() - t0

    size = images.shape[-1]
    per_photo = (n_steps + 2) + (idg_steps + pilot_steps + 1) + 4 * _curves_per_point(size)
    bar = Progress(len(names) * per_photo + len(names) + 1, unit="eval", enabled=progress)
    counted = _CountingModel(model, bar)

    results: list[PhotoResult] = []
    try:
        bar.set_description("predicting")
        with torch.no_grad():
            logits = counted(torch.cat([images, torch.zeros_like(images[:1])]))
        baseline_logits = logits[-1]
        logits = logits[:-1]
        probabilities = torch.softmax(logits, dim=1)
        for i, name in enumerate(names):
            x = images[i : i + 1]
            target = int(logits[i].argmax())
            runs: dict[str, tuple[torch.Tensor, Details, int, float]] = {}
            for label in (_IG_LABEL, _IDG_LABEL):
                bar.set_description(f"{name}: {label}")
                before = counted.count
                t0 = time.perf_counter()
                if label == _IG_LABEL:
                    details = integrated_gradients(
                        counted,
                        x,
                        target=target,
                        n_steps=n_steps,
                        method=ig_rule,
                        internal_batch_size=chunk,
                        return_details=True,
                    )
                else:
                    details = integrated_decision_gradients(
                        counted,
                        x,
                        target=target,
                        n_steps=idg_steps,
                        adaptive=True,
                        n_pilot_steps=pilot_steps,
                        internal_batch_size=chunk,
                        return_details=True,
                    )
                elapsed = time.perf_counter() - t0
                seconds["attribution"] += elapsed
                attributions = details.attributions
                if not isinstance(attributions, torch.Tensor):  # one tensor in, one out
                    raise TypeError(f"{label} returned {type(attributions).__name__}")
                runs[label] = (attributions, details, counted.count - before, elapsed)

            scored: dict[str, MethodResult] = {}
            for label, (attributions, details, evaluations, elapsed) in runs.items():
                bar.set_description(f"{name}: {label} insertion/deletion")
                t0 = time.perf_counter()
                saliency = metrics.saliency_map(attributions, "abs_sum")
                curve_in = metrics.insertion(
                    counted,
                    x,
                    saliency,
                    target,
                    pixels_per_step=PIXELS_PER_STEP,
                    substrate="blur",
                    score="probability",
                    batch_size=metrics_chunk,
                )
                curve_out = metrics.deletion(
                    counted,
                    x,
                    saliency,
                    target,
                    pixels_per_step=PIXELS_PER_STEP,
                    substrate=0.0,
                    score="probability",
                    batch_size=metrics_chunk,
                )
                seconds["metrics"] += time.perf_counter() - t0
                scored[label] = MethodResult(
                    method=label,
                    attributions=attributions.detach(),
                    details=details,
                    evaluations=evaluations,
                    seconds=elapsed,
                    delta=float(details.delta[0]),
                    insertion=curve_in,
                    deletion=curve_out,
                )

            bar.set_description(f"{name}: figures")
            t0 = time.perf_counter()
            photo = PhotoResult(
                name=name,
                class_index=target,
                class_name=classes[target],
                probability=float(probabilities[i, target]),
                logit=float(logits[i, target]),
                baseline_logit=float(baseline_logits[target]),
                ig=scored[_IG_LABEL],
                idg=scored[_IDG_LABEL],
                figures={},
            )
            photo.figures.update(_photo_figures(photo, pixels[i], out, dpi))
            seconds["figures"] += time.perf_counter() - t0
            results.append(photo)
    finally:
        bar.close()

    t0 = time.perf_counter()
    overview = _overview_figure(results, pixels, out / "overview.png", dpi)
    seconds["figures"] += time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_total
    result = DemoResult(
        out_dir=out,
        photos=results,
        report=out / "report.html",
        overview=overview,
        n_steps=n_steps,
        idg_steps=idg_steps,
        n_pilot_steps=pilot_steps,
        ig_rule=ig_rule,
        seconds=seconds,
    )
    _write_report(result)
    return result


# --------------------------------------------------------------------------------------------
# Figures (composed from idgrad.plot)
# --------------------------------------------------------------------------------------------


def _save(fig: Any, path: Path, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _method_title(result: MethodResult, photo: PhotoResult) -> str:
    return f"{result.method} ({result.evaluations} evals)"


def _photo_figures(
    photo: PhotoResult, pixels: torch.Tensor, out: Path, dpi: int
) -> dict[str, Path]:
    """The three figures of one photo; returns kind -> path."""
    from idgrad import plot

    image = pixels.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    files: dict[str, Path] = {}

    import matplotlib.pyplot as plt

    # Top row: the photo, then each saliency map blended over it; bottom row: the maps alone
    # (easier to read at pixel level). Saliency = |sum over channels|, the map that the
    # insertion/deletion curves rank pixels by, clipped at its 99th percentile.
    columns = {
        _method_title(photo.ig, photo): [photo.ig.attributions[0]],
        _method_title(photo.idg, photo): [photo.idg.attributions[0]],
    }
    fig, grid = plt.subplots(2, 3, figsize=(8.4, 5.9), layout="constrained")
    plot.figure_grid(
        [image],
        columns,
        sign="absolute",
        method="blended_heat_map",
        reduction="abs_sum",
        clip_percentile=SALIENCY_CLIP_PERCENTILE,
        image_title=f"{photo.class_name} ({photo.probability:.0%})",
        axes=grid[:1],
    )
    for ax, result in zip(grid[1, 1:], (photo.ig, photo.idg)):
        plot.image_attribution(
            result.attributions[0],
            sign="absolute",
            method="heat_map",
            reduction="abs_sum",
            clip_percentile=SALIENCY_CLIP_PERCENTILE,
            colorbar=False,
            ax=ax,
        )
    grid[1, 0].set_axis_off()
    grid[1, 0].text(
        0.0,
        0.5,
        f"saliency = |sum over channels|\nclipped at its p{SALIENCY_CLIP_PERCENTILE:g}\n\n"
        f"top: over the photo\nbottom: the map alone\n\nF(x) - F(x') = "
        f"{photo.logit - photo.baseline_logit:.2f}\n"
        f"IG delta {photo.ig.delta:+.3f}\nIDG delta {photo.idg.delta:+.3f}",
        transform=grid[1, 0].transAxes,
        va="center",
        fontsize=9,
        family="monospace",
    )
    fig.suptitle(f"{photo.name}: what made EfficientNet-Lite0 say '{photo.class_name}'")
    files["attributions"] = _save(fig, out / f"{photo.name}_attributions.png", dpi)

    fig, _ = plot.path_dynamics(
        photo.idg.details,
        other=[("IG, uniform", photo.ig.details)],
        labels=["IDG, adaptive"],
        title=f"{photo.name}: logit of '{photo.class_name}' along the path from the zero baseline",
    )
    files["path_dynamics"] = _save(fig, out / f"{photo.name}_path_dynamics.png", dpi)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
    for ax, kind, title in (
        (left, "insertion", "Insertion from a blurred image (higher is better)"),
        (right, "deletion", "Deletion to the zero image (lower is better)"),
    ):
        curves = {}
        aucs = {}
        for result in (photo.ig, photo.idg):
            curve = result.insertion if kind == "insertion" else result.deletion
            curves[result.method] = (curve.fractions, curve.scores[0])
            aucs[result.method] = float(curve.auc[0])
        plot.insertion_deletion_curves(
            curves, aucs, title=title, ylabel=f"p('{photo.class_name}')", ax=ax
        )
    fig.suptitle(f"{photo.name}: {PIXELS_PER_STEP} pixels per step, ranked by |sum over channels|")
    files["insertion_deletion"] = _save(fig, out / f"{photo.name}_insertion_deletion.png", dpi)
    return files


def _overview_figure(
    results: list[PhotoResult], pixels: torch.Tensor, path: Path, dpi: int
) -> Path:
    from idgrad import plot

    images = pixels.permute(0, 2, 3, 1).round().clamp(0, 255).to(torch.uint8).numpy()
    fig, _ = plot.figure_grid(
        [images[i] for i in range(len(results))],
        {
            "IG": [r.ig.attributions[0] for r in results],
            "IDG (same cost)": [r.idg.attributions[0] for r in results],
        },
        sign="absolute",
        method="blended_heat_map",
        reduction="abs_sum",
        clip_percentile=SALIENCY_CLIP_PERCENTILE,
        image_title="photo",
        row_titles=[f"{r.name}: {r.class_name}" for r in results],
        panel_size=2.4,
    )
    return _save(fig, path, dpi)


# --------------------------------------------------------------------------------------------
# Text: the summary table and the report
# --------------------------------------------------------------------------------------------

_COLUMNS = (
    ("photo", 11, "<"),
    ("class", 18, "<"),
    ("prob", 5, ">"),
    ("F(x)-F(x')", 10, ">"),
    ("method", 6, "<"),
    ("evals", 5, ">"),
    ("seconds", 7, ">"),
    ("delta", 9, ">"),
    ("delta %", 7, ">"),
    ("insertion^", 10, ">"),
    ("deletion_", 9, ">"),
)


def _rows(result: DemoResult) -> list[list[str]]:
    rows = []
    for photo in result.photos:
        change = photo.logit - photo.baseline_logit
        for k, method in enumerate((photo.ig, photo.idg)):
            rows.append(
                [
                    photo.name if k == 0 else "",
                    photo.class_name[:18] if k == 0 else "",
                    f"{photo.probability:.2f}" if k == 0 else "",
                    f"{change:.3f}" if k == 0 else "",
                    method.method,
                    str(method.evaluations),
                    f"{method.seconds:.1f}",
                    f"{method.delta:+.2e}",
                    f"{100 * method.delta / change:+.1f}" if change else "n/a",
                    f"{method.insertion_auc:.3f}",
                    f"{method.deletion_auc:.3f}",
                ]
            )
    return rows


def _means(result: DemoResult) -> dict[str, tuple[float, float, float]]:
    """Method -> mean (insertion AUC, deletion AUC, |delta| %) over the photos."""
    means = {}
    for label in (_IG_LABEL, _IDG_LABEL):
        picked = [p.ig if label == _IG_LABEL else p.idg for p in result.photos]
        rel = [
            abs(m.delta) / abs(p.logit - p.baseline_logit) * 100
            for m, p in zip(picked, result.photos)
            if p.logit != p.baseline_logit
        ]
        n = max(len(picked), 1)
        means[label] = (
            sum(m.insertion_auc for m in picked) / n,
            sum(m.deletion_auc for m in picked) / n,
            sum(rel) / max(len(rel), 1),
        )
    return means


def format_summary(result: DemoResult) -> str:
    """The fixed-width summary table that ``idgrad demo`` prints.

    One line per photo and method: the predicted class and its probability, the logit change
    ``F(x) − F(x')`` to explain, the model evaluations and seconds of the method, its honest
    convergence delta (absolute and as a percentage of the change), and its insertion (higher
    is better) and deletion (lower is better) AUCs; then the means over the photos.
    """
    head = " ".join(f"{name:{align}{width}}" for name, width, align in _COLUMNS)
    lines = [head, "-" * len(head)]
    for row in _rows(result):
        lines.append(
            " ".join(f"{cell:{align}{width}}" for cell, (_, width, align) in zip(row, _COLUMNS))
        )
    lines.append("-" * len(head))
    for label, (ins, dele, rel) in _means(result).items():
        lines.append(
            f"mean over {len(result.photos)} photo(s), {label:<4}: insertion {ins:.3f}, "
            f"deletion {dele:.3f}, |delta| {rel:.1f}% of F(x)-F(x')"
        )
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
img { max-width: 100%; height: auto; }
.pair { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.pair img { max-width: 520px; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _write_report(result: DemoResult) -> Path:
    """Writes ``report.html``: the table, how to read the figures, and every figure."""
    e = html.escape
    header = [
        "photo",
        "class",
        "p",
        "F(x) − F(x')",
        "method",
        "model evals",
        "seconds",
        "delta",
        "delta % of F(x) − F(x')",
        "insertion AUC ↑",
        "deletion AUC ↓",
    ]
    table = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for row in _rows(result):
        table.append("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>")
    table.append("</table>")
    means = _means(result)
    mean_items = "".join(
        f"<li>{e(label)}: insertion {ins:.3f}, deletion {dele:.3f}, "
        f"|delta| {rel:.1f}% of F(x) − F(x')</li>"
        for label, (ins, dele, rel) in means.items()
    )
    n, m, pilot = result.n_steps, result.idg_steps, result.n_pilot_steps
    sections = []
    for photo in result.photos:
        f = {kind: path.name for kind, path in photo.figures.items()}
        sections.append(
            f"<h3>{e(photo.name)}: {e(photo.class_name)} ({photo.probability:.1%})</h3>\n"
            f'<p><img src="{e(f["attributions"])}" alt="{e(photo.name)}: photo, IG and IDG '
            f'saliency"></p>\n<div class="pair">'
            f'<img src="{e(f["path_dynamics"])}" alt="{e(photo.name)}: path dynamics">'
            f'<img src="{e(f["insertion_deletion"])}" alt="{e(photo.name)}: insertion and '
            f'deletion curves"></div>'
        )
    total = result.seconds.get("total", 0.0)
    size = int(result.photos[0].ig.attributions.shape[-1]) if result.photos else 224
    size_note = (
        ""
        if size == 224
        else (
            f" <b>These photos are {size}×{size} pixels, not the 224×224 the model was trained "
            "on: a smoke test, not a basis for judging the methods.</b>"
        )
    )
    body = f"""
<h1>idgrad demo: Integrated Gradients vs Integrated Decision Gradients</h1>
<p>EfficientNet-Lite0 (ImageNet weights, offline) explains its top class on
{len(result.photos)} photo(s). Both methods attribute the class <em>logit</em> along the straight
path from the all-zero baseline (the mean image in model space) to the photo, and both get the
same number of model evaluations: IG uses {n} uniform points (rule <code>{e(result.ig_rule)}</code>)
plus the 2 endpoint passes its delta needs ({n + 2} in all); adaptive IDG uses a forward-only
pilot of {pilot + 1} points and {m} gradient points ({m + pilot + 1} in all). A forward-only pass
is counted as a full evaluation although it costs about a third of one with a backward pass,
so the comparison is, if anything, tilted against IDG.{size_note}</p>

<h2>Summary</h2>
{chr(10).join(table)}
<ul>{mean_items}</ul>
<p><b>delta</b> is the honest convergence delta
Σ<sub>k</sub> w<sub>k</sub> F'(α<sub>k</sub>) − (F(x) − F(x')): how far each schedule's
quadrature of the path derivative is from the true logit change. For IG it equals
Σ IG − (F(x) − F(x')); for IDG it is taken <em>before</em> the per-photo rescaling that makes
IDG's attributions sum to F(x) − F(x') exactly, so the rescaling does not hide it.
<b>Insertion</b> starts from a blurred copy (Gaussian, kernel 11, σ 5) and restores
{PIXELS_PER_STEP} pixels per step, most salient first; <b>deletion</b> sets them to 0. The score
is the softmax probability of the class, the AUC the trapezoid rule over the fraction of pixels
(the IDG paper's protocol). The saliency that ranks the pixels, and that the heat maps show, is
|sum over colour channels| of the attributions, drawn at full colour from its
{SALIENCY_CLIP_PERCENTILE:g}th percentile up (each map scaled on its own). A handful of
photos is a small sample: AUC differences of about 0.01 are within the noise.</p>

<h2>How to read the path-dynamics plot</h2>
<p>The top panel traces the class logit F(γ(α)) as the image fades in from the baseline (α = 0)
to the photo (α = 1); the bottom panel is its slope F'(α), which every gradient point gives for
free. On these photos the logit rises steeply within the first tenth or so of the path and then
creeps up to its final value: the shaded band, where F covers 10–90% of its total change, is
the <em>decision region</em>. Uniform IG points (hollow squares) are spread evenly, so most of
them land on the plateau where the gradients say little about the decision. IDG weighs each
point's gradient by F'(α) and, from the forward-only pilot (grey crosses), moves its gradient
points (filled circles) into the intervals where the logit changes. The legend counts each
method's points inside the band. The deltas in the table put a number on it: they measure how
well each schedule integrates F', and a schedule that samples a sharp rise coarsely gets a
large one.</p>

<h2>Photos</h2>
<p><img src="{e(result.overview.name)}" alt="overview: every photo with IG and IDG"></p>
{chr(10).join(sections)}
<p style="color:#777">Written by <code>idgrad demo</code> in {total:.0f} s
(load {result.seconds["load"]:.0f} s, attributions {result.seconds["attribution"]:.0f} s,
insertion/deletion {result.seconds["metrics"]:.0f} s,
figures {result.seconds["figures"]:.0f} s).</p>
"""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>idgrad demo: IG vs IDG</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>{body}</body>\n</html>\n"
    )
    result.report.write_text(page, encoding="utf-8")
    return result.report
