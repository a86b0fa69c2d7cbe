"""The settings of a dataset run that its manifest records: method, arguments, model.

A resume compares them with the manifest (:func:`idgrad.dataset.manifest.check_settings`),
so each must change whenever the results would: :func:`resolve_method` gives a method a
stable name, :func:`model_fingerprint` hashes a model's weights, :func:`jsonable` turns
arguments (tensors included, by digest) into JSON.

Example:
    >>> jsonable({"n_steps": 8, "baselines": 0.5})
    {'n_steps': 8, 'baselines': 0.5}
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from idgrad.methods.registry import get_method

__all__ = [
    "RESERVED",
    "check_arguments",
    "digest",
    "idgrad_version",
    "jsonable",
    "model_fingerprint",
    "resolve_method",
]

#: Arguments of the methods that attribute_dataset sets itself.
RESERVED = (
    "inputs",
    "forward_func",
    "target",
    "baselines",
)


def resolve_method(method: str | Callable[..., Any]) -> tuple[Callable[..., Any], str]:
    """The method function and a stable name for the manifest.

    Raises:
        ValueError: an unknown name, or a method not available in this build.
        TypeError: a callable without ``.details`` (the convergence delta).
    """
    name = None
    fn: Callable[..., Any]
    if isinstance(method, str):
        key = method.lower().replace("_", "-")
        fn = get_method(key)
        name = f"idgrad.methods.registry:{key}"
    elif callable(method):
        fn = method
    else:
        raise TypeError(f"method must be a name or an idgrad function, got {type(method).__name__}")
    if not callable(getattr(fn, "details", None)):
        raise TypeError(
            f"{getattr(fn, '__name__', fn)!r} has no .details (the convergence delta); "
            "attribute_dataset needs an idgrad path method"
        )
    if name is None:
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    return fn, name


def check_arguments(fn: Callable[..., Any], kwargs: Mapping[str, Any], baselines: Any) -> None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    asked = [*kwargs, *(["baselines"] if baselines is not None else [])]
    unknown = [k for k in asked if k not in params]
    if unknown:
        accepted = [k for k in params if k not in ("forward_func", "inputs", *RESERVED)]
        raise ValueError(
            f"{getattr(fn, '__name__', 'the method')} takes no argument "
            f"{', '.join(map(repr, unknown))}; it takes {', '.join(accepted)}"
        )


def model_fingerprint(model: Any) -> str:
    """SHA-256 of a model's class, train/eval flags and every state_dict entry.

    For a plain callable (no state_dict), its qualified name only: pass
    ``fingerprint=`` to :func:`attribute_dataset` to make resumes safe then.

    Example:
        >>> m = torch.nn.Linear(2, 1)
        >>> model_fingerprint(m) == model_fingerprint(m)
        True
    """
    h = hashlib.sha256()
    if isinstance(model, torch.nn.Module):
        kind = getattr(model, "original_name", type(model).__qualname__)
        h.update(f"module:{type(model).__module__}.{kind}".encode())
        h.update(str([m.training for m in model.modules()]).encode())
        for name, t in model.state_dict().items():
            t = t.detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}|{t.dtype}|{t.numel()}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
    else:
        name = getattr(model, "__qualname__", type(model).__qualname__)
        h.update(f"callable:{getattr(model, '__module__', '?')}.{name}".encode())
    return h.hexdigest()


def idgrad_version() -> str:
    """The version of idgrad that makes a run (``"unknown"`` when run from a source tree)."""
    try:
        return importlib.metadata.version("idgrad")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


def digest(values: Any) -> str:
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    h = hashlib.sha256(str((arr.shape, str(arr.dtype))).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def jsonable(value: Any) -> Any:
    """A JSON value that changes whenever ``value`` would change the results."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else repr(v)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return {"array": digest(value), "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if callable(value):
        name = getattr(value, "__qualname__", repr(value))
        return {"callable": f"{getattr(value, '__module__', '?')}.{name}"}
    return {"repr": repr(value)}
