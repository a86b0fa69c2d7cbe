"""Leave the user's model as found: buffers restored, a model in train mode warned about.

A model in train mode is a different function at every call: dropout draws new masks,
and batch normalisation normalises with the statistics of each chunk of path points
(so the result also depends on ``internal_batch_size``) and updates its running
statistics on every forward pass. :class:`ModelGuard` wraps one public call:

- every buffer of every ``nn.Module`` reachable from the call's model is saved on
  entry and restored on exit, also when the call raises (a buffer the model
  replaced is put back, one it modified in place gets its values back); this costs
  one copy of the buffers (running statistics, masks), not of the parameters;
- when a module whose behaviour depends on the mode (dropout with ``p > 0``,
  batch/instance norm with running statistics) is in train mode, or a module in train mode changed a
  buffer, one :class:`TrainModeWarning` is issued, pointing at the caller's line (so
  Python's default filter shows it once per call site).

Guards nest: only the outermost one in a thread saves, restores and warns, so a
method that calls another (a layer method, IG x Sign, the noise tunnel) costs one
snapshot and gives one warning.

Modules are found in the model object itself (an ``nn.Module``), a bound method's
``__self__``, ``functools.partial`` arguments, a closure's cells, an object's
``forward_func`` or attributes, and lists of them (a few levels deep); a module
that is only reachable through a module-level global of a plain function is not
found.

Example:
    >>> import torch, warnings
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    >>> before = net[1].running_mean.clone()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with ModelGuard(net):
    ...         _ = net(torch.rand(4, 2))       # updates the running statistics
    >>> torch.equal(net[1].running_mean, before), caught[0].category.__name__
    (True, 'TrainModeWarning')
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import types
import warnings
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import torch
from torch import nn

__all__ = ["ModelGuard", "TrainModeWarning", "reachable_modules", "user_stacklevel"]


class TrainModeWarning(UserWarning):
    """The model is in train mode: its attributions are stochastic (dropout, batch norm)."""


_DEPTH = 3
_state = threading.local()


def reachable_modules(*objects: Any) -> list[nn.Module]:
    """The ``nn.Module`` roots reachable from ``objects`` (see the module docstring).

    Example:
        >>> def wrap(net):
        ...     return lambda x: 2 * net(x)
        >>> lin = torch.nn.Linear(2, 1)
        >>> reachable_modules(wrap(lin)) == [lin], reachable_modules(lin.forward) == [lin]
        (True, True)
    """
    found: dict[int, nn.Module] = {}
    seen: set[int] = set()
    for obj in objects:
        _collect(obj, found, seen, _DEPTH)
    return list(found.values())


def _collect(obj: Any, found: dict[int, nn.Module], seen: set[int], depth: int) -> None:
    if obj is None or isinstance(obj, (torch.Tensor, str, int, float, bool)) or depth < 0:
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, nn.Module):
        found.setdefault(id(obj), obj)
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _collect(item, found, seen, depth - 1)
    elif inspect.ismethod(obj):
        _collect(obj.__self__, found, seen, depth - 1)
    elif isinstance(obj, functools.partial):
        for item in (obj.func, *obj.args, *obj.keywords.values()):
            _collect(item, found, seen, depth - 1)
    elif inspect.isfunction(obj):
        for cell in obj.__closure__ or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            _collect(content, found, seen, depth - 1)
    elif hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
        for value in vars(obj).values():
            _collect(value, found, seen, depth - 1)


def _mode_dependent(module: nn.Module) -> bool:
    """Dropout with ``p > 0``, and batch/instance norm that track running statistics."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return module.p > 0
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return bool(module.track_running_stats)
    return False


def _all_modules(roots: list[nn.Module]) -> Iterator[nn.Module]:
    seen: set[int] = set()
    for root in roots:
        for module in root.modules():
            if id(module) not in seen:
                seen.add(id(module))
                yield module


def user_stacklevel() -> int:
    """``stacklevel`` that points at the first frame outside idgrad."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name != "idgrad" and not name.startswith("idgrad."):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


class ModelGuard:
    """Saves the buffers of the modules reachable from ``objects``; restores them on exit.

    Args:
        *objects: the model (``forward_func``) and anything else that may hold
            modules (a layer, a list of layers).
    """

    def __init__(self, *objects: Any) -> None:
        self.objects = objects
        self.outer = False
        self.warned = False
        self.saved: list[tuple[nn.Module, str, torch.Tensor, torch.Tensor]] = []
        self.training: list[nn.Module] = []

    def __enter__(self) -> ModelGuard:
        depth = getattr(_state, "depth", 0)
        _state.depth = depth + 1
        self.outer = depth == 0
        if not self.outer:
            return self
        try:
            modules = list(_all_modules(reachable_modules(*self.objects)))
            with torch.no_grad():
                for module in modules:
                    for name, buf in module._buffers.items():
                        if buf is not None:
                            self.saved.append((module, name, buf, buf.detach().clone()))
            self.training = [m for m in modules if m.training]
            stochastic = sorted({type(m).__name__ for m in self.training if _mode_dependent(m)})
            if stochastic:
                self._warn(f"its {', '.join(stochastic)} modules are in train mode")
        except BaseException:
            _state.depth = depth
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _state.depth = getattr(_state, "depth", 1) - 1
        if not self.outer:
            return
        changed = []
        with torch.no_grad():
            for module, name, buf, copy in self.saved:
                if module._buffers.get(name) is not buf:
                    module._buffers[name] = buf
                    changed.append(module)
                # Kernels such as batch_norm update statistics in place without bumping
                # the version counter: compare the values.
                if not torch.equal(buf, copy):
                    buf.copy_(copy)
                    changed.append(module)
        self.saved = []
        if changed and not self.warned and any(m.training for m in changed):
            self._warn("a module in train mode changed its buffers (they have been restored)")

    def _warn(self, why: str) -> None:
        self.warned = True
        warnings.warn(
            f"{why}: the attributions of a model in train mode are stochastic (dropout) and "
            "depend on the chunking (batch statistics); call model.eval() first",
            TrainModeWarning,
            stacklevel=user_stacklevel(),
        )
