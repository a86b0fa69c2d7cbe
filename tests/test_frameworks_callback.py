"""The callback adapter (idgrad.frameworks.callback): numpy in and out, the same answers as
torch, TensorFlow / Keras through one function, and one-line errors before any work."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import idgrad
from idgrad.frameworks import CallbackModel

W = np.random.default_rng(0).normal(size=(5, 3))


def linear_tanh(points: np.ndarray, target: np.ndarray | None) -> tuple[Any, Any]:
    """F = tanh(x W); the gradient of output k is (1 - tanh^2) W[:, k]."""
    out = np.tanh(points @ W)
    if target is None:
        return out, None
    k = target[:, 0]
    slope = 1 - out[np.arange(len(k)), k] ** 2
    return out, slope[:, None] * W[:, k].T


def torch_linear_tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ torch.from_numpy(W))


X = np.random.default_rng(1).normal(size=(4, 5))


@pytest.mark.parametrize(
    "method, kwargs",
    [
        (idgrad.integrated_gradients, dict(target=2, n_steps=16)),
        (idgrad.integrated_gradients, dict(target=2, rtol=1e-4, max_evaluations=256)),
        (idgrad.integrated_decision_gradients, dict(target=[0, 1, 2, 0], n_steps=16)),
        (idgrad.left_integrated_gradients, dict(target=1, n_steps=16)),
        (idgrad.guided_integrated_gradients, dict(target=1, n_steps=8)),
        (idgrad.integrated_gradients_sign, dict(target="predicted", n_steps=8)),
    ],
)
def test_numpy_callback_matches_torch(method: Any, kwargs: dict[str, Any]) -> None:
    d = method.details(linear_tanh, X, **kwargs)
    e = method.details(torch_linear_tanh, torch.from_numpy(X), **kwargs)
    assert isinstance(d.attributions, np.ndarray) and isinstance(d.delta, np.ndarray)
    np.testing.assert_allclose(d.attributions, e.attributions.numpy(), rtol=1e-10, atol=1e-12)
    assert d.n_gradient_evals == e.n_gradient_evals


def test_callback_calls_are_chunked() -> None:
    model = CallbackModel(linear_tanh)
    idgrad.integrated_gradients(model, X, target=0, n_steps=10, internal_batch_size=8)
    assert model.calls == 5  # 40 gradient points in chunks of 8; no end points in a plain call


def test_callback_gradients_of_the_wrong_shape_are_refused_in_one_line() -> None:
    model = CallbackModel(
        lambda p, t: (np.tanh(p @ W), None if t is None else np.ones((len(p), 2)))
    )
    with pytest.raises(ValueError) as err:
        idgrad.integrated_gradients(model, X, target=0, n_steps=1000, internal_batch_size=8)
    assert str(err.value) == (
        "the callback returned gradients of shape (8, 2) for points of shape (8, 5); they must "
        "have the points' shape"
    )
    assert model.calls == 1  # the first chunk, before any long work


def test_callback_refusals() -> None:
    with pytest.raises(TypeError, match="callable target needs gradients through it"):
        idgrad.integrated_gradients(linear_tanh, X, target=lambda o: o[:, 0])
    with pytest.raises(TypeError, match="takes no additional_forward_args"):
        idgrad.integrated_gradients(linear_tanh, X, target=0, additional_forward_args=(1,))
    with pytest.raises(TypeError, match="torch.nn.Module but the call's arrays are numpy"):
        idgrad.integrated_gradients(torch.nn.Linear(5, 3), X, target=0)
    with pytest.raises(TypeError, match="called as a callback because the inputs are numpy"):
        idgrad.integrated_gradients(lambda x: x.sum(1), X)  # a one-argument function


def test_tensorflow_keras_model_through_a_callback() -> None:
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    w = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    net = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3, activation="tanh", use_bias=False)]
    )
    net.layers[0].set_weights([w])

    def fn(points: np.ndarray, target: np.ndarray | None) -> tuple[Any, Any]:
        x = tf.convert_to_tensor(points)
        if target is None:
            return net(x).numpy(), None
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = net(x)
            picked = tf.gather(out, target[:, 0], axis=1, batch_dims=1)
        return out.numpy(), tape.gradient(picked, x).numpy()

    x = np.random.default_rng(3).normal(size=(2, 5)).astype(np.float32)
    a = idgrad.integrated_decision_gradients(fn, x, target=1, n_steps=16)
    b = idgrad.integrated_decision_gradients(
        lambda t: torch.tanh(t @ torch.from_numpy(w)), torch.from_numpy(x), target=1, n_steps=16
    )
    assert isinstance(a, np.ndarray)
    np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
