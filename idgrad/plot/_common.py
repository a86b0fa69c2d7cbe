"""Helpers shared by the plot modules: lazy matplotlib, axes, colours, choice checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idgrad.ops.extras import install_hint

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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


_MISSING_MATPLOTLIB = f"idgrad.plot's drawing functions need matplotlib: {install_hint('plot')}"


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
