"""What ``idgrad explain`` and ``idgrad dataset`` share: options, model loading, output checks.

Both commands take the model the same way (:func:`add_model_options`, :func:`load_model`,
through :mod:`idgrad.files.loading`), read images with the same options
(:func:`add_image_options`, :mod:`idgrad.files.images`), name targets with the same words
(:func:`parse_target`) and check where they will write before any work
(:func:`check_output_file`, :func:`check_output_dir`).

Example:
    >>> parse_target("3"), parse_target("1,2"), parse_target("predicted")
    (3, (1, 2), 'predicted')
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from idgrad.cli import CLIError
from idgrad.files.images import DEFAULT_NORMALIZE, NORMALIZATIONS

__all__ = [
    "HelpFormatter",
    "add_image_options",
    "add_model_options",
    "check_output_dir",
    "check_output_file",
    "image_size",
    "load_model",
    "parse_target",
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and ends each option's help with its default.

    Options whose default is None (or off) say in their own help what happens by default.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--model`` and ``--factory``, read by :func:`load_model`."""
    p.add_argument(
        "--model",
        default=None,
        type=Path,
        metavar="FILE",
        help="TorchScript file (torch.jit.save), torch.export archive (.pt2, torch.export.save "
        "with a dynamic batch dimension), or a state dict (torch.save) with --factory; "
        "the format is read from the content. Nothing is unpickled beyond weights_only. "
        "Without it, --factory builds the whole model (e.g. a JAX model with its weights)",
    )
    p.add_argument(
        "--factory",
        default=None,
        metavar="MODULE:FUNCTION",
        help="for a state-dict --model: the function that builds the model; without --model: "
        "the function that returns the whole model, weights loaded (a torch model, a JAX model "
        "(Flax, Haiku, Equinox, or idgrad.frameworks.JaxModel(f)) or an "
        "idgrad.frameworks.CallbackModel) (default: none; the model file holds the architecture)",
    )


def load_model(args: argparse.Namespace, device: Any) -> Any:
    """The model of ``--model``/``--factory`` on ``device`` (one line on any problem)."""
    from idgrad.files.loading import LoadError
    from idgrad.files.loading import load_model as load

    if args.model is None:
        if args.factory is None:
            raise CLIError("give --model FILE, or --factory MODULE:FUNCTION returning the model")
        return _built_model(args.factory, device)
    try:
        return load(args.model, factory=args.factory, device=device)
    except LoadError as err:
        raise CLIError(str(err)) from None


def _built_model(factory: str, device: Any) -> Any:
    """The whole model from ``--factory`` alone: torch in eval mode, or a framework adapter."""
    from idgrad.files.loading import LoadError, import_factory
    from idgrad.frameworks.boundary import adapter_for, looks_like_jax_model
    from idgrad.frameworks.protocol import ModelAdapter

    try:
        model = import_factory(factory)()
    except LoadError as err:
        raise CLIError(str(err)) from None
    if isinstance(model, torch.nn.Module):
        return model.to(device).eval()
    if isinstance(model, ModelAdapter):
        return model
    if looks_like_jax_model(model):  # frameworks hook: a JAX model explained through its adapter
        return adapter_for(model, "jax")
    if not callable(model):
        raise CLIError(f"the factory {factory} returned a {type(model).__name__}, not a model")
    return model


def add_image_options(p: argparse.ArgumentParser) -> None:
    """``--image-size``, ``--normalize`` and ``--grayscale`` (see :mod:`idgrad.files.images`)."""
    p.add_argument(
        "--image-size",
        type=int,
        nargs="+",
        metavar="PX",
        default=None,
        help="for image inputs: one number crops the central square and resizes it to PX x "
        "PX; two (H W) resize to H x W (default: keep each image's size)",
    )
    p.add_argument(
        "--normalize",
        choices=list(NORMALIZATIONS),
        default=None,
        help="for image inputs, pixels p (0-255) to model space: unit p/255, raw p, imagenet "
        "((p/255 - mean)/std, ImageNet's RGB mean and std), lite ((p - 127)/128, "
        f"EfficientNet-Lite) (default: {DEFAULT_NORMALIZE})",
    )
    p.add_argument(
        "--grayscale", action="store_true", help="for image inputs: read one channel, not RGB"
    )


def image_size(values: list[int] | None) -> int | tuple[int, int] | None:
    """``--image-size`` as :func:`idgrad.files.images.read_image` takes it."""
    if values is None:
        return None
    if len(values) > 2 or any(v < 1 for v in values):
        raise CLIError(f"--image-size takes one or two sizes >= 1 (PX or H W), got {values}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def parse_target(text: str | None, words: tuple[str, ...] = ("predicted",)) -> Any:
    """``--target`` as the library takes it (:mod:`idgrad.core.targets`), with the same meaning.

    ``none`` (or None) is ``target=None``: the model returns one scalar per example;
    one of ``words`` is passed on as it is (``predicted``: each example's predicted
    class; ``label``: each example's label); ``3`` or ``-1`` is an int (negative
    counts from the end), ``i,j,...`` a tuple index; a ``.npy`` file is its integer
    array: one index per example (``(B,)`` or ``(B, depth)``), or one entry for every
    example. Only the form of the text is checked here: the value is checked where it
    is used, by the library's rules (:class:`idgrad.core.targets.Target`), so that a bool
    or float array, a wrong length or an index out of range gets the library's error,
    in one line.
    """
    if text is None or text == "none":
        return None
    if text in words:
        return text
    if text.endswith(".npy"):
        from idgrad.files.loading import LoadError, load_tensor

        try:
            return load_tensor(text, what="target")
        except LoadError as err:
            raise CLIError(str(err)) from None
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        spelled = ", ".join(f"'{w}'" for w in ("none", *words))
        raise CLIError(
            f"--target must be {spelled}, an int, 'i,j,...' or a .npy file of ints, got {text!r}"
        ) from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _writable_folder(folder: Path, flag: str, given: Path) -> None:
    """``folder`` exists or can be made, and can be written to (``given``: for messages)."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise CLIError(f"{flag} {given}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {given}: cannot write to {existing} (permission denied)")


def check_output_file(path: Path, flag: str = "--out") -> None:
    """Refuse before any work an output file that could not be written."""
    if path.is_dir():
        raise CLIError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"{flag} {path}: cannot overwrite it (permission denied)")
    _writable_folder(path.parent, flag, path)


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """Refuse before any work an output folder that could not be written."""
    if path.exists() and not path.is_dir():
        raise CLIError(f"{flag} {path} is a file; give a folder")
    _writable_folder(path, flag, path)
