"""One block of examples as the runner loads it: each item guarded, checked, digested, stacked.

Reading item ``i`` is guarded (:class:`Guarded`): an exception is captured with ``i``, so that
the runner can name the index or record it as failed while the rest of the block goes on.
:class:`Collate` checks each item against the first example's shapes and dtypes
(:func:`spec_of`), stacks the good ones and digests every example's inputs
(:func:`item_digest`), so that a resume can tell when the data changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from idgrad.dataset.sources import split_item
from idgrad.dataset.store import InputSpec

__all__ = [
    "Batch",
    "Collate",
    "Guarded",
    "ItemError",
    "block_digest",
    "item_digest",
    "numpy_dtype",
    "spec_of",
]


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The NumPy dtype that stores ``dtype`` (float32 for bfloat16, which NumPy lacks)."""
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except TypeError:
        return np.dtype(np.float32)


def spec_of(inputs: Sequence[torch.Tensor], was_tuple: bool) -> InputSpec:
    """The shapes and storage dtypes of one example's inputs."""
    return InputSpec(
        tuple(tuple(t.shape) for t in inputs),
        tuple(str(numpy_dtype(t.dtype)) for t in inputs),
        was_tuple,
    )


def item_digest(inputs: Sequence[torch.Tensor]) -> str:
    """A short SHA-256 of an item's input values (detects a changed dataset on resume)."""
    h = hashlib.sha256()
    for t in inputs:
        t = t.detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


class ItemError(NamedTuple):
    message: str


class Guarded(Dataset):  # type: ignore[type-arg]
    """``dataset[i]`` as ``(i, item)``, or ``(i, ItemError)`` when reading it raised."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[int, Any]:
        try:
            return i, self.dataset[i]
        except ImportError:
            raise  # a missing package is a set-up error, not a bad example
        except Exception as err:  # noqa: BLE001 -- any failure of user code is a per-item error
            return i, ItemError(f"{type(err).__name__}: {err}")


class Batch(NamedTuple):
    """One block as loaded: the good examples stacked, the bad ones with their errors."""

    indices: list[int]
    good: list[int]  # positions in `indices` of the examples that loaded
    inputs: tuple[torch.Tensor, ...] | None
    labels: Any
    errors: dict[int, str]
    digest: str  # of every example's inputs (and labels, when they are the target)


def _check_item(
    inputs: tuple[torch.Tensor, ...], spec: InputSpec, shape_hint: str | None = None
) -> str | None:
    if len(inputs) != len(spec.shapes):
        return f"has {len(inputs)} inputs, expected {len(spec.shapes)}"
    for k, (t, shape) in enumerate(zip(inputs, spec.shapes)):
        where = f"input {k} " if spec.was_tuple else "input "
        if tuple(t.shape) != shape:
            return (
                f"{where}has shape {tuple(t.shape)}, expected {shape} "
                "(the shape of the first example)" + (f"; {shape_hint}" if shape_hint else "")
            )
        if not t.is_floating_point():
            return f"{where}has dtype {t.dtype}; attributions need floating-point inputs"
        if not bool(torch.isfinite(t).all()):
            return f"{where}contains NaN or Inf"
    return None


def block_digest(parts: Sequence[str]) -> str:
    """One digest of a block's per-example digests (in index order)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class Collate:
    """Collate one block: validate each item against the spec, stack the good ones.

    Args:
        spec: the inputs' shapes and dtypes.
        user_collate: the user's DataLoader ``collate_fn``, if not the default.
        with_labels: include each item's label in the block's digest (when the
            labels are the target, a changed label changes the results).
        stack: stack the inputs (False: only validate and digest, for a resume's check).
        shape_hint: added to the message of an example whose shape differs from the
            first example's (the dataset's ``shape_hint``, e.g. an image folder's).
    """

    def __init__(
        self,
        spec: InputSpec,
        user_collate: Callable[[list[Any]], Any] | None = None,
        with_labels: bool = False,
        stack: bool = True,
        shape_hint: str | None = None,
    ) -> None:
        self.spec = spec
        self.user_collate = user_collate
        self.with_labels = with_labels
        self.stack = stack
        self.shape_hint = shape_hint

    def __call__(self, pairs: list[tuple[int, Any]]) -> Batch:
        indices = [i for i, _ in pairs]
        errors: dict[int, str] = {}
        good: list[int] = []
        parts: list[tuple[tuple[torch.Tensor, ...], Any]] = []
        raw: list[Any] = []
        digests: list[str] = []
        for pos, (i, item) in enumerate(pairs):
            digests.append("failed")
            if isinstance(item, ItemError):
                errors[i] = item.message
                continue
            try:
                inputs, _, label = split_item(item)
            except TypeError as err:
                errors[i] = f"TypeError: {err}"
                continue
            problem = _check_item(inputs, self.spec, self.shape_hint)
            if problem is not None:
                errors[i] = f"ValueError: {problem}"
                continue
            digests[-1] = item_digest(inputs) + (
                f":{_label_text(label)}" if self.with_labels else ""
            )
            good.append(pos)
            parts.append((inputs, label))
            raw.append(item)
        digest = block_digest(digests)
        if not good or not self.stack:
            return Batch(indices, good, None, None, errors, digest)
        if self.user_collate is not None:
            stacked, _, labels = split_item(self.user_collate(raw))
        else:
            stacked = tuple(
                torch.stack([p[0][k] for p in parts]) for k in range(len(self.spec.shapes))
            )
            labels_list = [p[1] for p in parts]
            labels = None if any(lab is None for lab in labels_list) else labels_list
        return Batch(indices, good, stacked, labels, errors, digest)


def _label_text(label: Any) -> str:
    if isinstance(label, (torch.Tensor, np.ndarray)):
        return str(np.asarray(label.cpu() if isinstance(label, torch.Tensor) else label).tolist())
    return repr(label)
