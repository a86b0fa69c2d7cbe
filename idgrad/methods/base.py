"""One calling contract for every attribution method.

Each method is written once, as a function that returns its details object (a
:class:`~idgrad.core.results.Details`). :func:`path_method` turns it into the public
callable:

- ``method(forward_func, inputs, ...)`` returns the attributions;
- ``method.details(forward_func, inputs, ...)`` (same arguments) returns the details,
  which carry the convergence ``delta``, the evaluation counts and, for path
  methods, the points and values along the path.

Both go through one :class:`~idgrad.core.guard.ModelGuard`, so every public method leaves
the model's buffers as found and warns about a model in train mode. A method that takes
``targets`` (several targets in one call) runs on ``K B`` pseudo-examples; the wrapper
refuses ``target`` and ``targets`` together before any work, and gives every per-example
field of the result its leading ``K`` axis
(:func:`~idgrad.core.results.split_targets`). The wrapper
keeps the function's name, docstring (doctests are collected from it), signature
(``inspect.signature``, ``help``) and, for type checkers, its parameters
(``typing.ParamSpec``).

Example:
    >>> import torch
    >>> from idgrad.core.results import Details
    >>> @path_method
    ... def doubled(forward_func, inputs, *, scale=2.0):
    ...     '''Toy method: ``scale * inputs``.'''
    ...     a = scale * inputs
    ...     return Details(attributions=a, delta=torch.zeros(len(a)),
    ...                    n_gradient_evals=0, n_forward_evals=0)
    >>> doubled(None, torch.ones(1, 2)).tolist(), doubled.details(None, torch.ones(1, 2)).delta
    ([[2.0, 2.0]], tensor([0.]))
    >>> str(inspect.signature(doubled))
    "(forward_func, inputs, *, scale=2.0) -> 'TensorOrTuple'"
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from idgrad.core.fan import check_targets
from idgrad.core.guard import ModelGuard
from idgrad.core.results import (
    Details,
    details_wanted,
    reset_details_wanted,
    split_targets,
    wanting_details,
)
from idgrad.frameworks.boundary import bind

__all__ = ["PathMethod", "captum_result", "details_wanted", "layer_method", "path_method"]

P = ParamSpec("P")
A = TypeVar("A")
D = TypeVar("D", bound=Details[Any], covariant=True)

#: Arguments that may hold the user's modules (see :class:`~idgrad.core.guard.ModelGuard`).
_MODEL_ARGUMENTS = ("forward_func", "layer")


class PathMethod(Generic[P, D]):
    """A method's public callable: attributions by calling it, details by ``.details``.

    Args:
        impl: the method, returning its details object.
        returns: the annotation shown for the attributions in the signature.
    """

    __name__: str
    __qualname__: str

    def __init__(self, impl: Callable[P, D], returns: str = "TensorOrTuple") -> None:
        functools.update_wrapper(self, impl)
        #: The implementation itself, for a method built on another one: it runs inside
        #: the caller's guard and computes what the caller's caller asked for.
        self.impl: Callable[P, D] = impl
        signature = inspect.signature(impl)
        self._signature = signature
        self.__signature__ = signature.replace(return_annotation=returns)
        self._model_positions = [
            i for i, name in enumerate(signature.parameters) if name in _MODEL_ARGUMENTS
        ]

        def details(*args: P.args, **kwargs: P.kwargs) -> D:
            return self._run(True, args, kwargs)

        functools.update_wrapper(details, impl)
        details.__qualname__ = f"{impl.__qualname__}.details"
        details.__doc__ = (
            f"Like ``{impl.__name__}``, but returns the full details object.\n\n"
            f"{inspect.getdoc(impl) or ''}"
        )
        #: Same arguments; returns the details object (which carries ``delta``).
        self.details: Callable[P, D] = details

    def _run(self, wanted: bool, args: Any, kwargs: Any) -> D:
        # frameworks hook (idgrad/frameworks/boundary.py): a JAX or callback model and its
        # arrays become an adapter and torch tensors here, the results arrays of their kind
        call = bind(self.impl, args, kwargs)
        args, kwargs = call.args, call.kwargs
        models = [args[i] for i in self._model_positions if i < len(args)]
        models += [kwargs[name] for name in _MODEL_ARGUMENTS if name in kwargs]
        bound = self._check_targets(args, kwargs) if kwargs.get("targets") is not None else None
        token = wanting_details(wanted)
        try:
            with ModelGuard(*models):
                details = self.impl(*args, **kwargs)
                if bound is not None:
                    details = split_targets(details, _batch_size(bound.arguments["inputs"]))
                return call.finish(details)  # type: ignore[no-any-return]
        finally:
            reset_details_wanted(token)

    def _check_targets(self, args: Any, kwargs: Any) -> inspect.BoundArguments:
        """Refuse ``target`` with ``targets`` and a ``targets`` of the wrong form, before any work.

        ``target`` may be left out, None, or its default (AGI's ``"predicted"``).
        """
        bound = self._signature.bind_partial(*args, **kwargs)
        given = bound.arguments.get("target")
        default = self._signature.parameters["target"].default
        if given is not None and not (
            isinstance(given, str) and isinstance(default, str) and given == default
        ):
            raise ValueError(
                f"{self.__name__}: give target (one output) or targets (several), not both; "
                f"got target={given!r}"
            )
        check_targets(kwargs["targets"])
        return bound

    def __call__(self: PathMethod[P, Details[A]], *args: P.args, **kwargs: P.kwargs) -> A:
        """The attributions (see the method's docstring)."""
        return self._run(False, args, kwargs).attributions

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # Behave like a function as a class attribute (and count as a routine for
        # ``help`` and doctest collection).
        return self if instance is None else types.MethodType(self, instance)

    def __repr__(self) -> str:
        return f"<path method {self.__module__}.{self.__qualname__}>"


def path_method(impl: Callable[P, D]) -> PathMethod[P, D]:
    """Decorator: the public callable of a method written to return its details."""
    return PathMethod(impl)


def layer_method(impl: Callable[P, D]) -> PathMethod[P, D]:
    """:func:`path_method` for a layer method (attributions shaped like the layer's)."""
    return PathMethod(impl, returns="LayerAttributions")


def captum_result(
    attribution_method: PathMethod[..., Details[Any]],
    return_convergence_delta: bool,
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """captum's return convention: the attributions, or ``(attributions, delta)``.

    For the wrappers that keep captum's (or the seed package's)
    ``return_convergence_delta`` flag.
    """
    if return_convergence_delta:
        d = attribution_method.details(*args, **kwargs)
        return d.attributions, d.delta
    return attribution_method(*args, **kwargs)


def _batch_size(inputs: Any) -> int:
    """``B`` of validated inputs (a tensor, or a tuple/list of tensors)."""
    first = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
    return int(first.shape[0])
