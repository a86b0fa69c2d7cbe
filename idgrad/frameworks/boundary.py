"""Where a public function meets a model of another framework: the entry and the exit.

:func:`bind` looks at a call's arguments once, at the entry of a public function (a path
method, the noise tunnel, the metrics, the genomics helpers, the dataset runner), and picks
the framework:

1. a model argument that is a :class:`~idgrad.frameworks.protocol.ModelAdapter` names it;
2. else JAX arrays among the arguments, or a model that is visibly JAX (a Flax, Haiku or
   Equinox module, a ``functools.partial`` of one's ``apply``), pick
   :class:`~idgrad.frameworks.jax.JaxModel`;
3. else numpy inputs (the function's ``inputs`` argument) pick
   :class:`~idgrad.frameworks.callback.CallbackModel`, where the function takes them;
4. else it is a torch call, and nothing is converted (the cost: one look at the arguments).

For another framework, the model becomes its adapter, every array of the framework (and
every floating numpy array) a torch tensor (without a copy where the layouts allow), and at
the exit every torch tensor of the result (inside tuples, lists, dicts, named tuples and the
:class:`~idgrad.core.results.Details` dataclasses) an array of the framework. A torch tensor
among the arguments of a call with another framework's inputs, or a ``torch.nn.Module``
model with them, is refused in one line before any work: frameworks are not mixed in one
call. Nothing here imports jax: JAX arrays are recognised only when the caller has imported
jax.

Example:
    >>> import numpy as np, torch
    >>> def fn(points, target):  # a callback: F = sum of squares
    ...     return (points ** 2).sum(1), None if target is None else 2 * points
    >>> call = bind(lambda forward_func, inputs: None, (fn, np.ones((2, 3), np.float32)), {})
    >>> call.adapter.framework, type(call.args[1]).__name__
    ('callback', 'Tensor')
    >>> type(call.finish(torch.zeros(2))).__name__   # results go back as numpy arrays
    'ndarray'
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from idgrad.frameworks.protocol import ModelAdapter

__all__ = ["Bound", "adapter_for", "at_boundary", "bind", "is_jax_array", "looks_like_jax_model"]

_JAX_PACKAGES = ("jax", "jaxlib", "flax", "haiku", "equinox")


def is_jax_array(value: Any) -> bool:
    """Whether ``value`` is a ``jax.Array`` (False whenever jax has not been imported)."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.Array)


def _from_jax_package(obj: Any) -> bool:
    for cls in type(obj).__mro__:
        root = cls.__module__.split(".")[0]
        if root in _JAX_PACKAGES:
            return True
    return False


def looks_like_jax_model(model: Any) -> bool:
    """A Flax (nnx or linen), Haiku or Equinox object, or a ``partial`` of one / with JAX arrays.

    Example:
        >>> looks_like_jax_model(torch.nn.Linear(2, 1)), looks_like_jax_model(len)
        (False, False)
    """
    if isinstance(model, torch.nn.Module) or model is None:
        return False
    if isinstance(model, functools.partial):
        inner = model.func
        owner = getattr(inner, "__self__", None)
        if owner is not None and _from_jax_package(owner):
            return True
        if str(getattr(inner, "__module__", "")).split(".")[0] in _JAX_PACKAGES:
            return True
        return any(_holds_jax(v, 3) for v in (*model.args, *model.keywords.values()))
    if _from_jax_package(model):
        return True
    owner = getattr(model, "__self__", None)  # a bound method: module.apply
    return owner is not None and not isinstance(owner, type) and _from_jax_package(owner)


def _holds_jax(value: Any, depth: int) -> bool:
    if is_jax_array(value):
        return True
    if depth <= 0:
        return False
    if isinstance(value, (tuple, list)):
        return any(_holds_jax(v, depth - 1) for v in value)
    if isinstance(value, Mapping):
        return any(_holds_jax(v, depth - 1) for v in value.values())
    return False


_ADAPTERS: dict[int, tuple[Any, ModelAdapter]] = {}


