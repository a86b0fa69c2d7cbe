"""``idgrad explain``: attribute a user's saved model on inputs from files.

Models are loaded safely, never by unpickling arbitrary objects: a TorchScript file
(``torch.jit.save``), a ``torch.export`` ExportedProgram (``.pt2``), or a state dict
(loaded with ``weights_only=True``) together with ``--factory module:function``
that builds the architecture. Inputs come from an image file (PNG/JPEG, read with
Pillow or scikit-image), a ``.npy`` array or a ``.pt`` tensor (``weights_only``).
Attributions are written as ``.npy`` (or ``.pt``) and, for image-shaped inputs, a PNG.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idgrad.cli import CLIError
from idgrad.defaults import CLI_METHOD, INTERNAL_BATCH_SIZE, N_STEPS
from idgrad.methods.registry import METHODS, get_method

__all__ = ["load_inputs", "load_model", "register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` subcommand."""
    p = subparsers.add_parser(
        "explain",
        help="attribute a saved model's output on inputs from files",
        description="Attribute a saved PyTorch model's output to its input features.",
        epilog="Examples:\n"
        "  idgrad explain --model net.pt --input x.npy --target 3\n"
        "  idgrad explain --model weights.pt --factory mypkg.models:make_net "
        "--input cat.png --method ig --steps 64 --out cat-attr.npy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        required=True,
        type=Path,
        help="TorchScript file, torch.export .pt2 file, or a state dict (with --factory)",
    )
    p.add_argument(
        "--factory",
        default=None,
        help="'module:function' building the model, for a state-dict --model",
    )
    p.add_argument(
        "--input",
        required=True,
        type=Path,
        nargs="+",
        help="image file(s), a .npy array or a .pt tensor; batched along axis 0",
    )
    p.add_argument(
        "--method",
        default=CLI_METHOD,
        choices=sorted(METHODS),
        help=f"attribution method (default: {CLI_METHOD})",
    )
    p.add_argument(
        "--target",
        default=None,
        help="output index: an int, 'i,j' for a multi-dimensional output, or 'top' "
        "for each example's highest output (default: the output must be a scalar)",
    )
    p.add_argument(
        "--baseline",
        default="0",
        help="a number, or a .npy/.pt file broadcastable to the input (default: 0)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=N_STEPS,
        help=f"gradient steps per example (default: {N_STEPS})",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="at most this many path points per forward/backward pass "
        "(default: chosen from the input size)",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="resize image inputs to this square size (centre crop)",
    )
    p.add_argument(
        "--normalize",
        default="none",
        choices=["none", "unit", "imagenet", "lite"],
        help="image normalisation: none (0-255), unit (0-1), imagenet (mean/std), "
        "lite ((x-127)/128)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("attributions.npy"),
        help="output file, .npy or .pt (a .png heat map is written beside it for images)",
    )
    p.set_defaults(func=run)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise CLIError(f"{what} file not found: {path}")
    if not path.is_file():
        raise CLIError(f"{what} is not a file: {path}")


def load_model(path: Path, factory: str | None = None, device: str = "cpu") -> Callable[..., Any]:
    """Load a TorchScript, ExportedProgram or state-dict model without unpickling objects."""
    _check_file(path, "model")
    if factory is not None:
        module_name, _, func_name = factory.partition(":")
        if not module_name or not func_name:
            raise CLIError(f"--factory must look like 'module:function', got {factory!r}")
        try:
            build = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as err:
            raise CLIError(f"cannot import factory {factory!r}: {err}") from None
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure is a user error here
            raise CLIError(
                f"{path} is not a state dict loadable with weights_only=True: {err}"
            ) from None
        if not isinstance(state, dict):
            raise CLIError(f"{path} holds a {type(state).__name__}, not a state dict")
        model = build()
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise CLIError(f"the state dict does not fit the model from {factory}: {err}") from None
        return model.to(device).eval()
    if path.suffix == ".pt2":
        try:
            program = torch.export.load(str(path))
        except Exception as err:  # noqa: BLE001
            raise CLIError(f"cannot load ExportedProgram {path}: {err}") from None
        return program.module().to(device)
    try:
        return torch.jit.load(str(path), map_location=device).eval()
    except Exception as err:  # noqa: BLE001 - torch raises several types for non-TorchScript files
        raise CLIError(
            f"{path} is not a TorchScript file ({err.__class__.__name__}); save the model with "
            "torch.jit.save or torch.export.save (.pt2), or pass a state dict with --factory"
        ) from None


def _read_image(path: Path, size: int | None) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib and scikit-image
        raise CLIError("reading images needs Pillow: pip install pillow") from None
    try:
        with Image.open(path) as opened:
            im = opened.convert("RGB")
            if size is not None:
                w, h = im.size
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                im = im.crop((left, top, left + side, top + side)).resize(
                    (size, size), Image.Resampling.BILINEAR
                )
            return np.asarray(im, dtype=np.float32).transpose(2, 0, 1)  # (3, H, W), 0-255
    except OSError as err:
        raise CLIError(f"cannot read image {path}: {err}") from None


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _normalise_image(x: torch.Tensor, how: str) -> torch.Tensor:
    if how == "unit":
        return x / 255.0
    if how == "imagenet":
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
        return (x - mean) / std
    if how == "lite":
        return (x - 127.0) / 128.0
    return x


