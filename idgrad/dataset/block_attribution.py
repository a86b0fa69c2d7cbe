"""One block of examples attributed: one call of the method, and its records.

When the block's call fails, the examples are attributed one at a time to find the
culprit(s): with ``skip_errors`` they are recorded as failed and the others kept, without it
the first one is raised (:class:`~idgrad.dataset.errors.DatasetItemError`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from idgrad.dataset.block_targets import BlockTargets, guarded_outputs
from idgrad.dataset.collate import Batch
from idgrad.dataset.errors import DatasetError, DatasetItemError, ExampleNamer
from idgrad.dataset.store import OK, BlockStore, InputSpec

__all__ = ["attribute_block"]


def _attribute(
    fn: Callable[..., Any],
    model: Any,
    inputs: tuple[torch.Tensor, ...],
    was_tuple: bool,
    target: Any,
    baselines: Any,
    kwargs: Mapping[str, Any],
) -> tuple[list[torch.Tensor], torch.Tensor]:
    call = dict(kwargs)
    if baselines is not None:
        call["baselines"] = baselines
    d = fn.details(model, inputs if was_tuple else inputs[0], target=target, **call)  # type: ignore[attr-defined]
    attr, delta = d.attributions, d.delta
    attrs = list(attr) if was_tuple else [attr]
    return attrs, delta


def _fill_records(
    rec: np.ndarray,
    spec: InputSpec,
    positions: list[int],
    attrs: list[torch.Tensor],
    delta: torch.Tensor,
    targets: np.ndarray,
) -> None:
    for name, a in zip(spec.field_names(), attrs):
        a = a.detach().cpu()
        if a.dtype == torch.bfloat16:
            a = a.float()
        rec[name][positions] = a.numpy()
    rec["delta"][positions] = delta.detach().cpu().double().numpy()
    rec["target"][positions] = targets
    rec["status"][positions] = OK


def attribute_block(
    fn: Callable[..., Any],
    model: Any,
    batch: Batch,
    store: BlockStore,
    targets: BlockTargets,
    baselines: Any,
    kwargs: dict[str, Any],
    extra: Any,
    dev: torch.device,
    skip_errors: bool,
    name: ExampleNamer,
) -> tuple[np.ndarray, dict[int, str]]:
    """The records of one block and the messages of its failed examples."""
    errors = dict(batch.errors)
    if errors and not skip_errors:
        first = min(errors)
        raise DatasetItemError(first, errors[first], name(first))
    rec = store.empty_records(batch.indices)
    if batch.inputs is None:
        return rec, errors
    spec = store.spec
    inputs = tuple(t.to(dev) for t in batch.inputs)
    good_indices = [batch.indices[p] for p in batch.good]

    def attribute(rows: tuple[torch.Tensor, ...], indices: list[int], labels: Any) -> Any:
        target, recorded = targets.for_block(
            indices, labels, lambda: guarded_outputs(model, rows, extra)
        )
        attrs, delta = _attribute(fn, model, rows, spec.was_tuple, target, baselines, kwargs)
        return attrs, delta, recorded

    try:
        attrs, delta, recorded = attribute(inputs, good_indices, batch.labels)
        _fill_records(rec, spec, batch.good, attrs, delta, recorded)
        return rec, errors
    except Exception as block_error:
        if len(batch.good) == 1 and not skip_errors:
            raise DatasetItemError(
                good_indices[0],
                f"{type(block_error).__name__}: {block_error}",
                name(good_indices[0]),
            ) from block_error
        err = block_error
    # Find the culprit(s): attribute the examples one at a time.
    for j, (pos, i) in enumerate(zip(batch.good, good_indices)):
        one = tuple(t[j : j + 1] for t in inputs)
        labels = None if batch.labels is None else batch.labels[j : j + 1]
        try:
            attrs, delta, recorded = attribute(one, [i], labels)
        except Exception as item_error:
            if not skip_errors:
                raise DatasetItemError(
                    i, f"{type(item_error).__name__}: {item_error}", name(i)
                ) from item_error
            errors[i] = f"{type(item_error).__name__}: {item_error}"
            continue
        if skip_errors:
            _fill_records(rec, spec, [pos], attrs, delta, recorded)
    r = store.block_range(batch.indices[0] // store.block_size)
    if not skip_errors:
        raise DatasetError(
            f"examples {r.start}..{r.stop - 1} failed together but not one by one: "
            f"{type(err).__name__}: {err}"
        ) from err
    if len(good_indices) > 1 and all(i in errors for i in good_indices):
        # Every example failing on its own is a set-up error (model, target, method
        # arguments), not bad data: stop instead of recording the whole dataset as failed.
        raise DatasetError(
            f"every example of {r.start}..{r.stop - 1} failed: {type(err).__name__}: {err}"
        ) from err
    return rec, errors
