"""The toy models of captum's own IG / Layer IG tests, rewritten for tests/test_captum_*.py.

Each class computes the same function as the captum test helper of the same name
(``captum/testing/helpers/basic_models.py`` and ``classification_models.py`` in captum 0.9), with
the same fixed weights, so that the expected values of captum's tests carry over unchanged. The
names are captum's, to make the correspondence obvious; the code is ours. Models whose weights
captum leaves random (the classification models, the embedding model) draw them from torch's
global RNG, which the tests seed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def _fixed_linear(weight: list[list[float]] | torch.Tensor, bias: list[float] | None) -> nn.Linear:
    """An ``nn.Linear`` with the given weight (out, in) and bias (None: no bias)."""
    w = torch.as_tensor(weight, dtype=torch.float32)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return layer


# ------------------------------------------------------------------ closed-form toy functions


class BasicModel(nn.Module):
    """``f(x) = 1 - relu(1 - x)`` = ``min(x, 1)``, elementwise."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # captum's argument name
        return 1 - F.relu(1 - input)


class BasicModel2(nn.Module):
    """``f(x1, x2) = relu(relu(x1) - 1 - relu(x2))`` (first example of the IG paper)."""

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return F.relu(F.relu(x1) - 1 - F.relu(x2))


class BasicModel3(nn.Module):
    """``f(x1, x2) = relu(relu(x1 - 1) - relu(x2))`` (second example of the IG paper)."""

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return F.relu(F.relu(x1 - 1) - F.relu(x2))


class BasicModel4_MultiArgs(nn.Module):
    """``f = relu(relu(x1 - 1) - relu(x2) / d)[:, column]`` with extra arguments ``d, column``."""

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, divisor: Any, column: int = 0
    ) -> torch.Tensor:
        return F.relu(F.relu(x1 - 1) - F.relu(x2) / divisor)[:, column]


class BasicModel5_MultiArgs(nn.Module):
    """``f = relu(c[0] relu(x1 - 1) - c[1] relu(x2))[:, column]``; ``c`` is a Python list."""

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, scales: list[int], column: int = 0
    ) -> torch.Tensor:
        return F.relu(scales[0] * F.relu(x1 - 1) - scales[1] * F.relu(x2))[:, column]


class BasicModel6_MultiTensor(nn.Module):
    """``f(x1, x2) = min(x1 + x2, 1)[:, 1]``."""

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return (1 - F.relu(1 - (x1 + x2)))[:, 1]


# ------------------------------------------------------------------ the multi-layer network


class MultiRelu(nn.Module):
    """Two ReLUs in one module: ``(a, b) -> (relu(a), relu(b))`` (a layer with two outputs)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.relu1 = nn.ReLU(inplace=inplace)
        self.relu2 = nn.ReLU(inplace=inplace)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.relu1(a), self.relu2(b)


class BasicModel_MultiLayer(nn.Module):
    """3 -> 3 (identity) -> 4 -> ReLU -> 2, fixed weights.

    ``h = W1 x + (-10, 1, 1, 1)`` with ``W1`` all ones, ``out = W2 relu(h) + (-1, 1)`` with
    ``W2`` all ones. With ``multi_input_module=True`` the ReLU is :class:`MultiRelu` applied to
    ``h`` and to a second copy ``h_alt`` of the same affine map of the input, and the two
    results are added; ``self.relu`` then still runs on ``h`` but its output is unused.
    ``add_input`` is added to ``x`` first; ``multidim_output=True`` returns ``(B, 2, 2, 2)``
    with ``out[b, i, j, k] = out[b, i] * 2**j * 4**k``.
    """

    def __init__(self, inplace: bool = False, multi_input_module: bool = False) -> None:
        super().__init__()
        self.multi_input_module = multi_input_module
        self.linear0 = _fixed_linear(torch.eye(3), [0.0, 0.0, 0.0])
        self.linear1 = _fixed_linear(torch.ones(4, 3), [-10.0, 1.0, 1.0, 1.0])
        self.linear1_alt = _fixed_linear(torch.ones(4, 3), [-10.0, 1.0, 1.0, 1.0])
        self.multi_relu = MultiRelu(inplace=inplace)
        self.relu = nn.ReLU(inplace=inplace)
        self.linear2 = _fixed_linear(torch.ones(2, 4), [-1.0, 1.0])

    def forward(
        self,
        x: torch.Tensor,
        add_input: torch.Tensor | None = None,
        multidim_output: bool = False,
    ) -> torch.Tensor:
        z = x if add_input is None else x + add_input
        hidden = self.linear1(self.linear0(z))
        if self.multi_input_module:
            first, second = self.multi_relu(hidden, self.linear1_alt(z))
            activated = first + second
            self.relu(hidden)  # called, result unused: a layer that does not reach the output
        else:
            activated = self.relu(hidden)
        out = self.linear2(activated)
        if not multidim_output:
            return out
        doubled = torch.stack((out, 2 * out), dim=2)
        return torch.stack((doubled, 4 * doubled), dim=3)


class BasicModel_MultiLayer_MultiInput(nn.Module):
    """``f(x1, x2, x3, scale) = BasicModel_MultiLayer()(scale * (x1 + x2 + x3))``."""

    def __init__(self) -> None:
        super().__init__()
        self.model = BasicModel_MultiLayer()

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor, scale: int
    ) -> torch.Tensor:
        return self.model(scale * (x1 + x2 + x3))


class BasicModel_MultiLayer_TrueMultiInput(nn.Module):
    """``m1(x1) + m234(x2, x3, x4 or x1, scale=1)``: two sub-models, one reading three inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.m1 = BasicModel_MultiLayer()
        self.m234 = BasicModel_MultiLayer_MultiInput()

    def forward(
        self,
        x1: torch.Tensor,
        x2: torch.Tensor,
        x3: torch.Tensor,
        x4: torch.Tensor | None = None,
    ) -> torch.Tensor:
        fourth = x1 if x4 is None else x4
        return self.m1(x1) + self.m234(x2, x3, fourth, scale=1)


