"""Insertion and deletion curves, one line per method, with their AUCs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from idgrad import visual
from idgrad.plot._common import _figure_and_axes
from idgrad.visual._arrays import _curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["insertion_deletion_curves"]


def insertion_deletion_curves(
    curves: Mapping[str, tuple[Any, Any]],
    aucs: Mapping[str, float] | None = None,
    *,
    title: str | None = None,
    xlabel: str = "fraction of pixels",
    ylabel: str = "score",
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Draws insertion or deletion curves, one line per method, with the AUC in the legend.

    Args:
        curves: Method name -> ``(fractions, scores)``, each 1-D of the same length.
        aucs: Method name -> AUC to print; a missing method's AUC is computed by the trapezoid
            rule over the x axis rescaled to ``[0, 1]`` (:func:`idgrad.visual.normalized_auc`).
        title: Axes title, e.g. ``"Insertion (higher is better)"``.
        xlabel: x axis label.
        ylabel: y axis label.
        ax: Axes to draw into; a new figure is made if ``None``.

    Returns:
        ``(fig, ax)``.

    Raises:
        ValueError: For an empty mapping or curves of mismatched lengths.

    Example:
        >>> import numpy as np, matplotlib.pyplot as plt
        >>> f = np.linspace(0, 1, 5)
        >>> fig, ax = insertion_deletion_curves({"IG": (f, f), "IDG": (f, f ** 0.5)})
        >>> [t.get_text() for t in ax.get_legend().get_texts()]
        ['IG (AUC 0.500)', 'IDG (AUC 0.643)']
        >>> plt.close(fig)
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping of name -> (fractions, scores)")
    prepared = []
    for name, curve in curves.items():
        if not isinstance(curve, (tuple, list)) or len(curve) != 2:
            raise ValueError(f"curves[{name!r}] must be a pair (fractions, scores)")
        x, y = _curve(curve[0], curve[1], f"curves[{name!r}] fractions", "scores")
        auc = aucs[name] if aucs is not None and name in aucs else visual.normalized_auc(x, y)
        prepared.append((name, x, y, float(auc)))
    fig, ax = _figure_and_axes(ax, (5.5, 4.0))
    for name, x, y, auc in prepared:
        ax.plot(x, y, lw=1.8, label=f"{name} (AUC {auc:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=min(0.0, *(float(y.min()) for _, _, y, _ in prepared)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title is not None:
        ax.set_title(title)
    return fig, ax
