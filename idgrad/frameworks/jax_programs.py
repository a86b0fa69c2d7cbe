"""What the JAX adapter compiles, and how arrays cross between torch and JAX.

:func:`build_program` is ``jax.jit(jax.vmap(...))`` of one evaluation of the model at one
point (a batch of one): the outputs, the scalar ``F``, ``F`` and its gradient, or a
vector-Jacobian product. The model's arrays (a pytree's leaves, :class:`ModelArrays`) and the
extra arguments (:class:`JaxExtras`) are arguments of the compiled function, not constants
baked into it. Tensors cross with DLPack (:func:`to_jax`, :func:`to_torch`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

__all__ = [
    "JaxExtras",
    "ModelArrays",
    "abstract",
    "build_program",
    "first_line",
    "pad_rows",
    "to_jax",
    "to_torch",
    "x64_enabled",
]


def x64_enabled() -> bool:
    """Whether JAX computes in 64 bits now (``jax_enable_x64``, also inside ``jax.enable_x64``)."""
    return bool(jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float64)


def to_jax(t: torch.Tensor) -> jax.Array:
    """A torch tensor as a JAX array (DLPack; a copy only when the layout needs one)."""
    t = t.detach()
    if t.dtype in (torch.float64, torch.int64) and not x64_enabled():
        t = t.to(torch.float32 if t.is_floating_point() else torch.int32)
    if not t.is_contiguous():
        t = t.contiguous()
    return jax.dlpack.from_dlpack(t)


def to_torch(a: Any) -> torch.Tensor:
    """A JAX (or numpy) array as a torch tensor (DLPack, no copy)."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    return torch.from_dlpack(a)


def pad_rows(t: torch.Tensor, size: int) -> torch.Tensor:
    """``t`` with its last row repeated up to ``size`` rows (a chunk padded to a compiled shape)."""
    n = int(t.shape[0])
    if n == size:
        return t
    return torch.cat([t, t[-1:].expand((size - n,) + tuple(t.shape[1:]))])


def first_line(err: BaseException) -> str:
    """An error in one line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


class ModelArrays:
    """A model pytree cut into its arrays (arguments of the compiled functions) and the rest."""

    def __init__(self, fn: Any) -> None:
        tree = fn
        if isinstance(fn, functools.partial):  # linen / Haiku: partial(module.apply, params)
            tree = jax.tree_util.Partial(fn.func, *fn.args, **fn.keywords)
        leaves, self.treedef = jax.tree_util.tree_flatten(tree)
        self.is_array = tuple(isinstance(v, (jax.Array, np.ndarray)) for v in leaves)
        self.arrays = [v for v, a in zip(leaves, self.is_array) if a]
        self.others = [v for v, a in zip(leaves, self.is_array) if not a]
        self.key = (self.treedef, self.is_array, tuple(id(v) for v in self.others))

    def rebuild(self, arrays: Sequence[Any]) -> Any:
        it_a, it_o = iter(arrays), iter(self.others)
        leaves = [next(it_a) if a else next(it_o) for a in self.is_array]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


class JaxExtras:
    """``additional_forward_args`` for the compiled functions: rows, shared arrays, constants."""

    def __init__(self, items: Sequence[Any], per_example: Sequence[bool]) -> None:
        self.items = tuple(items)
        self.kinds = tuple(
            "row" if per else "array" if isinstance(v, torch.Tensor) else "const"
            for v, per in zip(items, per_example)
        )
        self.consts = tuple(v for v, k in zip(items, self.kinds) if k == "const")
        self.key = (self.kinds, tuple(id(v) for v in self.consts))
        self.axes = tuple(0 if k == "row" else None for k in self.kinds if k != "const")
        self.shared = tuple(
            to_jax(v) for v, k in zip(items, self.kinds) if k == "array"
        )  # converted once

    def dynamic(self, rows: torch.Tensor | None, size: int) -> tuple[Any, ...]:
        """The arrays for a chunk: per-example ones sliced by ``rows`` and padded."""
        out: list[Any] = []
        shared = iter(self.shared)
        for v, k in zip(self.items, self.kinds):
            if k == "row":
                assert rows is not None
                out.append(to_jax(pad_rows(v.index_select(0, rows.to(v.device)), size)))
            elif k == "array":
                out.append(next(shared))
        return tuple(out)

    def assemble(self, dynamic: Sequence[Any], batched: bool) -> list[Any]:
        """All extra arguments in order, per-example ones given a batch axis of one."""
        dyn, consts, out = iter(dynamic), iter(self.consts), []
        for k in self.kinds:
            if k == "const":
                out.append(next(consts))
            else:
                v = next(dyn)
                out.append(v[None] if (k == "row" and batched) else v)
        return out


def abstract(v: Any) -> jax.ShapeDtypeStruct:
    """The abstract shape of a torch tensor or array (for ``jax.eval_shape``)."""
    if isinstance(v, torch.Tensor):
        dtype = to_jax(torch.zeros((), dtype=v.dtype)).dtype
        return jax.ShapeDtypeStruct(tuple(v.shape), dtype)
    return jax.ShapeDtypeStruct(tuple(v.shape), v.dtype)


def build_program(kind: str, split: ModelArrays, extras: JaxExtras, pick: Any) -> Any:
    """``jit(vmap(...))`` of one evaluation of the model at one point (a batch of one)."""

    def batch_of_one(arrays: Any, xs: tuple[Any, ...], dyn: tuple[Any, ...]) -> Any:
        model = split.rebuild(arrays)
        return model(*(x[None] for x in xs), *extras.assemble(dyn, batched=True))

    def one(arrays: Any, xs: tuple[Any, ...], dyn: tuple[Any, ...]) -> Any:
        return jax.tree_util.tree_map(lambda o: o[0], batch_of_one(arrays, xs, dyn))

    def scalar(xs: tuple[Any, ...], arrays: Any, dyn: tuple[Any, ...], index: Any) -> Any:
        if callable(pick):
            return jnp.reshape(pick(batch_of_one(arrays, xs, dyn)), ())
        y = one(arrays, xs, dyn)
        return jnp.reshape(y[tuple(index[d] for d in range(pick))], ())

    axes = extras.axes
    if kind == "outputs":
        return jax.jit(jax.vmap(one, in_axes=(None, 0, axes)))
    if kind == "value":
        return jax.jit(jax.vmap(scalar, in_axes=(0, None, axes, 0)))
    if kind == "value_and_grad":
        return jax.jit(jax.vmap(jax.value_and_grad(scalar), in_axes=(0, None, axes, 0)))
    if kind == "vjp":

        def pullback(xs: Any, arrays: Any, dyn: Any, cotangent: Any) -> Any:
            _, back = jax.vjp(lambda p: one(arrays, p, dyn), xs)
            return back(cotangent)[0]

        return jax.jit(jax.vmap(pullback, in_axes=(0, None, axes, 0)))
    raise ValueError(f"unknown program {kind!r}")
