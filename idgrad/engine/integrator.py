"""Evaluate a model along straight paths, in memory-bounded chunks of points.

For each example ``b`` the path is ``gamma_b(alpha) = x'_b + alpha (x_b - x'_b)``.
A schedule gives points ``alpha_bk`` and weights ``w_bk``. The points of all
examples are laid out example-major (``p = b * S + k``) and evaluated in chunks of
at most ``internal_batch_size`` points, which may cut through an example. Every
point carries its own weight, so the result does not depend on the chunk size.

From one forward + backward pass, :func:`integrate_path` returns

* ``outputs[b, k]     = F(gamma_b(alpha_bk))``
* ``derivatives[b, k] = F'(alpha_bk) = grad F(gamma_b(alpha_bk)) . (x_b - x'_b)``
  (exact, by the chain rule: no extra model call),
* ``sums[i][b]        = sum_k w_bk c_bk grad_i F(gamma_b(alpha_bk))``, the weighted
  gradient sum for input ``i``, where ``c_bk = point_factor(outputs, derivatives)``
  (1 for Integrated Gradients, ``F'`` for Integrated Decision Gradients).

Accumulation is in float64 for float64 inputs and float32 otherwise. A NaN or
infinite ``F`` or gradient at any point raises
:class:`~idgrad.core.validation.NonFiniteError` naming the example and its ``alpha``
(checked by the seam once per chunk).

Other paths: pass a :class:`Path` (points ``gamma_b(alpha)`` and velocities
``d gamma_b / d alpha`` for any ``(rows, alphas)``, e.g. a blur path). Then
``derivatives = grad F . d gamma / d alpha`` and the sums hold
``sum_k w_bk c_bk grad_i F(gamma_b(alpha_bk)) * d gamma_b,i / d alpha (alpha_bk)``:
already the path integral of each feature, not to be multiplied by ``x - x'``.

Example:
    >>> from idgrad.core.seam import ModelSeam
    >>> from idgrad.engine.schedules import uniform_schedule
    >>> w = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> f = lambda x: (x ** 2) @ w  # F(x) = x0^2 + 2 x1^2
    >>> x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    >>> seam = ModelSeam.build(f, (x,), target=0, additional_forward_args=None)
    >>> p = integrate_path(seam, (x,), (torch.zeros_like(x),), uniform_schedule(2))
    >>> p.sums[0].tolist()  # integral of grad F along the path = (2 x0 / 2, 4 x1 / 2)
    [[1.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import torch

from idgrad.core.seam import ModelSeam, PointLabel, chunk_bounds
from idgrad.core.validation import ChunkSize, check_chunk_size
from idgrad.engine.schedules import Schedule

__all__ = [
    "AUTO_CHUNK_ELEMENTS",
    "ChunkSize",
    "Path",
    "PathPass",
    "accumulation_dtype",
    "check_chunk_size",
    "chunk_bounds",
    "evaluate_path",
    "integrate_path",
    "resolve_chunk_size",
]

#: Input elements per pass that ``"auto"`` aims at, per device type. On the CPU,
#: passes of ~0.5 M input elements keep the activations cache-sized: measured on
#: 2 cores (benchmarks/overhead.py), a CIFAR-sized CNN ran 1.1-1.6x faster in
#: 170-row chunks than in one 400-row pass, and EfficientNet-Lite0 at 224x224
#: 1.6-1.7x faster in 3-row chunks than in one 50-row pass. On a GPU, larger passes
#: (4 M elements: 27 images of 224x224, a few GB of activations for a ResNet-50;
#: not measured, no GPU was available).
AUTO_CHUNK_ELEMENTS: dict[str, int] = {"cpu": 2**19, "cuda": 2**22}
_AUTO_MAX_ROWS = 4096

PointFactor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Path(Protocol):
    """A path per example other than the straight line, evaluated point by point.

    ``rows`` ``(n,)`` long (on the inputs' device) gives the example of each point and
    ``alphas`` ``(n,)`` float64 its path parameter in ``[0, 1]``. Both methods return
    one ``(n, ...)`` tensor per input, shaped and typed like that input's rows.
    """

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``gamma_{rows[i]}(alphas[i])`` per input."""
        ...

    def points_and_velocities(
        self, rows: torch.Tensor, alphas: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The points and ``d gamma / d alpha`` at them, per input."""
        ...


class PathPass(NamedTuple):
    """What one pass along the paths gives (see the module docstring)."""

    outputs: torch.Tensor
    derivatives: torch.Tensor
    sums: tuple[torch.Tensor, ...]


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def resolve_chunk_size(
    internal_batch_size: ChunkSize, inputs: tuple[torch.Tensor, ...]
) -> int | None:
    """Points per pass: ``"auto"`` becomes a row count from the size of one example.

    ``rows = clamp(AUTO_CHUNK_ELEMENTS[device] // elements_per_example, 1, 4096)``,
    where ``elements_per_example`` counts one example of every input. An int or
    None is returned unchanged. The result never changes the attributions beyond
    floating-point summation order: every point carries its own weight.

    Example:
        >>> resolve_chunk_size("auto", (torch.zeros(8, 3, 32, 32),))  # 2**19 // 3072
        170
        >>> resolve_chunk_size("auto", (torch.zeros(2, 30),)), resolve_chunk_size(None, ())
        (4096, None)
    """
    check_chunk_size(internal_batch_size)
    if internal_batch_size != "auto":
        return internal_batch_size
    per_example = sum(int(x[:1].numel()) for x in inputs) or 1
    budget = AUTO_CHUNK_ELEMENTS.get(inputs[0].device.type, AUTO_CHUNK_ELEMENTS["cuda"])
    return max(1, min(_AUTO_MAX_ROWS, budget // per_example))


def _alpha_label(alphas: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> PointLabel:
    """Error-message words for point ``i`` of a chunk: its ``alpha``."""
    return lambda i: f"alpha = {float(alphas[int(rows[i]), int(cols[i])]):.6g}"


def _flat_rows(alphas: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    n_per_row = alphas.shape[1]
    flat = torch.arange(start, stop)
    return flat // n_per_row, flat % n_per_row


Block = tuple[int, int, int, int]


def _blocks(start: int, stop: int, n_per_row: int) -> list[Block]:
    """Cut the flat points ``[start, stop)`` into at most three rectangles.

    Each block ``(r0, r1, k0, k1)`` holds the points of examples ``r0..r1-1`` and
    columns ``k0..k1-1``, in the flat (example-major) order: a partial first
    example, whole examples, a partial last example.
    """
    r, k = divmod(start, n_per_row)
    end_r, end_k = divmod(stop, n_per_row)
    if r == end_r:
        return [(r, r + 1, k, end_k)]
    blocks = []
    if k:
        blocks.append((r, r + 1, k, n_per_row))
        r += 1
    if end_r > r:
        blocks.append((r, end_r, 0, n_per_row))
    if end_k:
        blocks.append((end_r, end_r + 1, 0, end_k))
    return blocks


def _straight_points(
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    alphas: torch.Tensor,
    blocks: list[Block],
) -> tuple[torch.Tensor, ...]:
    """``x'_b + alpha_bk (x_b - x'_b)`` for the points of ``blocks``, in each input's dtype.

    Computed with ``lerp`` in the accumulation dtype, broadcasting each example's
    ``x'`` and ``x`` over its columns straight into one buffer (no per-point copy
    of the inputs is gathered first).
    """
    n = sum((r1 - r0) * (k1 - k0) for r0, r1, k0, k1 in blocks)
    out = []
    for x, b in zip(inputs, baselines):
        work = accumulation_dtype(x.dtype)
        xw, bw = x.to(work), b.to(work)
        buf = torch.empty((n,) + tuple(x.shape[1:]), dtype=work, device=x.device)
        off = 0
        for r0, r1, k0, k1 in blocks:
            shape = (r1 - r0, k1 - k0) + tuple(x.shape[1:])
            a = alphas[r0:r1, k0:k1].to(device=x.device, dtype=work)
            a = a.reshape(shape[:2] + (1,) * (x.ndim - 1))
            size = shape[0] * shape[1]
            torch.lerp(
                bw[r0:r1].unsqueeze(1),
                xw[r0:r1].unsqueeze(1),
                a,
                out=buf[off : off + size].view(shape),
            )
            off += size
        out.append(buf.to(x.dtype))
    return tuple(out)


def _block_sums(
    values: torch.Tensor, blocks: list[Block], weights: torch.Tensor
) -> list[tuple[int, int, torch.Tensor]]:
    """``(r0, r1, sum over the block's columns of weights * values)`` per block.

    ``values`` is ``(n, D)`` in flat point order, ``weights`` ``(n,)``; one batched
    matrix product per block fuses the weighting and the sum (no ``(n, D)`` temporary).
    """
    out = []
    off = 0
    for r0, r1, k0, k1 in blocks:
        rows, cols = r1 - r0, k1 - k0
        size = rows * cols
        v = values[off : off + size].reshape(rows, cols, -1)
        w = weights[off : off + size].reshape(rows, 1, cols).to(v.dtype)
        out.append((r0, r1, torch.bmm(w, v).reshape(rows, -1)))
        off += size
    return out


def evaluate_path(
    seam: ModelSeam,
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    alphas: torch.Tensor,
    internal_batch_size: ChunkSize = "auto",
    path: Path | None = None,
) -> torch.Tensor:
    """Forward only: ``F(gamma_b(alpha_bk))`` for ``alphas`` ``(B, S)``; returns ``(B, S)``.

    Computed in chunks of at most ``internal_batch_size`` points, in the
    accumulation dtype of the first input. ``path`` replaces the straight line.
    """
    batch, n = alphas.shape
    acc = accumulation_dtype(inputs[0].dtype)
    out = torch.empty(batch * n, dtype=acc, device=inputs[0].device)
    for start, stop in chunk_bounds(batch * n, resolve_chunk_size(internal_batch_size, inputs)):
        rows, cols = _flat_rows(alphas, start, stop)
        rows_dev = rows.to(inputs[0].device)
        if path is None:
            pts = _straight_points(inputs, baselines, alphas, _blocks(start, stop, n))
        else:
            pts = tuple(p.detach() for p in path.points(rows_dev, alphas[rows, cols]))
        out[start:stop] = seam.scalars(pts, rows_dev, _alpha_label(alphas, rows, cols)).to(acc)
    return out.reshape(batch, n)


def integrate_path(
    seam: ModelSeam,
    inputs: tuple[torch.Tensor, ...],
    baselines: tuple[torch.Tensor, ...],
    schedule: Schedule,
    internal_batch_size: ChunkSize = "auto",
    point_factor: PointFactor | None = None,
    path: Path | None = None,
) -> PathPass:
    """One forward + backward pass over every point of ``schedule`` (see module doc).

    Args:
        seam: the model seam built for ``inputs``.
        inputs, baselines: tuples of ``(B, ...)`` tensors.
        schedule: points and weights, ``(B, S)`` or shared ``(1, S)``.
        internal_batch_size: at most this many points per forward/backward; ``"auto"``
            (:func:`resolve_chunk_size`) or None (all in one pass).
        point_factor: ``(outputs, derivatives) -> (n,)`` extra factor per point.
        path: a :class:`Path` instead of the straight line from ``baselines`` to
            ``inputs`` (then ``baselines`` is unused and the sums include the velocity).

    Returns:
        :class:`PathPass` with ``outputs``/``derivatives`` ``(B, S)`` and one weighted
        gradient sum per input, each shaped like that input.
    """
    batch = inputs[0].shape[0]
    device = inputs[0].device
    schedule = schedule.expand(batch)
    alphas, weights = schedule.alphas.cpu(), schedule.weights.cpu()
    n = alphas.shape[1]
    acc = accumulation_dtype(inputs[0].dtype)
    outputs = torch.empty(batch * n, dtype=acc, device=device)
    derivatives = torch.empty(batch * n, dtype=acc, device=device)
    sums = [torch.zeros(x.shape, dtype=accumulation_dtype(x.dtype), device=device) for x in inputs]
    diffs = [
        (x.to(accumulation_dtype(x.dtype)) - b.to(accumulation_dtype(x.dtype)))
        for x, b in zip(inputs, baselines)
    ]
    # Points are example-major, so a chunk is at most three rectangles of (example, column):
    # points are built by broadcasting and the weighted sums are batched matrix products.
    for start, stop in chunk_bounds(batch * n, resolve_chunk_size(internal_batch_size, inputs)):
        rows, cols = _flat_rows(alphas, start, stop)
        rows_dev = rows.to(device)
        blocks = _blocks(start, stop, n)
        if path is None:
            pts = _straight_points(inputs, baselines, alphas, blocks)
        else:
            pts, vel = path.points_and_velocities(rows_dev, alphas[rows, cols])
            pts = tuple(p.detach() for p in pts)
            velocities = [v.detach().to(s.dtype) for v, s in zip(vel, sums)]
        values, grads = seam.scalars_and_grads(pts, rows_dev, _alpha_label(alphas, rows, cols))
        grads_acc = [g.to(s.dtype).reshape(stop - start, -1) for g, s in zip(grads, sums)]
        deriv = torch.zeros(stop - start, dtype=acc, device=device)
        if path is None:
            # F'(alpha) = grad F . (x - x'): one (columns x D) @ (D x 1) product per block
            for g, d in zip(grads_acc, diffs):
                off = 0
                for r0, r1, k0, k1 in blocks:
                    size = (r1 - r0) * (k1 - k0)
                    block = g[off : off + size].reshape(r1 - r0, k1 - k0, -1)
                    dv = d[r0:r1].reshape(r1 - r0, -1, 1).to(block.dtype)
                    deriv[off : off + size] += torch.bmm(block, dv).reshape(-1).to(acc)
                    off += size
                    del block  # a view of this chunk's gradient
        else:
            for g, v in zip(grads_acc, velocities):
                deriv += (g * v.reshape(stop - start, -1)).sum(1).to(acc)
            grads_acc = [g * v.reshape(stop - start, -1) for g, v in zip(grads_acc, velocities)]
        values = values.to(acc)
        coef = weights[rows, cols].to(device=device, dtype=acc)
        if point_factor is not None:
            coef = coef * point_factor(values, deriv)
        for g, s in zip(grads_acc, sums):
            flat_sum = s.view(batch, -1)
            for r0, r1, part in _block_sums(g, blocks, coef):
                flat_sum[r0:r1] += part
        outputs[start:stop] = values
        derivatives[start:stop] = deriv
        # free this chunk's gradients (and every view of them) before the next chunk's pass
        del grads, grads_acc, g
    return PathPass(outputs.reshape(batch, n), derivatives.reshape(batch, n), tuple(sums))
