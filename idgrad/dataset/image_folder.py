"""A folder of images as a dataset (with class sub-folders as labels): :class:`ImageFolderDataset`.

Each example is named by its path relative to the folder, and its class by its sub-folder;
a dataset run records both with its results.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from idgrad.files.images import DEFAULT_NORMALIZE, IMAGE_EXTENSIONS, read_image, require_pillow

__all__ = ["ImageFolderDataset"]


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
