"""Toy models shared by the test suite (pure torch, deterministic, float64 capable).

Two kinds of model live here:

* **analytic models**, whose Integrated Gradients (and often IDG) are known in
  closed form: :class:`LinearModel`, :class:`QuadraticModel`, :class:`CubicModel`,
  :class:`SineModel`, :class:`ReluToy`, :class:`XExpY`, :class:`LogisticBenchmark`;
* :class:`PWMScorer`, a DNA model that scores one motif (``(N, 4, L)`` one-hot in);
* **small networks** for parity and invariance tests: :class:`SmallMLP`,
  :class:`SmallCNN`, :class:`TrackModel` (output ``(B, L, T)``),
  :class:`ExtraArgModel` (extra forward arguments), the :class:`CountingModel`
  wrapper that counts calls and evaluated rows, and :class:`NanInMiddle` (finite at
  both ends of a path, NaN in its middle).

Every network takes a ``seed`` (its weights do not depend on the global RNG) and a
``dtype`` (float64 by default).

Tests import it one way, ``from models import ...``: ``tests/`` is not a package, and pytest
puts the folder of each test file on ``sys.path``, so this works for ``pytest`` and
``python -m pytest`` from any directory (``tests.models`` needs the repository root on the path).

Example:
    >>> import torch
    >>> model = CubicModel([1.0, -2.0])
    >>> model(torch.tensor([[1.0, 1.0]], dtype=torch.float64)).tolist()
    [-1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "DTYPE",
    "CountingModel",
    "CubicModel",
    "ExtraArgModel",
    "LinearModel",
    "LogisticBenchmark",
    "NanInMiddle",
    "ModeDependentNet",
    "PWMScorer",
    "QuadraticModel",
    "ReluToy",
    "SineModel",
    "SmallCNN",
    "SmallMLP",
    "SymmetricModel",
    "TrackModel",
    "XExpY",
    "as_tensor",
    "batch_of",
    "split_mlp_equivalent",
]

DTYPE = torch.float64


def as_tensor(values: Any, dtype: torch.dtype = DTYPE) -> torch.Tensor:
    """``values`` as a detached tensor of ``dtype`` (a copy when it is already one)."""
    if isinstance(values, torch.Tensor):
        return values.detach().clone().to(dtype)
    return torch.tensor(values, dtype=dtype)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _init_(module: nn.Module, seed: int, dtype: torch.dtype, scale: float = 1.0) -> None:
    """Re-draw every parameter of ``module`` from N(0, scale^2 / fan_in), seeded."""
    gen = _generator(seed)
    module.to(dtype)
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else p.numel()
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * scale / fan_in**0.5)


# ---------------------------------------------------------------- analytic models


class LinearModel(nn.Module):
    """``F(x) = x @ w + bias``; ``w`` is ``(D,)`` (output ``(B,)``) or ``(D, C)`` (``(B, C)``).

    IG: ``IG_i = (x_i - x'_i) w_i`` (for output ``c``: ``(x_i - x'_i) w[i, c]``).
    """

    def __init__(self, w: Any, bias: Any = 0.0, dtype: torch.dtype = DTYPE) -> None:
        super().__init__()
        self.w = nn.Parameter(as_tensor(w, dtype))
        self.bias = nn.Parameter(as_tensor(bias, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w + self.bias


class QuadraticModel(nn.Module):
    """``F(x) = x^T A x + b . x + c`` with ``A`` symmetrised (output ``(B,)``).

    ``grad F(x) = 2 A x + b``. Along ``x' + alpha d`` the gradient is linear in
    ``alpha``, so ``IG_i = d_i (2 (A x')_i + (A d)_i + b_i)``.
    """

    def __init__(self, a: Any, b: Any, c: float = 0.0, dtype: torch.dtype = DTYPE) -> None:
        super().__init__()
        a = as_tensor(a, dtype)
        self.a = nn.Parameter((a + a.T) / 2)
        self.b = nn.Parameter(as_tensor(b, dtype))
        self.c = nn.Parameter(as_tensor(c, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x @ self.a) * x).sum(-1) + x @ self.b + self.c

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """Closed-form gradient ``2 A x + b``, ``(B, D)``."""
        return 2 * x @ self.a.detach() + self.b.detach()


class CubicModel(nn.Module):
    """Separable ``F(x) = sum_i a_i x_i^3`` (output ``(B,)``).

    Separable, so ``IG_i = a_i (x_i^3 - x'_i^3)`` exactly, whatever the baseline.
    """

    def __init__(self, a: Any, dtype: torch.dtype = DTYPE) -> None:
        super().__init__()
        self.a = nn.Parameter(as_tensor(a, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * x**3).sum(-1)


class SineModel(nn.Module):
    """Separable ``F(x) = sum_i a_i sin(x_i)``; ``IG_i = a_i (sin x_i - sin x'_i)``."""

    def __init__(self, a: Any, dtype: torch.dtype = DTYPE) -> None:
        super().__init__()
        self.a = nn.Parameter(as_tensor(a, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * torch.sin(x)).sum(-1)


class ReluToy(nn.Module):
    """``F(x1, x2) = ReLU(ReLU(x1) - 1 - ReLU(x2))`` on two inputs ``(B, 1)`` each.

    The seed-004 example: at ``(3, 1)`` from baseline ``(0, 0)`` the path
    ``(3 a, a)`` crosses the kink at ``a = 1/2``; IG = ``(1.5, -0.5)``, F(x) = 1.
    Output ``(B,)`` (features are summed when inputs are wider than 1).
    """

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.relu(x1) - 1 - torch.relu(x2)).flatten(1).sum(1)


class XExpY(nn.Module):
    """``F(x, y) = x * exp(y)`` on two inputs ``(B, 1)`` each (summed over features).

    Output ``(B,)``. See ``test_closed_forms.py`` for its IG integrals.
    """

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x * torch.exp(y)).flatten(1).sum(1)


class LogisticBenchmark(nn.Module):
    """``F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2`` on ``(B, 3)``; output ``(B,)``.

    From baseline 0 to ``(1, 1, 1)`` the output jumps in a narrow decision region
    around ``alpha = 0.8`` (width ~1/50) and is flat elsewhere: IDG's test case.
    """

    steepness = 50.0
    center = 0.8
    slope = 0.05

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (
            torch.sigmoid(self.steepness * (x[:, 0] - self.center))
            + self.slope * x[:, 1]
            + self.slope * x[:, 2]
        )

    @classmethod
    def gradient_np(cls, x: Any) -> Any:
        """Closed-form gradient for a numpy array ``x`` of shape ``(..., 3)``."""
        import numpy as np

        x = np.asarray(x, dtype=np.float64)
        s = 1.0 / (1.0 + np.exp(-cls.steepness * (x[..., 0] - cls.center)))
        g0 = cls.steepness * s * (1.0 - s)
        return np.stack([g0, np.full_like(g0, cls.slope), np.full_like(g0, cls.slope)], -1)


class SymmetricModel(nn.Module):
    """``F(x) = MLP(x0 + x1, x0 * x1, x2, ...)``: symmetric in ``x0``, ``x1``; output ``(B,)``."""

    def __init__(
        self, n_features: int = 4, hidden: int = 8, seed: int = 0, dtype: torch.dtype = DTYPE
    ) -> None:
        super().__init__()
        if n_features < 2:
            raise ValueError("SymmetricModel needs at least 2 features")
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        _init_(self.net, seed, dtype, scale=1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.cat(
            [(x[:, 0] + x[:, 1])[:, None], (x[:, 0] * x[:, 1])[:, None], x[:, 2:]], 1
        )
        return self.net(features)[:, 0]


# ---------------------------------------------------------------- small networks


class SmallMLP(nn.Module):
    """``(B, n_features) -> (B, n_classes)`` logits: Linear, activation, Linear, activation, Linear.

    Args:
        n_features, hidden, n_classes: sizes.
        activation: ``"relu"``, ``"tanh"`` or ``"softplus"``.
        seed: weights are drawn from this seed only.
        dtype: parameter dtype.
    """

    def __init__(
        self,
        n_features: int = 6,
        hidden: int = 16,
        n_classes: int = 4,
        activation: str = "tanh",
        seed: int = 0,
        dtype: torch.dtype = DTYPE,
    ) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "softplus": nn.Softplus}[activation]
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            act(),
            nn.Linear(hidden, hidden),
            act(),
            nn.Linear(hidden, n_classes),
        )
        _init_(self.net, seed, dtype, scale=1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """``(B, C, H, W) -> (B, n_classes)``: conv, tanh, conv, tanh, global average pool, linear."""

    def __init__(
        self,
        in_channels: int = 2,
        n_classes: int = 3,
        width: int = 4,
        seed: int = 0,
        dtype: torch.dtype = DTYPE,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.Tanh(),
        )
        self.head = nn.Linear(width, n_classes)
        _init_(self, seed, dtype, scale=1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class TrackModel(nn.Module):
    """``(B, D) -> (B, L, T)``: per position ``l`` and track ``t``, ``x @ W[:, l, t]``.

    With ``nonlinear=True`` a tanh is applied to the result. Linear by default, so
    the IG of output ``(l, t)`` is ``(x - x') * W[:, l, t]``.
    """

    def __init__(
        self,
        n_features: int = 5,
        length: int = 3,
        tracks: int = 2,
        nonlinear: bool = False,
        seed: int = 0,
        dtype: torch.dtype = DTYPE,
    ) -> None:
        super().__init__()
        gen = _generator(seed)
        self.weight = nn.Parameter(
            torch.randn(n_features, length, tracks, generator=gen, dtype=dtype)
        )
        self.nonlinear = nonlinear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("bd,dlt->blt", x, self.weight)
        return torch.tanh(out) if self.nonlinear else out


class ExtraArgModel(nn.Module):
    """``forward(x, mask, temperature) = MLP(x * mask) / temperature`` with ``(B, C)`` logits.

    ``mask`` is a per-example tensor ``(B, D)`` (sliced per point by the library),
    ``temperature`` a plain number.
    """

    def __init__(
        self, n_features: int = 6, n_classes: int = 3, seed: int = 0, dtype: torch.dtype = DTYPE
    ) -> None:
        super().__init__()
        self.mlp = SmallMLP(n_features, 12, n_classes, activation="tanh", seed=seed, dtype=dtype)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0
    ) -> torch.Tensor:
        return self.mlp(x * mask) / temperature


class ModeDependentNet(nn.Module):
    """``(B, 6) -> (B, 3)`` with batch norm and dropout: a different function in train mode.

    Linear, tanh, BatchNorm1d over ``(B, 2, 3)`` (3 values per channel, so one example
    is a valid batch in train mode), Dropout, Linear. Its buffers are the batch norm's
    running statistics.
    """

    def __init__(self, seed: int = 0, dtype: torch.dtype = DTYPE, p: float = 0.3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 6)
        self.bn = nn.BatchNorm1d(2)
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(6, 3)
        _init_(self, seed, dtype, scale=1.5)
        with torch.no_grad():  # a non-trivial normalisation in eval mode too
            self.bn.running_mean.copy_(torch.tensor([0.1, -0.2], dtype=dtype))
            self.bn.running_var.copy_(torch.tensor([0.8, 1.3], dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.fc1(x)).reshape(-1, 2, 3)
        return self.fc2(self.drop(self.bn(h).flatten(1)))


class CountingModel(nn.Module):
    """Wraps a model; counts forward calls and the rows (points) evaluated.

    Attributes:
        calls: number of forward calls.
        rows: total batch rows over all calls.
        grad_rows: rows evaluated with grad mode on and an input requiring grad
            (i.e. points that will be back-propagated).
        max_rows: largest batch seen in one call.
    """

    def __init__(self, model: nn.Module | Any) -> None:
        super().__init__()
        self.model = model
        self.reset()

    def reset(self) -> None:
        """Set every counter back to 0."""
        self.calls = 0
        self.rows = 0
        self.grad_rows = 0
        self.max_rows = 0

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        n = int(inputs[0].shape[0])
        self.calls += 1
        self.rows += n
        self.max_rows = max(self.max_rows, n)
        if torch.is_grad_enabled() and any(
            isinstance(t, torch.Tensor) and t.requires_grad for t in inputs
        ):
            self.grad_rows += n
        return self.model(*inputs, **kwargs)


class _NanGradient(torch.autograd.Function):
    """Identity whose gradient is NaN where ``low < s < high``."""

    @staticmethod
    def forward(ctx: Any, s: torch.Tensor, low: float, high: float) -> torch.Tensor:
        ctx.save_for_backward(s)
        ctx.bounds = (low, high)
        return s.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (s,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = (s > low) & (s < high)
        return torch.where(inside, torch.full_like(grad, float("nan")), grad), None, None


class NanInMiddle(nn.Module):
    """``F(x) = sum_i x_i``, broken where ``low < F < high``; finite elsewhere.

    ``broken="output"``: ``F`` itself is NaN there (its gradient stays finite);
    ``broken="gradient"``: ``F`` is finite everywhere but its gradient is NaN there.
    On the path from 0 to ``x`` with ``S = sum x``, that is ``low / S < alpha < high / S``.
    """

    def __init__(self, broken: str = "output", low: float = 0.9, high: float = 1.8) -> None:
        super().__init__()
        self.broken, self.low, self.high = broken, low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.reshape(x.shape[0], -1).sum(1)
        if self.broken == "gradient":
            return _NanGradient.apply(s, self.low, self.high)
        inside = (s > self.low) & (s < self.high)
        return torch.where(inside, torch.full_like(s, float("nan")), s)


def split_mlp_equivalent(mlp: SmallMLP) -> nn.Module:
    """A differently built network computing the same function as ``mlp``.

    Every hidden unit of the first layer is duplicated (weights and bias copied),
    and the next layer reads each copy with half the weight; the last layer is
    split into two linear maps whose product is the original (``W = W2 @ W1`` with
    ``W1`` a random invertible matrix). Equal up to float rounding.
    """
    lin1, act1, lin2, act2, lin3 = mlp.net
    dtype = lin1.weight.dtype
    hidden = lin1.out_features
    wide = nn.Linear(lin1.in_features, 2 * hidden).to(dtype)
    mid = nn.Linear(2 * hidden, lin2.out_features).to(dtype)
    gen = _generator(12345)
    mix = torch.eye(lin3.in_features, dtype=dtype) + 0.3 * torch.randn(
        lin3.in_features, lin3.in_features, generator=gen, dtype=dtype
    )
    first = nn.Linear(lin3.in_features, lin3.in_features, bias=False).to(dtype)
    second = nn.Linear(lin3.in_features, lin3.out_features).to(dtype)
    with torch.no_grad():
        wide.weight.copy_(torch.cat([lin1.weight, lin1.weight], 0))
        wide.bias.copy_(torch.cat([lin1.bias, lin1.bias], 0))
        mid.weight.copy_(torch.cat([lin2.weight, lin2.weight], 1) / 2)
        mid.bias.copy_(lin2.bias)
        first.weight.copy_(mix)
        second.weight.copy_(lin3.weight @ torch.linalg.inv(mix))
        second.bias.copy_(lin3.bias)
    return nn.Sequential(wide, type(act1)(), mid, type(act2)(), first, second)


def batch_of(rows: Sequence[Sequence[float]], dtype: torch.dtype = DTYPE) -> torch.Tensor:
    """A ``(B, D)`` tensor from nested lists (shorthand used by the tests)."""
    return torch.tensor(rows, dtype=dtype)


class PWMScorer(nn.Module):
    """``(N, 4, L) -> (N,)``: ``Σ_i softplus(s · (w ⋆ x)_i − t) + Σ_i (v ⋆ x)_i``.

    ``w`` is the ``(4, k)`` log-odds of ``motif`` against a uniform background (0.97 on the
    motif's base), ``⋆`` a correlation on the forward strand and on the reverse complement
    (the larger of the two counts), and ``t`` sits ``margin`` below the best score, so windows
    that match the motif (nearly) exactly dominate the output. ``v`` is a small random
    ``(4, 3)`` filter (scale ``background``): the weak, everywhere-present signal of a real
    model, without which every position off the motif would score exactly 0.
    """

    def __init__(
        self,
        motif: str,
        margin: float = 2.0,
        sharpness: float = 2.0,
        background: float = 0.1,
        seed: int = 0,
        dtype: torch.dtype = DTYPE,
    ) -> None:
        super().__init__()
        probs = torch.full((4, len(motif)), 0.01, dtype=dtype)
        for i, base in enumerate(motif):
            probs["ACGT".index(base), i] = 0.97
        weight = torch.log(probs / 0.25)
        self.register_buffer("weight", weight)
        noise = torch.randn(1, 4, 3, generator=_generator(seed), dtype=dtype)
        self.register_buffer("background", background * noise)
        self.threshold = float(weight.max(dim=0).values.sum()) - margin
        self.sharpness = sharpness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fwd = nn.functional.conv1d(x, self.weight[None])
        rev = nn.functional.conv1d(x, self.weight.flip(0, 1)[None])
        score = torch.maximum(fwd, rev)[:, 0]
        motif = nn.functional.softplus(self.sharpness * (score - self.threshold)).sum(dim=1)
        return motif + nn.functional.conv1d(x, self.background).sum(dim=(1, 2))
