"""``idgrad demo``: IG vs IDG on a real ImageNet model and on the logistic benchmark model.

The real part is :func:`idgrad.demo.imagenet.run_imagenet_demo`; the table part is
:mod:`idgrad.demo.logistic`. This module only parses flags and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from idgrad.cli import CLIError
from idgrad.cli.common import HelpFormatter, add_internal_batch_size_option, check_pixels
from idgrad.demo.logistic import format_table, logistic_table
from idgrad.ops.outputs import OutputError

__all__ = ["register", "run"]

_EPILOG = """\
What it writes (to --out, default idgrad-demo/):
  <photo>_attributions.png       the photo, IG and IDG saliency over it and alone
  <photo>_path_dynamics.png      the class logit and its slope along the path, with the
                                 points each method evaluated (the picture of why IDG works)
  <photo>_insertion_deletion.png insertion/deletion curves and AUCs (see below)
  overview.png, report.html      every photo at a glance; one page tying it all together
  .idgrad-demo.json              the files above with their SHA-256: a later demo replaces
                                 them only if unchanged; any other file of these names is
                                 refused before any work unless --overwrite

Equal cost: both methods get the same number of model evaluations (an image through the
network, with or without a backward pass). IG with N steps makes N + 2 (its points and the two
endpoints of its delta); IDG runs idgrad's graded schedule with N + 2 gradient points (the ends
of the path among them) and reports its estimated error; with --pilot-steps it runs the paper's
pilot schedule instead, with the largest M such that M + pilot + 1 <= N + 2.

Insertion/deletion: 896 pixels per step by default, every fourth point of the IDG paper's
224-pixel curves (228 instead of 900 forward passes per photo; on the default photos the AUCs
moved by at most 0.003); --pixels-per-step 224 runs the paper's protocol.

Time: the default run is about 180 s of CPU time (measured 2026-12-07 with /usr/bin/time -v:
idgrad demo --no-progress, 179 s user, on a shared 2-core VM). The wall time depends on the
machine and its load: 447 s there at load average 7-9 (attributions 240 s, insertion/deletion
193 s, figures 5 s), less on a quiet machine. The run prints its own times at the end;
--pixels-per-step 224 gives insertion/deletion about 4x the forward passes (900 vs 228).

