"""Paths: where a path method evaluates the model, as a function of ``alpha`` in ``[0, 1]``.

A path gives, for any points ``(rows, alphas)`` (example ``rows[i]`` at ``alphas[i]``), the
points ``gamma_b(alpha)`` and their velocities ``d gamma_b / d alpha``, one tensor per input.
The engine integrates along any of them with any schedule:

* :class:`StraightPath` ``gamma_b(alpha) = x'_b + alpha (x_b - x'_b)`` (IG, IDG and their
  layer forms: the layer path is straight in the layer's space); its velocity is the
  constant ``x_b - x'_b``, so the engine multiplies the integrated gradient by it once at
  the end instead of at every point;
* any object with the :class:`Path` protocol (Blur IG's :class:`~idgrad.methods.blur_ig.BlurPath`).

Example:
    >>> x, b = torch.ones(2, 3), torch.zeros(2, 3)
    >>> p = StraightPath((x,), (b,))
    >>> p.points(torch.tensor([0, 1]), torch.tensor([0.25, 1.0], dtype=torch.float64))[0]
    tensor([[0.2500, 0.2500, 0.2500],
            [1.0000, 1.0000, 1.0000]])
"""

from __future__ import annotations

from typing import Protocol

import torch

from idgrad.core.seam import accumulation_dtype

__all__ = ["Path", "StraightPath", "grid_blocks"]


class Path(Protocol):
    """A path per example, evaluated point by point.

    ``rows`` ``(n,)`` long (on the inputs' device) gives the example of each point and
    ``alphas`` ``(n,)`` float64 its path parameter in ``[0, 1]``. Both methods return one
    ``(n, ...)`` tensor per input, shaped and typed like that input's rows.
    """

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``gamma_{rows[i]}(alphas[i])`` per input."""
        ...

    def points_and_velocities(
        self, rows: torch.Tensor, alphas: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The points and ``d gamma / d alpha`` at them, per input."""
        ...


#: ``(r0, r1, k0, k1)``: examples ``r0..r1-1`` at columns ``k0..k1-1`` of a ``(B, S)`` grid.
Block = tuple[int, int, int, int]


def grid_blocks(start: int, stop: int, n_per_row: int) -> list[Block]:
    """Cut the flat points ``[start, stop)`` of a ``(B, S)`` grid into at most 3 rectangles.

    The points are example-major (``p = b * S + k``): a partial first example, whole
    examples, a partial last example.

    Example:
        >>> grid_blocks(3, 11, 4)
        [(0, 1, 3, 4), (1, 2, 0, 4), (2, 3, 0, 3)]
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


class StraightPath:
    """``gamma_b(alpha) = x'_b + alpha (x_b - x'_b)`` per input; velocity ``x_b - x'_b``.

    Points are computed with ``lerp`` in the accumulation dtype and cast to each input's
    dtype. :meth:`grid_points` builds the points of rectangular blocks of a ``(B, S)``
    grid by broadcasting each example over its columns (no gathered copy of the inputs).

    Args:
        inputs, baselines: tuples of ``(B, ...)`` tensors, baselines shaped like inputs.
    """

    def __init__(
        self, inputs: tuple[torch.Tensor, ...], baselines: tuple[torch.Tensor, ...]
    ) -> None:
        self.inputs = inputs
        self.baselines = baselines
        self._work = [
            (x.to(accumulation_dtype(x.dtype)), b.to(accumulation_dtype(x.dtype)))
            for x, b in zip(inputs, baselines)
        ]

    def differences(self) -> tuple[torch.Tensor, ...]:
        """``x - x'`` per input, in the accumulation dtype."""
        return tuple(xw - bw for xw, bw in self._work)

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``x'_r + alpha (x_r - x'_r)`` for each point, per input."""
        out = []
        for x, (xw, bw) in zip(self.inputs, self._work):
            a = alphas.to(device=x.device, dtype=xw.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
            out.append(
                torch.lerp(bw.index_select(0, rows), xw.index_select(0, rows), a).to(x.dtype)
            )
        return tuple(out)

    def points_and_velocities(
        self, rows: torch.Tensor, alphas: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The points and ``x_r - x'_r`` at them."""
        vel = tuple((xw - bw).index_select(0, rows) for xw, bw in self._work)
        return self.points(rows, alphas), vel

    def grid_points(self, alphas: torch.Tensor, blocks: list[Block]) -> tuple[torch.Tensor, ...]:
        """The points of ``blocks`` of the ``(B, S)`` grid ``alphas``, in flat order."""
        n = sum((r1 - r0) * (k1 - k0) for r0, r1, k0, k1 in blocks)
        out = []
        for x, (xw, bw) in zip(self.inputs, self._work):
            buf = torch.empty((n,) + tuple(x.shape[1:]), dtype=xw.dtype, device=x.device)
            off = 0
            for r0, r1, k0, k1 in blocks:
                shape = (r1 - r0, k1 - k0) + tuple(x.shape[1:])
                a = alphas[r0:r1, k0:k1].to(device=x.device, dtype=xw.dtype)
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
