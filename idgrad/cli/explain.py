"""``idgrad explain``: attribute a user's saved model on inputs from files.

Models are read by :mod:`idgrad.files.loading` (TorchScript, ``torch.export`` archives, or a
state dict with ``--factory``; nothing is unpickled beyond ``weights_only``). Inputs come
from image files (read by :mod:`idgrad.files.images`, with the same ``--image-size``,
``--normalize`` and ``--grayscale`` as ``idgrad dataset``), a ``.npy`` array or a ``.pt``
tensor. Everything the user gave is checked, and one forward pass is run, before the
attribution: the options, the target, and where the outputs go (an input is never
replaced, an existing file only with ``--overwrite``, and the folder must take a new
file). Then the array is written (``.npy`` or ``.pt``), a line per example with
``F(x)``, ``F(x')``, their difference, the attributions' sum and the convergence delta (and
on the graded schedule the estimated error and the evaluations spent) is printed, and for
image-shaped inputs a titled heat map ``<stem of --out>_heatmap.png`` is drawn when
matplotlib is installed. ``--rtol`` asks for an accuracy instead of a number of steps
(``rtol=`` in Python).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idgrad.cli import CLIError
from idgrad.cli.common import (
    HelpFormatter,
    add_device_option,
    add_image_options,
    add_internal_batch_size_option,
    add_method_option,
    add_model_options,
    add_overwrite_option,
    add_steps_options,
    add_target_option,
    budget,
    check_budget_options,
    check_output_file,
    image_size,
    load_model,
    parse_baseline,
    parse_device,
    parse_target,
    target_message,
    target_text,
    with_flag,
    write_output,
)
from idgrad.core.targets import Target, is_predicted, resolve_target
from idgrad.defaults import CLI_METHOD, INTERNAL_BATCH_SIZE
from idgrad.files.images import DEFAULT_NORMALIZE, IMAGE_EXTENSIONS, read_image, to_pixels
from idgrad.methods.registry import get_method
from idgrad.ops.extras import install_hint

__all__ = ["DYNAMIC_BATCH_FIX", "heatmap_path", "load_inputs", "register", "run"]

#: How to export a model that takes any batch size: the tuple form of ``dynamic_shapes``
#: works whatever the forward's argument is called (``input`` for an ``nn.Sequential``).
DYNAMIC_BATCH_FIX = (
    "export it with a dynamic batch dimension, e.g. torch.export.export(model, (x,), "
    "dynamic_shapes=({0: torch.export.Dim('batch')},)) for a model of one input"
)

_PLOT_HINT = install_hint("plot")


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
        formatter_class=HelpFormatter,
    )
    add_model_options(p)
    p.add_argument(
        "--input",
        required=True,
        type=Path,
        nargs="+",
        help="image file(s), a .npy array or a .pt tensor; batched along axis 0",
    )
    add_method_option(p, CLI_METHOD)
    add_target_option(p, ("predicted",))
    p.add_argument(
        "--baseline",
        default=None,
        help="a number, or a .npy/.pt file broadcastable to the input (default: the "
        "method's own, zeros for the straight-path methods)",
    )
    add_steps_options(p)
    add_internal_batch_size_option(
        p, "it counted path points per pass, which every command calls --internal-batch-size"
    )
    add_device_option(p)
    add_image_options(p)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("attributions.npy"),
        help="output file, .npy or .pt; for image-shaped inputs a heat map is drawn beside "
        "it, named OUT's stem + '_heatmap.png'",
    )
    add_overwrite_option(p, "--out (and its heat map)")
    p.add_argument(
        "--plot",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw the .png heat map of the first example (needs matplotlib: "
        f"{_PLOT_HINT}) (default: drawn when matplotlib is installed)",
    )
    p.set_defaults(func=run)


def load_inputs(
    paths: list[Path],
    size: int | tuple[int, int] | None = None,
    normalize: str | None = None,
    grayscale: bool = False,
) -> tuple[torch.Tensor, bool]:
    """Inputs from files as one float tensor (batched on axis 0); also whether they are images."""
    from idgrad.files.loading import LoadError, load_tensor

    for p in paths:
        if not p.is_file():
            raise CLIError(f"input file not found: {p}" if not p.exists() else f"not a file: {p}")
    suffixes = {p.suffix.lower() for p in paths}
    if suffixes <= set(IMAGE_EXTENSIONS):
        try:
            arrays = [
                read_image(
                    p,
                    size=size,
                    mode="L" if grayscale else "RGB",
                    normalize=normalize or DEFAULT_NORMALIZE,
                )
                for p in paths
            ]
        except (OSError, ValueError) as err:
            raise CLIError(str(err)) from None
        shapes = {tuple(a.shape) for a in arrays}
        if len(shapes) != 1:
            raise CLIError(f"images have different sizes {sorted(shapes)}; pass --image-size")
        return torch.stack(arrays), True
    given = [
        flag
        for flag, value in (("--image-size", size), ("--normalize", normalize))
        if value is not None
    ] + (["--grayscale"] if grayscale else [])
    if given:
        raise CLIError(
            f"{', '.join(given)} apply to image files; {paths[0]} is an array (give it in "
            "model space)"
        )
    if len(paths) != 1:
        raise CLIError("give one .npy/.pt input file (its first axis is the batch)")
    try:
        x = load_tensor(paths[0], what="input")
    except LoadError as err:
        raise CLIError(str(err)) from None
    if x.dtype == torch.bool or x.is_complex():
        raise CLIError(f"input {paths[0]} has dtype {x.dtype}; expected real numbers")
    return (x if x.is_floating_point() else x.float()), False


def _probe(model: Any, x: torch.Tensor, paths: list[Path], is_image: bool) -> Any:
    """One forward pass on the inputs: a model/input mismatch is one line, before any work."""
    try:
        with torch.no_grad():
            return model(x)
    except Exception as err:  # noqa: BLE001 - whatever the model raises, the input is to blame
        text = str(err).strip().splitlines()
        reason = text[-1] if text else type(err).__name__
        hint = "--image-size or --grayscale" if is_image else "the array's shape"
        if "shape[0]" in reason:
            hint = f"the batch size: the model has a fixed one; {DYNAMIC_BATCH_FIX}"
        raise CLIError(
            f"the model cannot take the input of shape {tuple(x.shape)} from "
            f"{paths[0]}{' ...' if len(paths) > 1 else ''} ({reason[:200]}); check {hint}"
        ) from None


def _plot_wanted(args: argparse.Namespace, is_image_shaped: bool) -> bool:
    if args.plot is False or not is_image_shaped:
        return False
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if args.plot:
            raise CLIError(f"--plot needs matplotlib: {_PLOT_HINT}") from None
        return False
    return True


def heatmap_path(out: Path) -> Path:
    """Where the heat map of ``--out`` goes: beside it, ``<stem>_heatmap.png``.

    Its own name, so that ``--input cat.png --out cat.npy`` keeps the photo.
    """
    return out.with_name(f"{out.stem}_heatmap.png")


def _input_files(args: argparse.Namespace) -> list[Path]:
    """Every file the command reads: an output may never be one of them."""
    files = [*args.input, *([args.model] if args.model is not None else [])]  # --factory alone
    for value in (args.baseline, args.target):
        if value is not None and Path(str(value)).suffix.lower() in (".npy", ".pt"):
            files.append(Path(str(value)))
    return files


def run(args: argparse.Namespace) -> int:
    """Check everything, load, attribute, save, report."""
    check_budget_options(args)
    if args.internal_batch_size is not None and args.internal_batch_size < 1:
        raise CLIError(f"--internal-batch-size must be >= 1, got {args.internal_batch_size}")
    if args.out.suffix not in (".npy", ".pt"):
        raise CLIError(f"--out must end in .npy or .pt, got {args.out}")
    inputs = _input_files(args)
    check_output_file(args.out, overwrite=args.overwrite, inputs=inputs)
    png = heatmap_path(args.out)
    target = parse_target(target_text(args))
    size = image_size(args.image_size)
    device = parse_device(args.device)
    x, is_image = load_inputs(list(args.input), size, args.normalize, args.grayscale)
    if not is_predicted(target):
        try:  # the form, before any work: the rules and errors of the library
            Target(target, int(x.shape[0]))
        except (TypeError, ValueError) as err:
            raise CLIError(target_message(args, str(err))) from None
    image_shaped = is_image or (x.ndim == 4 and x.shape[1] in (1, 3))
    plot = _plot_wanted(args, image_shaped)
    if plot:
        check_output_file(
            png, "--out (its heat map)", overwrite=args.overwrite, inputs=[*inputs, args.out]
        )
    if args.plot and not image_shaped:
        raise CLIError(f"--plot draws image-shaped inputs; these have shape {tuple(x.shape)}")
    baselines = parse_baseline(args.baseline)
    model = load_model(args, device)
    x = x.to(device)
    if isinstance(baselines, torch.Tensor):
        baselines = baselines.to(device)
    output = _probe(model, x, list(args.input), is_image)
    try:  # "predicted": the classes at the inputs, by the rule every method uses
        target = resolve_target(target, output)
    except ValueError as err:
        raise CLIError(target_message(args, str(err))) from None
    details = _attribute(args, model, x, baselines, target)
    shown = _shown_targets(target, output, int(x.shape[0]))
    attr = details.attributions.detach().cpu()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".pt":
        write_output(args.out, lambda f: torch.save(attr, f), args.overwrite)
    else:
        write_output(args.out, lambda f: np.save(f, attr.numpy()), args.overwrite)
    print(f"wrote {args.out} {tuple(attr.shape)}")
    for line in _report(details, shown):
        print(line)
    if plot:
        figure = _draw_png(attr[0], x[0].cpu() if is_image else None, args, _title(args, shown[0]))
        write_output(png, lambda f: f.write(figure), args.overwrite)
        print(f"wrote {png}")
    elif image_shaped and args.plot is None:
        print(f"no heat map drawn: matplotlib is not installed ({_PLOT_HINT}, or --no-plot)")
    return 0


def _attribute(
    args: argparse.Namespace, model: Any, x: torch.Tensor, baselines: Any, target: Any
) -> Any:
    method = get_method(args.method)
    try:
        return method.details(
            model,
            x,
            baselines=baselines,
            target=target,
            internal_batch_size=args.internal_batch_size or INTERNAL_BATCH_SIZE,
            **budget(args),
        )
    except (ValueError, TypeError) as err:
        raise CLIError(with_flag(str(err))) from None
    except torch.OutOfMemoryError:
        raise CLIError(
            "out of memory; pass a smaller --internal-batch-size (or --device cpu)"
        ) from None
    except (AssertionError, RuntimeError) as err:
        if "Guard failed" in str(err) or "Expected input" in str(err):
            raise CLIError(
                "the exported model has a fixed batch size, but path methods evaluate many "
                f"points per pass: {DYNAMIC_BATCH_FIX}"
            ) from None
        raise


def _gap(details: Any) -> tuple[str, str, torch.Tensor | None, torch.Tensor]:
    """Labels and values of the start output and of what the attributions should sum to."""
    if hasattr(details, "end"):
        return "F(x')", "F(x)-F(x')", details.start, details.end - details.start
    # AGI: paths from x to several adversarial end points
    return "", "sum_j F(x)-F(x_j)", None, (details.start[:, None] - details.end_outputs).sum(1)


def _shown_targets(target: Any, output: Any, batch: int) -> list[str]:
    """Each example's target as printed: the indices it explained, counted from the start.

    ``-`` for None (the model's one scalar) and a callable; ``-1`` of 5 classes is ``4``.
    """
    t = Target(target, batch)
    if t.callable is not None or t.depth == 0:
        return ["-"] * batch
    rows = t.per_example if t.per_example is not None else torch.tensor([t.fixed])
    rows = rows.cpu().expand(batch, -1)
    sizes = torch.tensor(output.shape[1 : 1 + rows.shape[1]])
    return [",".join(map(str, r.tolist())) for r in torch.remainder(rows, sizes)]


def _report(details: Any, shown: list[str]) -> list[str]:
    """One line per example: F(x), F(x'), the difference, the attributions' sum, delta."""
    start_label, gap_label, start, gap = _gap(details)
    end = details.end if hasattr(details, "end") else details.start
    total = details.attributions.detach().reshape(len(gap), -1).double().sum(1)
    delta = details.delta.detach().double()
    header = f"{'example':>7} {'target':>7} {'F(x)':>12}"
    header += f" {start_label:>12}" if start is not None else ""
    header += f" {gap_label:>17} {'sum(attr)':>12} {'delta':>11}"
    error = getattr(details, "error", None)  # the graded schedule's estimate
    if error is not None:
        header += f" {'est. error':>10} {'evals':>6}"
    lines = [header]
    for i in range(len(gap)):
        row = f"{i:>7} {shown[i]:>7} {float(end[i]):>12.6g}"
        row += f" {float(start[i]):>12.6g}" if start is not None else ""
        row += f" {float(gap[i]):>17.6g} {float(total[i]):>12.6g} {float(delta[i]):>11.3g}"
        if error is not None:
            row += f" {float(error[i]):>10.2e} {int(details.evaluations[i]):>6}"
        lines.append(row)
    lines.append(
        "delta: the quadrature error of the path integral of F' (before any rescaling); "
        "small |delta| relative to the difference means enough steps"
    )
    if error is not None:
        lines.append(
            "est. error: the graded schedule's estimate of the relative L2 error of the "
            "attributions; evals: the model evaluations it spent (--rtol asks for an accuracy)"
        )
    return lines


def _title(args: argparse.Namespace, shown: str) -> str:
    return f"{args.method} attributions, {args.input[0].name}, target {shown}"


def _draw_png(
    attr: torch.Tensor, image: torch.Tensor | None, args: argparse.Namespace, title: str
) -> bytes:
    """The heat map of one example as PNG bytes (written by :func:`write_output`)."""
    import matplotlib.pyplot as plt

    from idgrad import plot

    shown = None
    if image is not None:
        pixels = to_pixels(image, args.normalize or DEFAULT_NORMALIZE)
        shown = (pixels.clamp(0, 255) / 255).permute(1, 2, 0).squeeze(-1).numpy()
    fig, _ = plot.image_attribution(
        attr.numpy(),
        image=shown,
        sign="all",
        method="blended_heat_map" if shown is not None else "heat_map",
        title=title,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
