"""The JAX adapter: any pure JAX function as a model, ``F`` and ``grad F`` compiled by XLA.

:class:`JaxModel` wraps a function ``f(x) -> outputs`` that takes a batch ``(n, ...)`` (one
array per input, then the extra arguments) and returns outputs with the batch axis first,
like a torch model: a Flax ``nnx`` module, ``functools.partial(module.apply, params)`` for
Flax linen or Haiku (``hk.transform(...).apply``), an Equinox module (wrap a per-example
module with ``jax.vmap``), or any function of ``jax.numpy``. Path methods pick it by
themselves for JAX arrays; name it for the cases they cannot tell (numpy inputs).

For a chunk of path points, the seam (:class:`JaxSeam`) evaluates each point as a batch of
one, ``F(x) = target(f(x[None]))``, with

    jax.jit(jax.vmap(jax.value_and_grad(F)))

(forward only: ``jax.jit(jax.vmap(F))``). The model's arrays (a pytree's leaves: parameters,
batch statistics) are arguments of the compiled function, not constants baked into it, and
are read again at every call, so a model trained between two calls is explained as it is
now, without a new compilation. Points and results cross between torch and JAX with DLPack
(no copy on the CPU when the tensor is aligned). A chunk shorter than ``internal_batch_size``
is padded (its last point repeated) to a shape already compiled that holds it with at most
4x padding, else to the next power of two (at most ``internal_batch_size``), so a run
compiles once per chunk shape, not once per chunk; :attr:`JaxModel.compilations` counts
them.

Targets: an index (an int, a tuple, one per example) is applied inside the compiled
function; a callable target is traced with JAX when it takes JAX arrays (written with
``jax.numpy`` or indexing), and otherwise (a torch function: idgrad's genomics targets,
AGI's class columns) applied in torch to the outputs, its gradient brought back through
``jax.vjp`` (a second, compiled pass).

Float64 needs ``jax.config.update("jax_enable_x64", True)`` (JAX is 32-bit otherwise; the
details' float64 fields then come back as float32).

Example:
    >>> import jax.numpy as jnp, idgrad
    >>> w = jnp.array([1.0, -2.0, 3.0])
    >>> f = lambda x: jnp.tanh(x @ w)                     # one scalar per example
    >>> x = jnp.array([[0.5, 0.1, 0.2]])
    >>> attr = idgrad.integrated_gradients(f, x, n_steps=16)
    >>> type(attr).__name__, attr.shape
    ('ArrayImpl', (1, 3))
    >>> bool(jnp.allclose(attr.sum(), f(x)[0] - f(0 * x)[0], atol=1e-5))   # completeness
    True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from idgrad.core.seam import ModelSeam, PointLabel, _ExtraArgs
from idgrad.core.targets import Target
from idgrad.core.validation import finite_flag
from idgrad.frameworks.protocol import ModelAdapter

__all__ = ["JaxModel", "JaxSeam", "padded_size"]


def padded_size(n: int, chunk: int | None) -> int:
    """The compiled chunk shape for ``n`` points: ``chunk``, or the next power of two below it.

    Example:
        >>> padded_size(64, 64), padded_size(10, 64), padded_size(50, None), padded_size(33, 48)
        (64, 16, 64, 48)
    """
    if chunk is not None and n >= chunk:
        return n
    size = 1 << max(0, (n - 1).bit_length())
    return size if chunk is None else min(size, chunk)


def _x64() -> bool:
    """Whether JAX computes in 64 bits now (``jax_enable_x64``, also inside ``jax.enable_x64``)."""
    return bool(jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float64)


def _to_jax(t: torch.Tensor) -> jax.Array:
    """A torch tensor as a JAX array (DLPack; a copy only when the layout needs one)."""
    t = t.detach()
    if t.dtype in (torch.float64, torch.int64) and not _x64():
        t = t.to(torch.float32 if t.is_floating_point() else torch.int32)
    if not t.is_contiguous():
        t = t.contiguous()
    return jax.dlpack.from_dlpack(t)


def _to_torch(a: Any) -> torch.Tensor:
    """A JAX (or numpy) array as a torch tensor (DLPack, no copy)."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    return torch.from_dlpack(a)


