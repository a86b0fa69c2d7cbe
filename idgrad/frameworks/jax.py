"""The JAX adapter: any pure JAX function as a model, ``F`` and ``grad F`` compiled by XLA.

:class:`JaxModel` wraps a function ``f(x) -> outputs`` that takes a batch ``(n, ...)`` (one
array per input, then the extra arguments) and returns outputs with the batch axis first,
like a torch model: a Flax ``nnx`` module, ``functools.partial(module.apply, params)`` for
Flax linen or Haiku (``hk.transform(...).apply``), an Equinox module (wrap a per-example
module with ``jax.vmap``), or any function of ``jax.numpy``. Path methods pick it by
themselves for JAX arrays; name it for the cases they cannot tell (numpy inputs).

For a chunk of path points, the seam (:class:`~idgrad.frameworks.jax_seam.JaxSeam`)
evaluates each point as a batch of one, ``F(x) = target(f(x[None]))``, with

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

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import torch

from idgrad.core.seam import ModelSeam, _ExtraArgs
from idgrad.core.targets import Target
from idgrad.frameworks.jax_programs import (
    JaxExtras,
    ModelArrays,
    build_program,
    pad_rows,
    to_jax,
    to_torch,
)
from idgrad.frameworks.jax_seam import JaxSeam
from idgrad.frameworks.protocol import ModelAdapter

# JaxSeam, defined here before, stays importable from here (its own module renders it).
__all__ = ["JaxModel", "padded_size"]


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
        return to_torch(value)

    def from_torch(self, tensor: torch.Tensor) -> Any:
        return to_jax(tensor)

    def fingerprint(self) -> bytes:
        """The class, the pytree structure and the bytes of every array of the model."""
        import hashlib

        split = ModelArrays(self.fn)
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

    def _program(self, kind: str, split: ModelArrays, extras: JaxExtras, pick: Any = None) -> Any:
        """The compiled function ``kind`` for this model structure, extras and target."""
        key = (kind, split.key, extras.key, pick)
        program = self._programs.get(key)
        if program is None:
            program = build_program(kind, split, extras, pick)
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
        extras = JaxExtras(args[n_inputs:], per_example)
        split = ModelArrays(self.fn)
        size = self._size("outputs", n, None)
        rows = torch.arange(n)
        points = tuple(to_jax(pad_rows(x, size)) for x in inputs)
        out = self._program("outputs", split, extras)(
            split.arrays, points, extras.dynamic(rows, size)
        )
        return jax.tree_util.tree_map(lambda o: to_torch(jax.block_until_ready(o))[:n], out)

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
