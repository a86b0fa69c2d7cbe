"""Reading the user's files: models (:mod:`idgrad.files.loading`, :mod:`idgrad.files.exported`),
tensors (:mod:`idgrad.files.tensors`) and images (:mod:`idgrad.files.images`). Files are
hostile until proven otherwise: nothing in them runs, and what they may cost is bounded
(:class:`~idgrad.files.limits.FileLimits`)."""

from idgrad.files.errors import LoadError, UnsafeFileError
from idgrad.files.limits import FileLimits

__all__ = ["FileLimits", "LoadError", "UnsafeFileError"]
