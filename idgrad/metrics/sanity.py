"""Sanity checks: model-parameter randomisation (Adebayo et al., NeurIPS 2018) and the
Spearman rank correlation it reports."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from idgrad.core.guard import ModelGuard
from idgrad.core.targets import resolve_target
from idgrad.metrics._checks import Target, _forward

__all__ = ["RandomizationResult", "parameter_randomization_check", "spearman"]


def _average_ranks(x: Tensor) -> Tensor:
    """Ranks 1..n along dim 1 with ties given their average rank (float64)."""
    b, n = x.shape
    values, order = torch.sort(x, dim=1, stable=True)
    new = torch.ones_like(values, dtype=torch.bool)
    new[:, 1:] = values[:, 1:] != values[:, :-1]
    group = new.long().cumsum(dim=1) - 1
    pos = torch.arange(n, device=x.device, dtype=torch.float64).expand(b, n)
    first = torch.full((b, n), float(n), dtype=torch.float64, device=x.device)
    first = first.scatter_reduce(1, group, pos, reduce="amin")
    last = torch.zeros((b, n), dtype=torch.float64, device=x.device)
    last = last.scatter_reduce(1, group, pos, reduce="amax")
    sorted_ranks = ((first + last) / 2 + 1).gather(1, group)
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    r"""Spearman rank correlation per example, ties given their average rank.

    :math:`\rho = \operatorname{corr}(\operatorname{rank}(a), \operatorname{rank}(b))`
    over the flattened features of each example; NaN when either map is constant.

    Args:
        a: ``(B, ...)``.
        b: same shape as ``a``.

    Returns:
        ``(B,)`` float64.

    Example:
        >>> spearman(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[1.0, 4.0, 9.0, 16.0]]))
        tensor([1.], dtype=torch.float64)
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("a and b must be tensors")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"a and b must have the same shape (B, ...), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    ra = _average_ranks(a.detach().reshape(a.shape[0], -1).to(torch.float64))
    rb = _average_ranks(b.detach().reshape(b.shape[0], -1).to(torch.float64).to(a.device))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    denom = (ra.square().sum(dim=1) * rb.square().sum(dim=1)).sqrt()
    num = (ra * rb).sum(dim=1)
    nan = torch.full_like(num, float("nan"))
    return torch.where(denom > 0, num / torch.where(denom > 0, denom, 1.0), nan)


class RandomizationResult(NamedTuple):
    """Result of :func:`parameter_randomization_check`.

    Attributes:
        layers: one label per stage: the layer randomised at that stage (``"cascading"``:
            the layer added at that stage, all layers before it stay random; ``"all"``: a
            single stage labelled ``"all"``).
        correlations: ``(n_stages, B)`` float64 Spearman correlation between the original
            and the randomised attributions of each example.
    """

    layers: tuple[str, ...]
    correlations: Tensor


def _reinitialise(module: nn.Module) -> None:
    """Redraw the parameters owned directly by ``module`` (not its children's)."""
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            std = float(p.std()) if p.numel() > 1 else 0.0
            p.normal_(0.0, std if std > 0 and math.isfinite(std) else 0.01)


