"""The figures of ``idgrad demo``'s report, composed from :mod:`idgrad.plot`.

Per photo (:func:`photo_figures`): the photo with IG and IDG saliency blended over it and
alone, the path dynamics (the target logit and its path derivative with the points each
method evaluated), and the insertion/deletion curves with their AUCs; and one overview of
every photo (:func:`overview_figure`). Saliency is ``|sum over channels|``, the map the
curves rank pixels by, drawn at full colour from its :data:`SALIENCY_CLIP_PERCENTILE`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from idgrad.demo.experiment import PAPER_PIXELS_PER_STEP, MethodResult, PhotoResult
from idgrad.ops.channels import SALIENCY_REDUCTION
from idgrad.ops.outputs import OutputFolder

__all__ = ["SALIENCY_CLIP_PERCENTILE", "curve_protocol", "overview_figure", "photo_figures"]

#: Percentile of the saliency map drawn at full colour in the figures.
SALIENCY_CLIP_PERCENTILE = 99.0


def _save(fig: Any, folder: OutputFolder, name: str, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return folder.write(name, lambda f: f.write(buffer.getvalue()))


def _method_title(result: MethodResult, photo: PhotoResult) -> str:
    return f"{result.method} ({result.evaluations} evals)"


def curve_protocol(pixels_per_step: int) -> str:
    """How the curves relate to the IDG paper's protocol, in a few words."""
    if pixels_per_step == PAPER_PIXELS_PER_STEP:
        return "the IDG paper's protocol"
    if pixels_per_step % PAPER_PIXELS_PER_STEP == 0:
        k = pixels_per_step // PAPER_PIXELS_PER_STEP
        return f"every {k}th point of the IDG paper's {PAPER_PIXELS_PER_STEP}-pixel curves"
    return f"the IDG paper uses {PAPER_PIXELS_PER_STEP}"


def photo_figures(
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
        f"{photo.name}: {pixels_per_step} pixels per step ({curve_protocol(pixels_per_step)}), "
        "ranked by |sum over channels|"
    )
    files["insertion_deletion"] = _save(fig, out, f"{photo.name}_insertion_deletion.png", dpi)
    return files


def overview_figure(
    results: Sequence[PhotoResult], pixels: torch.Tensor, folder: OutputFolder, dpi: int
) -> Path:
    """Every photo with its IG and IDG saliency, one row each (``overview.png``)."""
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