def adapter_for(model: Any, framework: str) -> ModelAdapter:
    """The adapter of ``framework`` for ``model``, one per model object (its compiled
    functions are kept with it, so a second call with the same model compiles nothing)."""
    if isinstance(model, ModelAdapter):
        return model
    key = id(model)
    held = _ADAPTERS.get(key)
    if held is not None:
        held_ref, adapter = held
        alive = held_ref() if isinstance(held_ref, weakref.ref) else held_ref
        if alive is model and adapter.framework == framework:
            return adapter
    adapter = _new_adapter(model, framework)
    try:
        ref: Any = weakref.ref(model, functools.partial(_forget, _ADAPTERS, key))
    except TypeError:  # not weak-referenceable: keep it (and a few others) alive
        ref = model
        if len(_ADAPTERS) > 64:
            _ADAPTERS.pop(next(iter(_ADAPTERS)))
    _ADAPTERS[key] = (ref, adapter)
    return adapter


def _forget(cache: dict[int, Any], key: int, ref: Any) -> None:
    """Drop a dead model's adapter (a weakref callback; the id may be reused since)."""
    held = cache.get(key)
    if held is not None and held[0] is ref:
        del cache[key]


def _new_adapter(model: Any, framework: str) -> ModelAdapter:
    if framework == "jax":
        from idgrad.frameworks.jax import JaxModel

        return JaxModel(model)
    from idgrad.frameworks.callback import CallbackModel

    return CallbackModel(model)


class Bound:
    """A call's arguments converted for the engine, and how to convert its result back.

    Attributes:
        args, kwargs: the arguments to call the implementation with.
        adapter: the model's adapter, or None for a torch call.
    """

    def __init__(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], adapter: ModelAdapter | None
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self.adapter = adapter

    def finish(self, result: Any) -> Any:
        """The result with every torch tensor converted to the framework's arrays."""
        if self.adapter is None:
            return result
        return _convert_out(result, self.adapter)


