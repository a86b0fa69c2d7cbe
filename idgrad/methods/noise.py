"""Noise tunnel: SmoothGrad, SmoothGrad² and VarGrad around any idgrad method.

For each example ``x`` the method runs on ``n`` noisy copies ``x + eps_j``,
``eps_j ~ N(0, sigma^2 I)``, and the attributions ``A_j`` are reduced per example:

=================== ======================================================
``nt_type``         result
=================== ======================================================
``"smoothgrad"``    ``E[A] = (1/n) sum_j A_j``      (Smilkov et al., 2017)
``"smoothgrad_sq"`` ``E[A^2]``
``"vargrad"``       ``E[A^2] - E[A]^2``, the (biased) variance
                    (Adebayo et al., 2018)
=================== ======================================================

The samples are flattened into the batch: ``nt_samples_batch_size`` noisy copies of
the whole batch go into one call of the method (rows ``j * B + b``), with
per-example targets, baselines and extra arguments repeated to match; the method's
own ``internal_batch_size`` still bounds each forward/backward pass. Mean and
variance are merged across calls with the pairwise (Chan et al.) update, so VarGrad
does not lose its digits to ``E[A^2] - E[A]^2`` cancellation when the noise is small.

Noise is drawn sample by sample (sample ``j``: one ``randn`` per input, shaped like
it), so the result does not depend on ``nt_samples_batch_size``. With ``nt_seed`` or
a ``generator`` it is reproducible and leaves the global RNG alone; a CPU generator
gives the same noise whatever device the inputs are on.

The noise tunnel's own parameters (``attribution_method``, ``nt_type``,
``nt_samples``, ``stdevs``, ``nt_samples_batch_size``, ``generator``, ``nt_seed``,
``return_convergence_delta``) share no name with an option of any method, so every
option of the wrapped method (its quadrature rule ``method=``, AGI's ``seed=``, ...)
passes through.

Example:
    >>> import torch, idgrad
    >>> model = torch.nn.Linear(3, 2)
    >>> x = torch.rand(4, 3)
    >>> attr = noise_tunnel(idgrad.integrated_gradients, x, nt_samples=8, stdevs=0.1,
    ...                     nt_seed=0, forward_func=model, target=1, n_steps=8,
    ...                     rule="riemann_middle")
    >>> attr.shape
    torch.Size([4, 3])
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, Literal

import torch

from idgrad.core.fan import ALL, all_targets, check_targets
from idgrad.core.guard import ModelGuard
from idgrad.core.seam import (
    TensorOrTuple,
    accumulation_dtype,
    as_input_tuple,
    model_outputs,
    resolve_chunk_size,
)
from idgrad.core.targets import Target, is_predicted, predicted_classes
from idgrad.core.validation import check_int
from idgrad.defaults import INTERNAL_BATCH_SIZE
from idgrad.frameworks.boundary import at_boundary

__all__ = ["NT_TYPES", "NoiseType", "noise_tunnel"]

NoiseType = Literal["smoothgrad", "smoothgrad_sq", "vargrad"]
NT_TYPES: tuple[str, ...] = ("smoothgrad", "smoothgrad_sq", "vargrad")

Stdevs = float | tuple[float, ...]


def _model_of(attribution_method: Any, method_kwargs: dict[str, Any]) -> Any:
    """The model the wrapped method explains: its ``forward_func`` (None if unknown)."""
    model = method_kwargs.get("forward_func")
    return model if model is not None else getattr(attribution_method, "forward_func", None)


def _check_stdevs(stdevs: Stdevs, n_inputs: int) -> tuple[float, ...]:
    items = tuple(stdevs) if isinstance(stdevs, (tuple, list)) else (stdevs,) * n_inputs
    if len(items) != n_inputs:
        raise ValueError(f"got {len(items)} stdevs for {n_inputs} inputs; give one per input")
    out: list[float] = []
    for s in items:
        if isinstance(s, bool) or not isinstance(s, numbers.Real):
            raise TypeError(f"stdevs must be numbers, got {type(s).__name__}")
        if not math.isfinite(float(s)) or s < 0:
            raise ValueError(f"stdevs must be finite and >= 0, got {s}")
        out.append(float(s))
    return tuple(out)


def _resolve(attribution_method: Any, with_delta: bool) -> Callable[..., Any]:
    """A callable taking ``inputs=`` by keyword, returning ``(attributions, delta)`` if asked.

    An idgrad method gives its details (``.details``); an object's ``attribute`` is
    asked for captum's ``return_convergence_delta=True``.
    """
    attribute = getattr(attribution_method, "attribute", None)
    if callable(attribute):
        if with_delta:
            return functools.partial(attribute, return_convergence_delta=True)
        return attribute  # type: ignore[no-any-return]
    if not callable(attribution_method):
        raise TypeError(
            "attribution_method must be an idgrad method (e.g. idgrad.integrated_gradients) "
            f"or an object with an attribute() method, got {type(attribution_method).__name__}"
        )
    if not with_delta:
        return attribution_method  # type: ignore[no-any-return]
    details = getattr(attribution_method, "details", None)
    if not callable(details):
        raise TypeError(
            "return_convergence_delta=True needs an idgrad method (with .details) or an "
            "object whose attribute() takes return_convergence_delta"
        )

    def with_details(**kwargs: Any) -> tuple[Any, torch.Tensor]:
        d = details(**kwargs)
        return d.attributions, d.delta

    return with_details


def _tile(value: Any, batch: int, copies: int) -> Any:
    """Repeat a per-example tensor (first axis ``batch``) ``copies`` times along it."""
    if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch:
        return value.repeat((copies,) + (1,) * (value.ndim - 1))
    return value


def _checked_target(target: Any, batch: int, label: str = "") -> Any:
    """``target`` checked by :class:`idgrad.core.targets.Target`, before any noise is drawn.

    One index per example becomes a tensor ``(B,)`` or ``(B, depth)`` that
    :func:`_expand_kwargs` repeats for the noisy copies; None, one index for every
    example (an int, a tuple, one element) and a callable are returned as given. ``label``
    starts the messages (``"targets[k]: "``).
    """
    try:
        t = Target(target, batch)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{label}{e}") from None
    if t.per_example is None:
        return target
    return t.per_example[:, 0] if t.depth == 1 else t.per_example


def _predicted(model: Any, xs: tuple[torch.Tensor, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """The predicted classes at the clean inputs: one forward pass, before any noise."""
    if not callable(model):
        raise TypeError(
            "target='predicted' needs the model to find the predicted class at the clean "
            "inputs: pass forward_func=model (or a method object with .forward_func)"
        )
    chunk = resolve_chunk_size(kwargs.get("internal_batch_size", INTERNAL_BATCH_SIZE), xs)
    outputs = model_outputs(model, xs, kwargs.get("additional_forward_args"), chunk)
    return predicted_classes(outputs)


def _resolved_targets(
    model: Any, xs: tuple[torch.Tensor, ...], kwargs: dict[str, Any]
) -> list[Any]:
    """``targets`` with ``"all"`` and ``"predicted"`` resolved at the clean inputs (one
    forward pass if either is asked for), so that every noisy sample explains them."""
    targets = kwargs["targets"]
    if targets != ALL and not any(is_predicted(t) for t in targets):
        return list(targets)
    if not callable(model):
        raise TypeError(
            "targets='all' or 'predicted' needs the model at the clean inputs: pass "
            "forward_func=model (or a method object with .forward_func)"
        )
    chunk = resolve_chunk_size(kwargs.get("internal_batch_size", INTERNAL_BATCH_SIZE), xs)
    outputs = model_outputs(model, xs, kwargs.get("additional_forward_args"), chunk)
    if targets == ALL:
        return all_targets(outputs)
    return [predicted_classes(outputs) if is_predicted(t) else t for t in targets]


def _samples_first(a: torch.Tensor, n_targets: int, copies: int, batch: int) -> torch.Tensor:
    """Attributions ``(K, copies B, ...)`` of a call with ``targets`` as ``(copies K B, ...)``
    (sample-major, as the moments take them); without targets (``n_targets = 0``) as they are."""
    if n_targets == 0:
        return a
    if a.ndim < 2 or a.shape[:2] != (n_targets, copies * batch):
        raise ValueError(
            f"the method returned attributions of shape {tuple(a.shape)} for {n_targets} "
            f"targets and a batch of {copies * batch}; expected ({n_targets}, "
            f"{copies * batch}, ...)"
        )
    rest = a.shape[2:]
    return a.reshape(n_targets, copies, batch, *rest).transpose(0, 1).reshape(-1, *rest)


def _samples_last(delta: torch.Tensor, n_targets: int, copies: int, batch: int) -> torch.Tensor:
    """A delta ``(copies B,)`` (or ``(K, copies B)``) as ``(B, copies)`` (``(K, B, copies)``)."""
    k = max(n_targets, 1)
    return delta.reshape(k, copies, batch).transpose(1, 2)


def _with_k_axis(t: torch.Tensor, n_targets: int, batch: int) -> torch.Tensor:
    """A result over the ``K B`` (example, target) rows as ``(K, B, ...)``."""
    return t if n_targets == 0 else t.reshape(n_targets, batch, *t.shape[1:])


def _expand_kwargs(kwargs: dict[str, Any], batch: int, copies: int) -> dict[str, Any]:
    """Per-example ``target``, ``baselines`` and ``additional_forward_args`` for the tiled batch."""
    out = dict(kwargs)
    if copies == 1:
        return out
    if "target" in kwargs:
        out["target"] = _tile(kwargs["target"], batch, copies)
    if kwargs.get("targets") is not None:
        out["targets"] = [_tile(t, batch, copies) for t in kwargs["targets"]]
    for key in ("baselines", "additional_forward_args"):
        if key not in kwargs:  # methods without baselines (Blur IG, AGI) must not get one
            continue
        value = kwargs[key]
        if isinstance(value, tuple):
            out[key] = tuple(_tile(v, batch, copies) for v in value)
        elif isinstance(value, list) and key == "baselines":
            out[key] = [_tile(v, batch, copies) for v in value]
        else:
            out[key] = _tile(value, batch, copies)
    return out


def _flatten(value: Any) -> tuple[list[torch.Tensor], Any]:
    """Tensors of a nested tuple/list, and a spec to rebuild it."""
    if isinstance(value, torch.Tensor):
        return [value], None
    if isinstance(value, (tuple, list)):
        leaves: list[torch.Tensor] = []
        specs = []
        for v in value:
            sub, spec = _flatten(v)
            specs.append((len(sub), spec))
            leaves.extend(sub)
        return leaves, (type(value), specs)
    raise TypeError(
        f"the method returned a {type(value).__name__}; expected a tensor or a tuple of tensors"
    )


def _unflatten(leaves: list[torch.Tensor], spec: Any) -> Any:
    if spec is None:
        return leaves[0]
    kind, specs = spec
    out, offset = [], 0
    for count, sub in specs:
        out.append(_unflatten(leaves[offset : offset + count], sub))
        offset += count
    return kind(out)


class _Moments:
    """Running per-example mean and sum of squared deviations over samples (Chan et al.)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: list[torch.Tensor] = []
        self.m2: list[torch.Tensor] = []

    def update(self, leaves: list[torch.Tensor], batch: int, copies: int) -> None:
        means, m2s = [], []
        for a in leaves:
            if a.ndim == 0 or a.shape[0] != batch * copies:
                raise ValueError(
                    f"the method returned attributions of shape {tuple(a.shape)} for a batch "
                    f"of {batch * copies}; their first axis must be the batch axis"
                )
            work = a.detach().to(accumulation_dtype(a.dtype)).reshape((copies, batch) + a.shape[1:])
            mean = work.mean(0)
            means.append(mean)
            m2s.append(((work - mean) ** 2).sum(0))
        if self.count == 0:
            self.mean, self.m2, self.count = means, m2s, copies
            return
        total = self.count + copies
        for i, (mean, m2) in enumerate(zip(means, m2s)):
            diff = mean - self.mean[i]
            self.mean[i] = self.mean[i] + diff * (copies / total)
            self.m2[i] = self.m2[i] + m2 + diff**2 * (self.count * copies / total)
        self.count = total

    def result(self, nt_type: str) -> list[torch.Tensor]:
        if nt_type == "smoothgrad":
            return self.mean
        variance = [m2 / self.count for m2 in self.m2]
        if nt_type == "vargrad":
            return variance
        return [v + m**2 for v, m in zip(variance, self.mean)]


