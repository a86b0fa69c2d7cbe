"""IG vs IDG on a real ImageNet classifier, offline: the job behind ``idgrad demo``.

:func:`run_imagenet_demo` runs the experiment (:mod:`idgrad.demo.experiment`: attributions,
insertion/deletion curves, numbers) and then the report (:mod:`idgrad.demo.report`: figures,
``report.html``). The names of both modules are importable from here too.

Example:
    >>> result = run_imagenet_demo("idgrad-demo", photos=["chelsea"])  # doctest: +SKIP
    >>> print(format_summary(result))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from idgrad.core.validation import check_int
from idgrad.demo.experiment import (
    DEFAULT_PHOTOS,
    DEFAULT_PIXELS_PER_STEP,
    DEFAULT_STEPS,
    NATURAL_PHOTOS,
    PAPER_PIXELS_PER_STEP,
    Experiment,
    ExperimentPlan,
    MethodResult,
    PhotoResult,
    equal_cost_steps,
    plan_experiment,
    run_experiment,
)
from idgrad.demo.report import (
    SALIENCY_CLIP_PERCENTILE,
    DemoResult,
    format_summary,
    output_folder,
    report_files,
    write_report,
)

__all__ = [
    "DEFAULT_PHOTOS",
    "DEFAULT_PIXELS_PER_STEP",
    "DEFAULT_STEPS",
    "NATURAL_PHOTOS",
    "PAPER_PIXELS_PER_STEP",
    "SALIENCY_CLIP_PERCENTILE",
    "DemoResult",
    "Experiment",
    "ExperimentPlan",
    "MethodResult",
    "PhotoResult",
    "equal_cost_steps",
    "format_summary",
    "plan_experiment",
    "run_experiment",
    "run_imagenet_demo",
    "write_report",
]


def run_imagenet_demo(
    out_dir: str | Path = "idgrad-demo",
    photos: Sequence[str] | None = None,
    n_steps: int = DEFAULT_STEPS,
    *,
    ig_rule: str = "riemann_middle",
    n_pilot_steps: int | None = None,
    batch_size: int | None = None,
    metrics_batch_size: int | None = None,
    pixels_per_step: int = DEFAULT_PIXELS_PER_STEP,
    progress: bool = True,
    dpi: int = 100,
    image_size: int = 224,
    overwrite: bool = False,
) -> DemoResult:
    """Explain each photo's top class with IG and adaptive IDG at equal cost; write figures.

    Every argument is checked before the model is loaded; the arguments other than
    ``out_dir``, ``progress`` and ``dpi`` are those of
    :func:`~idgrad.demo.experiment.plan_experiment`.

    Args:
        out_dir: Folder for the figures and ``report.html`` (created if missing).
        photos: Names from :func:`idgrad.zoo.photo_names`; ``None`` uses
            :data:`DEFAULT_PHOTOS`.
        n_steps: IG's gradient points per photo; IDG gets the same number of model
            evaluations (:func:`equal_cost_steps`).
        ig_rule: IG's rule (any of :data:`idgrad.RULES`).
        n_pilot_steps: IDG's pilot intervals; ``None`` for the rule of
            :func:`equal_cost_steps`.
        batch_size: Most path points per forward/backward pass of the attribution methods;
            ``None`` for idgrad's automatic choice.
        metrics_batch_size: Most images per forward pass of the insertion/deletion curves;
            ``None`` for the automatic choice.
        pixels_per_step: Pixels per step of the insertion/deletion curves;
            :data:`PAPER_PIXELS_PER_STEP` for the IDG paper's protocol.
        progress: Show progress over model evaluations on stderr (a bar on a terminal, plain
            lines in a log; see :class:`idgrad.ops.progress.Progress`).
        dpi: Resolution of the PNG figures.
        image_size: Side of the square photos (224 for the model; smaller for smoke tests).
        overwrite: Replace files of the report's names in ``out_dir`` that no earlier
            demo wrote (or that changed since); without it such files are refused before
            any work (see :mod:`idgrad.demo.report`).

    Returns:
        A :class:`DemoResult`.

    Raises:
        ValueError: For an unknown or repeated photo, a count below 1 or an unknown rule.
        ImportError: If the ``zoo`` or ``plot`` extras are missing.
        idgrad.ops.outputs.OutputError: ``out_dir`` holds files the demo would replace
            (see ``overwrite``) or cannot be written (checked before any work).
    """
    started = time.perf_counter()
    plan = plan_experiment(
        photos,
        n_steps,
        ig_rule=ig_rule,
        n_pilot_steps=n_pilot_steps,
        batch_size=batch_size,
        metrics_batch_size=metrics_batch_size,
        pixels_per_step=pixels_per_step,
        image_size=image_size,
    )
    dpi = check_int(dpi, "dpi")
    out = Path(out_dir)
    # before the work: a folder that cannot be written, or files that would be lost
    output_folder(out, overwrite=overwrite).check(report_files(plan.photos))
    experiment = run_experiment(plan, progress=progress)
    return write_report(experiment, out, dpi=dpi, started=started, overwrite=overwrite)
