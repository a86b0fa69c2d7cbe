"""Blur Integrated Gradients (Xu, Venugopalan & Sundararajan, CVPR 2020, arXiv:2004.03383).

The path runs through ever less blurred copies of the input instead of from a
baseline: ``gamma(sigma) = blur(x, sigma)`` (Gaussian, std. dev. ``sigma`` pixels,
:mod:`idgrad.ops.blur`) from ``sigma = max_sigma`` down to ``sigma = 0`` (the input).
With ``alpha`` in ``[0, 1]`` and ``sigma(alpha) = max_sigma (1 - alpha)``:

    BlurIG_i = integral_0^1 dF/dgamma_i (gamma(alpha)) * d gamma_i / d alpha  d alpha
             = integral_0^{max_sigma} dF/dgamma_i (blur(x, s)) * (-d blur(x, s)_i / d s) ds,

computed as ``sum_k w_k g_i(alpha_k) v_i(alpha_k)`` with an exact rule on ``alpha``
(Gauss-Legendre by default). The velocity ``v = d gamma / d alpha`` is the exact
derivative of the discrete blur (no finite difference), and every point carries its
own weight ``w_k`` through every chunk, so the result does not depend on
``internal_batch_size`` (the saliency library weighted a whole batch with the last
step's width). Completeness, ``sum_i BlurIG_i = F(x) - F(blur(x, max_sigma))``, holds
up to the quadrature error, reported as the convergence delta.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from idgrad.core.results import PathDetails
from idgrad.core.seam import Prepared, TargetsType, TargetType, TensorOrTuple
from idgrad.core.validation import ChunkSize, check_number
from idgrad.defaults import (
    BLUR_MAX_SIGMA,
    BLUR_TRUNCATE,
    IG_SCHEDULE,
    INTERNAL_BATCH_SIZE,
    MAX_EVALUATIONS,
    N_STEPS_AUTO,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
    TARGETS,
)
from idgrad.engine.integrands import Integrand
from idgrad.engine.integrate import integrate
from idgrad.engine.schedules import UNSET, translate_method
from idgrad.methods.base import path_method
from idgrad.ops.blur import _check_dims, blur_and_velocity, blur_radius

__all__ = ["BlurPath", "blur_integrated_gradients"]


class BlurPath:
    """``gamma_b(alpha) = blur(x_b, max_sigma (1 - alpha))`` per input.

    A :class:`~idgrad.engine.paths.Path` the engine integrates along (:mod:`idgrad.engine`).

    Args:
        inputs: tuple of ``(B, ...)`` tensors.
        max_sigma: blur scale at ``alpha = 0``.
        radius: fixed kernel radius (the same along the whole path keeps it smooth).
        dims: blurred axes of every input (None: the default per input).

    Example:
        >>> x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
        >>> path = BlurPath((x,), max_sigma=3.0, radius=12)
        >>> torch.equal(path.points(torch.tensor([1]), torch.tensor([1.0]))[0], x[1:])
        True
    """

    def __init__(
        self,
        inputs: tuple[torch.Tensor, ...],
        max_sigma: float,
        radius: int,
        dims: Sequence[int] | None = None,
    ) -> None:
        self.inputs = inputs
        self.max_sigma = float(max_sigma)
        self.radius = int(radius)
        self.dims = tuple(_check_dims(dims, x.ndim, f"inputs[{i}]") for i, x in enumerate(inputs))

    def _sigmas(self, alphas: torch.Tensor) -> torch.Tensor:
        return (self.max_sigma * (1.0 - alphas.to(torch.float64))).clamp_min(0.0)

    def points(self, rows: torch.Tensor, alphas: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Blurred inputs at the points' sigmas."""
        sig = self._sigmas(alphas)
        return tuple(
            blur_and_velocity(x.index_select(0, rows), sig, self.radius, d, velocity=False)[0]
            for x, d in zip(self.inputs, self.dims)
        )

    def points_and_velocities(
        self, rows: torch.Tensor, alphas: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Blurred inputs and ``d gamma / d alpha = -max_sigma d blur / d sigma``."""
        sig = self._sigmas(alphas)
        pts, vel = [], []
        for x, d in zip(self.inputs, self.dims):
            y, dy = blur_and_velocity(x.index_select(0, rows), sig, self.radius, d)
            assert dy is not None
            pts.append(y)
            vel.append(-self.max_sigma * dy)
        return tuple(pts), tuple(vel)


@path_method
def blur_integrated_gradients(
    forward_func: Callable[..., Any],
    inputs: TensorOrTuple,
    target: TargetType = None,
    additional_forward_args: Any = None,
    *,
    targets: TargetsType | None = TARGETS,
    n_steps: int | None = N_STEPS_AUTO,
    max_sigma: float = BLUR_MAX_SIGMA,
    schedule: str | None = SCHEDULE_AUTO,
    rule: str | None = RULE_AUTO,
    rtol: float | None = RTOL,
    max_evaluations: int | None = MAX_EVALUATIONS,
    dims: Sequence[int] | None = None,
    truncate: float = BLUR_TRUNCATE,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
    method: Any = UNSET,
) -> PathDetails[TensorOrTuple]:
    """Blur IG: integrate gradients along the blur path from ``max_sigma`` down to the input.

    ``BlurIG_i = sum_k w_k dF/dgamma_i(gamma(alpha_k)) * v_i(alpha_k)`` with
    ``gamma(alpha) = blur(x, max_sigma (1 - alpha))``, ``v = d gamma / d alpha``
    (exact), and the points and weights of the schedule on ``[0, 1]`` (by default the
    ``n_steps``-point Gauss-Legendre rule; ``schedule="graded"`` or ``rtol`` place the
    points where the integrand needs them and estimate the error). Paper:
    https://arxiv.org/abs/2004.03383. There is no baseline: the most blurred image
    plays its part.

    The blur (:mod:`idgrad.ops.blur`) is a sampled Gaussian with half-sample symmetric
    borders and one radius ``int(truncate * max_sigma + 0.5)`` along the whole path;
    at ``sigma = 0`` it is the identity.

    Args:
        forward_func, target, additional_forward_args, targets, internal_batch_size: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        inputs: tensor ``(B, C, *spatial)`` (or ``(B, L)``) or a tuple of them.
        n_steps, schedule, rule, rtol, max_evaluations, method: as in
            :func:`~idgrad.methods.ig.integrated_gradients`, on ``alpha``.
        max_sigma: blur scale (pixels) where the path starts (> 0).
        dims: blurred axes of every input (default: ``2 ..``, or ``1`` for 2-D inputs).
        truncate: kernel radius in units of ``max_sigma``.

    Returns:
        Attributions shaped like ``inputs``. ``blur_integrated_gradients.details(...)``
        returns a :class:`~idgrad.core.results.PathDetails`: ``delta`` is
        ``sum(BlurIG) - (F(x) - F(blur(x, max_sigma)))`` ``(B,)``, ``alphas`` (with
        ``sigma = max_sigma (1 - alpha)``), ``weights``, ``outputs``, ``derivatives``
        (``F'(alpha) = grad F . v``), ``start`` (``F`` of the most blurred input),
        ``end`` (``F(x)``) and the evaluations per example.

    Example:
        >>> import torch
        >>> w = torch.linspace(-1.0, 1.0, 36, dtype=torch.float64).reshape(1, 1, 6, 6)
        >>> model = lambda x: (x * w).flatten(1).sum(1)
        >>> x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
        >>> d = blur_integrated_gradients.details(model, x, n_steps=64, max_sigma=2.0)
        >>> d.attributions.shape, bool(d.delta.abs().max() < 1e-10)
        (torch.Size([2, 1, 6, 6]), True)
    """
    max_sigma = check_number(max_sigma, "max_sigma", minimum=0.0, open_minimum=True)
    truncate = check_number(truncate, "truncate", minimum=0.0, open_minimum=True)
    schedule, rule = translate_method("blur_integrated_gradients", schedule, rule, method)
    radius = blur_radius(max_sigma, truncate)

    def blur_path(prep: Prepared) -> BlurPath:
        return BlurPath(prep.inputs, max_sigma, radius, dims)

    return integrate(
        forward_func,
        inputs,
        None,
        target,
        additional_forward_args,
        integrand=Integrand(),
        n_steps=n_steps,
        schedule=schedule,
        rule=rule,
        rtol=rtol,
        max_evaluations=max_evaluations,
        internal_batch_size=internal_batch_size,
        default_schedule=IG_SCHEDULE,
        path=blur_path,
        targets=targets,
    )
