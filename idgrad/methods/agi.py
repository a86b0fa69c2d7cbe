"""Adversarial Gradient Integration (Pan, Li & Zhu, IJCAI 2021, doi:10.24963/ijcai.2021/396).

AGI needs no baseline: it walks from the input towards adversarial examples of
several false classes and integrates the gradient of the explained class along
those paths. For the explained class ``c`` and a false class ``j``, the path starts at
``x^0 = x`` and takes steepest-ascent sign steps on the false class,

    x^{t+1} = clip(x^t + epsilon sign(grad f_j(x^t))),

until the model predicts ``j`` (``argmax f(x^t) = j``) or ``max_iter`` steps are made.
The attribution integrates ``-grad f_c`` along every path (left Riemann sum) and adds
the paths up:

    AGI_i = sum_{j in J} sum_t -d f_c / d x_i (x^t) (x_i^{t+1} - x_i^t)

``f`` is the softmax probability (``probabilities=True``, as in the paper's code) or
the raw output. The false classes ``J`` are the ``top_k`` classes with the highest
output at ``x`` other than ``c`` (``classes="top"``), ``top_k`` classes drawn at random
(``classes="random"``, seeded, as the paper's class subsampling), or given per example.
Each sum telescopes approximately: ``sum_i AGI_i ~ sum_j (f_c(x) - f_c(x^{T_j}))``;
the gap is reported as the convergence delta.

Differences from the authors' code, on purpose: the steps accumulate (their code
adds every step to the *original* image, so its "path" never leaves the
``epsilon``-box around ``x``); paths and classes run batched over examples; and
clipping to a value range is optional (``clip``; their code clips to ``[0, 1]``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, Literal

import torch

from idgrad.core.fan import ALL, TargetsType, all_targets, check_targets
from idgrad.core.results import AGIDetails
from idgrad.core.seam import (
    PointLabel,
    TensorOrTuple,
    accumulation_dtype,
    chunk_bounds,
    prepare,
    resolve_chunk_size,
    restore_form,
    to_input_dtypes,
)
from idgrad.core.targets import TargetType, class_indices, is_predicted, resolve_target
from idgrad.core.validation import ChunkSize, check_int, check_number
from idgrad.defaults import (
    AGI_CLASSES,
    AGI_EPSILON,
    AGI_MAX_ITER,
    AGI_PROBABILITIES,
    AGI_SEED,
    AGI_TOP_K,
    INTERNAL_BATCH_SIZE,
    TARGETS,
)
from idgrad.methods.base import path_method

__all__ = ["adversarial_gradient_integration"]


class _Column:
    """Seam target: column ``columns[i]`` of (the softmax of) the output ``(n, C)``.

    Keeps the last detached output so the caller can read the predicted class and
    every class score of the points it just evaluated.
    """

    def __init__(self, probabilities: bool) -> None:
        self.probabilities = probabilities
        self.columns: torch.Tensor | None = None
        self.last: torch.Tensor | None = None

    def __call__(self, output: Any) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 2:
            shape = (
                tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            )
            raise ValueError(f"AGI needs a classifier output (batch, classes); got {shape}")
        assert self.columns is not None
        scores = torch.softmax(output, dim=1) if self.probabilities else output
        self.last = scores.detach()
        return scores.gather(1, self.columns.to(output.device).unsqueeze(1))[:, 0]


class _FormChecked(Exception):
    """Raised in place of counting the classes: a target's form was checked."""


def _no_classes() -> int:
    raise _FormChecked


