"""The report of ``idgrad demo``: figures, ``report.html`` and the printed summary table.

Everything here draws or formats the numbers of an :class:`~idgrad.demo.experiment.Experiment`
(it runs no model). Files written to the output folder:

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

import html
import io
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from idgrad.demo.experiment import (
    PAPER_PIXELS_PER_STEP,
    Experiment,
    MethodResult,
    PhotoResult,
)
from idgrad.ops.channels import SALIENCY_REDUCTION
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

#: Percentile of the saliency map drawn at full colour in the figures.
SALIENCY_CLIP_PERCENTILE = 99.0


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
        photo.name: _photo_figures(photo, experiment.pixels[i], folder, dpi, plan.pixels_per_step)
        for i, photo in enumerate(experiment.photos)
    }
    overview = _overview_figure(experiment.photos, experiment.pixels, folder, dpi)
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
    _write_report(result, folder)
    return result


# --------------------------------------------------------------------------------------------
# Figures (composed from idgrad.plot)
# --------------------------------------------------------------------------------------------


def _save(fig: Any, folder: OutputFolder, name: str, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return folder.write(name, lambda f: f.write(buffer.getvalue()))


def _method_title(result: MethodResult, photo: PhotoResult) -> str:
    return f"{result.method} ({result.evaluations} evals)"


def _protocol(pixels_per_step: int) -> str:
    """How the curves relate to the IDG paper's protocol, in a few words."""
    if pixels_per_step == PAPER_PIXELS_PER_STEP:
        return "the IDG paper's protocol"
    if pixels_per_step % PAPER_PIXELS_PER_STEP == 0:
        k = pixels_per_step // PAPER_PIXELS_PER_STEP
        return f"every {k}th point of the IDG paper's {PAPER_PIXELS_PER_STEP}-pixel curves"
    return f"the IDG paper uses {PAPER_PIXELS_PER_STEP}"


def _photo_figures(
    photo: PhotoResult, pixels: torch.Tensor, out: OutputFolder, dpi: int, pixels_per_step: int
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
        reduction=SALIENCY_REDUCTION,
        clip_percentile=SALIENCY_CLIP_PERCENTILE,
        image_title=f"{photo.class_name} ({photo.probability:.0%})",
        axes=grid[:1],
    )
    for ax, result in zip(grid[1, 1:], (photo.ig, photo.idg)):
        plot.image_attribution(
            result.attributions[0],
            sign="absolute",
            method="heat_map",
            reduction=SALIENCY_REDUCTION,
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
    files["attributions"] = _save(fig, out, f"{photo.name}_attributions.png", dpi)

    fig, _ = plot.path_dynamics(
        photo.idg.details,
        other=[("IG, uniform", photo.ig.details)],
        labels=["IDG, adaptive"],
        title=f"{photo.name}: logit of '{photo.class_name}' along the path from the zero baseline",
    )
    files["path_dynamics"] = _save(fig, out, f"{photo.name}_path_dynamics.png", dpi)

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
    fig.suptitle(
        f"{photo.name}: {pixels_per_step} pixels per step ({_protocol(pixels_per_step)}), "
        "ranked by |sum over channels|"
    )
    files["insertion_deletion"] = _save(fig, out, f"{photo.name}_insertion_deletion.png", dpi)
    return files


def _overview_figure(
    results: Sequence[PhotoResult], pixels: torch.Tensor, folder: OutputFolder, dpi: int
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
        reduction=SALIENCY_REDUCTION,
        clip_percentile=SALIENCY_CLIP_PERCENTILE,
        image_title="photo",
        row_titles=[f"{r.name}: {r.class_name}" for r in results],
        panel_size=2.4,
    )
    return _save(fig, folder, "overview.png", dpi)


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
    ("est. err", 8, ">"),
    ("insertion", 9, ">"),
    ("deletion", 8, ">"),
)

#: What the columns mean, printed under the table and shown in the report.
_LEGEND = (
    "prob: softmax probability of the class; evals: model evaluations of the method (an image "
    "through the network, with or without a backward pass); seconds: wall time of the "
    "attribution call alone (not the curves) on this machine; delta: quadrature error on "
    "F(x) - F(x') (IDG's before its rescaling), also as % of F(x) - F(x'); est. err: the "
    "graded schedule's estimate of the relative L2 error of the attributions (- for a rule "
    "without one); insertion: AUC of "
    "the insertion curve (higher is better); deletion: AUC of the deletion curve (lower is "
    "better)."
)


def _rows(photos: Sequence[PhotoResult]) -> list[list[str]]:
    rows = []
    for photo in photos:
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
                    "-" if method.estimated_error is None else f"{method.estimated_error:.1%}",
                    f"{method.insertion_auc:.3f}",
                    f"{method.deletion_auc:.3f}",
                ]
            )
    return rows


def _means(photos: Sequence[PhotoResult]) -> dict[str, tuple[float, float, float]]:
    """Method -> mean (insertion AUC, deletion AUC, |delta| %) over the photos."""
    means = {}
    for picked in ([p.ig for p in photos], [p.idg for p in photos]):
        if not picked:
            continue
        label = picked[0].method
        rel = [
            abs(m.delta) / abs(p.logit - p.baseline_logit) * 100
            for m, p in zip(picked, photos)
            if p.logit != p.baseline_logit
        ]
        n = max(len(picked), 1)
        means[label] = (
            sum(m.insertion_auc for m in picked) / n,
            sum(m.deletion_auc for m in picked) / n,
            sum(rel) / max(len(rel), 1),
        )
    return means


