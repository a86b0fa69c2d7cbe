"""Methods by name, for the command line and the dataset runner.

Example:
    >>> sorted(METHODS)[:2]
    ['idg', 'idg-uniform']
    >>> get_method("ig").__name__
    'integrated_gradients'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from idgrad.methods.idg import integrated_decision_gradients
from idgrad.methods.ig import integrated_gradients

__all__ = ["METHODS", "get_method"]

#: name -> attribution function with the common signature
#: ``(forward_func, inputs, baselines=..., target=..., n_steps=..., internal_batch_size=...)``.
METHODS: dict[str, Callable[..., Any]] = {
    "ig": integrated_gradients,
    "idg": integrated_decision_gradients,
    "idg-uniform": functools.update_wrapper(
        functools.partial(integrated_decision_gradients, adaptive=False), integrated_decision_gradients
    ),
}


def get_method(name: str) -> Callable[..., Any]:
    """The attribution function registered under ``name`` (ValueError if unknown)."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(sorted(METHODS))}") from None