@at_boundary()  # frameworks hook: JAX / callback models and arrays in, out
def noise_tunnel(
    attribution_method: Any,
    inputs: TensorOrTuple,
    nt_type: NoiseType = "smoothgrad",
    nt_samples: int = 5,
    stdevs: Stdevs = 1.0,
    nt_samples_batch_size: int | None = None,
    generator: torch.Generator | None = None,
    nt_seed: int | None = None,
    return_convergence_delta: bool = False,
    **method_kwargs: Any,
) -> Any:
    """SmoothGrad / SmoothGrad² / VarGrad of ``attribution_method`` at ``inputs``.

    See the module docstring. None of the parameters below is the name of a method
    option, so ``method_kwargs`` reach the wrapped method whole (``method=`` is its
    quadrature rule).

    Args:
        attribution_method: an idgrad method called as
            ``attribution_method(inputs=..., **method_kwargs)`` (e.g.
            :func:`idgrad.integrated_gradients` with ``forward_func=model`` in
            ``method_kwargs``, or :func:`idgrad.layer_integrated_decision_gradients`
            with ``forward_func`` and ``layer``), or an object with an ``attribute``
            method (the captum-style classes).
        inputs: floating tensor ``(B, ...)`` or tuple of them; the noise is added here.
        nt_type: ``"smoothgrad"``, ``"smoothgrad_sq"`` or ``"vargrad"``.
        nt_samples: noisy samples per example.
        stdevs: standard deviation of the noise, one number or one per input
            (``0`` gives the method itself).
        nt_samples_batch_size: samples per call of the method (each call sees
            ``B * nt_samples_batch_size`` examples); None: all at once.
        generator: a ``torch.Generator`` for the noise.
        nt_seed: shorthand for a fresh CPU generator seeded with it (not with
            ``generator``).
        return_convergence_delta: also return the method's delta for each noisy
            sample (from ``.details`` of an idgrad method, or captum's flag of an
            ``attribute`` method).
        **method_kwargs: passed to the method; per-example ``target`` (tensor, array or
            list; see :mod:`idgrad.core.targets`), ``baselines`` and
            ``additional_forward_args`` (tensors whose first axis is ``B``) are
            repeated for the noisy copies. ``target="predicted"`` is resolved once, by
            one forward pass of the model at the clean inputs, so every noisy sample
            explains the clean input's class (not the class each sample happens to
            get). ``targets`` (a list, or ``"all"``; see :mod:`idgrad.core.fan`) is
            handled the same way, entry by entry (``"all"`` and ``"predicted"`` resolved
            at the clean inputs), and the method explains them all on each noisy batch.

    Returns:
        Attributions in the method's form (tensor, tuple, list per layer), or
        ``(attributions, delta)`` with ``delta`` of shape ``(B, nt_samples)`` when
        ``return_convergence_delta=True``. With ``targets``: a leading ``K`` axis,
        ``(K, B, ...)`` and a delta ``(K, B, nt_samples)``, slice ``k`` being the noise
        tunnel with ``target=t_k`` (the same noise).

    Example:
        >>> import torch, idgrad
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
        ...                             torch.nn.Linear(4, 2)).double()
        >>> x = torch.rand(2, 3, dtype=torch.float64)
        >>> ig = idgrad.IntegratedGradients(model)
        >>> plain = ig.attribute(x, target=0, n_steps=16)
        >>> same = noise_tunnel(ig, x, nt_samples=3, stdevs=0.0, target=0, n_steps=16)
        >>> bool(torch.allclose(plain, same, atol=1e-12))
        True
    """
    with_delta = bool(return_convergence_delta)
    fn = _resolve(attribution_method, with_delta)
    model = _model_of(attribution_method, method_kwargs)
    xs, was_tuple = as_input_tuple(
        inputs,
        forward_func=model if callable(model) else None,
        hint=" (the noise tunnel adds Gaussian noise to them)",
    )
    if nt_type not in NT_TYPES:
        raise ValueError(f"unknown nt_type {nt_type!r}; expected one of {', '.join(NT_TYPES)}")
    nt_samples = check_int(nt_samples, "nt_samples")
    per_call = (
        nt_samples
        if nt_samples_batch_size is None
        else min(nt_samples, check_int(nt_samples_batch_size, "nt_samples_batch_size"))
    )
    sds = _check_stdevs(stdevs, len(xs))
    if nt_seed is not None:
        if generator is not None:
            raise ValueError("give nt_seed or generator, not both")
        if isinstance(nt_seed, bool) or not isinstance(nt_seed, numbers.Integral):
            raise TypeError(f"nt_seed must be an int, got {type(nt_seed).__name__}")
        generator = torch.Generator().manual_seed(int(nt_seed))
    elif generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if "inputs" in method_kwargs:
        raise TypeError("pass inputs as noise_tunnel's own argument, not in method_kwargs")
    targets = method_kwargs.get("targets")
    if targets is not None:
        if method_kwargs.get("target") is not None:
            raise ValueError(
                "give target (one output) or targets (several), not both; got "
                f"target={method_kwargs['target']!r}"
            )
        targets = check_targets(targets)
    batch = int(xs[0].shape[0])

    def draw(x: torch.Tensor, sd: float) -> torch.Tensor:
        device = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device)
        return x + sd * noise.to(x.device)

    moments = _Moments()
    spec: Any = None
    deltas: list[torch.Tensor] = []
    done = 0
    target = method_kwargs.get("target")
    if not is_predicted(target) and "target" in method_kwargs:
        method_kwargs["target"] = _checked_target(target, batch)
    if targets is not None and targets != ALL:
        method_kwargs["targets"] = [
            t if is_predicted(t) else _checked_target(t, batch, f"targets[{k}]: ")
            for k, t in enumerate(targets)
        ]
    models = (attribution_method, method_kwargs.get("forward_func"), method_kwargs.get("layer"))
    with ModelGuard(*models):
        if is_predicted(target):  # the clean input's class, explained on every sample
            method_kwargs["target"] = _predicted(model, xs, method_kwargs)
        if targets is not None:  # "all" and "predicted" resolved at the clean inputs
            method_kwargs["targets"] = _resolved_targets(model, xs, method_kwargs)
        n_targets = 0 if targets is None else len(method_kwargs["targets"])
        while done < nt_samples:
            copies = min(per_call, nt_samples - done)
            with torch.no_grad():
                samples = [[draw(x, sd) for x, sd in zip(xs, sds)] for _ in range(copies)]
                noisy = tuple(torch.cat([s[i] for s in samples], 0) for i in range(len(xs)))
            kwargs = _expand_kwargs(method_kwargs, batch, copies)
            out = fn(inputs=noisy if was_tuple else noisy[0], **kwargs)
            if with_delta:
                out, delta = out
                delta = _samples_last(torch.as_tensor(delta).detach(), n_targets, copies, batch)
                deltas.append(delta.reshape(-1, copies))
            leaves, spec = _flatten(out)
            leaves = [_samples_first(a, n_targets, copies, batch) for a in leaves]
            moments.update(leaves, max(n_targets, 1) * batch, copies)
            done += copies
    results = [
        _with_k_axis(r.to(leaf.dtype), n_targets, batch)
        for r, leaf in zip(moments.result(nt_type), leaves)
    ]
    attributions = _unflatten(results, spec)
    if with_delta:
        return attributions, _with_k_axis(torch.cat(deltas, 1), n_targets, batch)
    return attributions
