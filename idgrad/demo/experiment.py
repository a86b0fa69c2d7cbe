"""The experiment behind ``idgrad demo``: IG vs IDG on a real ImageNet classifier, offline.

For each photo, EfficientNet-Lite0 (:func:`idgrad.zoo.load_efficientnet_lite0`) predicts a
class; Integrated Gradients on a uniform rule and adaptive Integrated Decision Gradients
explain that class's logit from the all-zero baseline (the mean image in model space, as in the
IDG paper) **at the same cost**, and the attributions are scored by the insertion and deletion
curves (:mod:`idgrad.metrics`). This module computes and returns numbers only; the figures,
``report.html`` and the printed table are :mod:`idgrad.demo.report`'s, and
:func:`idgrad.demo.imagenet.run_imagenet_demo` runs both.

Equal cost is counted in model evaluations (one image through the network, with or without a
backward pass): IG with ``n`` uniform points makes ``n + 2``; IDG on its default graded schedule
gets ``n + 2`` gradient points (the two ends of the path among them, nothing forward-only), and
with a pilot size given it runs the paper's pilot schedule and gets the largest ``m + N + 1``
that fits (:func:`equal_cost_steps`); a counter around the model checks both. The graded
schedule also says how accurate its attributions are (``GradedDetails.error``, in the report).

The deltas are the honest convergence deltas, ``Σ_k w_k F'(α_k) − (F(x) − F(x'))``:
for IG this is ``Σ IG − (F(x) − F(x'))``; for IDG it is computed before the rescaling that
makes IDG's attributions sum to ``F(x) − F(x')`` exactly. Both measure how well the schedule
integrates the same function, so they compare the two schedules directly.

Insertion/deletion cost: one curve on a ``224 x 224`` photo with ``p`` pixels per step is
``1 + ceil(50176 / p)`` forward passes, four curves per photo. The IDG paper's protocol
(:data:`PAPER_PIXELS_PER_STEP`, 224 pixels per step) makes 900 passes per photo, about three
quarters of the demo's time; the default :data:`DEFAULT_PIXELS_PER_STEP` takes every fourth
point of those same curves (228 passes per photo).

Example:
    >>> plan = plan_experiment(photos=["chelsea"], n_steps=6, image_size=64)  # no model run
    >>> plan.idg_steps, plan.n_pilot_steps, plan.pixels_per_step  # graded: no pilot
    (6, 0, 896)
    >>> result = run_experiment(plan)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import torch

from idgrad import metrics, zoo
from idgrad.core.results import PathDetails
from idgrad.core.targets import predicted_classes
from idgrad.core.validation import check_int
from idgrad.methods import integrated_decision_gradients, integrated_gradients
from idgrad.ops.channels import SALIENCY_REDUCTION
from idgrad.ops.progress import Progress

__all__ = [
    "DEFAULT_PHOTOS",
    "DEFAULT_PIXELS_PER_STEP",
    "DEFAULT_STEPS",
    "NATURAL_PHOTOS",
    "PAPER_PIXELS_PER_STEP",
    "Experiment",
    "ExperimentPlan",
    "MethodResult",
    "PhotoResult",
    "curve_points",
    "equal_cost_steps",
    "plan_experiment",
    "run_experiment",
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

#: Photos explained by default.
DEFAULT_PHOTOS: tuple[str, ...] = NATURAL_PHOTOS[:2]

#: IG's gradient points per photo (the IDG paper's 50); IDG gets the same number of model
#: evaluations.
DEFAULT_STEPS = 50

#: Insertion/deletion protocol of the IDG paper: 224 pixels per step (225 points per curve).
PAPER_PIXELS_PER_STEP = 224

#: The demo's default: every fourth point of the paper's curves (57 points per curve, a
#: quarter of the forward passes); see docs/demo.md ("Flags and time") for what it changes.
DEFAULT_PIXELS_PER_STEP = 4 * PAPER_PIXELS_PER_STEP

_IG_LABEL = "IG"
_IDG_LABEL = "IDG"


class MethodResult(NamedTuple):
    """One method's explanation of one photo.

    Attributes:
        method: ``"IG"`` or ``"IDG"``.
        attributions: ``(1, 3, 224, 224)`` float32 attributions of the target logit.
        details: The :class:`~idgrad.core.results.PathDetails` of the call (points, weights,
            outputs, path derivatives, pilot).
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
    details: PathDetails[Any]
    evaluations: int
    seconds: float
    delta: float
    insertion: metrics.Curve
    deletion: metrics.Curve

    @property
    def estimated_error(self) -> float | None:
        """The graded schedule's estimate of the relative L2 error, or None (other rules)."""
        error = getattr(self.details, "error", None)
        return None if error is None else float(error[0])

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve (higher is better)."""
        return float(self.insertion.auc[0])

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve (lower is better)."""
        return float(self.deletion.auc[0])


