"""Guided Integrated Gradients (Kapishnikov et al., CVPR 2021, arXiv:2106.09788).

An adaptive path from the baseline ``x'`` to the input ``x`` that, at every step,
moves the features whose gradient is smallest in magnitude first, so that the path
avoids the regions where the gradient is large for reasons unrelated to the input
(noise, saturation). The attribution is the path integral along it, as a left
Riemann sum over the ``n_steps`` pieces:

    GuidedIG_i = sum_{t=1}^{n} g_i(x^{t-1}) (x_i^t - x_i^{t-1}),    x^0 = x', x^n = x.

Each feature ``i`` is described by its progress ``p_i`` (``x_i = x'_i + p_i (x_i - x'_i)``,
in ``[0, 1]``, never decreasing). Step ``t`` (``alpha_t = t / n``) does:

1. one gradient ``g = grad F(x^{t-1})`` (the only model evaluation of the step);
2. features with ``p_i < alpha_t - max_dist`` are moved up to that bound;
3. the L1 distance to the input must fall to ``(1 - alpha_t) ||x - x'||_1``: repeatedly
   select the features still below ``min(1, alpha_t + max_dist)`` whose ``|g_i|`` is at most
   the ``fraction`` quantile ``q`` of ``|g|`` over all ``N`` features of the example (numpy's
   ``"lower"`` rule: the value at 0-based position ``floor(fraction (N - 1))`` in ascending
   order), where the features that cannot move (at that bound, or ``x_i = x'_i``) count as
   ``+inf``. Without ties that is ``floor(fraction (N - 1)) + 1`` features; tied features are
   selected together, so a symmetric input gets a symmetric path and attribution. All
   selected features move by the same share ``gamma`` of their distance to the bound,
   ``gamma <= 1`` just enough to meet the target; when even ``gamma = 1`` is not enough, they
   move to the bound and the selection is made again. The last step moves every feature to
   the input.

This is the paper's Algorithm 1 with the saliency library's distance bound:
``max_dist`` limits how far (in progress) any feature may run ahead of or lag behind
the straight line. The selection rule (ties, the quantile position, ``N`` counting every
feature) is the authors' (PAIR saliency ``guided_ig_impl``), so on the same function, input,
baseline and parameters the two give the same attribution up to floating-point rounding.
Where we still differ: a step's target counts as met within ``64 eps ||x - x'||_1`` (theirs:
``math.isclose`` with 1e-9); when lifting the lagging features already overshoots a step's
target we move nothing more (theirs stops on an assertion); a batch is computed at once
(theirs: one example per call); float32 inputs are integrated in float32 (theirs: float64);
the default ``n_steps`` is 50 (the IDG paper's setting; theirs: ``steps=200``).

Reductions that hold exactly: ``max_dist = 0`` forces
``p_i = alpha_t`` for every feature, and ``fraction = 1`` moves all features by the same
share; either way the path is the straight line sampled at ``t / n`` and Guided IG is
IG with the ``riemann_left`` rule and ``n`` steps. On a linear model every path gives
``(x - x') w``, i.e. IG. Completeness ``sum_i GuidedIG_i = F(x) - F(x')`` holds up to
the O(1/n) error of the left Riemann sum, reported as the convergence delta.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from idgrad.core.results import PathDetails
from idgrad.core.seam import (
    BaselineType,
    TargetsType,
    TargetType,
    TensorOrTuple,
    accumulation_dtype,
    chunk_bounds,
    prepare,
    resolve_chunk_size,
    restore_form,
    to_input_dtypes,
)
from idgrad.core.validation import ChunkSize, check_int, check_number
from idgrad.defaults import (
    GUIDED_FRACTION,
    GUIDED_MAX_DIST,
    INTERNAL_BATCH_SIZE,
    N_STEPS,
    TARGETS,
)
from idgrad.engine.evaluator import Evaluator
from idgrad.engine.paths import StraightPath
from idgrad.methods.base import path_method

__all__ = ["guided_integrated_gradients"]


def _select_and_move(
    p: torch.Tensor,
    need: torch.Tensor,
    absg: torch.Tensor,
    absd: torch.Tensor,
    active: torch.Tensor,
    upper: float,
    position: int,
    tol: torch.Tensor,
    max_rounds: int,
) -> torch.Tensor:
    """Step 3 of the module docstring for every example at once; returns the new ``p``.

    A round selects, in every example that still needs to move, the eligible features with
    ``|g_i| <= q``, where ``q`` is the value at 0-based ``position`` of the example's ``|g|``
    sorted ascending with the ineligible features as ``+inf`` (``q = +inf``: every eligible
    feature). It either meets the example's target (a partial move) or moves the selection to
    the bound, after which those features are ineligible. A round moves at least
    ``position + 1`` features (or all that are left), so ``ceil(N / (position + 1)) + 1``
    rounds always suffice (``max_rounds``).
    """
    tiny = torch.finfo(p.dtype).tiny
    inf = torch.tensor(torch.inf, dtype=absg.dtype, device=absg.device)
    for _ in range(max_rounds):
        todo = need > tol
        if not bool(todo.any()):
            break
        eligible = active & (p < upper)
        key = torch.where(eligible, absg, inf)
        threshold = key.kthvalue(position + 1, dim=1, keepdim=True).values
        chosen = eligible & (key <= threshold) & todo.unsqueeze(1)
        gap = (upper - p) * absd
        room = (gap * chosen).sum(1)
        full = room <= need
        gamma = torch.where(full, torch.ones_like(room), need / room.clamp_min(tiny))
        partial = p + gamma.unsqueeze(1) * (upper - p)
        moved = torch.where(full.unsqueeze(1), torch.full_like(p, upper), partial)
        p = torch.where(chosen, moved, p)
        # Rows with nothing left to move are done (only rounding can leave need > tol there).
        stuck = ~eligible.any(1)
        need = torch.where(full & ~stuck, need - room, torch.zeros_like(need))
    return p


@path_method
def guided_integrated_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = TARGETS,
    n_steps: int = N_STEPS,
    fraction: float = GUIDED_FRACTION,
    max_dist: float = GUIDED_MAX_DIST,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
) -> PathDetails[TensorOrTuple]:
    """Guided IG along the adaptive path of the module docstring.

    ``GuidedIG_i = sum_t g_i(x^{t-1}) (x_i^t - x_i^{t-1})``. Paper:
    https://arxiv.org/abs/2106.09788. The defaults ``fraction=0.25``,
    ``max_dist=0.02`` are the Guided IG authors'; the IDG paper's comparison used
    ``fraction=0.5``, ``max_dist=1.0`` (unbounded), 50 steps.

    All features of all inputs (a tuple) form one feature vector per example. The
    path is built step by step (each step needs the previous gradient), all examples
    at once; each step's gradient is evaluated in chunks of at most
    ``internal_batch_size`` examples. The path depends on the target's gradient, so with
    ``targets`` every (example, target) pair follows its own path (nothing is shared but
    the forward pass at ``x``).

    Args:
        forward_func, inputs, baselines, target, additional_forward_args, targets,
        internal_batch_size: as in :func:`~idgrad.methods.ig.integrated_gradients`.
        n_steps: gradient evaluations per example (the path has ``n_steps`` pieces).
        fraction: share of the features moved per selection, in ``(0, 1]``.
        max_dist: largest progress gap between any feature and the straight line,
            in ``[0, 1]``; 0 gives IG (``riemann_left``), 1 leaves the path unbounded.

    Returns:
        Attributions shaped like ``inputs``. ``guided_integrated_gradients.details(...)``
        returns a :class:`~idgrad.core.results.PathDetails`: ``delta`` is
        ``sum(GuidedIG) - (F(x) - F(x'))``, ``alphas`` are the L1 progress
        ``(t - 1) / n`` of the gradient points, ``weights`` ``1 / n``, ``derivatives``
        ``g(x^{t-1}) . (x^t - x^{t-1}) n`` (so that ``sum_k w_k F'_k = sum(GuidedIG)``);
        ``B n_steps`` gradient and ``B`` forward evaluations.

    Example:
        >>> import torch
        >>> w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
        >>> model = lambda x: x @ w                  # linear: Guided IG = (x - x') w
        >>> x = torch.tensor([[1.0, 1.0, 2.0]], dtype=torch.float64)
        >>> attr = guided_integrated_gradients(model, x, n_steps=5, fraction=0.3, max_dist=1.0)
        >>> [round(v, 12) for v in attr[0].tolist()]
        [1.0, -2.0, 6.0]
    """
    n_steps = check_int(n_steps, "n_steps")
    fraction = check_number(fraction, "fraction", minimum=0.0, maximum=1.0, open_minimum=True)
    max_dist = check_number(max_dist, "max_dist", minimum=0.0, maximum=1.0)
    prep = prepare(
        forward_func,
        inputs,
        baselines,
        target,
        additional_forward_args,
        internal_batch_size,
        targets=targets,
    )
    batch = prep.batch_size
    xs, bs = prep.inputs, prep.baselines
    device = xs[0].device
    work = accumulation_dtype(xs[0].dtype)
    for x in xs[1:]:
        work = torch.promote_types(work, accumulation_dtype(x.dtype))
    sizes = [x[0].numel() for x in xs]
    diff = torch.cat([(x.to(work) - b.to(work)).reshape(batch, -1) for x, b in zip(xs, bs)], 1)
    absd = diff.abs()
    active = absd > 0
    total = absd.sum(1)
    n_features = diff.shape[1]
    # numpy's quantile(|g|, fraction, method="lower") picks this 0-based position (as in the
    # authors' code); every feature of the example counts, the ones that cannot move as +inf.
    position = math.floor(fraction * (n_features - 1))
    tol = 64 * torch.finfo(work).eps * total
    max_rounds = -(-n_features // (position + 1)) + 2 if batch else 0
    p = torch.zeros_like(diff)
    attr = torch.zeros_like(diff)
    outputs = torch.empty(batch, n_steps, dtype=work, device=device)
    derivatives = torch.empty(batch, n_steps, dtype=work, device=device)

    def point_tuple(lo: int, hi: int) -> tuple[torch.Tensor, ...]:
        pts, offset = [], 0
        for x, b, size in zip(xs, bs, sizes):
            frac = p[lo:hi, offset : offset + size].reshape(x[lo:hi].shape)
            xw, bw = x[lo:hi].to(work), b[lo:hi].to(work)
            pts.append(torch.lerp(bw, xw, frac).to(x.dtype).detach())
            offset += size
        return tuple(pts)

    chunk = resolve_chunk_size(internal_batch_size, xs)  # examples per pass
    for step in range(1, n_steps + 1):
        grad = torch.empty_like(diff)
        for lo, hi in chunk_bounds(batch, chunk):
            rows = torch.arange(lo, hi, device=device)
            where = f"alpha = {(step - 1) / n_steps:.6g} (step {step} of the guided path)"
            values, grads = prep.seam.scalars_and_grads(point_tuple(lo, hi), rows, where)
            outputs[lo:hi, step - 1] = values.to(work)
            grad[lo:hi] = torch.cat([g.to(work).reshape(hi - lo, -1) for g in grads], 1)
        p_old = p
        if step == n_steps:
            p = active.to(work)
        else:
            alpha = step / n_steps
            lower, upper = max(alpha - max_dist, 0.0), min(alpha + max_dist, 1.0)
            p = torch.where(active, p.clamp_min(lower), p)
            need = alpha * total - (p * absd).sum(1)
            p = _select_and_move(
                p, need, grad.abs(), absd, active, upper, position, tol, max_rounds
            )
        piece = grad * (p - p_old) * diff
        attr += piece
        derivatives[:, step - 1] = piece.sum(1) * n_steps
    ends = torch.ones(batch, 1, dtype=torch.float64)
    evaluator = Evaluator(prep.seam, StraightPath(xs, bs), xs, prep.chunk, share_targets=True)
    end = evaluator.grid_values(ends)[:, 0].to(work)
    start = outputs[:, 0]
    delta = attr.sum(1) - (end - start)
    parts, offset = [], 0
    for x, size in zip(xs, sizes):
        parts.append(attr[:, offset : offset + size].reshape(x.shape))
        offset += size
    attributions = restore_form(to_input_dtypes(parts, xs), prep.was_tuple)
    alphas = (torch.arange(n_steps, dtype=torch.float64) / n_steps).repeat(batch, 1)
    return PathDetails(
        attributions=attributions,
        delta=delta,
        alphas=alphas,
        weights=torch.full((batch, n_steps), 1.0 / n_steps, dtype=torch.float64),
        outputs=outputs,
        derivatives=derivatives,
        start=start,
        end=end,
        evaluations=torch.full((batch,), n_steps + 1, dtype=torch.int64),
        n_gradient_evals=batch * n_steps,
        n_forward_evals=batch - evaluator.saved_forward_evals,
    )
