"""``--model``, ``--factory`` and ``--device``: where the model comes from, and where it runs.

The model is read by :mod:`idgrad.files.loading` (one line on any problem); ``--factory``
alone builds the whole model (a torch model, or a framework's through its adapter).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from idgrad.cli import CLIError
from idgrad.defaults import CLI_DEVICE

__all__ = ["add_device_option", "add_model_options", "load_model", "parse_device"]


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
        "(default: none; then --factory builds the whole model, e.g. a JAX model with its "
        "weights)",
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


def add_device_option(p: argparse.ArgumentParser) -> None:
    """``--device``, read by :func:`parse_device`."""
    p.add_argument(
        "--device",
        default=CLI_DEVICE,
        help="torch device: cpu, cuda, cuda:N or mps (default: cuda when available, "
        "cuda:LOCAL_RANK under torchrun, else cpu)",
    )


def parse_device(text: str | None) -> torch.device:
    """``--device`` as a torch device that exists here (one line if it does not).

    None picks CUDA when it is available (``cuda:LOCAL_RANK`` under torchrun), else the CPU.
    """
    if text is None:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        rank = os.environ.get("LOCAL_RANK", "0")
        if not rank.isdigit() or int(rank) >= torch.cuda.device_count():
            raise CLIError(
                f"LOCAL_RANK={rank} names no CUDA device of this machine "
                f"({torch.cuda.device_count()}); pass --device"
            )
        return torch.device("cuda", int(rank))
    from idgrad.files.loading import LoadError, check_device

    try:
        return check_device(text)
    except LoadError as err:
        raise CLIError(f"--device {text}: {err}") from None