class PhotoResult(NamedTuple):
    """Everything the demo computed for one photo.

    Attributes:
        name: Photo name (see :func:`idgrad.zoo.photo_names`).
        class_index: The predicted ImageNet class, the target of both methods.
        class_name: Its name.
        probability: Softmax probability of the class on the photo.
        logit: ``F(x)``, the class logit on the photo.
        baseline_logit: ``F(x')``, the class logit on the all-zero baseline.
        ig: Integrated Gradients (uniform rule).
        idg: Integrated Decision Gradients (adaptive), at the same cost.
    """

    name: str
    class_index: int
    class_name: str
    probability: float
    logit: float
    baseline_logit: float
    ig: MethodResult
    idg: MethodResult


class ExperimentPlan(NamedTuple):
    """The checked settings of one run (see :func:`plan_experiment`).

    Attributes:
        photos: Photo names, in order.
        n_steps: IG's gradient points per photo.
        idg_steps: IDG's gradient points per photo.
        n_pilot_steps: IDG's pilot intervals ``N`` (``N + 1`` forward passes) on the paper's
            pilot schedule; 0 for idgrad's graded schedule (no forward-only pass).
        ig_rule: IG's quadrature rule.
        chunk: Path points per forward/backward pass of the methods (or ``"auto"``).
        metrics_chunk: Images per forward pass of the insertion/deletion curves (or
            ``"auto"``).
        pixels_per_step: Pixels inserted or deleted per step of the curves.
        image_size: Side of the square photos.
    """

    photos: tuple[str, ...]
    n_steps: int
    idg_steps: int
    n_pilot_steps: int
    ig_rule: str
    chunk: int | Literal["auto"]
    metrics_chunk: int | Literal["auto"]
    pixels_per_step: int
    image_size: int


class Experiment(NamedTuple):
    """What :func:`run_experiment` computed.

    Attributes:
        plan: The settings.
        photos: One result per photo, in the order explained.
        pixels: ``(P, 3, S, S)`` float32 photos in ``[0, 255]`` (for the figures).
        seconds: Wall time by phase: ``"load"``, ``"attribution"``, ``"metrics"``.
    """

    plan: ExperimentPlan
    photos: list[PhotoResult]
    pixels: torch.Tensor
    seconds: dict[str, float]


def equal_cost_steps(n_steps: int, n_pilot_steps: int | None = None) -> tuple[int, int]:
    """IDG's ``(gradient points m, pilot intervals N)`` costing no more than IG with ``n_steps``.

    IG with ``n`` points makes ``n + 2`` model evaluations (its gradient points and the two
    endpoints its delta needs). With ``n_pilot_steps=None`` IDG runs idgrad's graded schedule,
    whose ``m`` nodes and the two ends of the path are all gradient points (``m + 2``
    evaluations): ``m = n``, ``N = 0``. With a pilot size it runs the paper's pilot schedule,
    which makes ``m + N + 1`` (the pilot's ``N + 1`` forward passes include the endpoints):
    ``m`` is what is left.

    Args:
        n_steps: IG's gradient points, ``>= 1``.
        n_pilot_steps: IDG's pilot intervals (the pilot schedule), or ``None`` (graded).

    Returns:
        ``(m, N)`` costing ``n_steps + 2`` evaluations: ``m + 2`` when ``N = 0`` (then
        ``m = n_steps``), ``m + N + 1`` on the pilot schedule.

    Raises:
        ValueError: If a count is below 1 or the given pilot leaves no gradient point.

    Example:
        >>> equal_cost_steps(50)  # graded: 50 nodes + both ends, as many evaluations as IG
        (50, 0)
        >>> equal_cost_steps(20, n_pilot_steps=8)  # the pilot schedule: 13 + 8 + 1 = 22
        (13, 8)
    """
    n_steps = check_int(n_steps, "n_steps")
    budget = n_steps + 2
    if n_pilot_steps is None:
        return n_steps, 0
    n_pilot_steps = check_int(n_pilot_steps, "n_pilot_steps")
    m = budget - n_pilot_steps - 1
    if m < 1:
        raise ValueError(
            f"a pilot of {n_pilot_steps} intervals costs {n_pilot_steps + 1} evaluations, "
            f"leaving no gradient point within IG's {budget}; use fewer pilot steps"
        )
    return m, n_pilot_steps


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


