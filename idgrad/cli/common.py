"""What ``idgrad explain`` and ``idgrad dataset`` share: options, model loading, output checks.

A flag means the same in every command that has it, with the same default: both
commands take the model the same way (:func:`add_model_options`, :func:`load_model`,
through :mod:`idgrad.files.loading`), read images with the same options
(:func:`add_image_options`, :mod:`idgrad.files.images`), name targets with the same words
and default (:func:`add_target_option`, :func:`parse_target`), take the same budget
(:func:`add_steps_options`: ``--steps``, ``--schedule``, ``--rule``, ``--rtol``,
``--max-evaluations``, checked by the library's own rules), memory bound
(:func:`add_internal_batch_size_option`: points per pass), baseline
(:func:`parse_baseline`) and device (:func:`parse_device`), and check where they will
write before any work (:func:`check_output_file`, :func:`check_output_dir`): an input is
never replaced, an existing file only with ``--overwrite`` (:mod:`idgrad.ops.outputs`).

Example:
    >>> parse_target("3"), parse_target("1,2"), parse_target("predicted")
    (3, (1, 2), 'predicted')
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import torch

from idgrad.cli import CLIError
from idgrad.defaults import (
    CLI_DEVICE,
    CLI_TARGET,
    GRADED_MAX_EVALUATIONS,
    MAX_EVALUATIONS,
    N_STEPS,
    RTOL,
    RULE_AUTO,
    SCHEDULE_AUTO,
)
from idgrad.engine.rules import RULES
from idgrad.engine.schedules import SCHEDULES, make_schedule
from idgrad.files.images import DEFAULT_NORMALIZE, NORMALIZATIONS
from idgrad.methods.registry import DEPRECATED_NAMES, METHODS, get_method
from idgrad.ops import outputs

#: How an error about an existing output says to replace it.
OVERWRITE_HINT = "pass --overwrite to replace it"

__all__ = [
    "OVERWRITE_HINT",
    "DeprecatedAlias",
    "HelpFormatter",
    "add_device_option",
    "add_image_options",
    "add_internal_batch_size_option",
    "add_method_option",
    "add_model_options",
    "add_overwrite_option",
    "add_steps_options",
    "add_target_option",
    "budget",
    "check_budget_options",
    "check_pixels",
    "check_output_dir",
    "check_output_file",
    "image_size",
    "inside",
    "load_model",
    "parse_baseline",
    "parse_device",
    "parse_target",
    "target_message",
    "target_text",
    "with_flag",
    "write_output",
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
    check_pixels(values[0] * values[-1])
    return values[0] if len(values) == 1 else (values[0], values[1])


def max_image_pixels() -> int:
    """The most pixels an image may be resized to: Pillow's own bound on images it reads."""
    try:
        from PIL import Image
    except ImportError:
        return 89_478_485  # Pillow's default (Image.MAX_IMAGE_PIXELS) in every release
    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def check_pixels(pixels: int, flag: str = "--image-size") -> None:
    """Refuse a resize target larger than an image idgrad would read (before any work)."""
    limit = max_image_pixels()
    if pixels > limit:
        raise CLIError(
            f"{flag} asks for {pixels} pixels per image, more than the {limit} that Pillow "
            "reads (PIL.Image.MAX_IMAGE_PIXELS); give a smaller size"
        )


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