class BasicModel_ConvNet(nn.Module):
    """(B, 1, 10, 10) -> conv 3x3 (2 ch) -> ReLU -> pool 2 -> conv 3x3 (4 ch) -> ReLU -> pool 2
    -> 4 -> Linear(ones) 8 -> ReLU -> Linear(ones) 10 -> softmax. Conv weights and the linear
    biases are random."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, 1)
        self.conv2 = nn.Conv2d(2, 4, 3, 1)
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 10)
        with torch.no_grad():
            self.fc1.weight.fill_(1.0)
            self.fc2.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2).reshape(-1, 4)
        return torch.softmax(self.fc2(F.relu(self.fc1(h))), dim=1)


# ------------------------------------------------------------------ embeddings


class TextModule(nn.Module):
    """An embedding (optionally a second one, added when ``another_input`` is given)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, second_embedding: bool) -> None:
        super().__init__()
        self.inner_embedding = nn.Embedding(num_embeddings, embedding_dim)
        self.second_embedding = second_embedding
        if second_embedding:
            self.inner_embedding2 = nn.Embedding(num_embeddings, embedding_dim)

    def forward(
        self, input: torch.Tensor, another_input: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.inner_embedding(input)
        if another_input is None:
            return emb
        return emb + self.inner_embedding2(another_input)


class BasicEmbeddingModel(nn.Module):
    """``sum_t W2 relu(W1 (E1[i1_t] + E2(i2, i3)_t)) + b2`` with ``W1``, ``W2`` all ones.

    ``E1`` and ``E2`` (a nested :class:`TextModule`) are random embeddings of 30 ids in 100
    dimensions; the hidden layer has 256 units; the output is ``(B, 1)``.
    """

    def __init__(self, nested_second_embedding: bool = False) -> None:
        super().__init__()
        self.embedding1 = nn.Embedding(30, 100)
        self.embedding2 = TextModule(30, 100, nested_second_embedding)
        self.linear1 = nn.Linear(100, 256, bias=False)
        self.relu = nn.ReLU()
        self.linear2 = nn.Linear(256, 1)
        with torch.no_grad():
            self.linear1.weight.fill_(1.0)
            self.linear2.weight.fill_(1.0)

    def forward(
        self, input1: torch.Tensor, input2: torch.Tensor, input3: torch.Tensor | None = None
    ) -> torch.Tensor:
        embedded = self.embedding1(input1) + self.embedding2(input2, input3)
        return self.linear2(self.relu(self.linear1(embedded))).sum(1)


# ------------------------------------------------------------------ classification


class SigmoidModel(nn.Module):
    """``sigmoid(L2 relu(L1 x))``, random weights."""

    def __init__(self, num_in: int, num_hidden: int, num_out: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(num_in, num_hidden)
        self.lin2 = nn.Linear(num_hidden, num_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.lin2(F.relu(self.lin1(x))))


class SoftmaxModel(nn.Module):
    """``softmax(L3 relu(L2 relu(L1 x)))`` over classes, random weights."""

    def __init__(self, num_in: int, num_hidden: int, num_out: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(num_in, num_hidden)
        self.lin2 = nn.Linear(num_hidden, num_hidden)
        self.lin3 = nn.Linear(num_hidden, num_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(self.lin2(F.relu(self.lin1(x))))
        return torch.softmax(self.lin3(hidden), dim=1)


# ------------------------------------------------------------------ captum's two comparisons


def assert_close_sum(actual: torch.Tensor, expected: Any, tol: float) -> None:
    """``sum |actual - expected| <= tol`` with equal shapes (captum's default comparison)."""
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    total = (actual.detach().cpu() - expected.cpu()).abs().sum().item()
    assert total <= tol, f"sum of absolute differences {total} > {tol}"


def assert_close_max(actual: torch.Tensor, expected: Any, tol: float) -> None:
    """``max |actual - expected| <= tol`` with equal shapes (captum's ``mode="max"``)."""
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if actual.numel():
        worst = (actual.detach().cpu() - expected.cpu()).abs().max().item()
        assert worst <= tol, f"largest absolute difference {worst} > {tol}"
