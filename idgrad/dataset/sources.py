"""Where examples come from: map-style datasets, arrays, ``.npy`` files, image folders.

A dataset item is read as follows:

* a tensor (or NumPy array): the model's input, no label;
* a tuple or list: ``item[0]`` is the input (a tensor, or a tuple of tensors for a
  model with several inputs), ``item[1]`` the label if present, the rest ignored;
* a mapping: ``item["input"]`` (or ``"inputs"``, ``"x"``) and ``item["label"]`` (or
  ``"target"``, ``"y"``) if present.

Loading an item is guarded: an exception while reading item ``i`` (a missing or
corrupt file, a bad shape) is captured together with ``i``, so that the runner can
name the index or record it as failed while the rest of the block goes on
(:mod:`idgrad.dataset.collate`). Ready-made datasets: :mod:`idgrad.dataset.array_dataset`
(arrays, ``.npy`` files) and :mod:`idgrad.dataset.image_folder`.

A dataset may name its examples: a sequence ``example_names`` of ``N`` strings (and,
optionally, ``example_classes``: ``N`` class names).
:class:`~idgrad.dataset.image_folder.ImageFolderDataset` has both
(each image's path relative to the folder, and its class sub-folder);
:func:`example_names` reads them, the runner records them with the results
(``DatasetAttributions.names`` and ``.classes``) and names the example in its errors.

Example:
    >>> inputs, was_tuple, label = split_item({"x": torch.zeros(3), "y": 1})
    >>> [tuple(t.shape) for t in inputs], was_tuple, label
    ([(3,)], False, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset
from torch.utils.data._utils.collate import default_collate

from idgrad.dataset.array_dataset import ArrayDataset
from idgrad.dataset.image_folder import ImageFolderDataset as ImageFolderDataset
from idgrad.files.images import IMAGE_EXTENSIONS

# ArrayDataset and ImageFolderDataset, defined here before, stay importable from here.
__all__ = [
    "IMAGE_EXTENSIONS",
    "ExampleNames",
    "as_map_dataset",
    "example_names",
    "split_item",
]

_INPUT_KEYS = ("input", "inputs", "x")
_LABEL_KEYS = ("label", "target", "y")


def _to_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise TypeError(f"{what} must be a tensor or NumPy array, got {type(value).__name__}")


def split_item(item: Any) -> tuple[tuple[torch.Tensor, ...], bool, Any]:
    """``(inputs as a tuple, was_tuple, label or None)`` of one dataset item."""
    label = None
    if isinstance(item, Mapping):
        key = next((k for k in _INPUT_KEYS if k in item), None)
        if key is None:
            raise TypeError(
                f"a mapping item needs one of the keys {_INPUT_KEYS}, has {sorted(item)}"
            )
        x = item[key]
        label = next((item[k] for k in _LABEL_KEYS if k in item), None)
    elif isinstance(item, (tuple, list)):
        if not item:
            raise TypeError("an item is an empty tuple")
        x = item[0]
        label = item[1] if len(item) > 1 else None
    else:
        x = item
    if isinstance(x, (tuple, list)):
        return tuple(_to_tensor(t, f"input {i}") for i, t in enumerate(x)), True, label
    return (_to_tensor(x, "the input"),), False, label


class ExampleNames(NamedTuple):
    """The names a dataset gives its examples (see the module docstring).

    Attributes:
        names: one name per example, in index order.
        classes: one class name per example, or None.
    """

    names: list[str]
    classes: list[str] | None

    def to_json(self) -> dict[str, Any]:
        return {"names": self.names, "classes": self.classes}


def _strings(values: Any, n: int, what: str) -> list[str]:
    try:
        items = list(values)
    except TypeError:
        items = None
    if items is None or len(items) != n or not all(isinstance(v, str) for v in items):
        count = "" if items is None else f" of {len(items)} items"
        raise TypeError(
            f"the dataset's {what} must be {n} strings (one per example), got "
            f"{type(values).__name__}{count}"
        )
    return items


def example_names(dataset: Any) -> ExampleNames | None:
    """A dataset's ``example_names`` (and ``example_classes``), checked; None if it has none.

    Example:
        >>> class Named(ArrayDataset):
        ...     example_names = ["a.png", "b.png"]
        >>> example_names(Named(np.zeros((2, 3), np.float32)))
        ExampleNames(names=['a.png', 'b.png'], classes=None)

    Raises:
        TypeError: they are not ``len(dataset)`` strings.
    """
    names = getattr(dataset, "example_names", None)
    if names is None:
        return None
    n = len(dataset)
    classes = getattr(dataset, "example_classes", None)
    return ExampleNames(
        _strings(names, n, "example_names"),
        None if classes is None else _strings(classes, n, "example_classes"),
    )


class Source(NamedTuple):
    """A map-style dataset and how to load it (taken from a user's DataLoader)."""

    dataset: Any
    num_workers: int
    collate_fn: Callable[[list[Any]], Any] | None
    pin_memory: bool
    batch_size: int | None


def as_map_dataset(data: Any, num_workers: int | None = None) -> Source:
    """Normalise ``data`` (Dataset, DataLoader, array, tensor) to a map-style dataset.

    A DataLoader contributes its dataset, ``num_workers``, ``collate_fn`` (when not
    the default), ``pin_memory`` and ``batch_size``; its sampler is not used, since
    examples are taken in index order (which is what makes a resume and a sharded
    run reproduce a single uninterrupted run).

    Raises:
        TypeError: an iterable-style dataset (no random access by index) or another type.
    """
    collate = None
    pin = False
    batch_size = None
    workers = 0
    if isinstance(data, DataLoader):
        loader = data
        data = loader.dataset
        workers = loader.num_workers
        if loader.collate_fn is not default_collate:
            collate = loader.collate_fn
        pin = loader.pin_memory
        batch_size = loader.batch_size
    elif isinstance(data, (np.ndarray, torch.Tensor)):
        data = ArrayDataset(data)
    if num_workers is not None:
        workers = int(num_workers)
    if isinstance(data, IterableDataset):
        raise TypeError(
            "attribute_dataset needs a map-style dataset (len() and [i]); an "
            "IterableDataset cannot be resumed or sharded by index"
        )
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise TypeError(
            f"data must be a torch Dataset, DataLoader, array or tensor, got {type(data).__name__}"
        )
    return Source(data, workers, collate, pin, batch_size)