def _pad(t: torch.Tensor, size: int) -> torch.Tensor:
    n = int(t.shape[0])
    if n == size:
        return t
    return torch.cat([t, t[-1:].expand((size - n,) + tuple(t.shape[1:]))])


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


class _Split:
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


class _Extras:
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
            _to_jax(v) for v, k in zip(items, self.kinds) if k == "array"
        )  # converted once

    def dynamic(self, rows: torch.Tensor | None, size: int) -> tuple[Any, ...]:
        """The arrays for a chunk: per-example ones sliced by ``rows`` and padded."""
        out: list[Any] = []
        shared = iter(self.shared)
        for v, k in zip(self.items, self.kinds):
            if k == "row":
                assert rows is not None
                out.append(_to_jax(_pad(v.index_select(0, rows.to(v.device)), size)))
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


class JaxModel(ModelAdapter):
    """A pure JAX function as a model for every idgrad method (see the module docstring).

    Args:
        fn: ``f(*inputs, *additional_forward_args) -> outputs`` on batches, outputs with the
            batch axis first (an array, or a tuple / dict of them for a callable target).

    Attributes:
        compilations: how many times each compiled function was compiled (one per chunk
            shape and dtype): ``"value_and_grad"``, ``"value"``, ``"outputs"``, ``"vjp"``.

    Example:
        >>> import jax.numpy as jnp, idgrad
        >>> from idgrad.frameworks import JaxModel
        >>> model = JaxModel(lambda x: (x ** 2).sum(1))
        >>> x = jnp.array([[1.0, 2.0]])
        >>> idgrad.integrated_gradients(model, x, n_steps=2, internal_batch_size=8).tolist()
        [[1.0, 4.0]]
        >>> model.compilations["value_and_grad"]                   # 2 points, padded to 2
        1
    """

    framework = "jax"
    arrays = "JAX arrays"

    def __init__(self, fn: Any) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"JaxModel needs a callable JAX function, got {type(fn).__name__}")
        self.fn = fn
        self._programs: dict[Any, Callable[..., Any]] = {}
        self._sizes: dict[str, set[int]] = {}
        self._checked: dict[Any, Any] = {}  # JaxSeam.check's findings, by shapes

    # ------------------------------------------------------------------ conversions

    def owns(self, value: Any) -> bool:
        return isinstance(value, jax.Array)

    def to_torch(self, value: Any) -> torch.Tensor:
        return _to_torch(value)

    def from_torch(self, tensor: torch.Tensor) -> Any:
        return _to_jax(tensor)

    def fingerprint(self) -> bytes:
        """The class, the pytree structure and the bytes of every array of the model."""
        import hashlib

        split = _Split(self.fn)
        h = hashlib.sha256(f"{type(self).__qualname__}:{split.treedef}".encode())
        for a in split.arrays:
            arr = np.asarray(a)
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.digest()

    @property
    def compilations(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (kind, *_), program in self._programs.items():
            counts[kind] = counts.get(kind, 0) + int(program._cache_size())  # type: ignore[attr-defined]
        return counts

    # ------------------------------------------------------------------ compiled functions

    def _program(self, kind: str, split: _Split, extras: _Extras, pick: Any = None) -> Any:
        """The compiled function ``kind`` for this model structure, extras and target."""
        key = (kind, split.key, extras.key, pick)
        program = self._programs.get(key)
        if program is None:
            program = _build(kind, split, extras, pick)
            self._programs[key] = program
        return program

    def _size(self, kind: str, n: int, chunk: int | None) -> int:
        """The padded chunk shape for ``n`` points: a shape already compiled for ``kind`` if
        one holds them with at most 4x padding, else :func:`padded_size`."""
        sizes = self._sizes.setdefault(kind, set())
        if chunk is not None and n >= chunk:
            size = n
        else:
            fits = [s for s in sizes if n <= s <= 4 * n]
            size = min(fits) if fits else padded_size(n, chunk)
        sizes.add(size)
        return size

    def __call__(self, *args: Any) -> Any:
        """Forward only, on torch tensors: the outputs as torch tensors (one pass, padded)."""
        if not args or not isinstance(args[0], torch.Tensor):
            raise TypeError("a JaxModel is called with torch tensors (the points) first")
        n = int(args[0].shape[0])
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        n_inputs = next(
            (i for i, a in enumerate(args) if not isinstance(a, torch.Tensor) or a.shape[0] != n),
            len(args),
        )
        inputs = tensors[:n_inputs]
        per_example = [isinstance(a, torch.Tensor) and a.shape[0] == n for a in args[n_inputs:]]
        extras = _Extras(args[n_inputs:], per_example)
        split = _Split(self.fn)
        size = self._size("outputs", n, None)
        rows = torch.arange(n)
        points = tuple(_to_jax(_pad(x, size)) for x in inputs)
        out = self._program("outputs", split, extras)(
            split.arrays, points, extras.dynamic(rows, size)
        )
        return jax.tree_util.tree_map(lambda o: _to_torch(jax.block_until_ready(o))[:n], out)

    def idgrad_seam(
        self,
        inputs: tuple[torch.Tensor, ...],
        target: Target,
        extra: _ExtraArgs,
        batch_size: int,
        chunk: int | None,
    ) -> ModelSeam:
        seam = JaxSeam(self, target, extra, batch_size, chunk)
        seam.check(inputs)
        return seam


def _build(kind: str, split: _Split, extras: _Extras, pick: Any) -> Any:
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


class JaxSeam(ModelSeam):
    """The seam of a :class:`JaxModel`: ``scalars`` and ``scalars_and_grads`` compiled by XLA.

    Built by :meth:`JaxModel.idgrad_seam` (from :meth:`~idgrad.core.seam.ModelSeam.build`),
    which checks, before any path work and without evaluating the model (``jax.eval_shape``),
    that it returns the batch axis first, floating outputs, a target that selects one scalar,
    and that ``F`` can be differentiated.
    """

    target: Target  # one target: ModelSeam.build refuses targets= for an adapter

    def __init__(
        self,
        adapter: JaxModel,
        target: Target,
        extra: _ExtraArgs,
        batch_size: int,
        chunk: int | None,
    ) -> None:
        super().__init__(adapter, target, extra, batch_size)
        self.adapter = adapter
        self.chunk = chunk
        self.extras = _Extras(extra.items, extra.per_example)
        self.split = _Split(adapter.fn)
        self.torch_target = False
        self.jax_error: str | None = None
        self.dims: tuple[int, ...] = ()
        self.pick: Any = None

    def check(self, inputs: tuple[torch.Tensor, ...]) -> None:
        """The checks of the class docstring, on the shapes of ``inputs`` (abstract)."""
        if not _x64():
            for x in inputs:
                if x.dtype == torch.float64:
                    raise TypeError(
                        "the inputs are float64 but JAX computes in 32 bits unless "
                        'jax.config.update("jax_enable_x64", True); enable it, or give float32'
                    )
        rows = min(2, self.batch_size)
        r = torch.arange(rows)
        xs = tuple(_spec(x[:rows]) for x in inputs)
        dyn = tuple(_spec(v) for v in self.extras.dynamic(r, rows))
        model = self.split.rebuild
        extras = self.extras

        def call(arrays: Any, xs: Any, dyn: Any) -> Any:
            return model(arrays)(*xs, *extras.assemble(dyn, batched=False))

        # what eval_shape found is kept per model structure and shapes (a second call with
        # the same model and shapes traces nothing)
        key = (self.split.key, self.extras.key, xs, dyn, rows)
        cached = self.adapter._checked.get(key)
        try:
            out = cached if cached is not None else jax.eval_shape(call, self.split.arrays, xs, dyn)
        except Exception as err:  # noqa: BLE001 -- any failure of the user's function
            shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
            raise TypeError(
                f"the JAX function failed on inputs of shape {shapes}: {_first_line(err)}"
            ) from err
        leaves = jax.tree_util.tree_leaves(out)
        for leaf in leaves:
            if leaf.ndim == 0 or leaf.shape[0] != rows:
                raise ValueError(
                    f"the JAX function returned shape {tuple(leaf.shape)} when called on {rows} "
                    "rows; its first axis must be the batch axis (one row per input row)"
                )
            if not jnp.issubdtype(leaf.dtype, jnp.inexact):
                raise TypeError(
                    f"the JAX function returns {leaf.dtype} outputs, which have no gradient; "
                    "return floating-point values (e.g. logits rather than argmax)"
                )
        one = jax.tree_util.tree_map(
            lambda o: jax.ShapeDtypeStruct((1,) + o.shape[1:], o.dtype), out
        )
        if self.target.callable is not None:
            self._check_callable(one)
        else:
            if not isinstance(out, jax.ShapeDtypeStruct):
                # a pytree output with an index target: the torch message, as for torch models
                self.target.select(tuple(torch.zeros(1) for _ in leaves), torch.zeros(1))
            self.dims = tuple(out.shape[1:])
            self.target.select(torch.zeros((1,) + self.dims), torch.zeros(1, dtype=torch.long))
            self.pick = self.target.depth
        self.adapter._checked[key] = out
        gradient_key = (key, self.torch_target, self.pick)
        if gradient_key not in self.adapter._checked:
            self._check_gradient(inputs)
            self.adapter._checked[gradient_key] = True

    def _check_callable(self, one: Any) -> None:
        fn = self.target.callable
        assert fn is not None
        try:
            value = jax.eval_shape(fn, one)
        except Exception as err:  # noqa: BLE001 -- not a JAX function: applied in torch
            self.torch_target = True
            self.jax_error = _first_line(err)
            return
        shape = getattr(value, "shape", None)
        if shape not in ((1,), (1, 1)):
            raise ValueError(
                "the target callable must return one scalar per row of the model output it is "
                f"given; it returned shape {shape} for one row"
            )
        self.pick = fn

    def _check_gradient(self, inputs: tuple[torch.Tensor, ...]) -> None:
        kind = "vjp" if self.torch_target else "value_and_grad"
        xs = tuple(_spec(x[:1]) for x in inputs)
        dyn = tuple(_spec(v) for v in self.extras.dynamic(torch.zeros(1, dtype=torch.long), 1))
        program = _build(kind, self.split, self.extras, self.pick)
        try:
            if kind == "vjp":
                out = jax.eval_shape(
                    _build("outputs", self.split, self.extras, None), self.split.arrays, xs, dyn
                )
                jax.eval_shape(program, xs, self.split.arrays, dyn, out)
            else:
                jax.eval_shape(program, xs, self.split.arrays, dyn, self._index_spec(1))
        except Exception as err:  # noqa: BLE001 -- jax's own words on why it cannot
            raise TypeError(
                f"the JAX function cannot be differentiated with respect to its inputs: "
                f"{_first_line(err)}"
            ) from err

    def _index_spec(self, n: int) -> Any:
        depth = self.pick if isinstance(self.pick, int) else 0
        return jax.ShapeDtypeStruct((n, depth), jnp.int32)

    def _index(self, rows: torch.Tensor, size: int) -> jax.Array:
        """The target's index per point, ``(size, depth)`` int32, negatives made positive."""
        depth = self.pick if isinstance(self.pick, int) else 0
        n = int(rows.shape[0])
        if depth == 0:
            return jnp.zeros((size, 0), jnp.int32)
        if self.target.fixed is not None:
            idx = torch.tensor(self.target.fixed, dtype=torch.long).expand(n, depth)
        else:
            assert self.target.per_example is not None
            idx = self.target.per_example.index_select(0, rows.cpu())
        sizes = torch.tensor(self.dims[:depth], dtype=torch.long)
        idx = torch.remainder(idx, sizes).to(torch.int32)
        return jnp.asarray(_pad(idx, size).numpy())

    def _points(self, points: tuple[torch.Tensor, ...], size: int) -> tuple[jax.Array, ...]:
        return tuple(_to_jax(_pad(p, size)) for p in points)

    def scalars(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> torch.Tensor:
        n = int(rows.shape[0])
        if self.torch_target:
            outputs = self._outputs(points, rows, self.adapter._size("outputs", n, self.chunk))
            values = self._select(outputs, rows).detach()
        else:
            size = self.adapter._size("value", n, self.chunk)
            program = self.adapter._program("value", self.split, self.extras, self.pick)
            out = program(
                self._points(points, size),
                self.split.arrays,
                self.extras.dynamic(rows, size),
                self._index(rows, size),
            )
            values = _to_torch(jax.block_until_ready(out))[:n]
        if not bool(finite_flag((values,))):
            self._raise_non_finite(values, (), rows, where)
        return values

    def scalars_and_grads(
        self,
        points: tuple[torch.Tensor, ...],
        rows: torch.Tensor,
        where: PointLabel | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        n = int(rows.shape[0])
        size = self.adapter._size("vjp" if self.torch_target else "value_and_grad", n, self.chunk)
        pts = self._points(tuple(p.detach() for p in points), size)
        dyn = self.extras.dynamic(rows, size)
        if self.torch_target:
            values, grads = self._through_torch(points, pts, rows, dyn, size)
        else:
            program = self.adapter._program("value_and_grad", self.split, self.extras, self.pick)
            value, grad = program(pts, self.split.arrays, dyn, self._index(rows, size))
            jax.block_until_ready((value, grad))
            values = _to_torch(value)[:n]
            grads = tuple(_to_torch(g)[:n] for g in grad)
        if not bool(finite_flag((values, *grads))):
            self._raise_non_finite(values, grads, rows, where)
        return values, grads

    def _outputs(self, points: tuple[torch.Tensor, ...], rows: torch.Tensor, size: int) -> Any:
        n = int(rows.shape[0])
        program = self.adapter._program("outputs", self.split, self.extras)
        out = program(
            self.split.arrays,
            self._points(tuple(p.detach() for p in points), size),
            self.extras.dynamic(rows, size),
        )
        return jax.tree_util.tree_map(lambda o: _to_torch(jax.block_until_ready(o))[:n], out)

    def _select(self, outputs: Any, rows: torch.Tensor) -> torch.Tensor:
        try:
            return self.target.select(outputs, rows)
        except Exception as err:
            if self.jax_error is None:
                raise
            raise TypeError(
                f"the target callable failed on JAX arrays ({self.jax_error}) and on torch "
                f"tensors ({_first_line(err)}); write it for one of them"
            ) from err

    def _through_torch(
        self,
        points: tuple[torch.Tensor, ...],
        pts: tuple[jax.Array, ...],
        rows: torch.Tensor,
        dyn: tuple[Any, ...],
        size: int,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """A torch target: outputs from JAX, ``d target / d output`` in torch, then a VJP."""
        n = int(rows.shape[0])
        outputs = self._outputs(points, rows, size)
        leaves, treedef = jax.tree_util.tree_flatten(outputs)
        with torch.enable_grad():
            leaves_t = [leaf.detach().clone().requires_grad_(True) for leaf in leaves]
            tree = jax.tree_util.tree_unflatten(treedef, leaves_t)
            values = self._select(tree, rows)
            if not values.requires_grad:
                raise ValueError(
                    "the target does not depend on the model's outputs (no gradient flows back)"
                )
            cot = torch.autograd.grad(
                values.sum(), leaves_t, allow_unused=True, materialize_grads=True
            )
        cotangent = jax.tree_util.tree_unflatten(
            treedef, [_to_jax(_pad(c.to(leaf.dtype), size)) for c, leaf in zip(cot, leaves)]
        )
        program = self.adapter._program("vjp", self.split, self.extras)
        grad = program(pts, self.split.arrays, dyn, cotangent)
        jax.block_until_ready(grad)
        return values.detach(), tuple(_to_torch(g)[:n] for g in grad)


def _spec(v: Any) -> jax.ShapeDtypeStruct:
    """The abstract shape of a torch tensor or array (for ``jax.eval_shape``)."""
    if isinstance(v, torch.Tensor):
        dtype = _to_jax(torch.zeros((), dtype=v.dtype)).dtype
        return jax.ShapeDtypeStruct(tuple(v.shape), dtype)
    return jax.ShapeDtypeStruct(tuple(v.shape), v.dtype)
