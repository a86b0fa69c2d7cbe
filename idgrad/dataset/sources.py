"""Where examples come from: map-style datasets, arrays, ``.npy`` files, image folders.

A dataset item is read as follows:

* a tensor (or NumPy array): the model's input, no label;
* a tuple or list: ``item[0]`` is the input (a tensor, or a tuple of tensors for a
  model with several inputs), ``item[1]`` the label if present, the rest ignored;
* a mapping: ``item["input"]`` (or ``"inputs"``, ``"x"``) and ``item["label"]`` (or
  ``"target"``, ``"y"``) if present.

Loading an item is guarded: an exception while reading item ``i`` (a missing or
corrupt file, a bad shape) is captured together with ``i``, so that the runner can
name the index or record it as failed while the rest of the block goes on.

A dataset may name its examples: a sequence ``example_names`` of ``N`` strings (and,
optionally, ``example_classes``: ``N`` class names). :class:`ImageFolderDataset` has both
(each image's path relative to the folder, and its class sub-folder);
:func:`example_names` reads them, the runner records them with the results
(``DatasetAttributions.names`` and ``.classes``) and names the example in its errors.

Example:
    >>> import numpy as np
    >>> ds = ArrayDataset(np.zeros((5, 3), np.float32), labels=np.arange(5))
    >>> x, y = ds[2]
    >>> tuple(x.shape), int(y)
    ((3,), 2)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset
from torch.utils.data._utils.collate import default_collate

from idgrad.dataset.store import InputSpec
from idgrad.files.images import DEFAULT_NORMALIZE, IMAGE_EXTENSIONS, read_image, require_pillow

__all__ = [
    "IMAGE_EXTENSIONS",
    "ArrayDataset",
    "ExampleNames",
    "ImageFolderDataset",
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


class ImageFolderDataset(Dataset):  # type: ignore[type-arg]
    """Images under a folder, in sorted path order, as float32 ``(C, H, W)`` in model space.

    Either the folder holds images directly (the examples, without labels), or it holds
    class sub-folders (sorted names, label = position) whose images, at any depth, are the
    examples. A folder with both is refused, naming what would be left out, so that no
    image is silently dropped. Names starting with ``.`` (``.DS_Store``,
    ``.ipynb_checkpoints``) are not part of the dataset. Images are read by
    :func:`idgrad.files.images.read_image` (Pillow, the ``images`` extra): converted to ``mode``,
    resized as ``size`` says and normalised as ``normalize`` names (default ``"unit"``:
    ``[0, 1]``); a missing or corrupt file raises when its item is read, naming the path.

    Args:
        root: the folder.
        size: ``None`` keeps each image's size; an int crops the central square and
            resizes it; ``(height, width)`` resizes.
        mode: Pillow mode, ``"RGB"`` (3 channels) or ``"L"`` (1 channel).
        normalize: a name in :data:`idgrad.files.images.NORMALIZATIONS`.

    Attributes:
        samples: ``(path, label)`` of each example, in index order (label None without
            class sub-folders).
        classes: the class sub-folders' names, sorted (label = position); empty without.
        example_names: each example's path relative to ``root`` (``/``-separated): what
            a dataset run records with its results.
        example_classes: each example's class name, or None without class sub-folders.
        shape_hint: what to do when two images differ in size (None when ``size`` is
            given).

    Raises:
        ImportError: Pillow is missing (once, here, not per image).
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no images, or images beside class sub-folders.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        size: int | tuple[int, int] | None = None,
        mode: str = "RGB",
        normalize: str = DEFAULT_NORMALIZE,
    ) -> None:
        require_pillow()
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        self.size = size if size is None or isinstance(size, int) else (int(size[0]), int(size[1]))
        self.mode = mode
        self.normalize = normalize
        entries = sorted(p for p in self.root.iterdir() if not p.name.startswith("."))
        subdirs = [p for p in entries if p.is_dir()]
        top = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        if subdirs and top:
            raise ValueError(
                f"{self.root} holds {len(top)} images at its top level (e.g. {top[0].name}) "
                f"and sub-folders ({', '.join(d.name for d in subdirs[:5])}), which would be "
                "read as classes, leaving those images out; move the images into class "
                "folders, or the sub-folders out of it"
            )
        self.classes = [p.name for p in subdirs]
        self.samples: list[tuple[Path, int | None]]
        if subdirs:
            self.samples = [(f, c) for c, d in enumerate(subdirs) for f in _images_under(d)]
        else:
            self.samples = [(f, None) for f in top]
        if not self.samples:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {self.root}")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def example_names(self) -> list[str]:
        return [path.relative_to(self.root).as_posix() for path, _ in self.samples]

    @property
    def example_classes(self) -> list[str] | None:
        if not self.classes:
            return None
        return [self.classes[label] for _, label in self.samples if label is not None]

    @property
    def shape_hint(self) -> str | None:
        if self.size is not None:
            return None
        return (
            "the images differ in size: give size=(H, W) (idgrad dataset --image-size H W) "
            "to resize every image to one size"
        )

    def __getitem__(self, i: int) -> Any:
        path, label = self.samples[i]
        x = read_image(path, size=self.size, mode=self.mode, normalize=self.normalize)
        return x if label is None else (x, label)


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere under ``folder`` (not under names starting with ``.``), sorted."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(
            Path(dirpath) / f
            for f in filenames
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS
        )
    return sorted(found)


# ---------------------------------------------------------------------- naming examples


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


# ---------------------------------------------------------------------- normalising `data`


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
