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

import html
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np

from idgrad import visual
from idgrad.channels import DISPLAY_REDUCTION, Reduction
from idgrad.visual import DEFAULT_CLIP_PERCENTILE, Sign

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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

Method = Literal["blended_heat_map", "heat_map", "masked_image", "original_image"]
METHODS: tuple[str, ...] = get_args(Method)

_DEFAULT_CMAPS: dict[str, str] = {
    "all": "RdBu_r",
    "positive": "Reds",
    "negative": "Blues",
    "absolute": "inferno",
}
_POSITIVE_RGB = (214, 39, 40)
_NEGATIVE_RGB = (31, 119, 180)
_POSITIVE_HEX = "#d62728"
_NEGATIVE_HEX = "#1f77b4"


_MISSING_MATPLOTLIB = "idgrad.plot's drawing functions need matplotlib: pip install 'idgrad[plot]'"


def _matplotlib() -> Any:
    """Imports ``matplotlib`` on first use, with a helpful message if it is missing."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(_MISSING_MATPLOTLIB) from error
    return matplotlib


def _pyplot() -> Any:
    """Imports ``matplotlib.pyplot`` on first use, with a helpful message if it is missing."""
    _matplotlib()
    import matplotlib.pyplot as plt

    return plt


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Returns ``ax`` and its figure, or a new figure with one axes."""
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
        return fig, ax
    _pyplot()
    return ax.figure, ax  # type: ignore[return-value]


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


class _Panel(NamedTuple):
    """A validated attribution panel, ready to draw."""

    values: np.ndarray
    photo: np.ndarray | None
    colormap: Any
    vmin: float


def _prepare_panel(
    attribution: Any,
    image: Any,
    *,
    sign: Sign,
    method: Method,
    reduction: Reduction,
    clip_percentile: float | None,
    cmap: str | Any | None,
    alpha: float,
    channels_first: bool | None,
) -> _Panel:
    """Validates one panel's inputs and computes its arrays (no drawing, no figure)."""
    _check_choice(sign, visual.SIGNS, "sign")
    _check_choice(method, METHODS, "method")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    values = visual.attribution_map(
        attribution,
        sign=sign,
        reduction=reduction,
        clip_percentile=clip_percentile,
        channels_first=channels_first,
    )
    photo = None
    if image is not None:
        photo = visual.to_display_image(image, channels_first=channels_first)
        if photo.shape[:2] != values.shape:
            raise ValueError(
                f"image is {photo.shape[0]}x{photo.shape[1]} but the attribution map is "
                f"{values.shape[0]}x{values.shape[1]}"
            )
    elif method != "heat_map":
        raise ValueError(f"method={method!r} needs an image; pass image= or use 'heat_map'")

    colormap = cmap if callable(cmap) else _matplotlib().colormaps[cmap or _DEFAULT_CMAPS[sign]]
    return _Panel(values, photo, colormap, -1.0 if sign == "all" else 0.0)


def _draw_panel(ax: Axes, panel: _Panel, method: Method, alpha: float) -> Any:
    """Draws a prepared panel into ``ax``; returns the mappable for a colour bar or None."""
    mpl = _matplotlib()
    from matplotlib.colors import Normalize

    values, photo, colormap = panel.values, panel.photo, panel.colormap
    norm = Normalize(vmin=panel.vmin, vmax=1.0)
    ax.set_axis_off()
    if method == "heat_map" or photo is None:
        return ax.imshow(values, cmap=colormap, norm=norm, interpolation="nearest")
    if method == "original_image":
        ax.imshow(photo)
        return None
    if method == "masked_image":
        # sqrt as in the blend below: a linear mask leaves all but the top pixels near black.
        ax.imshow(visual.mask_image(photo, np.sqrt(np.abs(values))))
        return None

    # Blended: the colour map over a light grey copy of the photo (grey so the photo's own colours
    # do not compete with the map's). Each pixel's opacity is alpha * sqrt(|map|): unimportant
    # pixels show the photo, and the square root keeps mid-sized values visible (with a linear
    # opacity they would fade twice, once in opacity and once towards the map's pale centre).
    grey = 0.35 + 0.6 * visual.to_grayscale(photo)
    rgba = colormap(norm(values))
    blended = visual.blend(grey, rgba, alpha=alpha * np.sqrt(np.abs(values)))
    ax.imshow(blended, interpolation="nearest")
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=colormap)
    mappable.set_array(values)
    return mappable


