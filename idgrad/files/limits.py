"""How much work a file may cost idgrad before it is refused: :class:`FileLimits`.

A small file can ask for a great deal of work: a ``.pt2`` archive of 300 KB whose graph
inflates to 300 MB, a shape expression of 30 characters whose value has a billion digits,
a PNG of 100 bytes that declares 20000 x 20000 pixels. Every reader in :mod:`idgrad.files`
checks what a file declares against these limits *before* doing the work, and refuses with
an error that names the limit (:class:`idgrad.files.errors.UnsafeFileError` for model
files, ``OSError`` for images). The defaults live in :mod:`idgrad.defaults` and leave room
for every honest file we know of; a caller who trusts a bigger file raises one limit for
one call, e.g. ``load_model(path, limits=FileLimits(pt2_json_bytes=2**30))``. See the
security page of the documentation for the threat model.

Example:
    >>> FileLimits().image_pixels == IMAGE_MAX_PIXELS
    True
    >>> FileLimits(image_pixels=10**9).image_pixels
    1000000000
    >>> FileLimits(zip_inflation=0)
    Traceback (most recent call last):
    ...
    ValueError: FileLimits: zip_inflation must be a number >= 1, got 0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from idgrad.defaults import (
    IMAGE_MAX_PIXELS,
    PT2_MAX_EXPRESSION_CHARS,
    PT2_MAX_EXPRESSION_DEPTH,
    PT2_MAX_EXPRESSION_NODES,
    PT2_MAX_INTEGER_BITS,
    PT2_MAX_JSON_BYTES,
    ZIP_MAX_INFLATION,
)

__all__ = ["FileLimits", "over_limit"]


@dataclass(frozen=True)
class FileLimits:
    """The most work a file may cost; each field defaults to its constant in :mod:`idgrad.defaults`.

    Attributes:
        pt2_json_bytes: largest JSON record of a ``.pt2`` archive, inflated (bytes).
        zip_inflation: most bytes a ``.pt2`` archive inflates to, over its size on disk.
        expression_chars: longest symbolic shape expression (characters).
        expression_nodes: most syntax-tree nodes of one shape expression.
        expression_depth: deepest nesting of one shape expression.
        integer_bits: largest number a shape expression may compute, in bits (shape
            symbols taken as 64-bit values).
        image_pixels: most pixels (width x height) of an image file.

    Raises:
        TypeError, ValueError: a limit that is not a number >= 1.
    """

    pt2_json_bytes: int = PT2_MAX_JSON_BYTES
    zip_inflation: float = ZIP_MAX_INFLATION
    expression_chars: int = PT2_MAX_EXPRESSION_CHARS
    expression_nodes: int = PT2_MAX_EXPRESSION_NODES
    expression_depth: int = PT2_MAX_EXPRESSION_DEPTH
    integer_bits: int = PT2_MAX_INTEGER_BITS
    image_pixels: int = IMAGE_MAX_PIXELS

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kinds = (int, float) if field.name == "zip_inflation" else (int,)
            if isinstance(value, bool) or not isinstance(value, kinds):
                what = "a number" if len(kinds) == 2 else "an int"
                raise TypeError(f"FileLimits: {field.name} must be {what}, got {value!r}")
            if not value >= 1:  # also refuses NaN
                what = "a number" if len(kinds) == 2 else "an int"
                raise ValueError(f"FileLimits: {field.name} must be {what} >= 1, got {value!r}")


def over_limit(name: str, limits: FileLimits) -> str:
    """The end of a refusal: which limit, its value, and how a caller who trusts the file raises it.

    Example:
        >>> print(over_limit("image_pixels", FileLimits()))
        the limit image_pixels=67108864 (for a file you trust: limits=FileLimits(image_pixels=...))
    """
    return (
        f"the limit {name}={getattr(limits, name)} "
        f"(for a file you trust: limits=FileLimits({name}=...))"
    )