def parameter_randomization_check(
    model: nn.Module,
    inputs: Tensor,
    explain: Callable[[nn.Module, Tensor, Tensor], Tensor],
    target: Target = "predicted",
    *,
    mode: Literal["cascading", "independent", "all"] = "cascading",
    layers: Sequence[str] | None = None,
    absolute: bool = True,
    seed: int = 0,
    init: Callable[[nn.Module], None] | None = None,
) -> RandomizationResult:
    r"""Model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps").

    Attributions of a trustworthy method must change when the model's weights are
    re-initialised. This function explains ``inputs`` with the original model, then with a
    :func:`copy.deepcopy` of it (the caller's model is never modified) whose layers are
    re-initialised, and reports the Spearman rank correlation :math:`\rho` (:func:`spearman`)
    between the original and randomised attributions, per example and stage. High
    :math:`\rho` after randomisation means the method ignores the model.

    Modes: ``"cascading"`` re-initialises the layers one after the other from the top (output)
    layer down, keeping the earlier ones random (one stage per layer); ``"independent"``
    re-initialises one layer at a time in a fresh copy; ``"all"`` re-initialises every layer
    at once (one stage).

    Layers are the modules that own parameters directly; by default in reverse registration
    order (``named_modules``), which for most models is top to bottom. Pass ``layers`` (names
    from ``named_modules``, top first) when the registration order is not the forward order.
    A layer is re-initialised with its ``reset_parameters()`` when it has one (note that for
    normalisation layers this restores the constant initial values: weight 1, bias 0), else
    each of its parameters is redrawn from :math:`\mathcal N(0, \sigma^2)` with :math:`\sigma`
    its own standard deviation (0.01 if that is 0); ``init`` replaces both. The draws use the
    global generator forked and seeded with ``seed``, so the caller's RNG state is unchanged.

    Args:
        model: an :class:`torch.nn.Module`; only its deep copies are modified.
        inputs: batch passed to ``explain``.
        explain: ``explain(model, inputs, target) -> attributions (B, ...)``.
        target: passed to ``explain`` unchanged, except ``"predicted"`` (default), which
            becomes a ``(B,)`` long tensor of the original model's predicted classes (so
            every stage explains the same classes); see :mod:`idgrad.core.targets`.
        mode: ``"cascading"``, ``"independent"`` or ``"all"``.
        layers: module names to randomise, top first; default all parameterised modules.
        absolute: correlate ``|attributions|`` (default, as in the paper's main figures)
            rather than signed values.
        seed: seed of the re-initialisation.
        init: ``init(module)`` re-initialising one module's own parameters in place.

    Returns:
        :class:`RandomizationResult`.

    Raises:
        TypeError: ``model`` is not a module or ``explain`` returns no tensor.
        ValueError: unknown ``mode`` or layer name, or a model without parameters.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> nn_ = torch.nn
        >>> net = nn_.Sequential(nn_.Linear(4, 8), nn_.Tanh(), nn_.Linear(8, 3))
        >>> def grad_x_input(m, x, t):
        ...     return x * torch.func.grad(lambda z: m(z).gather(1, t[:, None]).sum())(x)
        >>> r = parameter_randomization_check(net, torch.randn(2, 4), grad_x_input)
        >>> r.layers, r.correlations.shape
        (('2', '0'), torch.Size([2, 2]))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a tensor, got {type(inputs).__name__}")
    if mode not in ("cascading", "independent", "all"):
        raise ValueError(f"mode must be 'cascading', 'independent' or 'all', got {mode!r}")
    modules = dict(model.named_modules())
    owners = [name for name, m in modules.items() if any(True for _ in m.parameters(recurse=False))]
    if layers is None:
        names = owners[::-1]
    else:
        names = list(layers)
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise ValueError(f"layers not found in model.named_modules(): {unknown}")
    if not names:
        raise ValueError("the model has no parameterised layer to randomise")
    reinit = init if init is not None else _reinitialise

    with ModelGuard(model, explain):  # the buffers of the caller's model, as found
        with torch.no_grad():
            target_t = resolve_target(target, lambda: _forward(model, inputs))

        def attribute(m: nn.Module) -> Tensor:
            out = explain(m, inputs, target_t)  # type: ignore[arg-type]
            if not isinstance(out, Tensor):
                raise TypeError(f"explain must return a tensor, got {type(out).__name__}")
            out = out.detach()
            return out.abs() if absolute else out

        original = attribute(model)
        devices = sorted({p.device.index for p in model.parameters() if p.device.type == "cuda"})
        labels: list[str] = []
        rows: list[Tensor] = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            if mode == "all":
                copy_ = copy.deepcopy(model)
                mods = dict(copy_.named_modules())
                for name in names:
                    reinit(mods[name])
                labels.append("all")
                rows.append(spearman(original, attribute(copy_)))
            else:
                copy_ = copy.deepcopy(model)
                for name in names:
                    if mode == "independent":
                        copy_ = copy.deepcopy(model)
                    reinit(dict(copy_.named_modules())[name])
                    labels.append(name)
                    rows.append(spearman(original, attribute(copy_)))
        return RandomizationResult(tuple(labels), torch.stack(rows))
