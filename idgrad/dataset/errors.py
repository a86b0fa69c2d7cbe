"""The errors of a dataset run: a block that failed, and an example that failed (by index).

Example:
    >>> str(DatasetItemError(3, "ValueError: input contains NaN or Inf", "cat/1.png"))[:56]
    'example 3 (cat/1.png): ValueError: input contains NaN or'
"""

from __future__ import annotations

from idgrad.dataset.sources import ExampleNames

__all__ = ["DatasetError", "DatasetItemError", "ExampleNamer"]


class DatasetError(RuntimeError):
    """A block of the dataset could not be attributed (and no single item is to blame)."""


class DatasetItemError(DatasetError):
    """One example could not be loaded or attributed.

    Attributes:
        index: the example's index in the dataset.
        message: what went wrong.
        name: the example's name when the dataset names its examples (an image
            folder: the file's path relative to the folder), else None.
    """

    def __init__(self, index: int, message: str, name: str | None = None) -> None:
        where = f"example {index}" + (f" ({name})" if name is not None else "")
        super().__init__(
            f"{where}: {message} (pass skip_errors=True / --skip-errors to record "
            "it as failed and go on; blocks already written are kept)"
        )
        self.index = index
        self.message = message
        self.name = name


class ExampleNamer:
    """How errors name example ``i``: its name when the dataset gives one (else None)."""

    def __init__(self, names: ExampleNames | None) -> None:
        self.names = names

    def __call__(self, index: int) -> str | None:
        return None if self.names is None else self.names.names[index]
