"""Twin models for the framework tests: the same weights in PyTorch and in JAX (Flax nnx,
Flax linen, Haiku, Equinox), so that every method's answers can be compared across them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

jax = __import__("pytest").importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402


def mlp_weights(n_in: int = 6, hidden: int = 8, n_out: int = 3, seed: int = 0) -> list[np.ndarray]:
    """float64 weights ``[W1 (in, h), b1, W2 (h, h), b2, W3 (h, out), b3]``."""
    rng = np.random.default_rng(seed)
    shapes = [(n_in, hidden), (hidden,), (hidden, hidden), (hidden,), (hidden, n_out), (n_out,)]
    return [rng.normal(0, 0.8, s) for s in shapes]


def torch_mlp(weights: list[np.ndarray], dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Linear -> tanh -> Linear -> GELU (erf) -> Linear, in torch."""
    w1, b1, w2, b2, w3, b3 = weights
    layers = [torch.nn.Linear(*w.shape, dtype=torch.float64) for w in (w1, w2, w3)]
    with torch.no_grad():
        for layer, (w, b) in zip(layers, [(w1, b1), (w2, b2), (w3, b3)]):
            layer.weight.copy_(torch.from_numpy(w.T))
            layer.bias.copy_(torch.from_numpy(b))
    net = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1], torch.nn.GELU(), layers[2])
    return net.to(dtype).eval()


class NnxMLP(nnx.Module):
    """The same MLP in Flax nnx."""

    def __init__(self, weights: list[np.ndarray], dtype: Any = jnp.float32) -> None:
        w1, b1, w2, b2, w3, b3 = weights
        rngs = nnx.Rngs(0)
        self.l1 = nnx.Linear(*w1.shape, rngs=rngs, param_dtype=dtype, dtype=dtype)
        self.l2 = nnx.Linear(*w2.shape, rngs=rngs, param_dtype=dtype, dtype=dtype)
        self.l3 = nnx.Linear(*w3.shape, rngs=rngs, param_dtype=dtype, dtype=dtype)
        for layer, (w, b) in zip([self.l1, self.l2, self.l3], [(w1, b1), (w2, b2), (w3, b3)]):
            layer.kernel[...] = jnp.asarray(w, dtype)
            layer.bias[...] = jnp.asarray(b, dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jnp.tanh(self.l1(x))
        h = jax.nn.gelu(self.l2(h), approximate=False)
        return self.l3(h)


def linen_mlp(weights: list[np.ndarray], dtype: Any = jnp.float32) -> Any:
    """``functools.partial(module.apply, params)`` of the same MLP in Flax linen."""
    import functools

    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            h = jnp.tanh(nn.Dense(weights[0].shape[1], name="l1")(x))
            h = jax.nn.gelu(nn.Dense(weights[2].shape[1], name="l2")(h), approximate=False)
            return nn.Dense(weights[4].shape[1], name="l3")(h)

    params = {
        "params": {
            name: {"kernel": jnp.asarray(w, dtype), "bias": jnp.asarray(b, dtype)}
            for name, w, b in zip(["l1", "l2", "l3"], weights[0::2], weights[1::2])
        }
    }
    return functools.partial(MLP().apply, params)


def haiku_mlp(weights: list[np.ndarray], dtype: Any = jnp.float32) -> Any:
    """``functools.partial(transformed.apply, params)`` of the same MLP in Haiku."""
    import functools

    import haiku as hk

    def forward(x: jax.Array) -> jax.Array:
        h = jnp.tanh(hk.Linear(weights[0].shape[1], name="l1")(x))
        h = jax.nn.gelu(hk.Linear(weights[2].shape[1], name="l2")(h), approximate=False)
        return hk.Linear(weights[4].shape[1], name="l3")(h)

    transformed = hk.without_apply_rng(hk.transform(forward))
    params = {
        name: {"w": jnp.asarray(w, dtype), "b": jnp.asarray(b, dtype)}
        for name, w, b in zip(["l1", "l2", "l3"], weights[0::2], weights[1::2])
    }
    return functools.partial(transformed.apply, params)


def equinox_mlp(weights: list[np.ndarray], dtype: Any = jnp.float32) -> Any:
    """The same MLP as an Equinox module (per example), batched with ``jax.vmap``."""
    import equinox as eqx

    class MLP(eqx.Module):
        layers: list[eqx.nn.Linear]

        def __call__(self, x: jax.Array) -> jax.Array:
            h = jnp.tanh(self.layers[0](x))
            h = jax.nn.gelu(self.layers[1](h), approximate=False)
            return self.layers[2](h)

    key = jax.random.PRNGKey(0)
    layers = []
    for w, b in zip(weights[0::2], weights[1::2]):
        lin = eqx.nn.Linear(w.shape[0], w.shape[1], key=key, dtype=dtype)
        lin = eqx.tree_at(
            lambda m: (m.weight, m.bias), lin, (jnp.asarray(w.T, dtype), jnp.asarray(b, dtype))
        )
        layers.append(lin)
    module = MLP(layers)

    class Batched(eqx.Module):
        inner: MLP

        def __call__(self, x: jax.Array) -> jax.Array:
            return jax.vmap(self.inner)(x)

    return Batched(module)


def cnn_weights(
    channels: int = 8, width: int = 5, n_out: int = 3, seed: int = 1
) -> list[np.ndarray]:
    """float64 weights of the DNA CNN: conv (C, 4, k), bias, dense (C, out), bias."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, 0.5, (channels, 4, width)),
        rng.normal(0, 0.1, (channels,)),
        rng.normal(0, 0.5, (channels, n_out)),
        rng.normal(0, 0.1, (n_out,)),
    ]


class TorchCNN(torch.nn.Module):
    """One-hot DNA ``(B, 4, L)`` -> conv (same padding) -> GELU -> mean over L -> dense."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        super().__init__()
        cw, cb, dw, db = weights
        f64 = torch.float64  # the weights copied exactly, then cast
        self.conv = torch.nn.Conv1d(
            4, cw.shape[0], cw.shape[2], padding=cw.shape[2] // 2, dtype=f64
        )
        self.dense = torch.nn.Linear(*dw.shape, dtype=f64)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(cw))
            self.conv.bias.copy_(torch.from_numpy(cb))
            self.dense.weight.copy_(torch.from_numpy(dw.T))
            self.dense.bias.copy_(torch.from_numpy(db))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.gelu(self.conv(x))
        return self.dense(h.mean(2))


def torch_cnn(weights: list[np.ndarray], dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    return TorchCNN(weights).to(dtype).eval()


class NnxCNN(nnx.Module):
    """The same CNN in Flax nnx (channels-first input, as the torch one)."""

    def __init__(self, weights: list[np.ndarray], dtype: Any = jnp.float32) -> None:
        cw, cb, dw, db = weights
        rngs = nnx.Rngs(0)
        self.conv = nnx.Conv(
            4,
            cw.shape[0],
            (cw.shape[2],),
            padding="SAME",
            rngs=rngs,
            param_dtype=dtype,
            dtype=dtype,
        )
        self.conv.kernel[...] = jnp.asarray(np.transpose(cw, (2, 1, 0)), dtype)
        self.conv.bias[...] = jnp.asarray(cb, dtype)
        self.dense = nnx.Linear(*dw.shape, rngs=rngs, param_dtype=dtype, dtype=dtype)
        self.dense.kernel[...] = jnp.asarray(dw, dtype)
        self.dense.bias[...] = jnp.asarray(db, dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.gelu(self.conv(jnp.swapaxes(x, 1, 2)), approximate=False)
        return self.dense(h.mean(1))
