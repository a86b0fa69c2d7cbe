"""Methods by name, for the command line and the dataset runner.

Example:
    >>> sorted(METHODS)[:3]
    ['agi', 'blur-ig', 'guided-ig']
    >>> get_method("ig").__name__
    'integrated_gradients'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from idgrad.methods.agi import adversarial_gradient_integration
from idgrad.methods.blur_ig import blur_integrated_gradients
from idgrad.methods.guided_ig import guided_integrated_gradients
from idgrad.methods.idg import integrated_decision_gradients
from idgrad.methods.ig import integrated_gradients
from idgrad.methods.ig_sign import integrated_gradients_sign
from idgrad.methods.left_ig import left_integrated_gradients

__all__ = ["METHODS", "get_method"]


def _without_baseline(fn: Callable[..., Any], steps_name: str = "n_steps") -> Callable[..., Any]:
    """Adapt a method whose path has no baseline (Blur IG, AGI) to the common signature.

    A baseline other than None/0 is refused rather than ignored; ``n_steps`` is passed
    as ``steps_name`` (AGI's ``max_iter``).
    """

    def call(
        forward_func: Callable[..., Any], inputs: Any, baselines: Any = None, **kwargs: Any
    ) -> Any:
        if baselines is not None and not (isinstance(baselines, (int, float)) and baselines == 0):
            raise ValueError(f"{fn.__name__} builds its own path and takes no baselines")
        if "n_steps" in kwargs and steps_name != "n_steps":
            kwargs[steps_name] = kwargs.pop("n_steps")
        return fn(forward_func, inputs, **kwargs)

    return functools.update_wrapper(call, fn)


#: name -> attribution function with the common signature
#: ``(forward_func, inputs, baselines=..., target=..., n_steps=..., internal_batch_size=...)``.
METHODS: dict[str, Callable[..., Any]] = {
    "ig": integrated_gradients,
    "idg": integrated_decision_gradients,
    "idg-uniform": functools.update_wrapper(
        functools.partial(integrated_decision_gradients, adaptive=False),
        integrated_decision_gradients,
    ),
    "left-ig": left_integrated_gradients,
    "guided-ig": guided_integrated_gradients,
    "blur-ig": _without_baseline(blur_integrated_gradients),
    "agi": _without_baseline(adversarial_gradient_integration, steps_name="max_iter"),
    "ig-sign": integrated_gradients_sign,
}


def get_method(name: str) -> Callable[..., Any]:
    """The attribution function registered under ``name`` (ValueError if unknown)."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; expected one of {', '.join(sorted(METHODS))}"
        ) from None
