"""What the attribution methods return on request: one family of frozen dataclasses.

Every method ``m`` returns its attributions, and ``m.details(...)`` (same arguments)
returns one of these:

- :class:`Details`: the attributions, the ``(B,)`` convergence ``delta`` and the
  evaluation counts; the base of the family.
- :class:`PathDetails`: a path integral's points, weights, ``F`` and ``F'`` along the
  path and its end values (IG, IDG, Guided IG, Blur IG, IG x Sign, the layer methods).
- :class:`GradedDetails`: :class:`PathDetails` plus the graded schedule's error estimate
  per example (``schedule="graded"`` or ``rtol``).
- :class:`LeftIGDetails`: :class:`PathDetails` plus Left-IG's ``alpha*``.
- :class:`AGIDetails`: :class:`Details` plus AGI's classes and adversarial paths.

Subclasses only add fields; :func:`dataclasses.replace` makes a modified copy. A call with
``targets`` (several targets) gives every per-example field a leading ``K`` axis
(:func:`split_targets`): attributions ``(K, B, ...)``, ``delta`` ``(K, B)``, ``alphas``
``(K, B, S)``, ...; ``n_gradient_evals`` then counts every target's gradients and
``n_forward_evals`` the forward-only evaluations made (once for a point the targets shared).

Example:
    >>> import torch
    >>> d = Details(attributions=torch.ones(2, 3), delta=torch.zeros(2),
    ...             n_gradient_evals=8, n_forward_evals=2)
    >>> d.n_evaluations
    10
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any, Generic, TypeVar

import torch

from idgrad.core.seam import TensorOrTuple

__all__ = [
    "AGIDetails",
    "Details",
    "GradedDetails",
    "LeftIGDetails",
    "PathDetails",
    "ToleranceWarning",
    "details_wanted",
    "reset_details_wanted",
    "split_targets",
    "wanting_details",
]

#: The form of the attributions: a tensor or tuple like the inputs, or per layer.
A = TypeVar("A", covariant=True)
#: Any member of the family.
AnyDetails = TypeVar("AnyDetails", bound="Details[Any]")


@dataclass(frozen=True, kw_only=True)
class Details(Generic[A]):
    """What every method computed: attributions, convergence delta, cost.

    Attributes:
        attributions: same form as the inputs (for layer methods: as the layer's
            activations, a list for a list of layers).
        delta: ``(B,)`` signed convergence delta; each method's docstring says what
            it measures (for straight-path methods the quadrature error on
            ``integral_0^1 F'(alpha) d alpha = F(x) - F(x')``, before any rescaling).
        n_gradient_evals: number of forward + backward point evaluations.
        n_forward_evals: number of forward-only point evaluations (pilot, end points).
    """

    attributions: A
    delta: torch.Tensor
    n_gradient_evals: int
    n_forward_evals: int

    @property
    def n_evaluations(self) -> int:
        """All model evaluations (gradient points + forward-only points)."""
        return self.n_gradient_evals + self.n_forward_evals


@dataclass(frozen=True, kw_only=True)
class PathDetails(Details[A]):
    """A path integral's points and values, for diagnostics and plots.

    Attributes:
        alphas: ``(B, S)`` float64 points along the path.
        weights: ``(B, S)`` float64 quadrature weights (each row sums to the length
            of the integrated interval: 1, or ``alpha*`` for Left-IG).
        outputs: ``(B, S)`` target output ``F`` at the points.
        derivatives: ``(B, S)`` path derivative ``F'(alpha) = grad F . d gamma / d alpha``.
        start: ``(B,)`` ``F`` where the path starts (``F(x')``).
        end: ``(B,)`` ``F`` where it ends (``F(x)``).
        evaluations: ``(B,)`` int64 model evaluations each example cost (gradient points
            and forward-only points: pilot, end points).
        pilot_alphas: ``(B, N + 1)`` forward-only pilot points, or None.
        pilot_outputs: ``(B, N + 1)`` ``F`` at the pilot points, or None.
    """

    alphas: torch.Tensor
    weights: torch.Tensor
    outputs: torch.Tensor
    derivatives: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    evaluations: torch.Tensor
    pilot_alphas: torch.Tensor | None = None
    pilot_outputs: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class GradedDetails(PathDetails[A]):
    """A path integral on the graded schedule (:mod:`idgrad.engine.schedules.graded`).

    Examples may end with different numbers of points (with ``rtol``): ``alphas``,
    ``outputs`` and ``derivatives`` are NaN and ``weights`` 0 past an example's points.

    Attributes:
        error: ``(B,)`` float64 estimated relative L2 error of each example's attributions
            (over every feature of every input).
    """

    error: torch.Tensor


class ToleranceWarning(UserWarning):
    """``rtol`` was not reached within ``max_evaluations`` for some examples.

    Their attributions are returned as computed; :attr:`GradedDetails.error` holds the
    estimate they reached.
    """


@dataclass(frozen=True, kw_only=True)
class LeftIGDetails(PathDetails[TensorOrTuple]):
    """What :func:`~idgrad.methods.left_ig.left_integrated_gradients` computed.

    ``delta`` is ``sum(attributions) - (F(gamma(alpha*)) - F(x'))``, the quadrature
    error on ``[0, alpha*]``; ``alphas`` lie in ``[0, alpha*]`` and each row of
    ``weights`` sums to ``alpha*``.

    Attributes:
        alpha_star: ``(B,)`` float64 end of the integration interval.
        output_star: ``(B,)`` ``F(gamma(alpha*))``.
    """

    alpha_star: torch.Tensor
    output_star: torch.Tensor


@dataclass(frozen=True, kw_only=True)
class AGIDetails(Details[TensorOrTuple]):
    """What :func:`~idgrad.methods.agi.adversarial_gradient_integration` computed.

    ``delta`` is ``sum(attributions) - sum_j (f_c(x) - f_c(x^{T_j}))``.

    Attributes:
        target: ``(B,)`` the explained class ``c``.
        false_classes: ``(B, k)`` the classes ``J``.
        n_iterations: ``(B, k)`` steps made on each path.
        reached: ``(B, k)`` whether the path ended at a point predicted as its class.
        start: ``(B,)`` ``f_c(x)``.
        end_outputs: ``(B, k)`` ``f_c`` at the end of each path.
    """

    target: torch.Tensor
    false_classes: torch.Tensor
    n_iterations: torch.Tensor
    reached: torch.Tensor
    start: torch.Tensor
    end_outputs: torch.Tensor


_details_wanted: ContextVar[bool] = ContextVar("idgrad_details_wanted", default=True)


def details_wanted() -> bool:
    """Whether the caller of the running method will read more than its attributions.

    False inside a plain call ``method(...)``, True inside ``method.details(...)`` (and
    outside any call). A method may skip model evaluations that only its details need (IG's
    end points, used only by the delta); the details object of a plain call is discarded,
    so its ``delta`` may then be NaN.
    """
    return _details_wanted.get()


def wanting_details(wanted: bool) -> object:
    """Set what :func:`details_wanted` says; returns the token to reset it with."""
    return _details_wanted.set(wanted)


def reset_details_wanted(token: object) -> None:
    """Undo :func:`wanting_details`."""
    _details_wanted.reset(token)  # type: ignore[arg-type]


def split_targets(details: AnyDetails, batch_size: int) -> AnyDetails:
    """The ``K`` axis of a call with ``targets``: each per-example field ``(K B, ...)`` of
    ``details`` (pseudo-example ``k B + b``) becomes ``(K, B, ...)``.

    Every tensor whose first axis has ``K B`` rows is split (in the attributions too:
    tuples and lists of them); the evaluation totals are left as they are.

    Example:
        >>> d = Details(attributions=torch.arange(6.0).reshape(6, 1), delta=torch.zeros(6),
        ...             n_gradient_evals=6, n_forward_evals=0)
        >>> s = split_targets(d, batch_size=2)                 # K = 3 targets, B = 2
        >>> tuple(s.attributions.shape), tuple(s.delta.shape), s.attributions[1, 0].item()
        ((3, 2, 1), (3, 2), 2.0)
    """
    rows = int(details.delta.shape[0])
    if batch_size < 1 or rows % batch_size:
        raise ValueError(f"{rows} pseudo-examples do not split into batches of {batch_size}")
    n_targets = rows // batch_size

    def split(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == rows:
            return value.reshape(n_targets, batch_size, *value.shape[1:])
        if isinstance(value, tuple):
            return tuple(split(v) for v in value)
        if isinstance(value, list):
            return [split(v) for v in value]
        return value

    totals = ("n_gradient_evals", "n_forward_evals")
    changes = {
        f.name: split(getattr(details, f.name)) for f in fields(details) if f.name not in totals
    }
    return replace(details, **changes)
