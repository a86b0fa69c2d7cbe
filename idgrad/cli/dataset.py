"""``idgrad dataset``: attribute a whole dataset to disk (resumable, torchrun-ready).

All the work is :func:`idgrad.dataset.attribute_dataset`; this module only turns
files into its arguments: the model through :mod:`idgrad.files.loading` (TorchScript, a
``.pt2`` archive, or a state dict with ``--factory``, as ``idgrad explain``), ``.npy``
arrays (memory-mapped; one file per model input, optional labels) or an image folder
(read as ``idgrad explain`` reads images: same ``--image-size``, ``--normalize`` and
``--grayscale``). Every flag it shares with ``idgrad explain`` means the same there, with
the same default (:mod:`idgrad.cli.common`): ``--target`` (``predicted``), ``--steps``,
``--rtol``, ``--max-evaluations``, ``--internal-batch-size`` (points per pass),
``--baseline`` (a number or a tensor file), ``--device``; ``--batch-size`` is the
dataset's own: examples per block. The output folder is checked before anything is
loaded: it must take new files, lie outside an image folder it reads, and hold none of its
inputs under the names a run writes.

Examples (shell)::

    idgrad dataset --model model.pt --data x.npy --labels y.npy --target label --out attr/
    torchrun --nproc_per_node 4 -m idgrad dataset --model model.pt --data images/ \\
        --image-size 224 224 --out attr/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from idgrad.cli import CLIError
from idgrad.cli.common import (
    DeprecatedAlias,
    HelpFormatter,
    add_device_option,
    add_image_options,
    add_internal_batch_size_option,
    add_model_options,
    add_steps_options,
    add_target_option,
    budget,
    check_budget_options,
    check_output_dir,
    image_size,
    inside,
    load_model,
    parse_baseline,
    parse_device,
    parse_target,
    target_message,
    target_text,
    with_flag,
)
from idgrad.defaults import CLI_METHOD, DATASET_BATCH_SIZE

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``idgrad dataset`` to the top-level parser's subparsers."""
    from idgrad.dataset.runner import METHODS

    p: argparse.ArgumentParser = subparsers.add_parser(
        "dataset",
        help="attribute a whole dataset, streamed to disk and resumable",
        description="Attribute every example of a dataset and write the results block by "
        "block to --out. Run the same command again to resume after a crash; run it under "
        "torchrun to share the work between processes. Read the results with "
        "idgrad.dataset.load_attributions(OUT).",
        formatter_class=HelpFormatter,
    )
    add_model_options(p)
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="PATH",
        help="a folder of images (either images, or class sub-folders of images), or .npy "
        "file(s) (N, ...), one per model input",
    )
    p.add_argument(
        "--labels",
        metavar="LABELS.npy",
        help="integer labels (N,) for .npy data (default: none; an image folder's labels are "
        "its class sub-folders)",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument(
        "--method", default=CLI_METHOD, choices=sorted(METHODS), help="attribution method"
    )
    add_target_option(p, ("predicted", "label"))
    p.add_argument(
        "--baseline",
        default=None,
        help="a number, or a .npy/.pt file broadcastable to one block of inputs (default: the "
        "method's own, zeros for the straight-path methods)",
    )
    add_steps_options(p)
    p.add_argument(
        "--batch-size",
        type=int,
        default=DATASET_BATCH_SIZE,
        metavar="EXAMPLES",
        help="examples per block, attributed in one call and written as one file "
        "(batch_size= of attribute_dataset)",
    )
    add_internal_batch_size_option(p)
    add_image_options(p)
    p.add_argument("--num-workers", type=int, default=0, help="data-loading worker processes")
    add_device_option(p)
    p.add_argument(
        "--skip-errors",
        action="store_true",
        help="record examples that fail and go on (default: stop with their index)",
    )
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="delete the previous idgrad run in --out and start over (a folder that holds no "
        "idgrad run is never cleared)",
    )
    p.add_argument(
        "--recompute-changed",
        action="store_true",
        help="on resume, recompute finished blocks whose inputs changed since they were "
        "written (default: refuse to resume)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--quiet",
        dest="no_progress",
        action=DeprecatedAlias,
        nargs=0,
        new="--no-progress",
        note="every command spells 'no progress bar' --no-progress",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    p.set_defaults(func=run)
    return p


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} {path} does not exist")
    return p


