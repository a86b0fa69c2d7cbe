"""Error-controlled path integration: gradient points in rounds, where the error is.

(One algorithm in one module, ~900 lines: the rounds, where the points go and the error
estimate that steers them read each other's state; the model-free pieces are in
:mod:`idgrad.engine.grading`.)

Each example's straight path ``x' + alpha (x - x')`` is sampled at nodes
``0 = a_0 < ... < a_{n-1} = 1``, every one a gradient evaluation -- the two ends too:
every method needs ``F(x')`` and ``F(x)``, and a gradient costs one model evaluation
like a forward pass. A node gives ``F(a_k)``, ``F'(a_k) = grad F . (x - x')`` and the
gradient ``g_k``, so it carries the integrand ``c_k g_k`` (``c = 1`` for Integrated
Gradients, ``c = F'`` for Integrated Decision Gradients) and, on every cell
``[a_k, a_{k+1}]``, the exact integral of ``F'``: ``F(a_{k+1}) - F(a_k)``.

**Rule.** :func:`idgrad.engine.grading.node_weights` on the nodes, the cubic spline's weights:
``O(h^4)`` for smooth integrands on any smoothly graded mesh, the trapezoid rule's
interior weights for the piecewise-constant integrands of ReLU networks (and the
trapezoid rule itself where a spline would swing).

**Rounds** (per example; examples in a batch share the passes through the model):

1. *pilot*: ``N + 1`` uniform nodes. How unresolved they leave ``F'`` -- the trapezoid rule's
   exact error on ``integral F'`` over each cell, ``h (F'_a + F'_b) / 2 - (F(b) - F(a))``,
   relative to how much ``F`` moves (``_unresolved``) -- sets the uniform share of the
   density: near 1 on smooth, resolved paths (a near-uniform mesh keeps the rule's error
   cancellation), down to ``floor`` where the action is narrower than the pilot's cells;
2. *zoom* (only on unresolved paths): while a cell holds more than ``zoom_threshold`` of the
   activity (below), it is bisected, up to ``zoom_fraction`` of the budget;
3. *graded*: a smooth density (:class:`idgrad.engine.grading.Density`: the activity of the pilot's
   cells at their scale and of the current cells at theirs, on the uniform share), and the
   mesh of its quantiles bent through the nodes already evaluated
   (:func:`idgrad.engine.grading.place_nodes`), up to the budget;
4. *refine* (tolerance only): while the estimated error exceeds ``rtol``, split gaps of the
   graded coordinate ``u``: every gap (into ``q`` parts) on smooth paths and where the error
   must fall by ``2x`` or more, else the gaps with the largest local error ``||dU|| h``
   (a gap at most 5 times below the graded spacing).

**Activity** of a cell (where the error is): ``h mean(||U||)`` (``U = c g (x - x')``, the
integrand) and, for IDG, as much again from ``|F(b) - F(a)| + |residual|`` (the decision
region, and ``F`` dipping between two nodes).

**Error estimate** of each example's attributions, relative L2 over every feature of every
input (not only about ``integral F'``), ``safety`` times the larger of two terms:

* *smooth*: the results ``Q`` on all nodes, ``H`` the mean of the two half meshes (every
  other interior node, both ends) and ``K`` of the four quarter meshes; on a smooth
  integrand ``Q - H`` and ``H - K`` shrink by the rule's ratio ``r = 2^-p`` per halving, and
  the error left in ``Q`` is ``||Q - H|| r / (1 - r)`` with ``r = ||Q - H|| / ||H - K||``
  (within ``[1/32, 1/2]``); left out on unevenly split meshes;
* *rough*: jumps (ReLU networks) at random places in gaps of width ``h`` give errors of root
  mean square ``||J|| h / sqrt(12)``; each node's residual against the interpolant through
  its neighbours sees the jumps next to it and the squares add up
  (:meth:`_Path.jump_error`), so jumps that cancel in a sum still count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from idgrad.core.seam import ModelSeam
from idgrad.core.validation import check_int, check_number
from idgrad.engine.grading import (
    Density,
    node_cell_integrals,
    node_rule,
    node_weights,
    pchip,
    place_nodes,
)
from idgrad.engine.integrator import ChunkSize, accumulation_dtype, chunk_bounds, resolve_chunk_size

__all__ = [
    "DEFAULT_MAX_EVALUATIONS",
    "Finish",
    "RefinedPath",
    "RefinementOptions",
    "cell_residuals",
    "check_budget",
    "refine_path",
]

#: Model evaluations per example that ``rtol`` may spend at most, unless told otherwise.
DEFAULT_MAX_EVALUATIONS = 1024

#: ``finish(rows, sums, fp_sum, fp2_sum, start, end, warn) -> attributions``: turns the
#: weighted sums of examples ``rows`` (``sums[i]`` ``(len(rows), ...)``: ``sum_k w_k c_k
#: g_k`` per input; ``fp_sum = sum w F'``, ``fp2_sum = sum w F'^2``) into attributions.
Finish = Callable[
    [
        torch.Tensor,
        tuple[torch.Tensor, ...],
        torch.Tensor,
        torch.Tensor,
        torch.Tensor,
        torch.Tensor,
        bool,
    ],
    tuple[torch.Tensor, ...],
]

_MEMORY_BYTES = 2**30  # stored gradients per group of examples


@dataclass(frozen=True)
class RefinementOptions:
    """The knobs of the graded schedule (defaults chosen on benchmarks/accuracy.py).

    Attributes:
        floor, max_floor, resolved_scale: the uniform share of the density is
            ``1 - u / resolved_scale`` within ``[floor, max_floor]``, ``u`` how unresolved
            the pilot leaves ``F'`` (``_unresolved``): near-uniform meshes on smooth
            paths, concentrated ones where the action is narrow.
        zoom_unresolved: the zoom runs only when ``u`` exceeds this.
        size_power: the activity of a cell is ``h * mean(||U||)^size_power`` (0: from
            ``||dU||``, the rough-integrand rule ``rho^(1/3) h``).
        coarse_share: share of the activity spread at the pilot cells' scale.
        zoom_threshold: a cell holding more activity than this is bisected in the zoom.
        zoom_fraction: at most this fraction of the budget goes to the zoom.
        decision_share: share of ``|F(b) - F(a)|`` in the activity when ``c = F'`` (IDG).
        safety: factor on the error estimate.

    """

    floor: float = 0.1
    max_floor: float = 0.9
    resolved_scale: float = 0.25
    zoom_unresolved: float = 0.15
    coarse_share: float = 0.5
    zoom_threshold: float = 0.2
    zoom_fraction: float = 0.15
    decision_share: float = 0.5
    safety: float = 2.0
    size_power: float = 1.0


class RefinedPath(NamedTuple):
    """What :func:`refine_path` returns (``S`` = most nodes of any example).

    Attributes:
        attributions: per input ``(B, ...)``, from ``finish`` on all nodes.
        error: ``(B,)`` float64 estimated relative L2 error of the attributions.
        n_points: ``(B,)`` int64 gradient evaluations per example (nodes, ends included).
        alphas: ``(B, S)`` float64 sorted nodes, NaN past an example's ``n_points``.
        weights: ``(B, S)`` float64 spline weights (0 past ``n_points``; each row sums to 1).
        outputs: ``(B, S)`` ``F`` at the nodes (NaN past ``n_points``).
        derivatives: ``(B, S)`` ``F'`` at the nodes (NaN past ``n_points``).
        start: ``(B,)`` ``F(x')``; end: ``(B,)`` ``F(x)``.
        fp_sum: ``(B,)`` ``sum w F'`` (its distance to ``end - start`` is the delta).
    """

    attributions: tuple[torch.Tensor, ...]
    error: torch.Tensor
    n_points: torch.Tensor
    alphas: torch.Tensor
    weights: torch.Tensor
    outputs: torch.Tensor
    derivatives: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    fp_sum: torch.Tensor


def check_budget(
    n_steps: int | None,
    rtol: float | None,
    max_evaluations: int | None,
    n_pilot_steps: int | None = None,
) -> tuple[int | None, float | None, int, int | None]:
    """Validate the budget of :func:`refine_path`; return it with the cap filled in.

    Exactly one of ``n_steps`` (a fixed budget: gradient evaluations per example, both
    ends included, ``>= 2``) and ``rtol`` (a relative error in ``(0, 1)``) is given.
    ``max_evaluations`` (``>= 9``; None: :data:`DEFAULT_MAX_EVALUATIONS`) caps ``rtol``'s
    spending and is refused with ``n_steps``. ``n_pilot_steps`` (pilot intervals ``N``)
    must leave room: ``N + 1 <= n_steps``, ``N + 1 <= max_evaluations``.

    Example:
        >>> check_budget(None, 0.01, None)
        (None, 0.01, 1024, None)
    """
    if (n_steps is None) == (rtol is None):
        raise ValueError("give exactly one of n_steps (a fixed budget) and rtol (a tolerance)")
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps", minimum=2)
        if max_evaluations is not None:
            raise ValueError(
                "max_evaluations caps what rtol spends; with n_steps the budget is exact"
            )
    if rtol is not None:
        rtol = check_number(rtol, "rtol", minimum=0.0, maximum=1.0, open_minimum=True)
        if rtol >= 1.0:
            raise ValueError(f"rtol must be below 1 (a relative error), got {rtol}")
    cap = (
        DEFAULT_MAX_EVALUATIONS
        if max_evaluations is None
        else check_int(max_evaluations, "max_evaluations", minimum=9)
    )
    if n_pilot_steps is not None:
        n_pilot_steps = check_int(n_pilot_steps, "n_pilot_steps")
        room = n_steps if n_steps is not None else cap
        if n_pilot_steps + 1 > room:
            raise ValueError(
                f"n_pilot_steps={n_pilot_steps} needs {n_pilot_steps + 1} gradient evaluations "
                f"per example, more than the budget of {room}"
            )
    return n_steps, rtol, cap, n_pilot_steps


def cell_residuals(alphas: np.ndarray, outputs: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
    """Per cell, the node rule's integral of ``F'`` minus the exact ``F(b) - F(a)``.

    The residuals sum to the delta ``sum_k w_k F'_k - (F(1) - F(0))`` of the node
    weights ``w`` (:func:`idgrad.engine.grading.node_weights`) and vanish on every cell where
    ``F'`` is a cubic polynomial of ``alpha`` across the whole path (the not-a-knot
    spline reproduces cubics).

    Example:
        >>> a = np.linspace(0.0, 1.0, 5)
        >>> bool(np.abs(cell_residuals(a, a**4, 4 * a**3)).max() < 1e-15)  # F' cubic: exact
        True
    """
    return node_cell_integrals(alphas, derivatives) - np.diff(np.asarray(outputs, np.float64))


# --------------------------------------------------------------------------- evaluation


def _gradient_points(
    seam: ModelSeam,
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    rows: np.ndarray,
    alphas: np.ndarray,
    chunk: int | None,
) -> tuple[np.ndarray, np.ndarray, list[torch.Tensor]]:
    """``F``, ``F'`` (float64) and the gradient per input (accumulation dtype) at the points.

    Point ``i`` is ``x'_r + alphas[i] (x_r - x'_r)`` with ``r = rows[i]``; computed in
    chunks of at most ``chunk`` points, each a fresh leaf (as in
    :func:`idgrad.engine.integrator.integrate_path`).
    """
    device = inputs[0].device
    total = len(rows)
    values = np.empty(total)
    derivs = np.empty(total)
    grads: list[list[torch.Tensor]] = [[] for _ in inputs]
    for lo, hi in chunk_bounds(total, chunk):
        r = torch.as_tensor(rows[lo:hi], dtype=torch.long, device=device)
        pts = []
        diffs = []
        for x, b in zip(inputs, baselines):
            work = accumulation_dtype(x.dtype)
            xb, bb = x[r].to(work), b[r].to(work)
            a = torch.as_tensor(alphas[lo:hi], dtype=work, device=device)
            a = a.reshape((-1,) + (1,) * (x.ndim - 1))
            pts.append(torch.lerp(bb, xb, a).to(x.dtype))
            diffs.append((xb - bb).reshape(hi - lo, -1))
        first = lo
        out, g = seam.scalars_and_grads(
            tuple(pts), r, lambda i, first=first: f"alpha = {float(alphas[first + i]):.6g}"
        )
        fp = torch.zeros(hi - lo, dtype=torch.float64, device=device)
        for i, (gi, di) in enumerate(zip(g, diffs)):
            gw = gi.to(di.dtype)
            fp += (gw.reshape(hi - lo, -1) * di).sum(1).to(torch.float64)
            grads[i].append(gw)
        values[lo:hi] = out.to(torch.float64).cpu().numpy()
        derivs[lo:hi] = fp.cpu().numpy()
        del out, g, pts
    return values, derivs, [torch.cat(gs) if gs else torch.zeros(0) for gs in grads]


class _Path:
    """One example's nodes (sorted) and what the model gave at them."""

    def __init__(self, diffs: list[torch.Tensor], shapes: list[tuple[int, ...]]) -> None:
        self.diffs = diffs  # x - x' per input, flattened (D_i,)
        self.shapes = shapes  # one example's shape per input
        self.alphas = np.zeros(0)
        self.values = np.zeros(0)
        self.derivs = np.zeros(0)
        self.grads: list[torch.Tensor] | None = None  # per input (n, D_i), sorted
        self.pilot_edges: np.ndarray | None = None
        self.density: Density | None = None
        self.u: np.ndarray | None = None  # graded coordinate of each node
        self.error = math.inf
        self.rate: float | None = None  # measured convergence order
        self.history: list[tuple[int, float]] = []
        self.coherent = False  # the estimate's smooth-integrand term dominated
        self.unresolved = 1.0  # see _unresolved
        self.local = False  # some gaps were split and others not: the mesh is uneven
        self.u_step = 1.0  # the graded mesh's spacing in u
        self.floor = 0.0  # uniform share of the graded density

    @property
    def n(self) -> int:
        return len(self.alphas)

    def add(self, alphas: np.ndarray, values: np.ndarray, derivs: np.ndarray, grads: list) -> None:
        a = np.concatenate([self.alphas, alphas])
        order = np.argsort(a, kind="stable")
        self.alphas = a[order]
        self.values = np.concatenate([self.values, values])[order]
        self.derivs = np.concatenate([self.derivs, derivs])[order]
        idx = torch.as_tensor(order, dtype=torch.long, device=grads[0].device)
        if self.grads is None:
            self.grads = [g.reshape(len(alphas), -1)[idx] for g in grads]
        else:
            self.grads = [
                torch.cat([old, g.reshape(len(alphas), -1)])[idx]
                for old, g in zip(self.grads, grads)
            ]

    def factors(self, with_derivative: bool) -> np.ndarray:
        return self.derivs if with_derivative else np.ones(self.n)

    def activity(self, with_derivative: bool, options: RefinementOptions) -> np.ndarray:
        """Each cell's share of the activity (see the module doc), summing to 1."""
        assert self.grads is not None
        h = np.diff(self.alphas)
        c = torch.as_tensor(self.factors(with_derivative), device=self.grads[0].device)
        du2 = torch.zeros(self.n - 1, dtype=torch.float64, device=self.grads[0].device)
        size2 = torch.zeros(self.n, dtype=torch.float64, device=self.grads[0].device)
        for g, d in zip(self.grads, self.diffs):
            u = g * d * c.to(g.dtype)[:, None]
            du2 += ((u[1:] - u[:-1]) ** 2).sum(1).to(torch.float64)
            size2 += (u**2).sum(1).to(torch.float64)
        rough = _share(np.cbrt(du2.cpu().numpy() / h) * h)
        if options.size_power > 0:
            size = np.sqrt(size2.cpu().numpy())
            rough = _share(h * ((size[:-1] + size[1:]) / 2) ** options.size_power)
        if not with_derivative:
            return rough
        # how much F moves in the cell: |F(b) - F(a)|, plus the trapezoid rule's exact error
        # on integral F' there, which is large where F dips and recovers between the nodes
        change = np.diff(self.values)
        residual = h * (self.derivs[:-1] + self.derivs[1:]) / 2 - change
        decision = _share(np.abs(change) + np.abs(residual))
        return options.decision_share * decision + (1 - options.decision_share) * rough

    def local_errors(self, with_derivative: bool) -> np.ndarray:
        """``||dU|| h`` per cell: the rough-integrand error scale of each gap."""
        assert self.grads is not None
        h = np.diff(self.alphas)
        c = torch.as_tensor(self.factors(with_derivative), device=self.grads[0].device)
        du2 = torch.zeros(self.n - 1, dtype=torch.float64, device=self.grads[0].device)
        for g, d in zip(self.grads, self.diffs):
            u = g * d * c.to(g.dtype)[:, None]
            du2 += ((u[1:] - u[:-1]) ** 2).sum(1).to(torch.float64)
        return np.sqrt(du2.cpu().numpy()) * h

    def jump_error(
        self,
        with_derivative: bool,
        by_inputs: bool,
        normalized: bool,
        subset: np.ndarray | None = None,
    ) -> tuple[float, float]:
        """The local jump term of the estimate and ``||sum w U||``, in raw attribution units.

        ``r_k = U_k - P_k(a_k)``, with ``P_k`` the interpolant through the nearest other
        nodes, centred (three on each side: quintic, zero up to ``O(h^6)`` where ``U`` is
        smooth; two on each side near the ends: cubic; the line through the neighbours
        where the nodes are too uneven), about the jump where one lies next to ``a_k``.
        For a jump ``J`` at a random place in a gap of width ``h`` the rule's error has the
        root mean square ``|J| h / sqrt(12)``, and the ``r_k`` around it add up to
        ``sum r_k^2 = c J^2`` (uniform nodes; ``c`` per stencil), so the term is
        ``sqrt(sum_k h_k^2 ||r_k||^2 / (12 c_k))``; jumps anywhere add up in squares, so
        jumps that cancel in the total (a bump that rises and falls between two nodes)
        still count. With
        ``normalized`` (IDG's rescaling to completeness) the part of each ``r_k`` along
        the result, which the rescaling removes, is left out. ``subset``: on those nodes only.
        """
        assert self.grads is not None
        idx = np.arange(self.n) if subset is None else np.asarray(subset)
        n = len(idx)
        if n < 5:
            return math.inf, 1.0
        a = self.alphas[idx]
        grads = [g[torch.as_tensor(idx, device=g.device)] for g in self.grads]
        factors = self.factors(with_derivative)[idx]
        # per node: the leave-one-out interpolant through its nearest other nodes,
        # centred (3 on each side: quintic, residual O(h^6) on smooth integrands; 2 on
        # each side near the ends: cubic, O(h^4)); the weights calibrate each kind to the
        # root mean square error of a jump at a random place (uniform nodes: sum_k r_k^2
        # is 0.63 J^2 for the quintic, 5/9 J^2 for the cubic, 1/2 J^2 for the line)
        stencil = np.zeros((n, 6), dtype=np.int64)
        lam = np.zeros((n, 6))
        calib = np.zeros(n)  # 0: the two end nodes, which have no neighbour on one side
        for k in range(1, n - 1):
            side = min(3, k, n - 1 - k)
            if side == 3:
                others = [k - 3, k - 2, k - 1, k + 1, k + 2, k + 3]
                weight = (1 / 12) / 0.63
            elif side == 2:
                others = [k - 2, k - 1, k + 1, k + 2]
                weight = (1 / 12) / (5 / 9)
            else:
                others = [k - 1, k + 1]
                weight = 1 / 6
            xs = a[others]
            la = np.ones(len(others))
            for i in range(len(others)):
                for j in range(len(others)):
                    if i != j:
                        la[i] *= (a[k] - xs[j]) / (xs[i] - xs[j])
            if np.abs(la).sum() > 4.0:  # too uneven for a high degree: the line
                others = [k - 1, k + 1]
                left, right = a[k - 1], a[k + 1]
                la = np.array([(right - a[k]) / (right - left), (a[k] - left) / (right - left)])
                weight = 1 / 6
            stencil[k, : len(others)] = others
            lam[k, : len(others)] = la
            calib[k] = weight
        width = np.zeros(n)
        width[:-1] += np.diff(a) / 2
        width[1:] += np.diff(a) / 2
        coef = torch.as_tensor(factors)
        w_full = node_weights(a)

        def integrand(g: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
            u = g * coef.to(device=g.device, dtype=g.dtype)[:, None]
            return u * d if by_inputs else u

        def residuals(u: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
            lam_t = torch.as_tensor(lam[lo:hi], dtype=u.dtype, device=u.device)
            st = torch.as_tensor(stencil[lo:hi], device=u.device)
            return u[lo:hi] - (lam_t[:, :, None] * u[st]).sum(1)

        results = []
        for g, d in zip(grads, self.diffs):
            u = integrand(g, d)
            results.append(torch.as_tensor(w_full, dtype=u.dtype, device=u.device) @ u)
        norm = math.sqrt(sum(float(q.norm()) ** 2 for q in results))
        total = sum(float(q.sum()) for q in results)
        project = normalized and total != 0.0
        out = 0.0
        for lo in range(0, n, 64):
            hi = min(lo + 64, n)
            parts = [residuals(integrand(g, d), lo, hi) for g, d in zip(grads, self.diffs)]
            scale = torch.as_tensor(width[lo:hi] * np.sqrt(calib[lo:hi]), dtype=torch.float64)
            along = torch.zeros(hi - lo, dtype=torch.float64)
            if project:
                for r in parts:
                    along += r.sum(1).to(torch.float64).cpu() / total
            for r, q in zip(parts, results):
                if project:
                    r = r - along.to(device=r.device, dtype=r.dtype)[:, None] * q[None, :]
                out += float(((r**2).sum(1).to(torch.float64).cpu() * scale**2).sum())
        return math.sqrt(out), norm

    def sums(self, subset: np.ndarray, with_derivative: bool) -> tuple[list, float, float]:
        """``sum w c g`` per input (flat), ``sum w F'`` and ``sum w F'^2`` on a node subset."""
        assert self.grads is not None
        w = np.zeros(self.n)
        w[subset] = node_weights(self.alphas[subset])
        coef = w * self.factors(with_derivative)
        out = []
        for g in self.grads:
            cw = torch.as_tensor(coef, dtype=g.dtype, device=g.device)
            out.append(cw @ g)
        return out, float(w @ self.derivs), float(w @ self.derivs**2)


def _unresolved(alphas: np.ndarray, values: np.ndarray, derivs: np.ndarray) -> float:
    """``sum |r_c| / sum (|dF_c| + |r_c|)`` over the cells, ``r_c`` the trapezoid residual.

    ``r_c = h (F'_a + F'_b) / 2 - (F(b) - F(a))`` is exact (free: both ``F`` and ``F'``
    are known at the nodes). Measured on the pilot: 0.01-0.04 on the digits CNN, 0.05-0.14
    on MiniLM, 0.2-0.4 on the logistic model and EfficientNet-Lite0 (16 and 8 cells).

    Example:
        >>> a = np.linspace(0.0, 1.0, 5)
        >>> _unresolved(a, a**2, 2 * a)  # F' linear: the trapezoid rule is exact
        0.0
    """
    h = np.diff(alphas)
    change = np.diff(values)
    residual = h * (derivs[:-1] + derivs[1:]) / 2 - change
    total = float(np.abs(change).sum() + np.abs(residual).sum())
    return float(np.abs(residual).sum()) / total if total > 0 else 0.0


def _share(m: np.ndarray) -> np.ndarray:
    """Shares of ``m`` summing to 1, rounded to 12 decimals.

    The model's values differ in their last bits with the chunk size (its kernels
    change with the batch); rounding keeps the nodes, which follow these shares,
    the same for every chunk size (short of a share exactly on a rounding edge).
    """
    m = np.where(np.isfinite(m), m, 0.0)
    total = m.sum()
    share = m / total if total > 0 else np.full(len(m), 1.0 / len(m))
    return np.round(share, 12)


def _pilot_size(budget: int) -> int:
    return int(min(16, max(2, round(budget / 6))))


# --------------------------------------------------------------------------- the rounds


def refine_path(
    seam: ModelSeam,
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    finish: Finish,
    *,
    with_derivative: bool,
    by_inputs: bool = True,
    normalized: bool = False,
    n_steps: int | None = None,
    rtol: float | None = None,
    max_evaluations: int | None = None,
    n_pilot_steps: int | None = None,
    internal_batch_size: ChunkSize = "auto",
    options: RefinementOptions | None = None,
) -> RefinedPath:
    """Integrate ``c g`` along every example's path on a graded mesh (see the module doc).

    Args:
        seam, inputs, baselines: as for :func:`idgrad.engine.integrator.integrate_path`.
        finish: turns weighted sums into attributions (:data:`Finish`).
        with_derivative: ``c = F'`` (IDG) if True, else ``c = 1`` (IG).
        by_inputs: whether ``finish`` multiplies by ``x - x'`` (for the estimate's units).
        normalized: whether ``finish`` rescales each example to a fixed total (IDG).
        n_steps: a fixed budget: exactly this many gradient evaluations per example.
        rtol: a tolerance: refine until the estimated relative L2 error of each
            example's attributions is below it, or ``max_evaluations`` are spent.
        max_evaluations: cap per example for ``rtol``
            (default :data:`DEFAULT_MAX_EVALUATIONS`).
        n_pilot_steps: pilot intervals ``N`` (default: ``n_steps / 6`` within
            ``[2, 16]``, or 8 for ``rtol``).
        internal_batch_size: points per forward/backward pass.
        options: the schedule's knobs.

    Returns:
        :class:`RefinedPath`.
    """
    n_steps, rtol, cap, n_pilot = check_budget(n_steps, rtol, max_evaluations, n_pilot_steps)
    options = options or RefinementOptions()
    batch = int(inputs[0].shape[0])
    chunk = resolve_chunk_size(internal_batch_size, inputs)
    budget = n_steps if n_steps is not None else cap
    per_example = sum(int(x[:1].numel()) for x in inputs) * budget
    per_example *= torch.finfo(accumulation_dtype(inputs[0].dtype)).bits // 8
    group = max(1, _MEMORY_BYTES // max(per_example, 1))
    paths: list[_Path] = []
    results: list[tuple[list[torch.Tensor], float]] = []
    for lo in range(0, batch, group):
        rows = np.arange(lo, min(lo + group, batch))
        group_paths = _run_group(
            seam,
            inputs,
            baselines,
            finish,
            rows,
            with_derivative,
            n_steps,
            rtol,
            cap,
            n_pilot,
            chunk,
            by_inputs,
            normalized,
            options,
        )
        paths.extend(group_paths)
        results.extend(
            _final(
                finish,
                rows,
                group_paths,
                with_derivative,
                by_inputs,
                normalized,
                options,
                warn=True,
            )
        )
    return _assemble(paths, results, inputs)


def _evaluate_new(
    seam: ModelSeam,
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    paths: list[_Path],
    rows: np.ndarray,
    new: list[np.ndarray],
    chunk: int | None,
) -> None:
    flat_rows = np.concatenate([np.full(len(a), r) for r, a in zip(rows, new)]).astype(np.int64)
    flat_alphas = np.concatenate(new) if new else np.zeros(0)
    if not len(flat_alphas):
        return
    values, derivs, grads = _gradient_points(seam, inputs, baselines, flat_rows, flat_alphas, chunk)
    off = 0
    for p, a in zip(paths, new):
        k = len(a)
        if k:
            p.add(
                a, values[off : off + k], derivs[off : off + k], [g[off : off + k] for g in grads]
            )
        off += k


def _run_group(
    seam: ModelSeam,
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    finish: Finish,
    rows: np.ndarray,
    with_derivative: bool,
    n_steps: int | None,
    rtol: float | None,
    cap: int,
    n_pilot: int | None,
    chunk: int | None,
    by_inputs: bool,
    normalized: bool,
    options: RefinementOptions,
) -> list[_Path]:
    device = inputs[0].device
    diffs = [
        (x[rows].to(accumulation_dtype(x.dtype)) - b[rows].to(accumulation_dtype(x.dtype)))
        .reshape(len(rows), -1)
        .to(device)
        for x, b in zip(inputs, baselines)
    ]
    shapes = [tuple(x.shape[1:]) for x in inputs]
    paths = [_Path([d[i] for d in diffs], shapes) for i in range(len(rows))]
    budget = n_steps if n_steps is not None else cap

    def evaluate(new: list[np.ndarray]) -> None:
        _evaluate_new(seam, inputs, baselines, paths, rows, new, chunk)

    # 1. pilot (a small fixed budget is the uniform mesh itself)
    if n_steps is not None and n_steps < 6 and n_pilot is None:
        evaluate([np.linspace(0.0, 1.0, n_steps) for _ in paths])
        return paths
    if n_pilot is None:
        n_pilot = _pilot_size(budget) if n_steps is not None else 8
    evaluate([np.linspace(0.0, 1.0, n_pilot + 1) for _ in paths])
    for p in paths:
        p.pilot_edges = p.alphas.copy()
        # how unresolved the pilot leaves F': the trapezoid rule's exact error on the
        # integral of F' over each cell, relative to how much F moves there. Small on
        # smooth, well resolved paths (then a near-uniform mesh keeps the rule's error
        # cancellation); large where the action is narrower than the pilot's cells.
        p.unresolved = _unresolved(p.alphas, p.values, p.derivs)
        p.floor = float(
            np.clip(1 - p.unresolved / options.resolved_scale, options.floor, options.max_floor)
        )
    # 2. zoom
    allowance = int(options.zoom_fraction * budget)
    if n_steps is not None:
        allowance = min(allowance, n_steps - (n_pilot + 1) - 2)
    spent = np.zeros(len(paths), dtype=np.int64)
    for _ in range(64):
        new = []
        for i, p in enumerate(paths):
            share = p.activity(with_derivative, options)
            if p.unresolved < options.zoom_unresolved:
                share = np.zeros_like(share)  # resolved: nothing to zoom into
            hot = [int(c) for c in np.argsort(-share) if share[c] > options.zoom_threshold]
            hot = hot[: max(0, allowance - spent[i])]
            new.append(np.sort((p.alphas[hot] + p.alphas[np.asarray(hot, dtype=int) + 1]) / 2))
            spent[i] += len(hot)
        if not any(len(a) for a in new):
            break
        evaluate(new)
    # 3. graded: the rest of a fixed budget, or a first share of a tolerance's
    if n_steps is not None:
        targets = [n_steps] * len(paths)
    else:
        targets = [min(cap, max(math.ceil(1.5 * p.n) + 1, 17)) for p in paths]
    evaluate([_graded(p, with_derivative, options, t) for p, t in zip(paths, targets)])
    if rtol is None:
        return paths
    # 4. refine until the estimate is below rtol
    for _ in range(64):
        estimates = _final(
            finish, rows, paths, with_derivative, by_inputs, normalized, options, warn=False
        )
        more: list[np.ndarray] = []
        for p, (_, err) in zip(paths, estimates):
            p.error = err
            p.history.append((p.n, err))
            done = err <= rtol
            more.append(np.zeros(0) if done else _refinement(p, err, rtol, cap, with_derivative))
        if not any(len(a) for a in more):
            break
        evaluate(more)
    return paths


def _graded(p: _Path, with_derivative: bool, options: RefinementOptions, total: int) -> np.ndarray:
    """Place the graded mesh of ``total`` nodes through ``p``'s nodes; remember ``u``."""
    assert p.pilot_edges is not None
    share = p.activity(with_derivative, options)
    coarse = _cell_share_on(p.pilot_edges, p.alphas, share)
    edges = np.concatenate([p.pilot_edges, p.alphas])
    centres = np.concatenate(
        [(p.pilot_edges[:-1] + p.pilot_edges[1:]) / 2, (p.alphas[:-1] + p.alphas[1:]) / 2]
    )
    scales = np.concatenate([np.diff(p.pilot_edges), np.diff(p.alphas)]) / 2
    shares = np.concatenate([options.coarse_share * coarse, (1 - options.coarse_share) * share])
    del edges
    p.density = Density(centres, scales, shares, p.floor)
    total = max(total, p.n)
    new = place_nodes(p.alphas, p.density, total)
    full = np.sort(np.concatenate([p.alphas, new]))
    p.u = np.arange(total) / (total - 1)
    p.u_step = 1.0 / (total - 1)
    assert len(full) == total
    return new


def _cell_share_on(
    coarse_edges: np.ndarray, fine_edges: np.ndarray, share: np.ndarray
) -> np.ndarray:
    """Sum the fine cells' shares into the coarse cells containing them."""
    centres = (fine_edges[:-1] + fine_edges[1:]) / 2
    idx = np.clip(
        np.searchsorted(coarse_edges, centres, side="right") - 1, 0, len(coarse_edges) - 2
    )
    out = np.zeros(len(coarse_edges) - 1)
    np.add.at(out, idx, share)
    return out


def _refinement(p: _Path, err: float, rtol: float, cap: int, with_derivative: bool) -> np.ndarray:
    """New nodes for an example whose estimate ``err`` exceeds ``rtol`` (empty at the cap)."""
    assert p.u is not None and p.density is not None
    room = cap - p.n
    if room <= 0:
        return np.zeros(0)
    if len(p.history) >= 2 and p.history[-2][1] > err > 0:
        (n0, e0), (n1, e1) = p.history[-2], p.history[-1]
        rate = float(np.clip(math.log(e0 / e1) / math.log(n1 / n0), 0.75, 4.0))
    else:
        rate = 4.0 if p.coherent else 1.0
    # at most 4x the nodes per round, so the convergence rate is measured on the way
    wanted = int(math.ceil(p.n * min(4.0, (1.1 * err / rtol) ** (1.0 / rate)))) - p.n
    wanted = max(1, min(wanted, room))
    gaps = p.n - 1
    t = p.density.cdf(p.alphas)
    t[0], t[-1] = 0.0, 1.0
    if p.coherent and room >= gaps:
        wanted = max(wanted, gaps)  # smooth: refine the whole mesh (it stays graded)
    if wanted >= gaps:
        q = min(1 + wanted // gaps, 1 + room // gaps)
        if q >= 2:
            # every gap into q parts, uniformly in u
            frac = np.arange(1, q) / q
            u_new = (p.u[:-1, None] + np.diff(p.u)[:, None] * frac).ravel()
            u_all = np.concatenate([p.u, u_new])
            new = p.density.quantile(np.clip(pchip(p.u, t, u_new), 0.0, 1.0))
            p.u = np.sort(u_all)
            return _distinct(p.alphas, new)
        wanted = room
    return _split_gaps(p, wanted, with_derivative)  # the gaps with the largest local error


def _split_gaps(p: _Path, count: int, with_derivative: bool) -> np.ndarray:
    """Split ``count`` gaps at their midpoints in the graded coordinate ``u``.

    Those with the largest local error ``||dU|| h`` first; ``count`` at least the number
    of gaps splits each once (a refinement of the whole mesh).
    """
    assert p.u is not None and p.density is not None
    count = min(count, p.n - 1)
    if count <= 0:
        return np.zeros(0)
    t = p.density.cdf(p.alphas)
    t[0], t[-1] = 0.0, 1.0
    local = p.local_errors(with_derivative)
    # a gap is split at most 5 times below the graded mesh's spacing (a jump's error falls
    # only like the gap around it: endless splitting there would starve the rest)
    local[np.diff(p.u) < p.u_step / 32] = -1.0
    chosen = np.sort(np.argsort(-local, kind="stable")[:count])
    chosen = chosen[local[chosen] >= 0]
    if count < p.n - 1:
        p.local = True
    u_new = (p.u[chosen] + p.u[chosen + 1]) / 2
    new = p.density.quantile(np.clip(pchip(p.u, t, u_new), 0.0, 1.0))
    p.u = np.sort(np.concatenate([p.u, u_new]))
    return _distinct(p.alphas, new)


def _distinct(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Drop new nodes that coincide with old ones (possible only at the edge of precision)."""
    keep = np.abs(new[:, None] - old[None, :]).min(1) > 0 if len(old) else np.ones(len(new), bool)
    return np.sort(new[keep])


# --------------------------------------------------------------------------- results


def _halves(n: int) -> tuple[np.ndarray, ...]:
    """All nodes, the two halves, and (from 13 nodes) the four quarters; ends in each."""
    full = np.arange(n)
    inner = full[1:-1]
    sets = [full] + [np.concatenate([[0], inner[j::2], [n - 1]]) for j in range(2)]
    if n >= 13:
        sets += [np.concatenate([[0], inner[j::4], [n - 1]]) for j in range(4)]
    return tuple(sets)


def _final(
    finish: Finish,
    rows: np.ndarray,
    paths: list[_Path],
    with_derivative: bool,
    by_inputs: bool,
    normalized: bool,
    options: RefinementOptions,
    warn: bool,
) -> list[tuple[list[torch.Tensor], float]]:
    """Attributions on all nodes and the error estimate, per example."""
    out = []
    for r, p in zip(rows, paths):
        assert p.grads is not None
        sets: tuple[np.ndarray, ...] = _halves(p.n) if p.n >= 5 else (np.arange(p.n),)
        attrs = []
        for j, subset in enumerate(sets):
            sums, fp, fp2 = p.sums(subset, with_derivative)
            dev = sums[0].device
            a = finish(
                torch.as_tensor([int(r)], device=dev),
                tuple(s.reshape((1,) + shape) for s, shape in zip(sums, p.shapes)),
                torch.tensor([fp], dtype=torch.float64, device=dev),
                torch.tensor([fp2], dtype=torch.float64, device=dev),
                torch.tensor([p.values[0]], dtype=torch.float64, device=dev),
                torch.tensor([p.values[-1]], dtype=torch.float64, device=dev),
                warn and j == 0,
            )
            attrs.append(torch.cat([t.reshape(-1).to(torch.float64) for t in a]))
            if j == 0:
                full_attr = [t[0] for t in a]
        if len(attrs) == 1:
            err = math.inf
        else:
            q = attrs[0]
            norm = float(q.norm())
            halves = (attrs[1] + attrs[2]) / 2
            step = float((q - halves).norm())
            # where the integrand is smooth the halves' error is 2^p times Q's; the ratio of
            # the steps Q - halves and halves - quarters measures 2^-p (the rule's order,
            # 4 for the spline, 2 where it falls back to natural ends or the trapezoid, more
            # before the asymptotic regime) and the error left is step * ratio / (1 - ratio)
            if len(attrs) == 7:
                quarters = sum(attrs[3:]) / 4
                before = float((halves - quarters).norm())
                ratio = step / before if before > 0 else 1 / 32
                ratio = min(max(ratio, 1 / 32), 1 / 2)
            else:
                rules = {node_rule(p.alphas[subset]) for subset in sets}
                ratio = 1 / 16 if rules == {"not-a-knot"} else 1 / 4
            coherent = step * ratio / (1 - ratio)
            if p.local:  # an uneven mesh: the halves no longer differ by the rule's order
                coherent = 0.0
            jump, raw_norm = p.jump_error(with_derivative, by_inputs, normalized)
            smooth = coherent / norm if norm > 0 else (0.0 if coherent == 0 else math.inf)
            rough = jump / raw_norm if raw_norm > 0 else 0.0
            p.coherent = smooth > rough
            err = options.safety * max(smooth, rough)
        out.append((full_attr, err))
    return out


def _assemble(
    paths: list[_Path],
    results: list[tuple[list[torch.Tensor], float]],
    inputs: tuple[torch.Tensor, ...],
) -> RefinedPath:
    device = inputs[0].device
    size = max(p.n for p in paths)
    batch = len(paths)
    alphas = np.full((batch, size), np.nan)
    weights = np.zeros((batch, size))
    outputs = np.full((batch, size), np.nan)
    derivs = np.full((batch, size), np.nan)
    fp_sum = np.zeros(batch)
    for b, p in enumerate(paths):
        alphas[b, : p.n] = p.alphas
        weights[b, : p.n] = node_weights(p.alphas)
        outputs[b, : p.n] = p.values
        derivs[b, : p.n] = p.derivs
        fp_sum[b] = weights[b, : p.n] @ p.derivs
    attributions = tuple(
        torch.stack([res[0][i] for res in results]).reshape(x.shape) for i, x in enumerate(inputs)
    )

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float64, device=device)

    return RefinedPath(
        attributions=attributions,
        error=t(np.array([res[1] for res in results])),
        n_points=torch.as_tensor([p.n for p in paths], dtype=torch.int64),
        alphas=t(alphas),
        weights=t(weights),
        outputs=t(outputs),
        derivatives=t(derivs),
        start=t(np.array([p.values[0] for p in paths])),
        end=t(np.array([p.values[-1] for p in paths])),
        fp_sum=t(fp_sum),
    )
