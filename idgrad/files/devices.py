"""The device a model is loaded to, checked before any file is read.

So that a device that is not there is called that, and not a bad file.
"""

from __future__ import annotations

import torch

from idgrad.files.errors import LoadError, first_line

__all__ = ["check_device"]


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` that this machine has; LoadError in one line if not.

    Checked before any file is read, so that a missing GPU is called a missing GPU (and
    not a bad model file). ``meta`` is refused: it holds no weights.

    Raises:
        LoadError: not a device name, or a device this machine (or this torch) lacks.

    Example:
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("bogus")
        Traceback (most recent call last):
        ...
        idgrad.files.errors.LoadError: device 'bogus' is not a torch device (such as cpu, ...
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise LoadError(
            f"device {str(device)!r} is not a torch device (such as cpu, cuda, cuda:1 or mps)"
        ) from None
    if dev.type == "meta":
        raise LoadError("device 'meta' holds no data; use cpu or a GPU")
    if dev.type == "cuda" and not torch.cuda.is_available():
        why = "was built without CUDA" if torch.version.cuda is None else "finds no GPU"
        raise LoadError(
            f"device {str(device)!r} is not available: this torch ({torch.__version__}) {why}; "
            "use cpu"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise LoadError(
            f"device {str(device)!r} is not available: this machine has no MPS; use cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise LoadError(
            f"device {str(device)!r} is not available: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
            f"cuda:{torch.cuda.device_count() - 1}"
        )
    try:
        torch.empty(0, device=dev)
    except Exception as err:  # noqa: BLE001 - torch raises AssertionError, RuntimeError, ...
        raise LoadError(f"device {str(device)!r} is not available: {first_line(err)}") from None
    return dev