def check_output_file(
    path: Path,
    flag: str = "--out",
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse before any work an output file that may not or cannot be written.

    An input is never replaced; an existing file only with ``--overwrite``; the folder
    must take a new file (tried, not guessed: see :func:`idgrad.ops.outputs.check_writable`).
    """
    try:
        outputs.check_output_file(
            path, overwrite=overwrite, inputs=inputs, what=flag, hint=OVERWRITE_HINT
        )
    except outputs.OutputError as err:
        raise CLIError(str(err)) from None


def check_output_dir(
    path: Path, flag: str = "--out", inputs: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Refuse before any work an output folder that is an input or cannot be written."""
    if path.exists() and not path.is_dir():
        raise CLIError(f"{flag} {path} is a file; give a folder")
    for given in inputs:
        if Path(given).exists() and inside(path, given):
            raise CLIError(
                f"{flag} {path} is inside the input folder {given}: the run's files would "
                "become part of its data; choose a folder outside it"
            )
    try:
        outputs.check_writable(path, f"{flag} {path}")
    except outputs.OutputError as err:
        raise CLIError(str(err)) from None


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (links resolved)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    resolved, base = Path(path).resolve(), folder.resolve()
    return resolved == base or base in resolved.parents


def write_output(path: Path, write: Callable[[IO[bytes]], Any], overwrite: bool) -> None:
    """Write an output file at once (:func:`idgrad.ops.outputs.write_file`); one line on error."""
    try:
        outputs.write_file(path, write, overwrite=overwrite, hint=OVERWRITE_HINT)
    except outputs.OutputError as err:
        raise CLIError(str(err)) from None


def add_overwrite_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``: replace existing output files (never an input)."""
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {what} if it exists (default: refuse; an input file is never replaced)",
    )


# ---------------------------------------------------------------------- options shared by commands


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


def add_method_option(p: argparse.ArgumentParser, default: str) -> None:
    """``--method``: a registry name (the old ``idg-pilot``/``idg-uniform`` still work)."""
    p.add_argument(
        "--method",
        default=default,
        choices=sorted(METHODS) + sorted(DEPRECATED_NAMES),
        metavar="{" + ",".join(sorted(METHODS)) + "}",
        help="attribution method",
    )


def add_steps_options(p: argparse.ArgumentParser) -> None:
    """``--steps``, ``--schedule``, ``--rule``, ``--rtol`` and ``--max-evaluations``.

    Read by :func:`check_budget_options` and :func:`budget`; the words are the library's
    (``n_steps=``, ``schedule=``, ``rule=``, ``rtol=``, ``max_evaluations=``).
    """
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="gradient points per example (default: the method's own, "
        f"{N_STEPS} for the path methods; with --rtol as many as it needs)",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=SCHEDULE_AUTO,
        help="where the points go: uniform (one rule), pilot (the IDG paper's), graded "
        "(where the integrand needs them, with an error estimate) (default: the method's "
        "own: uniform for ig, graded for idg; graded with --rtol)",
    )
    p.add_argument(
        "--rule",
        choices=RULES,
        default=RULE_AUTO,
        help="the quadrature rule of the uniform and pilot schedules (default: gausslegendre "
        "for uniform, riemann_middle inside pilot intervals)",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=RTOL,
        help="ask for an accuracy instead of --steps: points are added until the estimated "
        "relative L2 error of each example's attributions is below RTOL (the graded "
        "schedule) (default: none, a fixed number of steps)",
    )
    p.add_argument(
        "--max-evaluations",
        type=int,
        default=MAX_EVALUATIONS,
        help="the most model evaluations --rtol may spend per example "
        f"(default: {GRADED_MAX_EVALUATIONS})",
    )


def resolve_method(args: argparse.Namespace) -> None:
    """An old ``--method idg-pilot``/``idg-uniform`` as ``--method idg --schedule ...``.

    Says so on stderr (one line); refused when ``--schedule`` says otherwise.
    """
    if args.method not in DEPRECATED_NAMES:
        return
    method, schedule = DEPRECATED_NAMES[args.method]
    if args.schedule not in (None, schedule):
        raise CLIError(f"--method {args.method} is --schedule {schedule}; drop --schedule")
    print(
        f"idgrad: warning: --method {args.method} is deprecated; use --method {method} "
        f"--schedule {schedule}",
        file=sys.stderr,
    )
    args.method, args.schedule = method, schedule


def budget(args: argparse.Namespace) -> dict[str, Any]:
    """The method's keyword arguments for the budget and schedule flags given."""
    given = {
        "n_steps": args.steps,
        "schedule": args.schedule,
        "rule": args.rule,
        "rtol": args.rtol,
        "max_evaluations": args.max_evaluations,
    }
    return {name: value for name, value in given.items() if value is not None}


def check_budget_options(args: argparse.Namespace) -> None:
    """The budget and schedule flags: checked by the library's rules, before any work.

    Methods without a schedule (their path is not fixed in advance: guided-ig, agi) refuse
    ``--schedule``, ``--rule``, ``--rtol`` and ``--max-evaluations``.
    """
    resolve_method(args)
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps must be >= 1, got {args.steps}")
    spec = get_method(args.method)
    scheduled = {
        "--schedule": args.schedule,
        "--rule": args.rule,
        "--rtol": args.rtol,
        "--max-evaluations": args.max_evaluations,
    }
    if not spec.schedules:
        given = [flag for flag, value in scheduled.items() if value is not None]
        if given:
            with_schedules = ", ".join(name for name in sorted(METHODS) if METHODS[name].schedules)
            raise CLIError(
                f"{given[0]} is for the methods with a schedule ({with_schedules}); "
                f"--method {args.method} builds its path as it goes"
            )
        return
    try:
        make_schedule(
            schedule=args.schedule,
            rule=args.rule,
            n_steps=args.steps,
            rtol=args.rtol,
            max_evaluations=args.max_evaluations,
            default=spec.default_schedule,
        )
    except (TypeError, ValueError) as err:
        raise CLIError(with_flag(str(err))) from None


def add_internal_batch_size_option(p: argparse.ArgumentParser, old_meaning: str = "") -> None:
    """``--internal-batch-size``: path points per forward/backward pass, in every command.

    Args:
        old_meaning: for a command where ``--batch-size`` meant the same before, a
            sentence for the deprecation message: the old spelling keeps working.
    """
    p.add_argument(
        "--internal-batch-size",
        type=int,
        default=None,
        metavar="POINTS",
        help="at most this many path points per forward/backward pass: a memory bound "
        "(internal_batch_size= in Python) (default: chosen from the input size)",
    )
    if old_meaning:
        p.add_argument(
            "--batch-size",
            type=int,
            dest="internal_batch_size",
            action=DeprecatedAlias,
            new="--internal-batch-size",
            note=old_meaning,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: works as the new one and says so on stderr, once per use."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, note: str, **kw: Any):
        self.new = new
        self.note = note
        super().__init__(option_strings, dest, **kw)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            f"idgrad: warning: {option_string} is deprecated here ({self.note}); use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def parse_baseline(text: str | None) -> Any:
    """``--baseline``: None (the method's own), a finite number, or a .npy/.pt tensor file."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise CLIError(f"--baseline must be a finite number or a .npy/.pt file, got {text}")
        return value
    if Path(text).suffix.lower() not in (".npy", ".pt"):
        raise CLIError(f"--baseline must be a number or a .npy/.pt file, got {text!r}")
    from idgrad.files.loading import LoadError, load_tensor

    try:
        return load_tensor(text, what="baseline")
    except LoadError as err:
        raise CLIError(str(err)) from None


#: The method arguments that command-line flags set, for messages that name the argument.
FLAGS = {
    "n_steps": "--steps",
    "schedule": "--schedule",
    "rule": "--rule",
    "n_pilot_steps": "--pilot-steps",
    "rtol": "--rtol",
    "max_evaluations": "--max-evaluations",
    "internal_batch_size": "--internal-batch-size",
    "baselines": "--baseline",
}


def with_flag(message: str) -> str:
    """A library message that names a method argument, with the flag that sets it.

    Example:
        >>> with_flag("n_steps must be >= 2, got 1")
        'n_steps must be >= 2, got 1 (n_steps is --steps)'
    """
    named = [
        f"{name} is {flag}"
        for name, flag in FLAGS.items()
        if re.search(rf"(?<![\w-]){name}(?![\w-])", message)
    ]
    return f"{message} ({'; '.join(named)})" if named else message


def add_target_option(p: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
    """``--target`` with one default and one meaning in every command (:func:`target_text`)."""
    extra = ", 'label' (each example's label)" if "label" in words else ""
    p.add_argument(
        "--target",
        default=None,
        metavar="T",
        help="what to explain, as target= in Python (idgrad.core.targets): 'predicted' (each "
        "example's highest output of a (batch, classes) model)"
        f"{extra}, 'none' (the model returns one scalar per example), an int or 'i,j' for a "
        "multi-dimensional output (negative counts from the end), or a .npy file of one int "
        f"per example (or one for every example) (default: {CLI_TARGET})",
    )


def target_text(args: argparse.Namespace) -> str:
    """``--target`` as given, or the default (:data:`idgrad.defaults.CLI_TARGET`)."""
    return CLI_TARGET if args.target is None else str(args.target)


def target_message(args: argparse.Namespace, message: str) -> str:
    """An error about the target, saying what to do when the target came from the default."""
    if args.target is None:
        return (
            f"--target {CLI_TARGET} (the default): {message}; for a model that returns one "
            "scalar per example pass --target none"
        )
    return f"--target {args.target}: {message}"
