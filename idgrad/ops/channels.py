r"""Channel reductions: one value per pixel from per-channel attributions.

The one implementation behind :func:`idgrad.metrics.saliency_map` (batches of tensors, the
map the insertion/deletion and PIC metrics rank pixels by) and
:func:`idgrad.visual.reduce_channels` (one image in any layout, for the plots). With
:math:`a_c` the attribution of channel :math:`c` at a pixel:

- ``"sum"``: :math:`\sum_c a_c`, signed; the only reduction that keeps the sign,
- ``"abs_sum"``: :math:`|\sum_c a_c|`, the IDG paper's saliency map,
- ``"sum_abs"``: :math:`\sum_c |a_c|`,
- ``"positive_sum"``: :math:`\max(\sum_c a_c, 0)`,
- ``"l2"``: :math:`\sqrt{\sum_c a_c^2}`,
- ``"max_abs"``: :math:`\max_c |a_c|`.

The two callers default to different reductions on purpose, each named here once:
:data:`SALIENCY_REDUCTION` (a non-negative ranking, the paper's protocol) for the metrics and
:data:`DISPLAY_REDUCTION` (signed, so that a diverging colour map can show both signs) for
the plots.

Example:
    >>> import torch
    >>> a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]]]])  # (B=1, C=2, H=1, W=2)
    >>> combine_channels(a, "abs_sum", dim=1)
    tensor([[[2., 1.]]])
    >>> combine_channels(a, "max_abs", dim=1)
    tensor([[[3., 2.]]])
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import Tensor

__all__ = [
    "DISPLAY_REDUCTION",
    "REDUCTIONS",
    "SALIENCY_REDUCTION",
    "Reduction",
    "combine_channels",
]

Reduction = Literal["sum", "abs_sum", "sum_abs", "positive_sum", "l2", "max_abs"]
"""The names of the channel reductions (see the module's list for the formulas)."""

REDUCTIONS: tuple[str, ...] = get_args(Reduction)
"""The same names, as a tuple (for checks and choices)."""

SALIENCY_REDUCTION: Reduction = "abs_sum"
"""Default of :func:`idgrad.metrics.saliency_map`: the IDG paper's ``|sum over channels|``."""

DISPLAY_REDUCTION: Reduction = "sum"
"""Default of :func:`idgrad.visual.reduce_channels` and the plots: signed."""


def combine_channels(values: Tensor, reduction: Reduction, dim: int) -> Tensor:
    """Reduce the channel axis ``dim`` of ``values`` by ``reduction``.

    Args:
        values: a real tensor with a channel axis.
        reduction: one of :data:`REDUCTIONS`.
        dim: the channel axis (removed from the result).

    Returns:
        ``values`` without the axis ``dim``, same dtype and device; not attached to the graph.

    Raises:
        TypeError: ``values`` is not a tensor.
        ValueError: an unknown ``reduction``.
    """
    if not isinstance(values, Tensor):
        raise TypeError(f"values must be a torch.Tensor, got {type(values).__name__}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    a = values.detach()
    if reduction == "sum":
        return a.sum(dim=dim)
    if reduction == "abs_sum":
        return a.sum(dim=dim).abs()
    if reduction == "sum_abs":
        return a.abs().sum(dim=dim)
    if reduction == "positive_sum":
        return a.sum(dim=dim).clamp(min=0)
    if reduction == "l2":
        return a.square().sum(dim=dim).sqrt()
    return a.abs().amax(dim=dim)
