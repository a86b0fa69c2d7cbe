"""Rows of arrays as a dataset: NumPy arrays, memory-mapped ``.npy`` files, tensors.

``idgrad dataset --inputs x.npy --labels y.npy`` reads its files with
:meth:`ArrayDataset.from_npy`; :func:`~idgrad.dataset.attribute_dataset` wraps a bare
array or tensor in one.

Example:
    >>> import numpy as np
    >>> ds = ArrayDataset(np.zeros((5, 3), np.float32), labels=np.arange(5))
    >>> x, y = ds[2]
    >>> tuple(x.shape), int(y)
    ((3,), 2)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["ArrayDataset"]


class ArrayDataset(Dataset):  # type: ignore[type-arg]
    """Rows of one or more arrays (NumPy, memory-mapped ``.npy``, tensors) as items.

    Integer arrays are cast to float32 (attributions need floating inputs); rows
    are copied out one at a time, so a memory-mapped array is never read whole.

    Args:
        *arrays: one array per model input, all with the same first axis.
        labels: optional per-example labels (first axis the same), integers: a bool or
            float array is refused, as a target of that dtype is (:mod:`idgrad.core.targets`).
    """

    def __init__(self, *arrays: Any, labels: Any = None) -> None:
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        lengths = {len(a) for a in arrays}
        if labels is not None:
            if isinstance(labels, torch.Tensor):
                dtype: Any = labels.dtype
                integer = not (
                    dtype == torch.bool or labels.is_floating_point() or labels.is_complex()
                )
            else:
                dtype = labels.dtype if hasattr(labels, "dtype") else np.asarray(labels).dtype
                integer = np.issubdtype(dtype, np.integer)  # bools are not integers here
            if not integer:
                raise TypeError(
                    f"labels must be integer classes, got dtype {dtype} (a label is an index, "
                    "as a target is: convert the labels yourself if that is what they mean)"
                )
            lengths.add(len(labels))
        if len(lengths) != 1:
            raise ValueError(f"arrays and labels must have the same length, got {sorted(lengths)}")
        self.arrays = arrays
        self.labels = labels

    def __len__(self) -> int:
        return len(self.arrays[0])

    def _row(self, a: Any, i: int) -> torch.Tensor:
        row = a[i]
        t = row.clone() if isinstance(row, torch.Tensor) else torch.from_numpy(np.array(row))
        return t if t.is_floating_point() else t.to(torch.float32)

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} examples")
        rows = tuple(self._row(a, i) for a in self.arrays)
        if self.labels is None:
            return rows[0] if len(rows) == 1 else (rows,)
        return (rows if len(rows) > 1 else rows[0]), int(self.labels[i])

    @classmethod
    def from_npy(
        cls, *paths: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None
    ) -> ArrayDataset:
        """Memory-mapped ``.npy`` files (one per input) and an optional labels file.

        Files holding Python objects are refused (nothing is unpickled).

        Raises:
            ValueError: a file that is not a numeric ``.npy`` array, naming it.
        """

        def load(path: str | os.PathLike[str], mmap: Any) -> np.ndarray:
            try:  # mapped: a header that declares more than the file holds is refused
                arr: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:
                if "Python objects" in str(err) or "allow_pickle" in str(err):
                    err = ValueError(
                        "it holds Python objects, which are not unpickled (allow_pickle)"
                    )
                raise ValueError(f"{os.fspath(path)}: {err}") from None
            return arr if mmap else np.array(arr)

        arrays = [load(p, "r") for p in paths]
        lab = load(labels, None) if labels is not None else None
        return cls(*arrays, labels=lab)