def _load_data(args: argparse.Namespace) -> Any:
    from idgrad.dataset import ArrayDataset, ImageFolderDataset

    paths = [_existing(p, "data") for p in args.data]
    if len(paths) == 1 and paths[0].is_dir():
        if args.labels:
            raise CLIError(
                "--labels is for .npy data; an image folder's labels are its sub-folders"
            )
        try:
            return ImageFolderDataset(
                paths[0],
                size=image_size(args.image_size),
                mode="L" if args.grayscale else "RGB",
                **({} if args.normalize is None else {"normalize": args.normalize}),
            )
        except (ValueError, FileNotFoundError) as err:
            raise CLIError(str(err)) from err
    bad = [str(p) for p in paths if p.suffix != ".npy" or p.is_dir()]
    if bad:
        raise CLIError(f"--data takes one image folder or .npy files; not: {', '.join(bad)}")
    given = [
        flag
        for flag, value in (("--image-size", args.image_size), ("--normalize", args.normalize))
        if value is not None
    ] + (["--grayscale"] if args.grayscale else [])
    if given:
        raise CLIError(
            f"{', '.join(given)} apply to an image folder; .npy data are used as they are"
        )
    labels = _existing(args.labels, "labels file") if args.labels else None
    try:
        return ArrayDataset.from_npy(*paths, labels=labels)
    except (TypeError, ValueError) as err:
        raise CLIError(f"cannot read the data: {err}") from err


def _input_files(args: argparse.Namespace) -> list[Path]:
    """Every file or folder the command reads."""
    files = [Path(p) for p in args.data] + [args.model]
    for value in (args.labels, args.baseline, args.target):
        if value is not None and Path(str(value)).suffix.lower() in (".npy", ".pt"):
            files.append(Path(str(value)))
    return files


def _check_out(args: argparse.Namespace) -> None:
    """``--out``: writable, not inside an image folder it reads, holding none of its inputs."""
    inputs = _input_files(args)
    folders = [p for p in inputs if p.is_dir()]
    check_output_dir(args.out, inputs=folders)
    from idgrad.dataset.manifest import INDEX, MANIFEST, MERGED
    from idgrad.dataset.store import BLOCKS

    for given in inputs:
        for own in (BLOCKS, MERGED, MANIFEST, INDEX):
            if given.exists() and inside(given, args.out / own):
                raise CLIError(
                    f"--out {args.out}: the input {given} is one of the files a run writes "
                    f"there ({own}); move it or choose another --out"
                )


def run(args: argparse.Namespace) -> int:
    """Call :func:`idgrad.dataset.attribute_dataset` with the parsed arguments."""
    from idgrad.dataset import DatasetError, attribute_dataset

    for flag, value in (
        ("--batch-size", args.batch_size),
        ("--internal-batch-size", args.internal_batch_size),
    ):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")
    check_budget_options(args)
    if args.num_workers < 0:
        raise CLIError(f"--num-workers must be >= 0, got {args.num_workers}")
    _check_out(args)
    target = parse_target(target_text(args), ("predicted", "label"))
    baselines = parse_baseline(args.baseline)
    device = parse_device(args.device)
    data = _load_data(args)
    model = load_model(args, device)
    kwargs: dict[str, Any] = budget(args)
    if args.internal_batch_size is not None:
        kwargs["internal_batch_size"] = args.internal_batch_size
    try:
        result = attribute_dataset(
            args.method,
            model,
            data,
            args.out,
            target=target,
            baselines=baselines,
            batch_size=args.batch_size,
            method_kwargs=kwargs,
            resume=not args.no_resume,
            changed_inputs="recompute" if args.recompute_changed else "refuse",
            skip_errors=args.skip_errors,
            progress=not args.no_progress,
            num_workers=args.num_workers,
            device=device,
        )
    except (DatasetError, ValueError, TypeError) as err:
        message = str(err)
        if args.target is None and "target='predicted'" in message:
            message = target_message(args, message)
        raise CLIError(with_flag(message)) from err
    except torch.OutOfMemoryError:
        raise CLIError(
            "out of memory; pass a smaller --internal-batch-size or --batch-size"
        ) from None
    except OSError as err:
        raise CLIError(f"{args.out}: {err}") from err
    if result.damaged_blocks:
        print(
            f"{result.out}: recomputed {_count(len(result.damaged_blocks), 'damaged block')} "
            f"(checksum mismatch or unreadable): {_listing(result.damaged_blocks)}"
        )
    if result.changed_blocks:
        print(
            f"{result.out}: recomputed {_count(len(result.changed_blocks), 'block')} whose "
            f"inputs changed: {_listing(result.changed_blocks)}"
        )
    if result.rank == 0:
        print(
            f"{result.out}: wrote {_count(result.blocks_written, 'block')} "
            f"({_count(result.examples_written, 'example')}, {result.examples_failed} failed), "
            f"skipped {_count(result.blocks_skipped, 'finished block')}; "
            f"rank 0 of {result.world_size}"
            + ("" if result.complete is None else f"; complete: {result.complete}")
        )
    return 0


def _count(n: int, noun: str) -> str:
    """``1 block``, ``2 blocks``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _listing(blocks: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, blocks[:10]))
    return shown + (f", ... ({len(blocks)} in all)" if len(blocks) > 10 else "")
