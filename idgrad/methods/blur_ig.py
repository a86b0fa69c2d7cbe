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
from idgrad.core.seam import TargetType, TensorOrTuple, restore_form
from idgrad.core.validation import check_int, check_number
from idgrad.defaults import BLUR_MAX_SIGMA, BLUR_TRUNCATE, IG_METHOD, INTERNAL_BATCH_SIZE, N_STEPS
from idgrad.engine.integrator import ChunkSize, evaluate_path, integrate_path
from idgrad.engine.schedules import uniform_schedule
from idgrad.methods._common import prepare, to_input_dtypes, total_attribution
from idgrad.methods.base import path_method
from idgrad.ops.blur import _check_dims, blur_and_velocity, blur_radius

__all__ = ["BlurPath", "blur_integrated_gradients"]


class BlurPath:
    """``gamma_b(alpha) = blur(x_b, max_sigma (1 - alpha))`` per input.

    A :class:`~idgrad.engine.integrator.Path` for :func:`~idgrad.engine.integrator.integrate_path`.

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
    n_steps: int = N_STEPS,
    max_sigma: float = BLUR_MAX_SIGMA,
    method: str = IG_METHOD,
    dims: Sequence[int] | None = None,
    truncate: float = BLUR_TRUNCATE,
    internal_batch_size: ChunkSize = INTERNAL_BATCH_SIZE,
) -> PathDetails[TensorOrTuple]:
    """Blur IG: integrate gradients along the blur path from ``max_sigma`` down to the input.

    ``BlurIG_i = sum_k w_k dF/dgamma_i(gamma(alpha_k)) * v_i(alpha_k)`` with
    ``gamma(alpha) = blur(x, max_sigma (1 - alpha))``, ``v = d gamma / d alpha``
    (exact), and the ``n_steps``-point rule ``method`` on ``[0, 1]``. Paper:
    https://arxiv.org/abs/2004.03383. There is no baseline: the most blurred image
    plays its part.

    The blur (:mod:`idgrad.ops.blur`) is a sampled Gaussian with half-sample symmetric
    borders and one radius ``int(truncate * max_sigma + 0.5)`` along the whole path;
    at ``sigma = 0`` it is the identity.

    Args:
        forward_func, target, additional_forward_args, internal_batch_size: as in
            :func:`~idgrad.methods.ig.integrated_gradients`.
        inputs: tensor ``(B, C, *spatial)`` (or ``(B, L)``) or a tuple of them.
        n_steps: gradient evaluations per example.
        max_sigma: blur scale (pixels) where the path starts (> 0).
        method: quadrature rule on ``alpha`` (see :mod:`idgrad.engine.schedules`).
        dims: blurred axes of every input (default: ``2 ..``, or ``1`` for 2-D inputs).
        truncate: kernel radius in units of ``max_sigma``.

    Returns:
        Attributions shaped like ``inputs``. ``blur_integrated_gradients.details(...)``
        returns a :class:`~idgrad.core.results.PathDetails`: ``delta`` is
        ``sum(BlurIG) - (F(x) - F(blur(x, max_sigma)))`` ``(B,)``, ``alphas`` (with
        ``sigma = max_sigma (1 - alpha)``), ``weights``, ``outputs``, ``derivatives``
        (``F'(alpha) = grad F . v``), ``start`` (``F`` of the most blurred input),
        ``end`` (``F(x)``) and the evaluation counts (``B n_steps`` gradient, ``2 B``
        forward).

    Example:
        >>> import torch
        >>> w = torch.linspace(-1.0, 1.0, 36, dtype=torch.float64).reshape(1, 1, 6, 6)
        >>> model = lambda x: (x * w).flatten(1).sum(1)
        >>> x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
        >>> d = blur_integrated_gradients.details(model, x, n_steps=64, max_sigma=2.0)
        >>> d.attributions.shape, bool(d.delta.abs().max() < 1e-10)
        (torch.Size([2, 1, 6, 6]), True)
    """
    n_steps = check_int(n_steps, "n_steps")
    max_sigma = check_number(max_sigma, "max_sigma", minimum=0.0, open_minimum=True)
    truncate = check_number(truncate, "truncate", minimum=0.0, open_minimum=True)
    prep = prepare(forward_func, inputs, None, target, additional_forward_args, internal_batch_size)
    batch = prep.batch_size
    path = BlurPath(prep.inputs, max_sigma, blur_radius(max_sigma, truncate), dims)
    schedule = uniform_schedule(n_steps, method).expand(batch)
    run = integrate_path(
        prep.seam, prep.inputs, prep.baselines, schedule, internal_batch_size, path=path
    )
    ends = torch.tensor([[0.0, 1.0]], dtype=torch.float64).expand(batch, 2)
    values = evaluate_path(
        prep.seam, prep.inputs, prep.baselines, ends, internal_batch_size, path=path
    )
    start, end = values[:, 0], values[:, 1]
    delta = total_attribution(run.sums).to(start.dtype) - (end - start)
    attributions = restore_form(to_input_dtypes(run.sums, prep.inputs), prep.was_tuple)
    return PathDetails(
        attributions=attributions,
        delta=delta,
        alphas=schedule.alphas,
        weights=schedule.weights,
        outputs=run.outputs,
        derivatives=run.derivatives,
        start=start,
        end=end,
        n_gradient_evals=batch * n_steps,
        n_forward_evals=2 * batch,
    )
