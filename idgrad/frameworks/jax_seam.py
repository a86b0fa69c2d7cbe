"""The seam of a JAX model: ``F`` and ``grad F`` at chunks of path points, compiled by XLA.

:class:`JaxSeam` is what the engine calls for a :class:`~idgrad.frameworks.jax.JaxModel`
(built by ``JaxModel.idgrad_seam``): it checks the model before any path work without
evaluating it (``jax.eval_shape``), then evaluates each chunk of points with one compiled
call, padded to a shape already compiled. An index target is applied inside the compiled
function; a callable one is traced with JAX when it can be, else applied in torch and its
gradient brought back through ``jax.vjp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import torch

from idgrad.core.seam import ModelSeam, PointLabel, _ExtraArgs
from idgrad.core.targets import Target
from idgrad.core.validation import finite_flag
from idgrad.frameworks.jax_programs import (
    JaxExtras,
    ModelArrays,
    abstract,
    build_program,
    first_line,
    pad_rows,
    to_jax,
    to_torch,
    x64_enabled,
)

if TYPE_CHECKING:
    from idgrad.frameworks.jax import JaxModel

__all__ = ["JaxSeam"]


class JaxSeam(ModelSeam):
    """The seam of a :class:`~idgrad.frameworks.jax.JaxModel`, its two calls compiled by XLA.

    ``scalars`` and ``scalars_and_grads``. Built by ``JaxModel.idgrad_seam`` (from
    :meth:`~idgrad.core.seam.ModelSeam.build`), which checks, before any path work and
    without evaluating the model (``jax.eval_shape``), that it returns the batch axis first,
    floating outputs, a target that selects one scalar, and that ``F`` can be differentiated.
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
        self.extras = JaxExtras(extra.items, extra.per_example)
        self.split = ModelArrays(adapter.fn)
        self.torch_target = False
        self.jax_error: str | None = None
        self.dims: tuple[int, ...] = ()
        self.pick: Any = None

    def check(self, inputs: tuple[torch.Tensor, ...]) -> None:
        """The checks of the class docstring, on the shapes of ``inputs`` (abstract)."""
        if not x64_enabled():
            for x in inputs:
                if x.dtype == torch.float64:
                    raise TypeError(
                        "the inputs are float64 but JAX computes in 32 bits unless "
                        'jax.config.update("jax_enable_x64", True); enable it, or give float32'
                    )
        rows = min(2, self.batch_size)
        r = torch.arange(rows)
        xs = tuple(abstract(x[:rows]) for x in inputs)
        dyn = tuple(abstract(v) for v in self.extras.dynamic(r, rows))
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
                f"the JAX function failed on inputs of shape {shapes}: {first_line(err)}"
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
            self.jax_error = first_line(err)
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
        xs = tuple(abstract(x[:1]) for x in inputs)
        dyn = tuple(abstract(v) for v in self.extras.dynamic(torch.zeros(1, dtype=torch.long), 1))
        program = build_program(kind, self.split, self.extras, self.pick)
        try:
            if kind == "vjp":
                out = jax.eval_shape(
                    build_program("outputs", self.split, self.extras, None),
                    self.split.arrays,
                    xs,
                    dyn,
                )
                jax.eval_shape(program, xs, self.split.arrays, dyn, out)
            else:
                jax.eval_shape(program, xs, self.split.arrays, dyn, self._index_spec(1))
        except Exception as err:  # noqa: BLE001 -- jax's own words on why it cannot
            raise TypeError(
                f"the JAX function cannot be differentiated with respect to its inputs: "
                f"{first_line(err)}"
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
        return jnp.asarray(pad_rows(idx, size).numpy())

    def _points(self, points: tuple[torch.Tensor, ...], size: int) -> tuple[jax.Array, ...]:
        return tuple(to_jax(pad_rows(p, size)) for p in points)

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
            values = to_torch(jax.block_until_ready(out))[:n]
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
            values = to_torch(value)[:n]
            grads = tuple(to_torch(g)[:n] for g in grad)
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
        return jax.tree_util.tree_map(lambda o: to_torch(jax.block_until_ready(o))[:n], out)

    def _select(self, outputs: Any, rows: torch.Tensor) -> torch.Tensor:
        try:
            return self.target.select(outputs, rows)
        except Exception as err:
            if self.jax_error is None:
                raise
            raise TypeError(
                f"the target callable failed on JAX arrays ({self.jax_error}) and on torch "
                f"tensors ({first_line(err)}); write it for one of them"
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
            treedef, [to_jax(pad_rows(c.to(leaf.dtype), size)) for c, leaf in zip(cot, leaves)]
        )
        program = self.adapter._program("vjp", self.split, self.extras)
        grad = program(pts, self.split.arrays, dyn, cotangent)
        jax.block_until_ready(grad)
        return values.detach(), tuple(to_torch(g)[:n] for g in grad)