def load_inputs(
    paths: list[Path], image_size: int | None = None, normalize: str = "none"
) -> tuple[torch.Tensor, bool]:
    """Inputs from files as one float tensor (batched on axis 0); also whether they are images."""
    for p in paths:
        _check_file(p, "input")
    suffixes = {p.suffix.lower() for p in paths}
    if suffixes <= _IMAGE_SUFFIXES:
        arrays = [_read_image(p, image_size) for p in paths]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise CLIError(f"images have different sizes {sorted(shapes)}; pass --image-size")
        return _normalise_image(torch.from_numpy(np.stack(arrays)), normalize), True
    if len(paths) != 1:
        raise CLIError("give one .npy/.pt input file (its first axis is the batch)")
    path = paths[0]
    if path.suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise CLIError(f"cannot read {path}: {err}") from None
        x = torch.from_numpy(np.ascontiguousarray(data))
    elif path.suffix == ".pt":
        try:
            x = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001
            raise CLIError(f"cannot read {path} with weights_only=True: {err}") from None
        if not isinstance(x, torch.Tensor):
            raise CLIError(f"{path} holds a {type(x).__name__}, not a tensor")
    else:
        raise CLIError(f"unsupported input file type {path.suffix!r}: use an image, .npy or .pt")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int32, torch.int64)):
        raise CLIError(f"input {path} has dtype {x.dtype}; expected numbers")
    return x.float() if not x.is_floating_point() else x, False


def _parse_target(text: str | None) -> Any:
    if text is None or text == "top":
        return text
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise CLIError(f"--target must be an int, 'i,j,...' or 'top', got {text!r}") from None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _parse_baseline(text: str, device: str) -> Any:
    try:
        return float(text)
    except ValueError:
        pass
    path = Path(text)
    _check_file(path, "baseline")
    if path.suffix == ".npy":
        return torch.from_numpy(np.load(path, allow_pickle=False)).to(device)
    if path.suffix == ".pt":
        return torch.load(path, map_location=device, weights_only=True)
    raise CLIError(f"--baseline must be a number or a .npy/.pt file, got {text!r}")


def run(args: argparse.Namespace) -> int:
    """Load, attribute, save."""
    if args.steps < 1:
        raise CLIError(f"--steps must be >= 1, got {args.steps}")
    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.out.suffix not in (".npy", ".pt"):
        raise CLIError(f"--out must end in .npy or .pt, got {args.out}")
    model = load_model(args.model, args.factory, args.device)
    x, is_image = load_inputs(list(args.input), args.image_size, args.normalize)
    x = x.to(args.device)
    target = _parse_target(args.target)
    if target == "top":
        with torch.no_grad():
            out = model(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            raise CLIError("--target top needs a model returning (batch, classes)")
        target = out.argmax(1)
    method = get_method(args.method)
    try:
        attr = method(
            model,
            x,
            baselines=_parse_baseline(args.baseline, args.device),
            target=target,
            n_steps=args.steps,
            internal_batch_size=args.batch_size or INTERNAL_BATCH_SIZE,
        )
    except (ValueError, TypeError) as err:
        raise CLIError(str(err)) from None
    except (AssertionError, RuntimeError) as err:
        if "Guard failed" in str(err) or "Expected input" in str(err):
            raise CLIError(
                "the exported model has a fixed batch size, but path methods evaluate many "
                "points per pass: export it with a dynamic batch dimension "
                "(dynamic_shapes={'x': {0: torch.export.Dim('batch')}})"
            ) from None
        raise
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".pt":
        torch.save(attr.detach().cpu(), args.out)
    else:
        np.save(args.out, attr.detach().cpu().numpy())
    print(f"wrote {args.out} {tuple(attr.shape)}")
    if is_image or (attr.ndim == 4 and attr.shape[1] in (1, 3)):
        png = args.out.with_suffix(".png")
        _save_png(
            attr[0].detach().cpu(), x[0].detach().cpu() if is_image else None, png, args.normalize
        )
        print(f"wrote {png}")
    return 0


def _save_png(attr: torch.Tensor, image: torch.Tensor | None, path: Path, normalize: str) -> None:
    from idgrad import plot

    shown = None
    if image is not None:
        pixels = image
        if normalize == "unit":
            pixels = image * 255
        elif normalize == "imagenet":
            mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1) * 255
            std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) * 255
            pixels = image * std + mean
        elif normalize == "lite":
            pixels = image * 128 + 127
        shown = (pixels.clamp(0, 255) / 255).permute(1, 2, 0).numpy()
    fig, _ = plot.image_attribution(
        attr.numpy(),
        image=shown,
        sign="all",
        method="blended_heat_map" if shown is not None else "heat_map",
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