Examples:
  idgrad demo                               # the default photos
  idgrad demo --photos astronaut rocket --steps 32 --out /tmp/demo
  idgrad demo --all-photos                  # all seven everyday photos (3.5x the default's work)
  idgrad demo --pixels-per-step 224         # the IDG paper's insertion/deletion protocol
  idgrad demo --logistic-only               # just the table, instantly
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    from idgrad.demo.imagenet import (
        DEFAULT_PHOTOS,
        DEFAULT_PIXELS_PER_STEP,
        DEFAULT_STEPS,
        NATURAL_PHOTOS,
        PAPER_PIXELS_PER_STEP,
    )

    p = subparsers.add_parser(
        "demo",
        help="see IG and IDG explain a real ImageNet model, with no downloads",
        description="Explain EfficientNet-Lite0's top class on bundled photos with Integrated "
        "Gradients and Integrated Decision Gradients at the same cost, score both with "
        "insertion/deletion, and write figures and report.html. Also prints IG vs IDG on the "
        "logistic model F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2.",
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--photos",
        nargs="+",
        metavar="NAME",
        default=None,
        help=f"photos to explain (default: {' '.join(DEFAULT_PHOTOS)}); everyday photos: "
        f"{', '.join(NATURAL_PHOTOS)}; also hubble_deep_field, retina, immunohistochemistry",
    )
    which.add_argument(
        "--all-photos",
        action="store_true",
        help=f"explain all {len(NATURAL_PHOTOS)} everyday photos",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_STEPS,
        metavar="N",
        help=f"IG's gradient points per photo; IDG gets the same number of model "
        f"evaluations (default: {DEFAULT_STEPS})",
    )
    p.add_argument(
        "--pilot-steps",
        type=int,
        default=None,
        metavar="N",
        help="run IDG on the paper's pilot schedule with N pilot intervals (N + 1 "
        "forward passes, the rest gradient points) (default: idgrad's graded schedule, "
        f"{DEFAULT_STEPS + 2} gradient points at --steps {DEFAULT_STEPS}, the evaluations IG "
        "makes)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("idgrad-demo"),
        metavar="DIR",
        help="output folder (default: idgrad-demo/)",
    )
    add_internal_batch_size_option(
        p, "it counted path points per pass, which every command calls --internal-batch-size"
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=224,
        metavar="PX",
        help="photo size; the model was trained at 224, smaller is only for quick "
        "smoke tests (default: 224)",
    )
    p.add_argument(
        "--pixels-per-step",
        type=int,
        default=DEFAULT_PIXELS_PER_STEP,
        metavar="P",
        help=f"pixels inserted/deleted per step of the insertion/deletion curves; "
        f"{PAPER_PIXELS_PER_STEP} is the IDG paper's protocol (4x the forward passes) "
        f"(default: {DEFAULT_PIXELS_PER_STEP})",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files of the demo's names in --out that an earlier demo did not write "
        "(or that changed since) (default: refuse them; files an earlier demo wrote, "
        "unchanged, are replaced)",
    )
    p.add_argument(
        "--logistic-only",
        action="store_true",
        help="only print the logistic-model table (skip the ImageNet model)",
    )
    p.add_argument(
        "--logistic-steps",
        type=int,
        nargs="+",
        default=[10, 20, 50],
        metavar="N",
        help="step counts of the logistic table (default: 10 20 50)",
    )
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> list[str] | None:
    """Validates the flags; returns the photo list (None for the default)."""
    for flag, value in (
        ("--steps", args.steps),
        ("--internal-batch-size", args.internal_batch_size),
        ("--pilot-steps", args.pilot_steps),
        ("--image-size", args.image_size),
        ("--pixels-per-step", args.pixels_per_step),
    ):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")
    check_pixels(args.image_size * args.image_size)
    bad = [n for n in args.logistic_steps if n < 1]
    if bad:
        raise CLIError(f"--logistic-steps must all be >= 1, got {bad}")
    from idgrad.demo.imagenet import NATURAL_PHOTOS, equal_cost_steps

    if args.pilot_steps is not None:
        try:
            equal_cost_steps(args.steps, args.pilot_steps)
        except ValueError as err:
            raise CLIError(
                f"--pilot-steps {args.pilot_steps} with --steps {args.steps}: {err}"
            ) from None
    if args.all_photos:
        return list(NATURAL_PHOTOS)
    if args.photos is None:
        return None
    from idgrad import zoo

    known = zoo.photo_names()
    unknown = [name for name in args.photos if name not in known]
    if unknown:
        raise CLIError(f"unknown photo(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if len(set(args.photos)) != len(args.photos):
        raise CLIError(f"--photos lists a name twice: {' '.join(args.photos)}")
    return list(args.photos)


def run(args: argparse.Namespace) -> int:
    """Print the logistic table, then run the ImageNet demo unless ``--logistic-only``."""
    photos = _check(args)
    print(
        "IG vs IDG on F(x) = sigmoid(50 (x0 - 0.8)) + 0.05 x1 + 0.05 x2, "
        "x = [1, 0.5, 0.3], baseline 0"
    )
    print(format_table(logistic_table(args.logistic_steps)))
    if args.logistic_only:
        return 0

    try:
        from idgrad.demo.imagenet import format_summary, run_imagenet_demo

        print()
        print("IG vs IDG on EfficientNet-Lite0 (ImageNet), top class of each photo, zero baseline")
        result = run_imagenet_demo(
            args.out,
            photos=photos,
            n_steps=args.steps,
            n_pilot_steps=args.pilot_steps,
            batch_size=args.internal_batch_size,
            progress=not args.no_progress,
            image_size=args.image_size,
            pixels_per_step=args.pixels_per_step,
            overwrite=args.overwrite,
        )
    except ImportError as err:
        raise CLIError(f"{err} (or run `idgrad demo --logistic-only`)") from None
    except OutputError as err:
        raise CLIError(str(err)) from None
    except OSError as err:
        raise CLIError(f"cannot write to {args.out}: {err}") from None
    idg = (
        f"pilot of {result.n_pilot_steps + 1} forward passes + {result.idg_steps} gradient points"
        if result.n_pilot_steps
        else f"graded schedule, {result.idg_steps} gradient points"
    )
    print(f"IG: {result.n_steps} uniform points ({result.ig_rule}) + 2 endpoints; IDG: {idg}")
    print(format_summary(result))
    seconds = result.seconds
    print(
        f"done in {seconds['total']:.0f} s (attributions {seconds['attribution']:.0f} s, "
        f"insertion/deletion {seconds['metrics']:.0f} s, figures {seconds['figures']:.0f} s)"
    )
    print(f"wrote {len(result.photos) * 3 + 1} figures and {result.report}")
    return 0