def _convert_out(value: Any, adapter: ModelAdapter) -> Any:
    if isinstance(value, torch.Tensor):
        return adapter.from_torch(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _convert_out(getattr(value, f.name), adapter)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(_convert_out(v, adapter) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_convert_out(v, adapter) for v in value)
    if isinstance(value, dict):
        return {k: _convert_out(v, adapter) for k, v in value.items()}
    return value


def _scan(value: Any, depth: int = 2) -> tuple[bool, bool, bool]:
    """(holds a JAX array, holds a numpy array, holds an adapter), a few levels deep."""
    if isinstance(value, ModelAdapter):
        return False, False, True
    if isinstance(value, np.ndarray):
        return False, True, False
    if is_jax_array(value):
        return True, False, False
    if depth > 0 and isinstance(value, (tuple, list)):
        found = [_scan(v, depth - 1) for v in value]
        return tuple(any(f[i] for f in found) for i in range(3))  # type: ignore[return-value]
    return False, False, False


def bind(
    fn: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    models: Sequence[str] = ("forward_func",),
    refuse: Sequence[str] = ("layer",),
    numpy_inputs: str | None = "inputs",
) -> Bound:
    """Pick the framework of a call of ``fn`` and convert its arguments (module docstring).

    Args:
        fn: the public function (its signature names the arguments).
        args, kwargs: the call's arguments.
        models: the names of the arguments that hold the model.
        refuse: arguments that only a torch model can take (layer attribution's ``layer``).
        numpy_inputs: the argument whose numpy arrays pick the callback adapter (None: numpy
            never does).

    Returns:
        A :class:`Bound`; for a torch call, the arguments as given.

    Raises:
        TypeError: frameworks mixed in one call, or an argument only torch models take.
    """
    values = list(args) + list(kwargs.values())
    jax_seen = numpy_seen = adapter_seen = False
    for v in values:
        j, n, a = _scan(v)
        jax_seen, numpy_seen, adapter_seen = jax_seen or j, numpy_seen or n, adapter_seen or a
    jax_loaded = "jax" in sys.modules
    if not (jax_seen or numpy_seen or adapter_seen or jax_loaded):
        return Bound(tuple(args), dict(kwargs), None)
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    except TypeError:  # let the function report its own argument errors
        return Bound(tuple(args), dict(kwargs), None)
    sig_params = inspect.signature(fn).parameters
    named: dict[str, Any] = {}  # every argument by name, **kwargs' entries included
    for name, value in bound.arguments.items():
        if sig_params[name].kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[name] = value
    model_names = [m for m in models if m in named]
    framework = _pick(named, model_names, jax_seen, numpy_inputs)
    if framework is None:
        return Bound(tuple(args), dict(kwargs), None)
    adapter: ModelAdapter | None = None
    for name in model_names:
        model = named[name]
        if isinstance(model, torch.nn.Module):
            raise TypeError(
                f"{name} is a torch.nn.Module but the call's arrays are {_arrays(framework)}; "
                "pass torch tensors to explain a torch model (frameworks are not mixed in one call)"
            )
        if model is None or (not callable(model) and not isinstance(model, ModelAdapter)):
            continue
        adapter = adapter_for(model, framework)
        named[name] = adapter
    if adapter is None:
        adapter = _new_adapter(None, framework) if framework == "callback" else _jax_converter()
    for name in refuse:
        if named.get(name) is not None:
            raise TypeError(
                f"{name}: layer attribution hooks into torch.nn.Module layers, which a "
                f"{adapter.framework} model does not have; split the model at the layer "
                "instead and explain the second part at the layer's activations "
                "(idgrad.integrated_gradients(second_part, first_part(x), ...))"
            )
    converted = {
        name: value if name in model_names else _convert_in(value, adapter, name, 3)
        for name, value in named.items()
    }
    for name in list(bound.arguments):
        if sig_params[name].kind is inspect.Parameter.VAR_KEYWORD:
            bound.arguments[name] = {k: converted[k] for k in bound.arguments[name]}
        else:
            bound.arguments[name] = converted[name]
    return Bound(bound.args, bound.kwargs, adapter)


def _pick(
    named: Mapping[str, Any], model_names: list[str], jax_seen: bool, numpy_inputs: str | None
) -> str | None:
    numpy_in = numpy_inputs is not None and _scan(named.get(numpy_inputs))[1]
    for name in model_names:
        if isinstance(named[name], ModelAdapter):
            # an adapter with torch tensors: a call from inside idgrad (or a caller who wants
            # torch results); with its framework's arrays (or numpy), a call to convert
            return named[name].framework if (jax_seen or numpy_in) else None
    if jax_seen:
        return "jax"
    if any(looks_like_jax_model(named[name]) for name in model_names):
        return "jax"
    if numpy_in:
        return "callback"
    return None


def _arrays(framework: str) -> str:
    return "JAX arrays" if framework == "jax" else "numpy arrays"


def _jax_converter() -> ModelAdapter:
    from idgrad.frameworks.jax import JaxModel

    return JaxModel(None)


def _convert_in(value: Any, adapter: ModelAdapter, name: str, depth: int) -> Any:
    if isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} is a torch.Tensor but this call explains a {adapter.framework} model "
            f"with {adapter.arrays}; give {name} as {adapter.arrays} too (frameworks are not "
            "mixed in one call)"
        )
    if isinstance(value, torch.nn.Module):
        raise TypeError(
            f"{name} is a torch.nn.Module but the call's arrays are {adapter.arrays}; "
            "frameworks are not mixed in one call"
        )
    if adapter.owns(value):
        return adapter.to_torch(value)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return torch.from_numpy(np.ascontiguousarray(value))
    if depth > 0 and isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(
            _convert_in(v, adapter, f"{name}[{i}]", depth - 1) for i, v in enumerate(value)
        )
    if depth > 0 and isinstance(value, list):
        return [_convert_in(v, adapter, f"{name}[{i}]", depth - 1) for i, v in enumerate(value)]
    if depth > 0 and isinstance(value, dict):
        return {k: _convert_in(v, adapter, f"{name}[{k!r}]", depth - 1) for k, v in value.items()}
    return value


F = TypeVar("F", bound=Callable[..., Any])


def at_boundary(
    *, models: Sequence[str] = ("forward_func",), numpy_inputs: str | None = "inputs"
) -> Callable[[F], F]:
    """Decorator: :func:`bind` at the entry of a public function, the result converted back.

    For functions other than the path methods (which :class:`~idgrad.methods.base.PathMethod`
    binds itself): the noise tunnel, the metrics, the genomics helpers, the dataset runner.

    Example:
        >>> @at_boundary(models=("model",))
        ... def outputs(model, inputs):
        ...     return model(inputs)
        >>> def fn(points, target):
        ...     return points * 2, None
        >>> outputs(fn, np.ones((1, 2)))
        array([[2., 2.]])
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = bind(fn, args, kwargs, models=models, numpy_inputs=numpy_inputs)
            return call.finish(fn(*call.args, **call.kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate
