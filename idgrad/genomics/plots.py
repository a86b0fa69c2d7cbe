"""Sequence logos and track plots (matplotlib, imported only when a plot is drawn).

The array work (what height each letter gets, where it is stacked) is in :func:`logo_layout`,
independent of matplotlib; :func:`plot_logo` only draws it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from idgrad.genomics.sequences import _resolve_layout
from idgrad.ops.extras import install_hint

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_COLORS", "logo_layout", "plot_logo", "plot_tracks"]

DEFAULT_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839", "U": "#D62839"}


def _import_pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"plotting needs matplotlib: {install_hint('plot')}") from err
    return plt


def _as_position_by_base(scores: Any, layout: str | None) -> np.ndarray:
    t = torch.as_tensor(scores).detach().to(torch.float64).cpu()
    if t.dim() != 2:
        raise ValueError(f"a logo needs a (4, L) or (L, 4) array, got shape {tuple(t.shape)}")
    lay = _resolve_layout(
        t, None if layout is None else {"CL": "NCL", "LC": "NLC"}.get(layout, layout)
    )
    return (t.T if lay == "NCL" else t).numpy()


def logo_layout(scores: Any, layout: str | None = None) -> list[tuple[int, int, float, float]]:
    """Where each letter of a logo goes: ``(position, base, bottom, height)`` rectangles.

    At each position the positive scores are stacked upward from 0, smallest first (the largest
    on top), the negative ones downward from 0, smallest magnitude nearest the axis. Zero scores
    draw nothing.

    Args:
        scores: ``(4, L)`` or ``(L, 4)`` (tensor or array).
        layout: ``"CL"``/``"NCL"`` or ``"LC"``/``"NLC"``; ``None`` infers it.

    Example:
        >>> logo_layout([[1.0], [-0.5], [2.0], [0.0]])
        [(0, 1, 0.0, -0.5), (0, 0, 0.0, 1.0), (0, 2, 1.0, 2.0)]
    """
    values = _as_position_by_base(scores, layout)
    boxes: list[tuple[int, int, float, float]] = []
    for pos, row in enumerate(values):
        neg = sorted((b for b in range(len(row)) if row[b] < 0), key=lambda b: -row[b])
        bottom = 0.0
        for b in neg:
            boxes.append((pos, b, bottom, float(row[b])))
            bottom += float(row[b])
        pos_bases = sorted((b for b in range(len(row)) if row[b] > 0), key=lambda b: row[b])
        bottom = 0.0
        for b in pos_bases:
            boxes.append((pos, b, bottom, float(row[b])))
            bottom += float(row[b])
    return boxes


_LETTER_CACHE: dict[str, Any] = {}


def _letter_path(letter: str) -> Any:
    """The outline of ``letter`` scaled to the unit square (cached)."""
    if letter not in _LETTER_CACHE:
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextPath
        from matplotlib.transforms import Affine2D

        path = TextPath(
            (0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans", weight="bold")
        )
        box = path.get_extents()
        unit = Affine2D().translate(-box.x0, -box.y0).scale(1.0 / box.width, 1.0 / box.height)
        _LETTER_CACHE[letter] = unit.transform_path(path)
    return _LETTER_CACHE[letter]


def plot_logo(
    contributions: Any,
    ax: Axes | None = None,
    alphabet: str = "ACGT",
    colors: Mapping[str, str] | None = None,
    layout: str | None = None,
    start: int = 0,
    letter_width: float = 0.9,
) -> tuple[Figure, Axes]:
    """Draw a sequence logo: each letter as tall as its contribution, negatives below zero.

    Letters are matplotlib ``TextPath`` outlines drawn as ``PathPatch`` es (no logo library
    needed); one patch per non-zero score. Letters below zero are drawn upside down (the
    logomaker convention), so the sign reads at a glance. Pass actual contributions for the
    classic "importance logo" (one letter per position), hypothetical ones to see every base.

    Args:
        contributions: ``(4, L)`` or ``(L, 4)`` scores.
        ax: axes to draw on; a new figure when ``None``.
        alphabet: the channel order (letter drawn for each channel).
        colors: letter → colour; defaults to the usual A green, C blue, G orange, T red.
        layout: ``"CL"`` or ``"LC"`` (``None`` infers it).
        start: x coordinate of the first position (e.g. a genomic offset).
        letter_width: fraction of each position's width a letter fills.

    Returns:
        ``(fig, ax)``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> fig, ax = plot_logo([[1.0, 0.0], [0.0, -0.5], [0.0, 0.0], [0.0, 0.0]])
        >>> len(ax.patches)
        2
    """
    plt = _import_pyplot()
    from matplotlib.patches import PathPatch
    from matplotlib.transforms import Affine2D

    palette = {**DEFAULT_COLORS, **(colors or {})}
    values = _as_position_by_base(contributions, layout)
    if values.shape[1] != len(alphabet):
        raise ValueError(f"alphabet {alphabet!r} does not match {values.shape[1]} channels")
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.25 * len(values)), 2.0))
    else:
        fig = ax.figure
    pad = (1.0 - letter_width) / 2
    for pos, base, bottom, height in logo_layout(values, "LC"):
        letter = alphabet[base]
        place = Affine2D().scale(letter_width, height).translate(start + pos - 0.5 + pad, bottom)
        patch = PathPatch(
            place.transform_path(_letter_path(letter)),
            facecolor=palette.get(letter.upper(), "0.4"),
            edgecolor="none",
        )
        ax.add_patch(patch)
    pos_top = np.clip(values, 0, None).sum(axis=1)
    neg_bottom = np.clip(values, None, 0).sum(axis=1)
    lo, hi = float(neg_bottom.min(initial=0.0)), float(pos_top.max(initial=0.0))
    margin = 0.05 * (hi - lo) if hi > lo else 1.0
    ax.set_xlim(start - 0.5, start + len(values) - 0.5)
    ax.set_ylim(lo - margin, hi + margin)
    ax.axhline(0.0, color="0.5", linewidth=0.5)
    ax.set_xlabel("position")
    ax.set_ylabel("contribution")
    return fig, ax


def plot_tracks(
    tracks: Any,
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    start: int = 0,
    fill: bool = True,
) -> tuple[Figure, Axes]:
    """Plot per-position tracks (signals, attribution sums) as lines over positions.

    Args:
        tracks: ``(L,)``, ``(T, L)`` or a mapping ``name -> (L,)``.
        ax: axes to draw on; a new figure when ``None``.
        labels: one name per track (the mapping's keys by default); a legend is drawn when there
            are labels.
        start: x coordinate of the first position.
        fill: shade between each track and zero.

    Returns:
        ``(fig, ax)``; one ``Line2D`` per track in ``ax.lines``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> fig, ax = plot_tracks({"signal": [0, 1, 3, 1], "attribution": [0, 0.5, 2, 0]})
        >>> len(ax.lines)
        2
    """
    plt = _import_pyplot()
    names: list[str] | None
    if isinstance(tracks, Mapping):
        names = list(tracks.keys()) if labels is None else list(labels)
        rows = [
            torch.as_tensor(v).detach().to(torch.float64).cpu().reshape(-1) for v in tracks.values()
        ]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise ValueError(f"tracks have different lengths {sorted(lengths)}")
        data = np.stack([r.numpy() for r in rows]) if rows else np.zeros((0, 0))
    else:
        arr = torch.as_tensor(tracks).detach().to(torch.float64).cpu().numpy()
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2:
            raise ValueError(f"tracks must be (L,) or (T, L), got shape {arr.shape}")
        data = arr
        names = None if labels is None else list(labels)
    if names is not None and len(names) != len(data):
        raise ValueError(f"{len(names)} labels for {len(data)} tracks")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 2.0))
    else:
        fig = ax.figure
    x = start + np.arange(data.shape[1])
    for k, row in enumerate(data):
        (line,) = ax.plot(x, row, linewidth=1.0, label=None if names is None else names[k])
        if fill:
            ax.fill_between(x, 0.0, row, color=line.get_color(), alpha=0.25, linewidth=0)
    if names is not None:
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_xlabel("position")
    return fig, ax
