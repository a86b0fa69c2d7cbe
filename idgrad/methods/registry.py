"""Methods by name, with what each one needs, for the command line and the dataset runner.

Each entry is a :class:`MethodSpec`: the method, whether it takes a baseline, the name
of its step parameter, its details type, whether it integrates along the straight
path from the baseline (so that its delta is a completeness gap against
``F(x) - F(x')``), and the options it fixes. A spec is itself callable with the
common signature

    ``spec(forward_func, inputs, baselines=None, target=None,
    additional_forward_args=None, *, n_steps=..., <the method's other options>)``

(``n_steps`` is passed as the method's own step parameter, e.g. AGI's ``max_iter``;
a baseline other than None/0 is refused by methods that build their own path), and
``spec.details(...)`` returns the method's details.

Example:
    >>> sorted(METHODS)[:3]
    ['agi', 'blur-ig', 'guided-ig']
    >>> spec = get_method("agi")
    >>> spec.function.__name__, spec.steps_parameter, spec.takes_baselines
    ('adversarial_gradient_integration', 'max_iter', False)
    >>> get_method("idg").options, sorted(METHODS["idg"].schedules)
    ({}, ['graded', 'pilot', 'uniform'])
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from idgrad.core.guard import user_stacklevel
from idgrad.core.results import AGIDetails, Details, LeftIGDetails, PathDetails
from idgrad.defaults import IDG_SCHEDULE, IG_SCHEDULE
from idgrad.engine.schedules import SCHEDULES
from idgrad.methods.agi import adversarial_gradient_integration
from idgrad.methods.base import PathMethod
from idgrad.methods.blur_ig import blur_integrated_gradients
from idgrad.methods.guided_ig import guided_integrated_gradients
from idgrad.methods.idg import integrated_decision_gradients
from idgrad.methods.ig import integrated_gradients
from idgrad.methods.ig_sign import integrated_gradients_sign
from idgrad.methods.left_ig import left_integrated_gradients

__all__ = ["METHODS", "MethodSpec", "get_method"]

_COMMON = ("forward_func", "inputs", "baselines", "target", "additional_forward_args")


@dataclass(frozen=True)
class MethodSpec:
    """A registered method and what it needs.

    Attributes:
        name: the registry name (``"ig"``, ``"idg-uniform"``, ...).
        function: the method.
        details_type: the class its ``.details`` returns.
        takes_baselines: whether it integrates from a baseline (Blur IG and AGI
            build their own paths).
        steps_parameter: the name of its step count (``n_steps``, AGI's ``max_iter``).
        straight_path: whether it integrates along ``x' + alpha (x - x')`` over
            ``[0, 1]``, so that its delta is the completeness gap
            ``sum_k w_k F'(alpha_k) - (F(x) - F(x'))`` (IG, IDG, IG x Sign).
        needs_classifier: whether the model must return ``(B, C)`` scores and the
            target is a class (AGI, where None means the predicted class).
        options: options the entry fixes (the deprecated aliases ``idg-pilot`` and
            ``idg-uniform``: ``schedule="pilot"`` / ``"uniform"``).
        schedules: the schedules it takes (``schedule=``); empty for methods whose path
            is not a fixed path (Guided IG, AGI).
        default_schedule: its schedule when none is named (and no ``rtol`` given).
    """

    name: str
    function: PathMethod[..., Any]
    details_type: type[Details[Any]]
    takes_baselines: bool = True
    steps_parameter: str = "n_steps"
    straight_path: bool = False
    needs_classifier: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    schedules: tuple[str, ...] = ()
    default_schedule: str = IG_SCHEDULE

    @property
    def __name__(self) -> str:  # noqa: A003 - read by error messages, like a function's
        return self.function.__name__

    @property
    def __signature__(self) -> inspect.Signature:
        """The common signature: the method's, with ``n_steps`` and ``baselines``."""
        params = inspect.signature(self.function).parameters
        steps = params[self.steps_parameter].replace(name="n_steps")
        common = [params[n] for n in _COMMON if n in params]
        if not self.takes_baselines:
            common.insert(
                2,
                inspect.Parameter(
                    "baselines", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None
                ),
            )
        rest = [
            p
            for n, p in params.items()
            if n not in _COMMON and n != self.steps_parameter and n not in self.options
        ]
        return inspect.Signature([*common, steps, *rest], return_annotation="TensorOrTuple")

    def _arguments(
        self,
        forward_func: Callable[..., Any],
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        **options: Any,
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The method's own arguments for a call with the common signature."""
        for fixed in self.options:
            if fixed in options:
                raise TypeError(f"method {self.name!r} fixes {fixed}={self.options[fixed]!r}")
        if self.steps_parameter in options and self.steps_parameter != "n_steps":
            raise TypeError(f"method {self.name!r} takes its step count as n_steps")
        kwargs = {**self.options, **options}
        if "n_steps" in kwargs and self.steps_parameter != "n_steps":
            kwargs[self.steps_parameter] = kwargs.pop("n_steps")
        if self.takes_baselines:
            return (forward_func, inputs, baselines, target, additional_forward_args), kwargs
        zero = isinstance(baselines, numbers.Real) and not isinstance(baselines, bool)
        if baselines is not None and not (zero and baselines == 0):
            raise ValueError(f"{self.function.__name__} builds its own path and takes no baselines")
        return (forward_func, inputs, target, additional_forward_args), kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The attributions, with the common signature (see the module docstring)."""
        own_args, own_kwargs = self._arguments(*args, **kwargs)
        return self.function(*own_args, **own_kwargs)

    def details(self, *args: Any, **kwargs: Any) -> Any:
        """The method's details object, with the common signature."""
        own_args, own_kwargs = self._arguments(*args, **kwargs)
        return self.function.details(*own_args, **own_kwargs)


_SPECS = (
    MethodSpec("ig", integrated_gradients, PathDetails, straight_path=True, schedules=SCHEDULES),
    MethodSpec(
        "idg",
        integrated_decision_gradients,
        PathDetails,
        straight_path=True,
        schedules=SCHEDULES,
        default_schedule=IDG_SCHEDULE,
    ),
    MethodSpec("left-ig", left_integrated_gradients, LeftIGDetails, schedules=SCHEDULES),
    MethodSpec("guided-ig", guided_integrated_gradients, PathDetails),
    MethodSpec(
        "blur-ig",
        blur_integrated_gradients,
        PathDetails,
        takes_baselines=False,
        schedules=SCHEDULES,
    ),
    MethodSpec(
        "agi",
        adversarial_gradient_integration,
        AGIDetails,
        takes_baselines=False,
        steps_parameter="max_iter",
        needs_classifier=True,
    ),
    MethodSpec(
        "ig-sign", integrated_gradients_sign, PathDetails, straight_path=True, schedules=SCHEDULES
    ),
)

#: name -> :class:`MethodSpec` (callable with the common signature).
METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in _SPECS}

#: Old registry names, kept for one release: name -> (method, the schedule it meant).
DEPRECATED_NAMES: dict[str, tuple[str, str]] = {
    "idg-pilot": ("idg", "pilot"),
    "idg-uniform": ("idg", "uniform"),
}


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name`` (ValueError if unknown).

    The old names ``idg-pilot`` and ``idg-uniform`` give ``idg`` with that schedule fixed,
    and a ``DeprecationWarning``.
    """
    if name in DEPRECATED_NAMES:
        method, schedule = DEPRECATED_NAMES[name]
        warnings.warn(
            f"method {name!r} is deprecated and will be removed in the next release; use "
            f"method {method!r} with schedule={schedule!r} (--schedule {schedule})",
            DeprecationWarning,
            stacklevel=user_stacklevel(),
        )
        return dataclasses.replace(METHODS[method], name=name, options={"schedule": schedule})
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; expected one of {', '.join(sorted(METHODS))}"
        ) from None