def image_attribution(
    attribution: Any,
    image: Any = None,
    *,
    sign: Sign = "all",
    method: Method = "blended_heat_map",
    reduction: Reduction = DISPLAY_REDUCTION,
    clip_percentile: float | None = DEFAULT_CLIP_PERCENTILE,
    cmap: str | Any | None = None,
    alpha: float = 0.9,
    title: str | None = None,
    colorbar: bool = True,
    channels_first: bool | None = None,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Draws an image attribution as a heat map, over the image, or as a mask of the image.

    The attribution is reduced over channels, restricted to ``sign`` and scaled so that the
    ``clip_percentile`` percentile of ``|map|`` is full colour (see
    :func:`idgrad.visual.attribution_map`).

    Methods:
        ``"blended_heat_map"``: the coloured map over a light grey copy of the image, each
        pixel's opacity ``alpha * sqrt(|map|)``; ``"heat_map"``: the map alone; ``"masked_image"``:
        the image multiplied by ``sqrt(|map|)``; ``"original_image"``: the image alone.

    Args:
        attribution: ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(1, C, H, W)``.
        image: The input image, any layout :func:`idgrad.visual.to_display_image` accepts;
            needed by every method except ``"heat_map"``. For a normalised model input pass
            ``to_display_image(x, mean=..., std=...)`` to get its true colours.
        sign: ``"all"`` (signed, diverging colours), ``"positive"``, ``"negative"`` (its
            magnitude) or ``"absolute"``.
        method: One of the methods above.
        reduction: Channel reduction: ``"sum"`` (signed), ``"abs_sum"`` (``|sum|``),
            ``"sum_abs"``, ``"positive_sum"``, ``"l2"``, ``"max_abs"``; see
            :func:`idgrad.visual.reduce_channels`.
        clip_percentile: Percentile of ``|map|`` shown as full colour, in ``(0, 100]``.
        cmap: A matplotlib colour map or its name; ``None`` picks ``"RdBu_r"`` for
            ``sign="all"``, ``"Reds"``, ``"Blues"`` or ``"inferno"`` otherwise.
        alpha: Largest opacity of the map in ``"blended_heat_map"``.
        title: Axes title.
        colorbar: Add a colour bar (heat maps only).
        channels_first: Layout of 3-D inputs; ``None`` infers it.
        ax: Axes to draw into; a new figure is made if ``None``.

    Returns:
        ``(fig, ax)``.

    Raises:
        ValueError: For an unknown ``sign``/``method``/``reduction``, bad shapes, a missing
            image, or an image whose size differs from the attribution's.

    Example:
        >>> import numpy as np, matplotlib.pyplot as plt
        >>> fig, ax = image_attribution(np.ones((3, 8, 8)), method="heat_map", sign="absolute")
        >>> plt.close(fig)
    """
    panel = _prepare_panel(
        attribution,
        image,
        sign=sign,
        method=method,
        reduction=reduction,
        clip_percentile=clip_percentile,
        cmap=cmap,
        alpha=alpha,
        channels_first=channels_first,
    )
    fig, ax = _figure_and_axes(ax, (5.0, 4.2) if colorbar else (4.2, 4.2))
    mappable = _draw_panel(ax, panel, method, alpha)
    if colorbar and mappable is not None:
        bar = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
        bar.set_ticks([-1.0, 0.0, 1.0] if sign == "all" else [0.0, 0.5, 1.0])
        bar.set_label(f"attribution / p{_format_percentile(clip_percentile)}(|map|)")
    if title is not None:
        ax.set_title(title)
    return fig, ax


def _format_percentile(clip_percentile: float | None) -> str:
    value = 100.0 if clip_percentile is None else float(clip_percentile)
    return f"{value:g}"


def _examples(items: Any, name: str) -> list[Any]:
    """Splits a batch tensor/array ``(B, ...)`` or a sequence into a list of examples."""
    if hasattr(items, "shape") and getattr(items, "ndim", 0) >= 3:
        return [items[i] for i in range(items.shape[0])]
    if isinstance(items, Sequence) and not isinstance(items, str):
        return list(items)
    raise TypeError(f"{name} must be a batch (B, ...) or a sequence of examples")


def figure_grid(
    images: Any,
    attributions: Mapping[str, Any],
    *,
    sign: Sign = "absolute",
    method: Method = "heat_map",
    reduction: Reduction = DISPLAY_REDUCTION,
    clip_percentile: float | None = DEFAULT_CLIP_PERCENTILE,
    cmap: str | Any | None = None,
    alpha: float = 0.9,
    image_title: str = "image",
    row_titles: Sequence[str] | None = None,
    panel_size: float = 2.6,
    channels_first: bool | None = None,
    axes: Any = None,
) -> tuple[Figure, np.ndarray]:
    """Draws a grid with one row per image: the image, then one panel per attribution method.

    Each panel is scaled on its own (percentile clipping per map), which is what makes maps
    from different methods comparable by shape rather than by raw magnitude. The default is
    the IDG paper's saliency map, ``|sum over channels|``, as a heat map.

    Args:
        images: A batch ``(B, C, H, W)`` / ``(B, H, W, C)`` or a sequence of ``B`` images.
        attributions: Column title -> a batch or sequence of ``B`` attributions, e.g.
            ``{"IG": ig, "IDG": idg}``; columns appear in the mapping's order.
        sign: As in :func:`image_attribution`.
        method: As in :func:`image_attribution`; ``"original_image"`` is not useful here.
        reduction: As in :func:`image_attribution`.
        clip_percentile: As in :func:`image_attribution`.
        cmap: As in :func:`image_attribution`.
        alpha: As in :func:`image_attribution`.
        image_title: Title of the first column.
        row_titles: Optional label per row, shown left of the image.
        panel_size: Size of each panel in inches (new figures only).
        channels_first: Layout of 3-D inputs; ``None`` infers it.
        axes: Existing axes of shape ``(B, 1 + len(attributions))`` to draw into.

    Returns:
        ``(fig, axes)`` with ``axes`` a ``(B, 1 + len(attributions))`` object array.

    Raises:
        ValueError: For mismatched numbers of images and attributions or an empty input.

    Example:
        >>> import numpy as np, matplotlib.pyplot as plt
        >>> rng = np.random.default_rng(0)
        >>> imgs = rng.random((2, 3, 8, 8))
        >>> fig, axes = figure_grid(imgs, {"IG": rng.normal(size=(2, 3, 8, 8))})
        >>> axes.shape
        (2, 2)
        >>> plt.close(fig)
    """
    _check_choice(sign, visual.SIGNS, "sign")
    _check_choice(method, METHODS, "method")
    if not isinstance(attributions, Mapping) or not attributions:
        raise ValueError("attributions must be a non-empty mapping of column title -> batch")
    photos = _examples(images, "images")
    columns = {
        name: _examples(batch, f"attributions[{name!r}]") for name, batch in attributions.items()
    }
    n_rows, n_cols = len(photos), 1 + len(columns)
    if n_rows == 0:
        raise ValueError("images is empty")
    for name, maps in columns.items():
        if len(maps) != n_rows:
            raise ValueError(
                f"attributions[{name!r}] has {len(maps)} examples but there are {n_rows} images"
            )
    if row_titles is not None and len(row_titles) != n_rows:
        raise ValueError(f"row_titles has {len(row_titles)} entries, expected {n_rows}")
    shown = [visual.to_display_image(photo, channels_first=channels_first) for photo in photos]
    panels = [
        [
            _prepare_panel(
                maps[row],
                shown[row],
                sign=sign,
                method=method,
                reduction=reduction,
                clip_percentile=clip_percentile,
                cmap=cmap,
                alpha=alpha,
                channels_first=channels_first,
            )
            for maps in columns.values()
        ]
        for row in range(n_rows)
    ]

    if axes is None:
        fig, grid = _pyplot().subplots(
            n_rows,
            n_cols,
            figsize=(panel_size * n_cols, panel_size * n_rows),
            squeeze=False,
            layout="constrained",
        )
    else:
        _pyplot()
        grid = np.asarray(axes, dtype=object)
        if grid.ndim == 1 and grid.size == n_rows * n_cols:
            grid = grid.reshape(n_rows, n_cols)
        if grid.shape != (n_rows, n_cols):
            raise ValueError(f"axes must have shape {(n_rows, n_cols)}, got {grid.shape}")
        fig = grid[0, 0].figure

    for row in range(n_rows):
        first = grid[row, 0]
        first.imshow(shown[row])
        first.set_xticks([])
        first.set_yticks([])
        for side in first.spines.values():
            side.set_visible(False)
        if row_titles is not None:
            first.set_ylabel(row_titles[row])
        for col, panel in enumerate(panels[row], start=1):
            _draw_panel(grid[row, col], panel, method, alpha)
    for col, name in enumerate([image_title, *columns]):
        grid[0, col].set_title(name)
    return fig, grid


# --------------------------------------------------------------------------------------------
# The path
# --------------------------------------------------------------------------------------------


class _Run:
    """One example's row of a ``Details`` result, as numpy arrays."""

    def __init__(self, details: Any, index: int, label: str | None) -> None:
        missing = [
            name
            for name in ("alphas", "outputs", "derivatives", "start", "end")
            if not hasattr(details, name)
        ]
        if missing:
            raise TypeError(
                "details must be the Details returned with return_details=True; "
                f"missing fields {missing}"
            )
        alphas = visual._as_array(details.alphas, "details.alphas")
        if alphas.ndim != 2:
            raise ValueError(f"details.alphas must be (B, S), got {tuple(alphas.shape)}")
        batch = alphas.shape[0]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -batch <= index < batch:
            raise ValueError(f"index {index} is out of range for a batch of {batch}")
        self.alphas = alphas[index]
        self.outputs = self._row(details.outputs, "outputs", alphas.shape, index)
        self.derivatives = self._row(details.derivatives, "derivatives", alphas.shape, index)
        start = visual._as_array(details.start, "details.start").reshape(-1)
        end = visual._as_array(details.end, "details.end").reshape(-1)
        if start.shape != (batch,) or end.shape != (batch,):
            raise ValueError(f"details.start and details.end must be ({batch},)")
        self.start, self.end = float(start[index]), float(end[index])
        self.pilot_alphas: np.ndarray | None = None
        self.pilot_outputs: np.ndarray | None = None
        pilot_a = getattr(details, "pilot_alphas", None)
        pilot_f = getattr(details, "pilot_outputs", None)
        if pilot_a is not None and pilot_f is not None:
            pa = visual._as_array(pilot_a, "details.pilot_alphas")
            pf = visual._as_array(pilot_f, "details.pilot_outputs")
            if pa.ndim != 2 or pa.shape != pf.shape or pa.shape[0] != batch:
                raise ValueError(
                    "details.pilot_alphas and pilot_outputs must both be (B, N + 1), got "
                    f"{tuple(pa.shape)} and {tuple(pf.shape)}"
                )
            self.pilot_alphas, self.pilot_outputs = pa[index], pf[index]
        adaptive = self.pilot_alphas is not None
        self.label = label or ("adaptive" if adaptive else "fixed schedule")

    @staticmethod
    def _row(values: Any, name: str, shape: tuple[int, ...], index: int) -> np.ndarray:
        array = visual._as_array(values, f"details.{name}")
        if array.shape != shape:
            raise ValueError(
                f"details.{name} must have the shape of details.alphas {shape}, "
                f"got {tuple(array.shape)}"
            )
        row: np.ndarray = array[index]
        return row


def _runs(details: Any, other: Any, labels: Sequence[str] | None, index: int) -> list[_Run]:
    """Normalises ``details``/``other``/``labels`` into a list of labelled runs."""
    items: list[tuple[str | None, Any]] = [(None, details)]
    if other is not None:
        if isinstance(other, Sequence) and not hasattr(other, "alphas"):
            for entry in other:
                if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
                    raise TypeError("other must be a Details or a sequence of (label, Details)")
                items.append(entry)
        else:
            items.append((None, other))
    if labels is not None:
        if isinstance(labels, str) or len(labels) > len(items):
            raise ValueError(
                f"labels must be a sequence of at most {len(items)} strings, got {labels!r}"
            )
        items = [(labels[i] if i < len(labels) else label, d) for i, (label, d) in enumerate(items)]
    runs = [_Run(d, index, label) for label, d in items]
    scale = max(1.0, abs(runs[0].end - runs[0].start))
    for run in runs[1:]:
        moved = max(abs(run.start - runs[0].start), abs(run.end - runs[0].end))
        if moved > 1e-3 * scale:
            warnings.warn(
                f"{run.label!r} has different endpoints F(x'), F(x) than {runs[0].label!r}; "
                "path_dynamics expects runs on the same model, input, baseline and target",
                stacklevel=3,
            )
    return runs


def path_dynamics(
    details: Any,
    index: int = 0,
    other: Any = None,
    *,
    labels: Sequence[str] | None = None,
    decision_fractions: tuple[float, float] | None = (0.1, 0.9),
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> tuple[Figure, tuple[Axes, Axes]]:
    """Draws ``F(γ(α))`` and ``F'(α)`` along the path, with the points each schedule used.

    Top panel: the target output along the straight path from the baseline (``α = 0``) to the
    input (``α = 1``), traced through every point any run evaluated (pilot, gradient points and
    both endpoints), with each run's gradient points marked and the pilot points shown as small
    crosses. Bottom panel: the path derivative ``F'(α) = ∇F(γ(α)) · (x - x')`` at each run's
    points. The shaded band is the decision region, where ``F`` covers ``decision_fractions``
    of its total change; the legend counts how many of each run's points fall inside it. When
    the logit rises early and then saturates, a uniform schedule spends most of its points on
    the plateau, where ``F'`` is ~0; IDG weights by ``F'`` and adaptive sampling moves the
    points into the band.

    Args:
        details: A ``Details`` from ``return_details=True`` (fields ``alphas``, ``outputs``,
            ``derivatives`` of shape ``(B, S)``, ``start``, ``end`` of shape ``(B,)``, and
            optionally ``pilot_alphas``/``pilot_outputs`` of shape ``(B, N + 1)``).
        index: Which example of the batch to draw.
        other: Runs to compare on the same example: a second ``Details``, or a sequence of
            ``(label, Details)`` pairs.
        labels: Names for ``details`` (and ``other`` when it is a single ``Details``); by default
            ``"adaptive"`` for a run with pilot points and ``"fixed schedule"`` otherwise.
        decision_fractions: ``(low, high)`` fractions of ``F(x) - F(x')`` that bound the
            shaded band, or ``None`` for no band.
        title: Title above the top panel.
        axes: Two existing axes (top, bottom) to draw into.

    Returns:
        ``(fig, (ax_output, ax_derivative))``.

    Raises:
        TypeError: If ``details`` lacks the fields above.
        ValueError: For an out-of-range ``index`` or inconsistent shapes.

    Example:
        >>> import types, torch, matplotlib.pyplot as plt
        >>> a = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)[None]
        >>> d = types.SimpleNamespace(alphas=a, outputs=torch.tanh(8 * a),
        ...     derivatives=8 / torch.cosh(8 * a) ** 2, start=torch.zeros(1),
        ...     end=torch.tanh(torch.tensor([8.0])), pilot_alphas=None, pilot_outputs=None)
        >>> fig, (top, bottom) = path_dynamics(d)
        >>> len(top.lines), len(bottom.lines)  # curve + points + band key; F' + zero line
        (3, 2)
        >>> plt.close(fig)
    """
    runs = _runs(details, other, labels, index)
    if axes is None:
        fig, pair = _pyplot().subplots(
            2,
            1,
            sharex=True,
            figsize=(7.0, 5.6),
            gridspec_kw={"height_ratios": [3, 2]},
            layout="constrained",
        )
        top, bottom = pair
    else:
        _pyplot()
        if len(axes) != 2:
            raise ValueError(f"axes must be two axes (top, bottom), got {len(axes)}")
        top, bottom = axes
        fig = top.figure

    # The output curve through every evaluated point.
    first = runs[0]
    xs = [np.array([0.0, 1.0])]
    ys = [np.array([first.start, first.end])]
    for run in runs:
        xs.append(run.alphas)
        ys.append(run.outputs)
        if run.pilot_alphas is not None and run.pilot_outputs is not None:
            xs.append(run.pilot_alphas)
            ys.append(run.pilot_outputs)
    all_x, all_y = np.concatenate(xs), np.concatenate(ys)
    order = np.argsort(all_x, kind="stable")
    top.plot(all_x[order], all_y[order], color="0.35", lw=1.5, zorder=1, label="F(γ(α))")

    region = None
    if decision_fractions is not None:
        low, high = decision_fractions
        region = visual.decision_region(all_x, all_y, first.start, first.end, low=low, high=high)
        if region is not None:
            for panel in (top, bottom):
                panel.axvspan(*region, color="gold", alpha=0.25, lw=0, zorder=0)

    markers = ["o", "s", "^", "D", "v", "P"]
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    pilots_drawn = False
    for k, run in enumerate(runs):
        color, marker = colors[k % len(colors)], markers[k % len(markers)]
        label = f"{run.label}: {run.alphas.size} points"
        if region is not None:
            inside = int(np.sum((run.alphas >= region[0]) & (run.alphas <= region[1])))
            label += f", {inside} in the band"
        top.plot(
            run.alphas,
            run.outputs,
            ls="none",
            marker=marker,
            ms=5,
            color=color,
            mfc="none" if k else color,
            label=label,
            zorder=3,
        )
        order_k = np.argsort(run.alphas, kind="stable")
        bottom.plot(
            run.alphas[order_k],
            run.derivatives[order_k],
            marker=marker,
            ms=4,
            lw=1.0,
            color=color,
            mfc="none" if k else color,
            label=run.label,
        )
        if run.pilot_alphas is not None and run.pilot_outputs is not None:
            top.plot(
                run.pilot_alphas,
                run.pilot_outputs,
                ls="none",
                marker="x",
                ms=4,
                color="0.45",
                label=None if pilots_drawn else f"pilot: {run.pilot_alphas.size} forward passes",
                zorder=2,
            )
            pilots_drawn = True

    if region is not None and decision_fractions is not None:
        low, high = decision_fractions
        top.plot(
            [],
            [],
            color="gold",
            alpha=0.5,
            lw=8,
            label=f"decision band ({low:.0%}–{high:.0%} of F(x) − F(x'))",
        )
    top.set_ylabel("target output F(γ(α))")
    bottom.set_ylabel("F'(α)")
    bottom.set_xlabel("α  (0 = baseline, 1 = input)")
    bottom.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    bottom.set_xlim(0.0, 1.0)
    top.legend(loc="best", fontsize="small", framealpha=0.9)
    top.set_title(title if title is not None else f"Path dynamics, example {index}")
    return fig, (top, bottom)


# --------------------------------------------------------------------------------------------
# Curves and bars
# --------------------------------------------------------------------------------------------


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
        x, y = visual._curve(curve[0], curve[1], f"curves[{name!r}] fractions", "scores")
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


def tabular_bars(
    feature_names: Sequence[str],
    attributions: Any,
    *,
    top_k: int | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Draws a horizontal bar per feature, largest ``|attribution|`` on top, red + / blue −.

    Args:
        feature_names: One name per feature.
        attributions: ``(n_features,)`` or ``(1, n_features)`` attributions of one example.
        top_k: Show only the ``top_k`` largest by magnitude; ``None`` shows all.
        title: Axes title.
        ax: Axes to draw into; a new figure is made if ``None``.

    Returns:
        ``(fig, ax)``.

    Raises:
        ValueError: For mismatched lengths or a ``top_k`` below 1.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = tabular_bars(["age", "income", "debt"], [0.2, -1.0, 0.5], top_k=2)
        >>> [t.get_text() for t in ax.get_yticklabels()]
        ['debt', 'income']
        >>> plt.close(fig)
    """
    values = visual._as_array(attributions, "attributions")
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 1:
        raise ValueError(
            f"attributions must be (n_features,) or (1, n_features), got {tuple(values.shape)}"
        )
    names = [str(name) for name in feature_names]
    if len(names) != values.size:
        raise ValueError(f"got {len(names)} feature names for {values.size} attributions")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
    ):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    order = np.argsort(-np.abs(values), kind="stable")[: top_k or values.size]
    shown = order[::-1]  # barh draws bottom-up; the largest goes on top
    fig, ax = _figure_and_axes(ax, (6.0, 0.9 + 0.32 * len(shown)))
    colors = [_POSITIVE_HEX if values[i] >= 0 else _NEGATIVE_HEX for i in shown]
    ax.barh(np.arange(len(shown)), values[shown], color=colors)
    ax.set_yticks(np.arange(len(shown)))
    ax.set_yticklabels([names[i] for i in shown])
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_xlabel("attribution")
    ax.grid(axis="x", alpha=0.3)
    if title is not None:
        ax.set_title(title)
    return fig, ax


# --------------------------------------------------------------------------------------------
# Text (HTML, no matplotlib)
# --------------------------------------------------------------------------------------------


def text_highlight(
    tokens: Sequence[str],
    scores: Any,
    *,
    max_abs: float | None = None,
    separator: str = " ",
) -> str:
    """Returns HTML with each token's background coloured by its signed score.

    Positive scores are red, negative blue; the opacity is ``|score| / max_abs`` (capped at
    0.85 so the text stays readable), with ``max_abs`` the largest ``|score|`` by default.
    Token text is HTML-escaped and each token is one ``<span>`` whose tooltip is its score.

    Args:
        tokens: The tokens, as strings.
        scores: One score per token, ``(n,)`` or ``(1, n)``.
        max_abs: Score magnitude shown at full colour; larger ones are clipped.
        separator: Text put between tokens (use ``""`` for sub-word tokens with their own
            spaces).

    Returns:
        An HTML fragment (a ``<div>``); see :func:`save_html` to write a page.

    Raises:
        ValueError: For mismatched lengths, non-finite scores or a non-positive ``max_abs``.
        TypeError: If a token is not a string.

    Example:
        >>> out = text_highlight(["good", "<b>"], [1.0, -0.5])
        >>> out.count("<span"), "&lt;b&gt;" in out
        (2, True)
    """
    values = visual._as_array(scores, "scores")
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 1:
        raise ValueError(f"scores must be (n,) or (1, n), got {tuple(values.shape)}")
    if isinstance(tokens, str):
        raise TypeError("tokens must be a sequence of strings, not one string")
    tokens = list(tokens)
    if len(tokens) != values.size:
        raise ValueError(f"got {len(tokens)} tokens for {values.size} scores")
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"tokens must be strings, got {type(token).__name__}")
    if max_abs is None:
        max_abs = float(np.abs(values).max()) if values.size else 0.0
    elif not (math.isfinite(max_abs) and max_abs > 0):
        raise ValueError(f"max_abs must be positive, got {max_abs}")
    spans = []
    for token, score in zip(tokens, values.tolist(), strict=True):
        strength = min(abs(score) / max_abs, 1.0) if max_abs > 0 else 0.0
        red, green, blue = _POSITIVE_RGB if score >= 0 else _NEGATIVE_RGB
        spans.append(
            f'<span class="idgrad-token" title="{score:.4g}" style="background-color: '
            f"rgba({red}, {green}, {blue}, {0.85 * strength:.3f}); padding: 0.1em 0.15em; "
            f'border-radius: 0.2em">{html.escape(token, quote=True)}</span>'
        )
    joined = html.escape(separator, quote=True).join(spans)
    style = "line-height: 1.9; font-family: sans-serif"
    return f'<div class="idgrad-text" style="{style}">{joined}</div>'


def save_html(fragment: str, path: str | Path, *, title: str = "idgrad attributions") -> Path:
    """Writes an HTML fragment (e.g. from :func:`text_highlight`) as a standalone UTF-8 page.

    Args:
        fragment: The HTML body.
        path: Where to write the file; parent folders must exist.
        title: The page title (escaped).

    Returns:
        The path written, as a ``Path``.

    Example:
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     out = save_html(text_highlight(["hi"], [1.0]), os.path.join(folder, "a.html"))
        ...     out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        True
    """
    if not isinstance(fragment, str):
        raise TypeError(f"fragment must be a str, got {type(fragment).__name__}")
    target = Path(path)
    page = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n{fragment}\n</body>\n</html>\n"
    )
    target.write_text(page, encoding="utf-8")
    return target
