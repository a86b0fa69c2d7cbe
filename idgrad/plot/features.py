"""Per-feature pictures: bars for tabular features, highlighted tokens in HTML (no matplotlib)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from idgrad.plot._common import (
    _NEGATIVE_HEX,
    _NEGATIVE_RGB,
    _POSITIVE_HEX,
    _POSITIVE_RGB,
    _figure_and_axes,
)
from idgrad.visual._arrays import _as_array

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["save_html", "tabular_bars", "text_highlight"]


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
    values = _as_array(attributions, "attributions")
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
    values = _as_array(scores, "scores")
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
