"""Pictures of attributions and of the integration path.

Every drawing function returns ``(fig, ax)`` (or ``(fig, axes)`` when it draws several panels)
and draws into an existing ``ax=`` / ``axes=`` when given one. The numbers behind the pictures
come from :mod:`idgrad.visual`, which needs numpy only; matplotlib is imported inside the
drawing functions, so ``import idgrad.plot`` works without it. :func:`text_highlight` and
:func:`save_html` produce HTML and never need matplotlib.

Colour conventions: a signed map (``sign="all"``) uses the diverging ``"RdBu_r"`` with white at
zero and the colour limits fixed at ``[-1, 1]`` after percentile clipping, so red is positive,
blue negative and equal magnitudes get equal intensity; one-sign maps use a sequential map
(``"Reds"``, ``"Blues"``, ``"inferno"`` for ``|.|``) on ``[0, 1]``.

Example:
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from idgrad.plot import image_attribution
    >>> rng = np.random.default_rng(0)
    >>> fig, ax = image_attribution(rng.normal(size=(3, 16, 16)), rng.random((16, 16, 3)))
    >>> len(ax.images)
    1
    >>> plt.close(fig)
"""

from __future__ import annotations

from idgrad.plot.curves import insertion_deletion_curves
from idgrad.plot.dynamics import path_dynamics
from idgrad.plot.features import save_html, tabular_bars, text_highlight
from idgrad.plot.heatmaps import METHODS, Method, figure_grid, image_attribution

__all__ = [
    "METHODS",
    "Method",
    "figure_grid",
    "image_attribution",
    "insertion_deletion_curves",
    "path_dynamics",
    "save_html",
    "tabular_bars",
    "text_highlight",
]