def format_summary(result: DemoResult | Experiment) -> str:
    """The fixed-width summary table that ``idgrad demo`` prints, with its legend.

    One line per photo and method: the predicted class and its probability, the logit change
    ``F(x) − F(x')`` to explain, the model evaluations and seconds of the method, its honest
    convergence delta (absolute and as a percentage of the change), and its insertion (higher
    is better) and deletion (lower is better) AUCs; then the means over the photos and what
    each column means.
    """
    head = " ".join(f"{name:{align}{width}}" for name, width, align in _COLUMNS)
    lines = [head, "-" * len(head)]
    for row in _rows(result.photos):
        lines.append(
            " ".join(f"{cell:{align}{width}}" for cell, (_, width, align) in zip(row, _COLUMNS))
        )
    lines.append("-" * len(head))
    for label, (ins, dele, rel) in _means(result.photos).items():
        lines.append(
            f"mean over {len(result.photos)} photo(s), {label:<4}: insertion {ins:.3f} "
            f"(higher is better), deletion {dele:.3f} (lower is better), "
            f"|delta| {rel:.1f}% of F(x)-F(x')"
        )
    lines.append("")
    lines.extend(textwrap.wrap(_LEGEND, width=len(head)))
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
figure { margin: 1em 0; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _figure(name: str, caption: str) -> str:
    """One figure of the page, linked to its file so that a click opens it at full size."""
    e = html.escape
    return (
        f'<figure><a href="{e(name)}"><img src="{e(name)}" alt="{e(caption)}"></a>'
        f"<figcaption>{e(caption)}</figcaption></figure>\n"
    )


def _write_report(result: DemoResult, folder: OutputFolder) -> Path:
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
        "estimated error of the attributions",
        "insertion AUC (higher is better)",
        "deletion AUC (lower is better)",
    ]
    table = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for row in _rows(result.photos):
        table.append("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>")
    table.append("</table>")
    means = _means(result.photos)
    mean_items = "".join(
        f"<li>{e(label)}: insertion {ins:.3f} (higher is better), deletion {dele:.3f} "
        "(lower is better), "
        f"|delta| {rel:.1f}% of F(x) − F(x')</li>"
        for label, (ins, dele, rel) in means.items()
    )
    n, m, pilot = result.n_steps, result.idg_steps, result.n_pilot_steps
    if pilot:
        idg_cost = (
            f"IDG runs the paper's pilot schedule: a forward-only pilot of {pilot + 1} points and "
            f"{m} gradient points ({m + pilot + 1} in all). A forward-only pass is counted as a "
            "full evaluation although it costs about a third of one with a backward pass, so "
            "the comparison is, if anything, tilted against IDG."
        )
        idg_points = (
            "from the forward-only pilot (grey crosses), moves its gradient points (filled "
            "circles) into the intervals where the logit changes"
        )
    else:
        idg_cost = (
            f"IDG runs idgrad's graded schedule: {m + 2} gradient points ({m} nodes and the two "
            "ends of the path, nothing forward-only), placed where a first look along the path "
            "finds the logit and the gradients changing. It also estimates how accurate its "
            "attributions are (<b>estimated error</b>, the relative L2 error over every pixel; "
            "see <code>idgrad.engine.estimate</code>)."
        )
        idg_points = (
            "from its first, uniform points, places the others (filled circles) where the logit "
            "and the gradients change"
        )
    sections = []
    for photo in result.photos:
        f = {kind: path.name for kind, path in result.figures[photo.name].items()}
        sections.append(
            f"<h3>{e(photo.name)}: {e(photo.class_name)} ({photo.probability:.1%})</h3>\n"
            + _figure(f["attributions"], f"{photo.name}: the photo, IG and IDG saliency")
            + _figure(f["path_dynamics"], f"{photo.name}: the class logit along the path")
            + _figure(f["insertion_deletion"], f"{photo.name}: insertion and deletion curves")
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
plus the 2 endpoint passes its delta needs ({n + 2} in all). {idg_cost}{size_note}</p>

<h2>Summary</h2>
{chr(10).join(table)}
<ul>{mean_items}</ul>
<p><b>delta</b> is the honest convergence delta
Σ<sub>k</sub> w<sub>k</sub> F'(α<sub>k</sub>) − (F(x) − F(x')): how far each schedule's
quadrature of the path derivative is from the true logit change. For IG it equals
Σ IG − (F(x) − F(x')); for IDG it is taken <em>before</em> the per-photo rescaling that makes
IDG's attributions sum to F(x) − F(x') exactly, so the rescaling does not hide it.
<b>Insertion</b> starts from a blurred copy (Gaussian, kernel 11, σ 5) and restores
{result.pixels_per_step} pixels per step ({e(_protocol(result.pixels_per_step))}), most salient
first: higher is better; <b>deletion</b> sets them to 0: lower is better. The score is the
softmax probability of the class, the AUC the trapezoid rule over the fraction of pixels.
<b>model evals</b> counts images through the network, with or without a backward pass;
<b>seconds</b> is the wall time of the attribution call alone (not its curves) on the machine
that wrote this page. The saliency that ranks the pixels, and that the heat maps show, is
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
point's gradient by F'(α) and, {idg_points}. The legend counts each
method's points inside the band. The deltas in the table put a number on it: they measure how
well each schedule integrates F', and a schedule that samples a sharp rise coarsely gets a
large one.</p>

<h2>Photos</h2>
{_figure(result.overview.name, "every photo with its IG and IDG saliency")}
{chr(10).join(sections)}
<p>Click a figure to open it at full size.</p>
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
    return folder.write(result.report.name, lambda f: f.write(page.encode("utf-8")))
