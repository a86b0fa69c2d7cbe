"""The evaluator: the model along a path, in memory-bounded chunks, weighted sums streamed.

Every model call of a path integral goes through :class:`Evaluator`. A pass takes points
``(example b, alpha)`` with one or several weights each (``W`` rules sharing the points) and,
in chunks of at most ``internal_batch_size`` points (which may cut through an example),
returns

* ``outputs[i]     = F(gamma_b(alpha_i))``,
* ``derivatives[i] = F'(alpha_i) = grad F . d gamma / d alpha`` (exact, by the chain rule:
  no extra model call),
* ``sums[w][j][b]  = sum_i weights[w, i] c_i grad_j F(gamma_b(alpha_i))`` per input ``j``
  (times the velocity for a path other than the straight line), where ``c_i`` is the
  integrand's factor (1 for Integrated Gradients, ``F'(alpha_i)`` for Integrated Decision
  Gradients),
* optionally ``sketch[i] = c_i (grad F (.) d gamma / d alpha) R``, a few random projections
  of the integrand at each point (what a schedule may read to decide where to go next,
  without keeping a gradient per point).

With several targets (``targets=``, :class:`~idgrad.core.fan_seam.FanSeam`) the rows are
the ``K B`` pseudo-examples ``r = k B + b``. When the evaluator is told that the ``K``
copies of an example share their path (``share_targets``), a grid pass whose points are the
same for every target (a fixed rule: the uniform schedule, the pilot's forward-only grid,
the end points) evaluates each point once: one forward pass gives the ``K`` target scalars,
and ``K`` backward passes over its graph their gradients, taken one target at a time
(:meth:`~idgrad.core.fan_seam.FanSeam.scalars_and_grads_per_target`). A shared chunk holds
``max(1, chunk // K)`` points: as many backward passes as an unshared chunk, over a graph
``K`` times smaller, which the ``K`` passes then re-read from cache (on the BPNet-style model
of ``benchmarks/targets.py`` this took the speed-up against ``K`` calls from 1.3x to 2x).
Other passes (points that depend on the target:
the pilot schedule's placement, the graded schedule) evaluate every pseudo-example on its
own path, which gives exactly the single-target answer. ``saved_forward_evals`` counts the
forward-only evaluations that sharing saved; a shared gradient pass still computes ``K``
gradients (its saving, ``K - 1`` forward passes per point, shows in the time).

Every point carries its own weights, so the results do not depend on the chunk size
beyond floating-point summation order. Accumulation is in float64 for float64 inputs and
float32 otherwise. A NaN or infinite ``F`` or gradient raises
:class:`~idgrad.core.validation.NonFiniteError` naming the example and its ``alpha``.

Example:
    >>> from idgrad.core.seam import ModelSeam
    >>> from idgrad.engine.paths import StraightPath
    >>> f = lambda x: (x ** 2).sum(1)                       # F(x) = sum x_i^2
    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> seam = ModelSeam.build(f, (x,), target=None, additional_forward_args=None)
    >>> ev = Evaluator(seam, StraightPath((x,), (torch.zeros_like(x),)), (x,), None)
    >>> a = torch.tensor([[0.5]], dtype=torch.float64)     # one midpoint, weight 1
    >>> p = ev.grid(a, a.new_ones(1, 1, 1))
    >>> p.sums[0][0].tolist(), p.derivatives.tolist()     # grad F at x / 2; F' = grad F . x
    ([[1.0, 2.0]], [[5.0]])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from idgrad.core.fan_seam import FanSeam
from idgrad.core.seam import ModelSeam, PointLabel, accumulation_dtype, chunk_bounds
from idgrad.engine.paths import Path, StraightPath, grid_blocks

__all__ = ["Evaluator", "Pass"]


class Pass(NamedTuple):
    """What one pass over a set of points gives (see the module docstring).

    Attributes:
        outputs: ``F`` per point, ``(B, S)`` for a grid, ``(n,)`` for scattered points.
        derivatives: ``F'`` per point, same shape.
        sums: one entry per weight set, each a tuple with one ``(B, ...)`` tensor per input.
        sketch: ``(n, r)`` float64 projections of the integrand per point, or None.
    """

    outputs: torch.Tensor
    derivatives: torch.Tensor
    sums: list[tuple[torch.Tensor, ...]]
    sketch: torch.Tensor | None


class Evaluator:
    """The model along ``path``, evaluated in chunks (see the module docstring).

    Args:
        seam: the model seam built for ``inputs``.
        path: a :class:`~idgrad.engine.paths.StraightPath` or any
            :class:`~idgrad.engine.paths.Path`.
        inputs: the inputs (their shapes, dtypes and device shape the sums).
        chunk: at most this many points per forward/backward pass (None: all at once).
        decision_weighted: weight each gradient by ``F'`` (IDG) rather than 1 (IG).
        velocity_in_sums: multiply each gradient by the path's velocity inside the sums
            (a curved path); the straight path's constant velocity ``x - x'`` is applied
            once by the integrand instead.
        share_targets: with several targets (the seam's ``fan``), the path of pseudo-example
            ``k B + b`` is that of example ``b`` for every ``k`` (the path is built from
            the repeated inputs alone), so grid passes whose points coincide may be shared
            (see the module docstring). False for a path that depends on the target.
    """

    def __init__(
        self,
        seam: ModelSeam,
        path: Path,
        inputs: tuple[torch.Tensor, ...],
        chunk: int | None,
        decision_weighted: bool = False,
        velocity_in_sums: bool | None = None,
        share_targets: bool = False,
    ) -> None:
        self.seam = seam
        #: The seam whose K targets share the passes, or None (one target; not shared).
        self.shared = seam if share_targets and isinstance(seam, FanSeam) else None
        self.saved_forward_evals = 0
        self.path = path
        self.inputs = inputs
        self.chunk = chunk
        self.decision_weighted = decision_weighted
        self.straight = isinstance(path, StraightPath)
        self.velocity_in_sums = (
            (not self.straight) if velocity_in_sums is None else velocity_in_sums
        )
        self.batch = int(inputs[0].shape[0])
        self.device = inputs[0].device
        self.acc = accumulation_dtype(inputs[0].dtype)
        self.sum_dtypes = [accumulation_dtype(x.dtype) for x in inputs]
        self.diffs = path.differences() if isinstance(path, StraightPath) else None

    # ----------------------------------------------------------------- forward only

    def values(self, rows: np.ndarray, alphas: np.ndarray, n_targets: int = 1) -> torch.Tensor:
        """Forward only: ``F`` at the points (example ``rows[i]`` at ``alphas[i]``), ``(n,)``.

        ``n_targets > 1``: a shared pass (``rows`` real examples), ``(K, n)``.
        """
        n = len(rows)
        out = torch.empty(n_targets, n, dtype=self.acc, device=self.device)
        for lo, hi in chunk_bounds(n, self.chunk):
            r = torch.as_tensor(rows[lo:hi], dtype=torch.long, device=self.device)
            a = torch.as_tensor(alphas[lo:hi], dtype=torch.float64)
            pts = tuple(p.detach() for p in self.path.points(r, a))
            label = _label(alphas, lo)
            if self.shared is None or n_targets == 1:
                out[0, lo:hi] = self.seam.scalars(pts, r, label).to(self.acc)
            else:
                out[:, lo:hi] = self.shared.scalars_per_target(pts, r, label).to(self.acc)
        return out[0] if n_targets == 1 else out

    def grid_values(self, alphas: torch.Tensor) -> torch.Tensor:
        """Forward only: ``F`` on a ``(B, S)`` grid of points, ``(B, S)``."""
        batch, size = alphas.shape
        alphas_cpu = alphas.detach().to(torch.float64).cpu()
        base = self._shared_base(alphas_cpu)
        if base is not None:
            n_targets = batch // base.shape[0]
            rows = np.repeat(np.arange(base.shape[0]), size)
            out = self.values(rows, base.numpy().reshape(-1), n_targets)
            self.saved_forward_evals += (n_targets - 1) * len(rows)
            return out.reshape(batch, size)
        rows = np.repeat(np.arange(batch), size)
        return self.values(rows, alphas_cpu.numpy().reshape(-1)).reshape(batch, size)

    def _shared_base(self, alphas: torch.Tensor) -> torch.Tensor | None:
        """The ``(B, S)`` grid of the real examples when every target's block of a ``(K B, S)``
        grid is the same (and the path is shared), else None."""
        if self.shared is None or self.shared.fan.n_targets == 1 or alphas.shape[0] != self.batch:
            return None
        fan = self.shared.fan
        blocks = alphas.reshape(fan.n_targets, fan.batch_size, -1)
        if not torch.equal(blocks, blocks[:1].expand_as(blocks)):
            return None
        return alphas[: fan.batch_size]

    # ----------------------------------------------------------------- forward + backward

    def grid(
        self,
        alphas: torch.Tensor,
        weights: torch.Tensor,
        sketch: list[torch.Tensor] | None = None,
    ) -> Pass:
        """One pass over the ``(B, S)`` grid ``alphas`` with ``(W, B, S)`` weights.

        Outputs and derivatives come back as ``(B, S)``.
        """
        batch, size = alphas.shape
        alphas_cpu = alphas.detach().to(torch.float64).cpu()
        weights_cpu = weights.detach().to(torch.float64).cpu().reshape(weights.shape[0], -1)
        base = None if sketch is not None else self._shared_base(alphas_cpu)
        if base is not None:
            n_targets = batch // base.shape[0]
            rows = np.repeat(np.arange(base.shape[0]), size)
            per_target = weights_cpu.reshape(len(weights_cpu), n_targets, -1)
            result = self._run(rows, base.reshape(-1), per_target, None, base, n_targets)
        else:
            rows = np.repeat(np.arange(batch), size)
            result = self._run(
                rows, alphas_cpu.reshape(-1), weights_cpu.unsqueeze(1), sketch, grid=alphas_cpu
            )
        return result._replace(
            outputs=result.outputs.reshape(batch, size),
            derivatives=result.derivatives.reshape(batch, size),
        )

    def scatter(
        self,
        rows: np.ndarray,
        alphas: np.ndarray,
        weights: np.ndarray,
        sketch: list[torch.Tensor] | None = None,
    ) -> Pass:
        """One pass over scattered points: ``rows`` ``(n,)`` (sorted), ``alphas`` ``(n,)``,
        ``weights`` ``(W, n)``. Outputs come back as ``(n,)``.

        Points that form a grid (every example, the same number of points each, in order)
        take the grid's faster path. Scattered points are never shared between targets.
        """
        rows = np.asarray(rows, dtype=np.int64)
        a = torch.as_tensor(np.asarray(alphas, dtype=np.float64))
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64)).reshape(len(weights), 1, -1)
        n = len(rows)
        size = n // self.batch if n % self.batch == 0 else 0
        grid = None
        if size and np.array_equal(rows, np.repeat(np.arange(self.batch), size)):
            grid = a.reshape(self.batch, size)
        return self._run(rows, a, w, sketch, grid=grid)

    def _run(
        self,
        rows: np.ndarray,
        alphas: torch.Tensor,
        weights: torch.Tensor,
        sketch: list[torch.Tensor] | None,
        grid: torch.Tensor | None = None,
        n_targets: int = 1,
    ) -> Pass:
        """The pass over ``n`` points; ``weights`` ``(W, T, n)``.

        ``n_targets = T > 1``: a shared pass (``rows`` real examples, ``grid`` theirs), whose
        outputs, derivatives and sums are those of the ``T`` pseudo-example blocks in turn
        (outputs ``(T n,)``, target-major).
        """
        n = len(rows)
        n_sets = int(weights.shape[0])
        outputs = torch.empty(n_targets, n, dtype=self.acc, device=self.device)
        derivatives = torch.empty(n_targets, n, dtype=self.acc, device=self.device)
        sums = [
            tuple(
                torch.zeros(x.shape, dtype=d, device=self.device)
                for x, d in zip(self.inputs, self.sum_dtypes)
            )
            for _ in range(n_sets)
        ]
        sketches = (
            torch.empty(n, sketch[0].shape[1], dtype=torch.float64, device=self.device)
            if sketch is not None
            else None
        )
        alphas_np = alphas.numpy()
        size = None if grid is None else int(grid.shape[1])
        # A shared point costs K backward passes over its forward pass's graph: a shared chunk
        # holds chunk // K points, so it does a chunk's work and its graph, re-read K times,
        # stays small (measured on the BPNet: 1.3x -> 2x against K calls; benchmarks/targets.py)
        chunk = self.chunk
        if chunk is not None and n_targets > 1:
            chunk = max(1, chunk // n_targets)
        for lo, hi in chunk_bounds(n, chunk):
            k = hi - lo
            rows_dev = torch.as_tensor(rows[lo:hi], dtype=torch.long, device=self.device)
            blocks = grid_blocks(lo, hi, size) if size is not None else None
            velocities = None
            if blocks is not None and isinstance(self.path, StraightPath):
                pts = self.path.grid_points(grid, blocks)  # type: ignore[arg-type]
            elif self.velocity_in_sums or not self.straight:
                raw_pts, raw_vel = self.path.points_and_velocities(rows_dev, alphas[lo:hi])
                pts = tuple(p.detach() for p in raw_pts)
                velocities = [
                    v.detach().to(d).reshape(k, -1) for v, d in zip(raw_vel, self.sum_dtypes)
                ]
            else:
                pts = tuple(p.detach() for p in self.path.points(rows_dev, alphas[lo:hi]))
            label = _label(alphas_np, lo)
            per_target: Iterator[tuple[torch.Tensor, ...]]
            if self.shared is None or n_targets == 1:
                one, one_grads = self.seam.scalars_and_grads(pts, rows_dev, label)
                values, per_target = one.unsqueeze(0), iter([one_grads])
            else:  # one forward pass, then the K targets' gradients one at a time
                values, per_target = self.shared.scalars_and_grads_per_target(pts, rows_dev, label)
            del pts
            for t, grads in enumerate(per_target):
                flat = [g.to(d).reshape(k, -1) for g, d in zip(grads, self.sum_dtypes)]
                del grads
                deriv = torch.zeros(k, dtype=self.acc, device=self.device)
                if velocities is None:
                    # straight path: F' = grad F . (x - x'), per block a batched matrix product
                    assert self.diffs is not None
                    for g, d in zip(flat, self.diffs):
                        deriv += _dot_rows(g, d, rows_dev, blocks).to(self.acc)
                else:
                    for g, v in zip(flat, velocities):
                        deriv += (g * v).sum(1).to(self.acc)
                    if self.velocity_in_sums:
                        flat = [g * v for g, v in zip(flat, velocities)]
                factor = deriv.to(torch.float64) if self.decision_weighted else None
                if sketches is not None:  # only unshared passes (n_targets == 1) sketch
                    assert sketch is not None
                    sketches[lo:hi] = self._sketch(
                        flat, velocities, rows_dev, blocks, sketch, factor
                    )
                coef = weights[:, t, lo:hi].to(self.device)  # (W, k)
                if factor is not None:
                    coef = coef * factor
                for j, g in enumerate(flat):
                    # target t's block of the K B (pseudo-)example sums
                    totals = [s[j].view(n_targets, -1, g.shape[1])[t] for s in sums]
                    _add_rows(totals, g, coef.to(g.dtype), rows_dev, blocks)
                outputs[t, lo:hi] = values[t].to(self.acc)
                derivatives[t, lo:hi] = deriv
                del flat
            del per_target, values
        return Pass(outputs.reshape(-1), derivatives.reshape(-1), sums, sketches)

    def _sketch(
        self,
        flat: list[torch.Tensor],
        velocities: list[torch.Tensor] | None,
        rows: torch.Tensor,
        blocks: list[tuple[int, int, int, int]] | None,
        matrices: list[torch.Tensor],
        factor: torch.Tensor | None,
    ) -> torch.Tensor:
        """``c (grad F (.) velocity) R`` per point, summed over the inputs, float64."""
        out = torch.zeros(len(rows), matrices[0].shape[1], dtype=torch.float64, device=self.device)
        for j, (g, m) in enumerate(zip(flat, matrices)):
            if velocities is None:
                assert self.diffs is not None
                u = g * self.diffs[j].reshape(self.batch, -1).index_select(0, rows).to(g.dtype)
            elif self.velocity_in_sums:
                u = g  # already times the velocity
            else:
                u = g * velocities[j]
            out += (u @ m.to(u.dtype)).to(torch.float64)
        if factor is not None:
            out *= factor.unsqueeze(1)
        return out


def _label(alphas: np.ndarray, first: int) -> PointLabel:
    """Error-message words for point ``i`` of a chunk starting at ``first``: its ``alpha``."""
    return lambda i: f"alpha = {float(alphas[first + i]):.6g}"


def _dot_rows(
    g: torch.Tensor,
    diffs: torch.Tensor,
    rows: torch.Tensor,
    blocks: list[tuple[int, int, int, int]] | None,
) -> torch.Tensor:
    """``g[i] . diffs[rows[i]]`` per point (one batched product per grid block)."""
    d = diffs.reshape(diffs.shape[0], -1)
    if blocks is None:
        return (g * d.index_select(0, rows).to(g.dtype)).sum(1)
    out = torch.empty(g.shape[0], dtype=g.dtype, device=g.device)
    off = 0
    for r0, r1, k0, k1 in blocks:
        size = (r1 - r0) * (k1 - k0)
        block = g[off : off + size].reshape(r1 - r0, k1 - k0, -1)
        out[off : off + size] = torch.bmm(block, d[r0:r1].unsqueeze(2).to(g.dtype)).reshape(-1)
        off += size
    return out


def _add_rows(
    totals: list[torch.Tensor],
    g: torch.Tensor,
    coef: torch.Tensor,
    rows: torch.Tensor,
    blocks: list[tuple[int, int, int, int]] | None,
) -> None:
    """``totals[w][rows[i]] += coef[w, i] g[i]`` for every weight set ``w``.

    One batched product per grid block for all the weight sets at once; scattered points
    use ``index_add``.
    """
    if blocks is None:
        for total, c in zip(totals, coef):
            total.index_add_(0, rows, g * c.unsqueeze(1))
        return
    n_sets = coef.shape[0]
    off = 0
    for r0, r1, k0, k1 in blocks:
        n_rows, cols = r1 - r0, k1 - k0
        size = n_rows * cols
        v = g[off : off + size].reshape(n_rows, cols, -1)
        w = coef[:, off : off + size].reshape(n_sets, n_rows, cols).transpose(0, 1)
        part = torch.bmm(w, v)  # (rows, W, D)
        for j, total in enumerate(totals):
            total[r0:r1] += part[:, j]
        off += size
