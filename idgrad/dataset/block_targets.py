"""What ``target`` means for a dataset run: :mod:`idgrad.core.targets`' rules, block by block.

:func:`~idgrad.dataset.attribute_dataset` and :class:`~idgrad.dataset.BatchAttributor`
take every form of ``target`` that the methods take, with the same meaning and the
same errors (:class:`idgrad.core.targets.Target` checks them), over a dataset of ``N``
examples:

* None, an int, a tuple index, one element (a list, array or tensor of one entry:
  for every example) or a callable: passed to the method with every block;
* ``"predicted"``: resolved block by block, by one forward pass over the block
  (:func:`idgrad.core.targets.predicted_classes`, the rule of every method);
* ``N`` indices (a list, an array or an integer tensor ``(N,)`` or ``(N, depth)``),
  one per example of the dataset: sliced per block;
* ``"label"``, the runner's own word: each example's label from the dataset, one
  class per example, by the same rules (negative counts from the end, bools and
  floats refused).

Each example's record keeps the index it explained (the ``target`` column): when the
target gives one index per example (an int, one index per example, ``"label"``,
``"predicted"``), that index counted from the start (``-1`` of 10 classes is
recorded as 9); otherwise (None, a tuple index, a callable) ``-1``.

Example:
    >>> targets = BlockTargets(-1, n_examples=4)
    >>> targets.check(torch.zeros(1, 3))  # the model's output on one example
    >>> target, recorded = targets.for_block([2, 3], labels=None, outputs=lambda: None)
    >>> target, recorded.tolist()
    (-1, [2, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import torch

from idgrad.core.guard import ModelGuard
from idgrad.core.seam import model_outputs
from idgrad.core.targets import TARGET_FORMS, Target, is_predicted, predicted_classes
from idgrad.core.validation import NonFiniteError
from idgrad.dataset.settings import digest, jsonable

__all__ = ["LABEL", "BlockTargets", "guarded_outputs"]

#: ``target="label"``: each example's label from the dataset.
LABEL: Final = "label"


def guarded_outputs(
    model: Any, inputs: tuple[torch.Tensor, ...], additional_forward_args: Any = None
) -> Any:
    """The model's output on ``inputs`` (forward only), its buffers left as found.

    What :meth:`BlockTargets.check` and ``"predicted"`` read; one pass, inside a
    :class:`~idgrad.core.guard.ModelGuard` (:func:`idgrad.core.seam.model_outputs`).
    """
    with ModelGuard(model):
        return model_outputs(model, inputs, additional_forward_args)


def _entries(target: Any) -> int | None:
    """How many entries a list, array or tensor target holds (None: not one of those)."""
    if isinstance(target, list):
        return len(target)
    if isinstance(target, (np.ndarray, torch.Tensor)) and target.ndim > 0:
        return int(target.shape[0])
    return None


class BlockTargets:
    """The ``target`` of a dataset run, checked once and resolved for each block.

    Args:
        target: any form of :mod:`idgrad.core.targets`, or ``"label"``.
        n_examples: examples in the dataset (the length of per-example targets);
            None for batches of unknown origin (:class:`~idgrad.dataset.BatchAttributor`),
            which take one target for every example.

    Raises:
        TypeError, ValueError: as :class:`idgrad.core.targets.Target` for the same value.
    """

    def __init__(self, target: Any, n_examples: int | None) -> None:
        self.value = target
        #: Whether each example's label is needed (``target="label"``).
        self.needs_labels = isinstance(target, str) and target == LABEL
        self.predicted = is_predicted(target)
        self.rule: Target | None = None
        self.per_example: torch.Tensor | None = None
        self.fixed: Any = None  # the value passed with every block (kind "fixed")
        self.size: int | None = None  # length of the indexed output axis, from check()
        self.checked = False
        if isinstance(target, str):
            if not (self.needs_labels or self.predicted):
                raise TypeError(
                    f"target must be {TARGET_FORMS}, or 'label' (each example's label from "
                    f"the dataset); got the string {target!r}"
                )
            return
        count = _entries(target)
        if n_examples is None and count is not None and count != 1:
            raise ValueError(
                f"target has {count} entries, but these batches come without their place in "
                "a dataset: give one target for every example, or the labels in a column "
                "with target='label'"
            )
        if n_examples is None:
            rule = Target(target, 1)
            if rule.per_example is not None:  # one entry: for every example
                rule = Target(tuple(int(v) for v in rule.per_example[0]), 1)
        else:
            rule = Target(target, n_examples, of="a dataset")
        self.rule = rule
        #: One index row per example of the dataset, on the CPU (sliced per block).
        self.per_example = None if rule.per_example is None else rule.per_example.cpu()
        if rule.fixed is not None:
            depth = len(rule.fixed)
            self.fixed = None if depth == 0 else rule.fixed[0] if depth == 1 else rule.fixed

    @property
    def one_index(self) -> bool:
        """Whether the target gives one index per example (what the records keep)."""
        return self.rule is None or self.rule.depth == 1

    def settings(self) -> Any:
        """The target as the manifest records it (it changes whenever the results would)."""
        if self.rule is None:
            return self.value
        if self.rule.callable is not None:
            return jsonable(self.rule.callable)
        if self.rule.per_example is not None:
            per = self.rule.per_example
            return {"per_index": digest(per[:, 0] if per.shape[1] == 1 else per)}
        return {"tuple": list(self.fixed)} if isinstance(self.fixed, tuple) else self.fixed

    def check(self, output: Any, label: Any = None) -> None:
        """Check the target against the model's ``output`` on one example, ``(1, ...)``.

        The same checks and errors as the methods (:meth:`idgrad.core.targets.Target.select`),
        before any work: None needs one scalar per example, an index must exist in the
        output (every per-example index is checked), ``"predicted"`` needs
        ``(1, classes)``; ``label`` is the first example's label (``target="label"``).
        """
        rows = torch.zeros(1, dtype=torch.long)
        if self.predicted:
            try:
                predicted_classes(output)
            except NonFiniteError:
                pass  # this example's own problem: reported with its block
        elif self.needs_labels:
            Target(self._labels([label], 1), 1).select(output, rows)
        else:
            assert self.rule is not None
            self.rule.select(output, rows)
        if self.one_index and isinstance(output, torch.Tensor) and output.ndim >= 2:
            self.size = int(output.shape[1])
        self.checked = True

    def for_block(
        self, indices: Sequence[int], labels: Any, outputs: Callable[[], Any]
    ) -> tuple[Any, np.ndarray]:
        """The target to pass to the method for a block, and the int64 index to record.

        Args:
            indices: the examples' indices in the dataset.
            labels: their labels (``target="label"``), else ignored.
            outputs: computes the model's output on the block (``"predicted"`` only).
        """
        if not self.checked:
            raise RuntimeError("BlockTargets.check must run before for_block")
        m = len(indices)
        classes: torch.Tensor | None
        if self.predicted:
            target = classes = predicted_classes(outputs())
        elif self.needs_labels:
            target = classes = self._labels(labels, m)
        else:
            assert self.rule is not None
            per = self.per_example
            if per is not None:
                rows = per[torch.as_tensor(list(indices), dtype=torch.long)]
                target = rows[:, 0] if rows.shape[1] == 1 else rows
            else:
                target = self.value if self.rule.callable is not None else self.fixed
            if not self.one_index:
                classes = None
            elif isinstance(target, torch.Tensor):
                classes = target
            else:
                classes = torch.full((m,), int(target), dtype=torch.long)
        if classes is None or self.size is None:
            return target, np.full(m, -1, dtype=np.int64)
        recorded = torch.remainder(classes.detach().cpu().to(torch.long), self.size)
        return target, recorded.numpy().astype(np.int64)

    @staticmethod
    def _labels(labels: Any, m: int) -> torch.Tensor:
        """The labels of ``m`` examples as a ``(m,)`` long tensor, by the targets' rules."""
        what = "target='label' needs one integer class per example as its label"
        if labels is None:
            raise ValueError(f"{what}; these examples carry no label")
        try:
            if isinstance(labels, torch.Tensor):
                values = labels.detach().cpu()
            else:
                values = torch.as_tensor(
                    np.stack(
                        [
                            np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                            for v in labels
                        ]
                    )
                )
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{what}; the labels cannot be read as numbers ({err})") from None
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if tuple(values.shape) != (m,):
            raise ValueError(f"{what}; the labels of {m} examples have shape {tuple(values.shape)}")
        try:
            rule = Target(values, m)
        except TypeError as err:
            raise TypeError(f"{what}: {err}") from None
        assert rule.per_example is not None
        return rule.per_example[:, 0]