def curve_points(image_size: int, pixels_per_step: int) -> int:
    """Points of one insertion or deletion curve (forward passes) on a square photo.

    Example:
        >>> curve_points(224, PAPER_PIXELS_PER_STEP), curve_points(224, DEFAULT_PIXELS_PER_STEP)
        (225, 57)
    """
    return 1 + -(-(image_size * image_size) // pixels_per_step)


def plan_experiment(
    photos: Sequence[str] | None = None,
    n_steps: int = DEFAULT_STEPS,
    *,
    ig_rule: str = "riemann_middle",
    n_pilot_steps: int | None = None,
    batch_size: int | None = None,
    metrics_batch_size: int | None = None,
    pixels_per_step: int = DEFAULT_PIXELS_PER_STEP,
    image_size: int = 224,
) -> ExperimentPlan:
    """Check the settings of a run, before any model is loaded.

    Args:
        photos: Names from :func:`idgrad.zoo.photo_names`; ``None`` uses
            :data:`DEFAULT_PHOTOS`.
        n_steps: IG's gradient points per photo; IDG gets the same number of model
            evaluations (:func:`equal_cost_steps`).
        ig_rule: IG's rule (uniform by default, the schedule the IDG paper compares with; any
            of :data:`idgrad.RULES`).
        n_pilot_steps: IDG's pilot intervals: the paper's pilot schedule; ``None`` for
            idgrad's graded schedule (:func:`equal_cost_steps`).
        batch_size: Most path points per forward/backward pass of the attribution methods;
            ``None`` for idgrad's automatic choice (``internal_batch_size="auto"``).
        metrics_batch_size: Most images per forward pass of the insertion/deletion curves;
            ``None`` for the automatic choice.
        pixels_per_step: Pixels inserted or deleted per step of the curves;
            :data:`PAPER_PIXELS_PER_STEP` (224) is the IDG paper's protocol, the default
            :data:`DEFAULT_PIXELS_PER_STEP` keeps every fourth of its points.
        image_size: Side of the square photos. The model was trained at 224; smaller sizes
            run much faster (the insertion/deletion curves shrink with the pixel count) and
            are meant for smoke tests, not for judging the methods.

    Returns:
        An :class:`ExperimentPlan`.

    Raises:
        ValueError: For an unknown or repeated photo, a count below 1 or an unknown rule.
    """
    names = _check_photos(photos)
    n_steps = check_int(n_steps, "n_steps")
    chunk: int | Literal["auto"] = (
        "auto" if batch_size is None else check_int(batch_size, "batch_size")
    )
    metrics_chunk: int | Literal["auto"] = (
        "auto"
        if metrics_batch_size is None
        else check_int(metrics_batch_size, "metrics_batch_size")
    )
    pixels_per_step = check_int(pixels_per_step, "pixels_per_step")
    image_size = check_int(image_size, "image_size")
    from idgrad.engine.schedules import check_rule

    check_rule(ig_rule)
    idg_steps, pilot_steps = equal_cost_steps(n_steps, n_pilot_steps)
    return ExperimentPlan(
        photos=tuple(names),
        n_steps=n_steps,
        idg_steps=idg_steps,
        n_pilot_steps=pilot_steps,
        ig_rule=ig_rule,
        chunk=chunk,
        metrics_chunk=metrics_chunk,
        pixels_per_step=pixels_per_step,
        image_size=image_size,
    )


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


def run_experiment(plan: ExperimentPlan, *, progress: bool = True) -> Experiment:
    """Explain each photo's top class with IG and adaptive IDG at equal cost; score both.

    Args:
        plan: The settings, from :func:`plan_experiment`.
        progress: Show progress over model evaluations on stderr (a bar on a terminal, plain
            lines in a log; see :class:`idgrad.ops.progress.Progress`).

    Returns:
        An :class:`Experiment` (numbers only; nothing is written).

    Raises:
        ImportError: If the ``zoo`` extra is missing.
    """
    names, n_steps, ig_rule = list(plan.photos), plan.n_steps, plan.ig_rule
    idg_steps, pilot_steps = plan.idg_steps, plan.n_pilot_steps
    chunk, metrics_chunk = plan.chunk, plan.metrics_chunk
    seconds = {"load": 0.0, "attribution": 0.0, "metrics": 0.0}
    t0 = time.perf_counter()
    model = zoo.load_efficientnet_lite0()
    # The demo owns this copy: no parameter gradients are needed (the methods differentiate
    # with respect to the input only) and channels-last convolutions are faster on CPUs.
    model.requires_grad_(False)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    classes = zoo.imagenet_classes()
    pixels = zoo.photos_to_tensor([zoo.load_photo(name, size=plan.image_size) for name in names])
    images = zoo.normalize_imagenet_lite(pixels)
    seconds["load"] = time.perf_counter() - t0

    curve = curve_points(images.shape[-1], plan.pixels_per_step)
    idg_cost = idg_steps + (pilot_steps + 1 if pilot_steps else 2)
    per_photo = (n_steps + 2) + idg_cost + 4 * curve
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
        predicted = predicted_classes(logits)
        for i, name in enumerate(names):
            x = images[i : i + 1]
            target = int(predicted[i])
            runs: dict[str, tuple[torch.Tensor, PathDetails[Any], int, float]] = {}
            for label in (_IG_LABEL, _IDG_LABEL):
                bar.set_description(f"{name}: {label}")
                before = counted.count
                t0 = time.perf_counter()
                if label == _IG_LABEL:
                    details = integrated_gradients.details(
                        counted,
                        x,
                        target=target,
                        n_steps=n_steps,
                        rule=ig_rule,
                        internal_batch_size=chunk,
                    )
                elif pilot_steps == 0:  # idgrad's graded schedule
                    details = integrated_decision_gradients.details(
                        counted,
                        x,
                        target=target,
                        n_steps=idg_steps,
                        schedule="graded",
                        internal_batch_size=chunk,
                    )
                else:
                    details = integrated_decision_gradients.details(
                        counted,
                        x,
                        target=target,
                        n_steps=idg_steps,
                        schedule="pilot",  # the paper's schedule
                        rule="riemann_middle",
                        n_pilot_steps=pilot_steps,
                        internal_batch_size=chunk,
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
                saliency = metrics.saliency_map(attributions, SALIENCY_REDUCTION)
                curve_in = metrics.insertion(
                    counted,
                    x,
                    saliency,
                    target,
                    pixels_per_step=plan.pixels_per_step,
                    substrate="blur",
                    score="probability",
                    batch_size=metrics_chunk,
                )
                curve_out = metrics.deletion(
                    counted,
                    x,
                    saliency,
                    target,
                    pixels_per_step=plan.pixels_per_step,
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

            photo = PhotoResult(
                name=name,
                class_index=target,
                class_name=classes[target],
                probability=float(probabilities[i, target]),
                logit=float(logits[i, target]),
                baseline_logit=float(baseline_logits[target]),
                ig=scored[_IG_LABEL],
                idg=scored[_IDG_LABEL],
            )
            results.append(photo)
    finally:
        bar.close()

    return Experiment(plan, results, pixels, seconds)
