"""``report.html`` of ``idgrad demo``: the table, how to read it, and every figure.

One page, no script and nothing fetched: the figures are linked relatively, and each opens at
full size.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from idgrad.demo.figures import SALIENCY_CLIP_PERCENTILE, curve_protocol
from idgrad.demo.summary_table import method_means, summary_rows
from idgrad.ops.outputs import OutputFolder

if TYPE_CHECKING:
    from idgrad.demo.report import DemoResult

__all__ = ["write_html"]


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


def write_html(result: DemoResult, folder: OutputFolder) -> Path:
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
    for row in summary_rows(result.photos):
        table.append("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>")
    table.append("</table>")
    means = method_means(result.photos)
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
{result.pixels_per_step} pixels per step ({e(curve_protocol(result.pixels_per_step))}), most salient
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
