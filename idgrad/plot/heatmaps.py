"""Images and heat maps: one attribution over its image, and grids of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np

from idgrad import visual
from idgrad.ops.channels import DISPLAY_REDUCTION, Reduction
from idgrad.plot._common import (
    _DEFAULT_CMAPS,
    _check_choice,
    _figure_and_axes,
    _matplotlib,
    _pyplot,
)
from idgrad.visual import DEFAULT_CLIP_PERCENTILE, Sign

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["METHODS", "Method", "figure_grid", "image_attribution"]


Method = Literal["blended_heat_map", "heat_map", "masked_image", "original_image"]
METHODS: tuple[str, ...] = get_args(Method)


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
