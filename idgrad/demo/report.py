"""The report of ``idgrad demo``: figures, ``report.html`` and the printed summary table.

Everything here draws or formats the numbers of an :class:`~idgrad.demo.experiment.Experiment`
(it runs no model): the figures in :mod:`idgrad.demo.figures`, the table in
:mod:`idgrad.demo.summary_table`, the page in :mod:`idgrad.demo.html_page`, put together by
:func:`write_report`. Files written to the output folder:

* ``<photo>_attributions.png``: the photo, then IG and IDG saliency blended over it and alone;
* ``<photo>_path_dynamics.png``: the target logit ``F(γ(α))`` and its path derivative
  ``F'(α)`` with the points each method evaluated (:func:`idgrad.plot.path_dynamics`);
* ``<photo>_insertion_deletion.png``: both curves per method with their AUCs;
* ``overview.png``: every photo with its two saliency maps;
* ``report.html``: one page with the table, how to read it, and every figure (relative links;
  each figure opens at full size);
* ``.idgrad-demo.json``: the names of these files and their SHA-256.

A file with one of these names is replaced only when an earlier demo wrote it and it has not
changed since (the record says so), or when ``overwrite=True`` (``idgrad demo
--overwrite``): a folder that holds other files of the same names is refused before any work
(:class:`idgrad.ops.outputs.OutputFolder`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from idgrad.demo.experiment import Experiment, PhotoResult
from idgrad.demo.figures import SALIENCY_CLIP_PERCENTILE, overview_figure, photo_figures
from idgrad.demo.html_page import write_html
from idgrad.demo.summary_table import format_summary
from idgrad.ops.outputs import OutputFolder

__all__ = [
    "RECORD",
    "SALIENCY_CLIP_PERCENTILE",
    "DemoResult",
    "format_summary",
    "output_folder",
    "report_files",
    "write_report",
]

#: The file in the output folder that lists what the demo wrote (and their SHA-256).
RECORD = ".idgrad-demo.json"


class DemoResult(NamedTuple):
    """What :func:`idgrad.demo.imagenet.run_imagenet_demo` computed and wrote.

    Attributes:
        out_dir: The output folder.
        photos: One result per photo, in the order explained.
        report: The ``report.html`` written.
        overview: The ``overview.png`` written.
        figures: Photo name -> figure kind (``"attributions"``, ``"path_dynamics"``,
            ``"insertion_deletion"``) -> file written.
        n_steps: IG's gradient points per photo.
        idg_steps: IDG's gradient points per photo.
        n_pilot_steps: IDG's pilot intervals ``N`` (``N + 1`` forward passes).
        ig_rule: IG's quadrature rule.
        pixels_per_step: Pixels inserted or deleted per step of the curves.
        seconds: Wall time of the whole run, by phase: ``"load"``, ``"attribution"``,
            ``"metrics"``, ``"figures"``, ``"total"``.
    """

    out_dir: Path
    photos: list[PhotoResult]
    report: Path
    overview: Path
    figures: dict[str, dict[str, Path]]
    n_steps: int
    idg_steps: int
    n_pilot_steps: int
    ig_rule: str
    pixels_per_step: int
    seconds: dict[str, float]


def report_files(photos: Sequence[str]) -> list[str]:
    """The names of the files the report writes for these photos (the record aside)."""
    kinds = ("attributions", "path_dynamics", "insertion_deletion")
    return [f"{name}_{kind}.png" for name in photos for kind in kinds] + [
        "overview.png",
        "report.html",
    ]


def output_folder(out_dir: str | Path, *, overwrite: bool) -> OutputFolder:
    """The demo's output folder, which replaces only the files an earlier demo wrote."""
    return OutputFolder(
        out_dir,
        RECORD,
        overwrite=overwrite,
        what=f"output folder {out_dir}",
        hint="pass overwrite=True (idgrad demo --overwrite) to replace them",
    )


def write_report(
    experiment: Experiment,
    out_dir: str | Path,
    *,
    dpi: int = 100,
    started: float | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Draw every figure of ``experiment`` and write ``report.html`` into ``out_dir``.

    Args:
        experiment: The numbers, from :func:`idgrad.demo.experiment.run_experiment`.
        out_dir: Output folder (created if missing).
        dpi: Resolution of the PNG figures.
        started: :func:`time.perf_counter` at the start of the run, for the total time;
            ``None`` adds up the phases instead.
        overwrite: Replace files of the report's names that no earlier demo wrote (or
            that changed since); without it they are refused before anything is drawn.

    Returns:
        A :class:`DemoResult`.

    Raises:
        ImportError: If the ``plot`` extra (matplotlib) is missing.
        idgrad.ops.outputs.OutputError: A file would be lost (see ``overwrite``), or the
            folder cannot be written.
    """
    out = Path(out_dir)
    folder = output_folder(out, overwrite=overwrite)
    folder.check(report_files([photo.name for photo in experiment.photos]))
    plan = experiment.plan
    t0 = time.perf_counter()
    figures = {
        photo.name: photo_figures(photo, experiment.pixels[i], folder, dpi, plan.pixels_per_step)
        for i, photo in enumerate(experiment.photos)
    }
    overview = overview_figure(experiment.photos, experiment.pixels, folder, dpi)
    seconds = dict(experiment.seconds)
    seconds["figures"] = time.perf_counter() - t0
    seconds["total"] = (
        time.perf_counter() - started if started is not None else sum(seconds.values())
    )
    result = DemoResult(
        out_dir=out,
        photos=experiment.photos,
        report=out / "report.html",
        overview=overview,
        figures=figures,
        n_steps=plan.n_steps,
        idg_steps=plan.idg_steps,
        n_pilot_steps=plan.n_pilot_steps,
        ig_rule=plan.ig_rule,
        pixels_per_step=plan.pixels_per_step,
        seconds=seconds,
    )
    write_html(result, folder)
    return result