def _explained_classes(
    targets: TargetsType, batch: int, scores_at_x: Callable[[], torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The scores at ``x`` ``(B, C)`` and one ``(B,)`` class tensor per target.

    Every target's form is checked before the model runs (one forward pass at ``x``).
    """
    values = check_targets(targets)
    if values != ALL:
        for i, t in enumerate(values):
            if is_predicted(t):
                continue
            try:
                class_indices(t, batch, _no_classes)
            except _FormChecked:
                pass
            except (TypeError, ValueError) as e:
                raise type(e)(f"targets[{i}]: {e}") from None
    scores = scores_at_x()
    n_classes = int(scores.shape[1])
    if values == ALL:
        values = all_targets(scores)  # every class
    per_target = []
    for i, t in enumerate(values):
        try:
            per_target.append(class_indices(resolve_target(t, scores), batch, n_classes))
        except ValueError as e:
            raise ValueError(f"targets[{i}]: {e}") from None
    return scores, per_target


def _check_clip(clip: Any) -> tuple[float, float] | None:
    if clip is None:
        return None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise TypeError(f"clip must be None or a pair (low, high), got {clip!r}")
    low, high = clip
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise TypeError(f"clip bounds must be finite numbers, got {clip!r}")
    if low >= high:
        raise ValueError(f"clip must have low < high, got {clip!r}")
    return float(low), float(high)


def _false_classes(
    classes: Any,
    top_k: int,
    scores: torch.Tensor,
    explained: torch.Tensor,
    seed: int | None,
) -> torch.Tensor:
    batch, n_classes = scores.shape
    if isinstance(classes, torch.Tensor):
        if classes.is_floating_point() or classes.ndim != 2 or classes.shape[0] != batch:
            raise ValueError(
                f"classes tensor must be integer (B, k) = ({batch}, k), got "
                f"{classes.dtype} {tuple(classes.shape)}"
            )
        out = classes.detach().to(torch.long).cpu()
        if (out < 0).any() or (out >= n_classes).any():
            raise ValueError(f"false classes out of range for {n_classes} classes")
        if (out == explained.unsqueeze(1)).any():
            raise ValueError("a false class equals the explained class of its example")
        return out
    if top_k > n_classes - 1:
        raise ValueError(f"top_k={top_k} but the model has only {n_classes - 1} false classes")
    if classes == "top":
        masked = scores.detach().to(torch.float64).cpu().clone()
        masked[torch.arange(batch), explained] = -math.inf
        return torch.sort(masked, dim=1, descending=True, stable=True).indices[:, :top_k]
    if classes == "random":
        gen = torch.Generator()
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed))
        rows = []
        for b in range(batch):
            others = torch.tensor([c for c in range(n_classes) if c != int(explained[b])])
            rows.append(others[torch.randperm(others.numel(), generator=gen)[:top_k]])
        return torch.stack(rows)
    raise ValueError(f"classes must be 'top', 'random' or a (B, k) tensor, got {classes!r}")


@path_method
def adversarial_gradient_integration(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    target: TargetType = "predicted",
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = TARGETS,
    epsilon: float = AGI_EPSILON,
    max_iter: int = AGI_MAX_ITER,
    top_k: int = AGI_TOP_K,
    classes: Literal["top", "random"] | torch.Tensor = AGI_CLASSES,
    seed: int | None = AGI_SEED,
    probabilities: bool = AGI_PROBABILITIES,
    clip: tuple[float, float] | None = None,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
) -> AGIDetails:
    """AGI: integrate ``-grad f_c`` along adversarial paths towards false classes.

    See the module docstring for the formula. Paper:
    https://doi.org/10.24963/ijcai.2021/396 (IJCAI 2021; code github.com/pd90506/AGI).
    All ``B k`` paths advance together; each iteration evaluates the points of the
    paths still running in chunks of at most ``internal_batch_size``.
    Cost per running path and iteration: one gradient of ``f_j`` (which also gives the
    predicted class), plus one gradient of ``f_c`` when the path goes on; then one
    forward evaluation at the end of every path that used up ``max_iter``.

    Args:
        forward_func: a classifier returning ``(n, C)`` logits, called as
            ``forward_func(*inputs, *additional_forward_args)``.
        inputs: tensor ``(B, ...)`` or tuple of tensors (a step moves all of them).
        target: the explained class, as in
            :func:`~idgrad.methods.ig.integrated_gradients` with one class per example
            (:func:`idgrad.core.targets.class_indices`); the default ``"predicted"`` is
            the predicted class at ``x``. None (one scalar per example) is refused.
        additional_forward_args: as in :func:`~idgrad.methods.ig.integrated_gradients`.
        targets: several explained classes in one call, as in
            :func:`~idgrad.methods.ig.integrated_gradients`: a list of class forms (an
            int, one class per example, ``"predicted"``) or ``"all"`` (every class).
            Each (example, class) pair gets its own adversarial paths (and its own false
            classes, drawn as in the call with that ``target``); the result gains a
            leading ``K`` axis.
        epsilon: step size (per feature, in input units; > 0).
        max_iter: most steps per path.
        top_k: number of false classes per example (unused when ``classes`` is a tensor).
        classes: ``"top"``, ``"random"`` or a ``(B, k)`` integer tensor of false classes.
        seed: seed of ``classes="random"`` (None: not reproducible).
        probabilities: integrate softmax probabilities (True, as the paper's code) or the
            raw outputs.
        clip: ``(low, high)`` range every step is clipped to, or None.
        internal_batch_size: at most this many points per forward/backward.

    Returns:
        Attributions shaped like ``inputs``.
        ``adversarial_gradient_integration.details(...)`` returns an
        :class:`~idgrad.core.results.AGIDetails` (its ``delta`` is
        ``sum(AGI) - sum_j (f_c(x) - f_c(x^{T_j}))`` ``(B,)``).

    Example:
        >>> import torch
        >>> W = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
        >>> model = lambda x: x @ W                   # 2 features, 3 classes
        >>> x = torch.tensor([[1.0, 0.2]], dtype=torch.float64)
        >>> d = adversarial_gradient_integration.details(model, x, top_k=2, epsilon=0.1,
        ...                                              max_iter=40)
        >>> d.target.tolist(), d.false_classes.tolist(), d.reached.tolist()
        ([0], [[1, 2]], [[True, True]])
        >>> bool(d.attributions[0, 0] > 0)            # feature 0 supports class 0
        True
    """
    epsilon = check_number(epsilon, "epsilon", minimum=0.0, open_minimum=True)
    max_iter = check_int(max_iter, "max_iter")
    top_k = check_int(top_k, "top_k")
    clip_range = _check_clip(clip)
    if not isinstance(probabilities, bool):
        raise TypeError(f"probabilities must be a bool, got {type(probabilities).__name__}")
    column = _Column(probabilities)
    prep = prepare(forward_func, inputs, None, column, additional_forward_args, internal_batch_size)
    batch = prep.batch_size
    xs = prep.inputs
    device = xs[0].device
    size = resolve_chunk_size(internal_batch_size, xs)

    # Scores at x (forward only): the predicted class, the explained class, f_c(x).
    def scores_at_x() -> torch.Tensor:
        scores_x = []
        for lo, hi in chunk_bounds(batch, size):
            column.columns = torch.zeros(hi - lo, dtype=torch.long)
            prep.seam.scalars(tuple(x[lo:hi] for x in xs), torch.arange(lo, hi, device=device))
            assert column.last is not None
            scores_x.append(column.last)
        return torch.cat(scores_x)

    if targets is not None:
        scores, per_target = _explained_classes(targets, batch, scores_at_x)
    elif is_predicted(target):
        scores = scores_at_x()
        per_target = [class_indices(resolve_target(target, scores), batch, scores.shape[1])]
    else:  # the target's form is checked before the model runs
        computed: list[torch.Tensor] = []

        def n_classes() -> int:
            computed.append(scores_at_x())
            return int(computed[0].shape[1])

        per_target = [class_indices(target, batch, n_classes)]
        scores = computed[0]
    # With targets: K B pseudo-examples, k B + b being example b explaining per_target[k].
    n_targets = len(per_target)
    pseudo = n_targets * batch
    example = torch.arange(pseudo) % batch
    explained = torch.cat(per_target)
    false = torch.cat([_false_classes(classes, top_k, scores, e, seed) for e in per_target])
    k = false.shape[1]
    n_forward = batch
    start = scores[example].gather(1, explained.to(device).unsqueeze(1))[:, 0]

    # One path per (pseudo-example, false class): q = r * k + m.
    n_paths = pseudo * k
    path_rows = example.repeat_interleave(k)
    path_false = false.reshape(-1)
    path_target = explained.repeat_interleave(k)
    state = [x[example.to(device)].repeat_interleave(k, dim=0) for x in xs]
    acc = [torch.zeros(s.shape, dtype=accumulation_dtype(s.dtype), device=device) for s in state]
    running = torch.ones(n_paths, dtype=torch.bool)
    reached = torch.zeros(n_paths, dtype=torch.bool)
    iterations = torch.zeros(n_paths, dtype=torch.long)
    end_values = torch.empty(n_paths, dtype=start.dtype, device=device)
    n_grad = 0

    def on_path(paths: torch.Tensor) -> PointLabel:  # names a point in error messages
        return lambda i: (
            f"step {int(iterations[paths[i]])} of its path towards class "
            f"{int(path_false[paths[i]])}"
        )

    for _ in range(max_iter):
        live = running.nonzero().flatten()
        if live.numel() == 0:
            break
        for lo, hi in chunk_bounds(int(live.numel()), size):
            idx = live[lo:hi]
            idx_dev = idx.to(device)
            rows = path_rows[idx].to(device)
            pts = tuple(s.index_select(0, idx_dev) for s in state)
            column.columns = path_false[idx]
            _, grads_false = prep.seam.scalars_and_grads(pts, rows, on_path(idx))
            pts = tuple(pt.detach() for pt in pts)  # the seam made them leaves needing grad
            n_grad += idx.numel()
            assert column.last is not None
            last = column.last
            end_values[idx_dev] = last.gather(1, path_target[idx].to(device).unsqueeze(1))[:, 0].to(
                end_values.dtype
            )
            hit = last.argmax(1).cpu() == path_false[idx]
            reached[idx[hit]] = True
            running[idx[hit]] = False
            go = ~hit
            if not bool(go.any()):
                continue
            moving = idx[go]
            moving_dev = moving.to(device)
            go_dev = go.to(device)
            pts_go = tuple(pt[go_dev] for pt in pts)
            column.columns = path_target[moving]
            _, grads_target = prep.seam.scalars_and_grads(
                tuple(pt.clone() for pt in pts_go), path_rows[moving].to(device), on_path(moving)
            )
            n_grad += moving.numel()
            for s, a, pt, gf, gt in zip(state, acc, pts_go, grads_false, grads_target):
                new = pt + epsilon * torch.sign(gf[go_dev])
                if clip_range is not None:
                    new = new.clamp(*clip_range)
                step = new.to(a.dtype) - pt.to(a.dtype)
                a.index_add_(0, moving_dev, -gt.to(a.dtype) * step)
                s.index_copy_(0, moving_dev, new.to(s.dtype))
            iterations[moving] += 1
    # Paths that used up max_iter: f_c at their last point (forward only).
    left = running.nonzero().flatten()
    for lo, hi in chunk_bounds(int(left.numel()), size):
        idx = left[lo:hi]
        idx_dev = idx.to(device)
        column.columns = path_target[idx]
        values = prep.seam.scalars(
            tuple(s.index_select(0, idx_dev) for s in state),
            path_rows[idx].to(device),
            on_path(idx),
        )
        end_values[idx_dev] = values.to(end_values.dtype)
        n_forward += idx.numel()
    summed = [a.reshape((pseudo, k) + a.shape[1:]).sum(1) for a in acc]
    total = torch.stack([s.reshape(pseudo, -1).sum(1) for s in summed]).sum(0)
    end_outputs = end_values.reshape(pseudo, k)
    delta = total.to(start.dtype) - (start.unsqueeze(1) - end_outputs).sum(1)
    attributions = restore_form(to_input_dtypes(summed, xs), prep.was_tuple)
    return AGIDetails(
        attributions=attributions,
        delta=delta,
        target=explained,
        false_classes=false,
        n_iterations=iterations.reshape(pseudo, k),
        reached=reached.reshape(pseudo, k),
        start=start,
        end_outputs=end_outputs,
        n_gradient_evals=n_grad,
        n_forward_evals=n_forward,
    )
