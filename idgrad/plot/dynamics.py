"""Path dynamics: the model's output and its path derivative along the integration path."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from idgrad import visual
from idgrad.plot._common import _pyplot
from idgrad.visual._arrays import _as_array

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["path_dynamics"]


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
                "details must be a PathDetails, as returned by method.details(...); "
                f"missing fields {missing}"
            )
        alphas = _as_array(details.alphas, "details.alphas")
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
        start = _as_array(details.start, "details.start").reshape(-1)
        end = _as_array(details.end, "details.end").reshape(-1)
        if start.shape != (batch,) or end.shape != (batch,):
            raise ValueError(f"details.start and details.end must be ({batch},)")
        self.start, self.end = float(start[index]), float(end[index])
        self.pilot_alphas: np.ndarray | None = None
        self.pilot_outputs: np.ndarray | None = None
        pilot_a = getattr(details, "pilot_alphas", None)
        pilot_f = getattr(details, "pilot_outputs", None)
        if pilot_a is not None and pilot_f is not None:
            pa = _as_array(pilot_a, "details.pilot_alphas")
            pf = _as_array(pilot_f, "details.pilot_outputs")
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
        array = _as_array(values, f"details.{name}")
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
        details: A ``PathDetails`` from ``method.details(...)`` (fields ``alphas``, ``outputs``,
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
