"""A batch attributor for engines that map a function over batches of columns.

Ray Data's ``Dataset.map_batches`` (and similar engines) call a function or a
callable class on a dict of NumPy columns and expect a dict of columns back.
:class:`BatchAttributor` is that callable for any idgrad method; it does not import
Ray. Build the model inside each worker (pass a zero-argument factory or a
TorchScript path) so that every actor holds its own copy on its own device.

Example:
    >>> import numpy as np, torch
    >>> attributor = BatchAttributor("ig", lambda: torch.nn.Linear(3, 2).eval(),
    ...                              target=1, method_kwargs={"n_steps": 4})
    >>> out = attributor({"index": np.arange(2), "input": np.ones((2, 3), np.float32)})
    >>> sorted(out), out["attributions"].shape
    (['attributions', 'delta', 'index', 'target'], (2, 3))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from idgrad.dataset.block_targets import BlockTargets, guarded_outputs
from idgrad.dataset.preflight import check_method_options
from idgrad.dataset.settings import resolve_method
from idgrad.files.loading import load_model

__all__ = ["BatchAttributor"]


class BatchAttributor:
    """``{column: array}`` batch in, ``{"index", "attributions", "delta", "target"}`` out.

    Args:
        method: an idgrad method or its name (see :data:`idgrad.dataset.METHODS`).
        model: an ``nn.Module``, a zero-argument callable that builds one, or the path
            of a TorchScript or ``.pt2`` file (read by :func:`idgrad.files.loading.load_model`).
        input_column: the column holding the inputs ``(B, ...)``.
        label_column: the column of integer labels, used when ``target="label"``.
        index_column: a column passed through to the output (e.g. the example id).
        target: one target for every example, as in the methods (see
            :mod:`idgrad.core.targets`: None, ``"predicted"``, an int, a tuple index, one
            element, a callable), or ``"label"`` (the label column); recorded as in
            :mod:`idgrad.dataset.block_targets`.
        preprocess: optional ``array -> tensor`` applied to the input column (e.g.
            ``HWC uint8 -> CHW float``).
        method_kwargs: further arguments of the method (``n_steps``, ...).
        device: where to run (default: CUDA when available, else the CPU).
    """

    def __init__(
        self,
        method: str | Callable[..., Any],
        model: Any,
        *,
        input_column: str = "input",
        label_column: str = "label",
        index_column: str = "index",
        target: Any = "predicted",
        preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
        method_kwargs: Mapping[str, Any] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.fn, self.method_name = resolve_method(method)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if isinstance(model, (str, os.PathLike)):
            model = load_model(
                model, device=self.device
            )  # nothing unpickled; see idgrad.files.loading
        elif not isinstance(model, torch.nn.Module) and callable(model):
            model = model()
        self.model = model.to(self.device) if isinstance(model, torch.nn.Module) else model
        self.input_column, self.label_column, self.index_column = (
            input_column,
            label_column,
            index_column,
        )
        self.targets = BlockTargets(target, None)
        self.preprocess = preprocess
        self.method_kwargs = dict(method_kwargs or {})
        self._checked = False  # the target and the method's options, on the first batch

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raw = batch[self.input_column]
        x = (
            self.preprocess(raw)
            if self.preprocess is not None
            else torch.as_tensor(np.asarray(raw))
        )
        x = x.to(self.device)
        n = x.shape[0]
        labels = batch[self.label_column] if self.targets.needs_labels else None
        if not self._checked:  # once, on the first example: the methods' checks
            first = None if labels is None else labels[0]
            output = guarded_outputs(self.model, (x[:1],))
            self.targets.check(output, first)
            try:
                one, _ = self.targets.for_block(
                    [0], None if labels is None else labels[:1], lambda: output
                )
            except (TypeError, ValueError):  # that example's own problem
                one = 0
            check_method_options(self.fn, (x[:1],), False, one, None, self.method_kwargs)
            self._checked = True
        target, recorded = self.targets.for_block(
            range(n), labels, lambda: guarded_outputs(self.model, (x,))
        )
        d = self.fn.details(self.model, x, target=target, **self.method_kwargs)  # type: ignore[attr-defined]
        index = np.asarray(batch[self.index_column]) if self.index_column in batch else np.arange(n)
        return {
            "index": index,
            "attributions": d.attributions.detach().cpu().numpy(),
            "delta": d.delta.detach().cpu().double().numpy(),
            "target": recorded,
        }
