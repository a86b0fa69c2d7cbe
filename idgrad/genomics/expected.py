"""Expected attributions: attribute each input against several references and average.

With references ``x'_1 … x'_R`` for an input ``x`` (e.g. dinucleotide shuffles), the expected
attribution of a path method ``A`` (IG, IDG, …) is

``E[A](x)_i = (1/R) Σ_r A(x; x'_r)_i``,

"expected gradients" / "expected IDG". For IG, completeness holds on average:
``Σ_i E[IG](x)_i = F(x) - (1/R) Σ_r F(x'_r)``.

All ``N·R`` (input, reference) pairs go into **one** call of the method (inputs repeated, the
references flattened), so the method's ``internal_batch_size`` bounds memory and the result does
not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from idgrad.core.results import Details
from idgrad.methods.base import path_method

__all__ = ["expected_attributions", "repeat_per_reference"]


def repeat_per_reference(value: Any, n_inputs: int, n_references: int) -> Any:
    """Repeat per-example values ``R`` times each, to match inputs flattened to ``(N·R, ...)``.

    Tensors whose first axis has ``n_inputs`` entries are repeated row-wise
    (``repeat_interleave``); lists of length ``n_inputs`` likewise; tuples are handled entry by
    entry; anything else (ints, callables, ``None``, broadcastable tensors) is returned unchanged.

    Example:
        >>> repeat_per_reference(torch.tensor([3, 5]), 2, 3)
        tensor([3, 3, 3, 5, 5, 5])
        >>> repeat_per_reference(1, 2, 3)
        1
    """
    if isinstance(value, torch.Tensor):
        if value.dim() >= 1 and value.shape[0] == n_inputs:
            return value.repeat_interleave(n_references, dim=0)
        return value
    if isinstance(value, list) and len(value) == n_inputs:
        return [v for v in value for _ in range(n_references)]
    if isinstance(value, tuple):
        return tuple(repeat_per_reference(v, n_inputs, n_references) for v in value)
    return value


def _flatten_references(inputs: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Bring ``references`` to ``(N, R, *inputs.shape[1:])``."""
    if not isinstance(references, torch.Tensor):
        raise TypeError(f"references must be a tensor, got {type(references).__name__}")
    if references.dim() == inputs.dim() and references.shape == inputs.shape:
        return references[:, None]
    if references.dim() == inputs.dim() + 1 and (
        references.shape[0] == inputs.shape[0] and references.shape[2:] == inputs.shape[1:]
    ):
        return references
    raise ValueError(
        f"references must have shape (N, R, *rest) or (N, *rest) for inputs of shape "
        f"{tuple(inputs.shape)}, got {tuple(references.shape)}"
    )


@path_method
def expected_attributions(
    method: Callable[..., Any],
    forward_func: Callable[..., Any],
    inputs: torch.Tensor,
    references: torch.Tensor,
    /,
    target: Any = None,
    additional_forward_args: Any = None,
    *,
    reduce: Literal["mean", "none"] = "mean",
    **method_kwargs: Any,
) -> Details[torch.Tensor]:
    """Average a path method's attributions over ``R`` references per input.

    ``E[A](x)_i = (1/R) Σ_r A(x; x'_r)_i``, computed as one call of ``method`` on the ``N·R``
    pairs ``(x_n, x'_{n,r})``.

    Args:
        method: a path method with the core signature, e.g. :func:`idgrad.integrated_gradients`
            or :func:`idgrad.integrated_decision_gradients`.
        forward_func: the model.
        inputs: ``(N, ...)`` tensor (e.g. one-hot ``(N, 4, L)``).
        references: ``(N, R, ...)`` (e.g. from :func:`~idgrad.genomics.dinucleotide_shuffle`),
            or ``(N, ...)`` for a single reference per input.
        target: as for ``method``; per-example targets (a ``(N,)`` tensor or a list of length
            ``N``) are repeated for each reference, ints / tuples / callables pass through.
        additional_forward_args: as for ``method``; tensors with ``N`` rows are repeated per
            reference, others pass through.
        reduce: ``"mean"`` for ``(N, ...)``, ``"none"`` for the per-reference ``(N, R, ...)``.
        **method_kwargs: passed to ``method`` (``n_steps``, ``internal_batch_size``,
            ``multiply_by_inputs``, ``schedule``, ``rule``, ``rtol``, …; the first four
            arguments are positional, so these names reach the method).

    Returns:
        The attributions. ``expected_attributions.details(...)`` returns a
        :class:`~idgrad.core.results.Details` whose ``delta`` is the method's delta per
        reference, ``(N, R)``, and whose counts are those of the one call.

    Raises:
        ValueError: for references of the wrong shape or a bad ``reduce``.
        TypeError: for non-tensor inputs, ``baselines`` in ``method_kwargs``, or a
            ``method`` without ``.details``.

    Example:
        >>> import idgrad
        >>> from idgrad.genomics import one_hot, dinucleotide_shuffle
        >>> w = torch.linspace(-1, 1, 4 * 8, dtype=torch.float64).reshape(4, 8)
        >>> model = lambda x: (x * w).sum(dim=(1, 2))
        >>> x = one_hot(["ACGTTGCA"], dtype=torch.float64)
        >>> refs = dinucleotide_shuffle(x, n_shuffles=4, seed=0)
        >>> d = expected_attributions.details(idgrad.integrated_gradients, model, x, refs)
        >>> attr = d.attributions
        >>> attr.shape, d.delta.shape
        (torch.Size([1, 4, 8]), torch.Size([1, 4]))
        >>> bool(torch.isclose(attr.sum(), model(x) - model(refs[0]).mean()))
        True
    """
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"expected_attributions takes one input tensor, got {type(inputs).__name__}"
        )
    if inputs.dim() < 1:
        raise ValueError("inputs must have a batch dimension")
    if reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
    if "baselines" in method_kwargs:
        raise TypeError("expected_attributions does not take 'baselines'; pass references instead")
    if not callable(getattr(method, "details", None)):
        raise TypeError(
            f"method must be an idgrad path method (with .details), got {type(method).__name__}"
        )
    refs = _flatten_references(inputs, references)
    n, r = refs.shape[:2]
    rest = inputs.shape[1:]
    flat_inputs = inputs.repeat_interleave(r, dim=0)
    flat_refs = refs.reshape(n * r, *rest).to(dtype=inputs.dtype, device=inputs.device)
    result = method.details(  # type: ignore[attr-defined]
        forward_func,
        flat_inputs,
        baselines=flat_refs,
        target=repeat_per_reference(target, n, r),
        additional_forward_args=repeat_per_reference(additional_forward_args, n, r),
        **method_kwargs,
    )
    attributions = result.attributions
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(f"method returned {type(attributions).__name__}, expected a tensor")
    per_ref = attributions.reshape(n, r, *rest)
    return Details(
        attributions=per_ref.mean(dim=1) if reduce == "mean" else per_ref,
        delta=result.delta.reshape(n, r),
        n_gradient_evals=result.n_gradient_evals,
        n_forward_evals=result.n_forward_evals,
    )
