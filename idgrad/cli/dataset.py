"""``idgrad dataset``: attribute a whole dataset to disk (resumable, torchrun-ready).

All the work is :func:`idgrad.dataset.attribute_dataset`; this module only turns
files into its arguments: the model through :mod:`idgrad.files.loading` (TorchScript, a
``.pt2`` archive, or a state dict with ``--factory``, as ``idgrad explain``), ``.npy``
arrays (memory-mapped; one file per model input, optional labels) or an image folder
(read as ``idgrad explain`` reads images: same ``--image-size``, ``--normalize`` and
``--grayscale``). The output folder is checked before anything is loaded.

Examples (shell)::

    idgrad dataset --model model.pt --data x.npy --labels y.npy --target label --out attr/
    torchrun --nproc_per_node 4 -m idgrad dataset --model model.pt --data images/ \\
        --image-size 224 224 --out attr/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from idgrad.cli import CLIError
from idgrad.cli.common import (
    HelpFormatter,
    add_image_options,
    add_model_options,
    check_output_dir,
    image_size,
    load_model,
    parse_device,
    parse_target,
)
from idgrad.defaults import CLI_METHOD

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
    p.add_argument(
        "--target",
        default="predicted",
        metavar="T",
        help="what to explain, as target= in Python (idgrad.core.targets): 'predicted' (each "
        "example's highest output), 'label' (each example's label), 'none' (the model "
        "returns one scalar per example), an int or 'i,j' for a multi-dimensional output "
        "(negative counts from the end), or a .npy file of one int per example (or one for "
        "every example)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="gradient evaluations per example (default: the method's)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="examples per block")
    p.add_argument(
        "--internal-batch-size",
        type=int,
        default=None,
        help="points per forward/backward pass (memory bound; default: chosen from the input size)",
    )
    p.add_argument(
        "--baseline",
        type=float,
        default=None,
        help="constant baseline value (default: the method's, zeros)",
    )
    add_image_options(p)
    p.add_argument("--num-workers", type=int, default=0, help="data-loading worker processes")
    p.add_argument(
        "--device",
        default=None,
        help="device to run on (default: cpu, or cuda:LOCAL_RANK under torchrun with CUDA)",
    )
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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


def _device(value: str | None) -> Any:
    import os

    import torch

    if value is not None:
        return parse_device(value)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def run(args: argparse.Namespace) -> int:
    """Call :func:`idgrad.dataset.attribute_dataset` with the parsed arguments."""
    from idgrad.dataset import DatasetError, attribute_dataset

    for flag, value in (
        ("--batch-size", args.batch_size),
        ("--steps", args.steps),
        ("--internal-batch-size", args.internal_batch_size),
    ):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")
    if args.num_workers < 0:
        raise CLIError(f"--num-workers must be >= 0, got {args.num_workers}")
    check_output_dir(args.out)
    target = parse_target(args.target, ("predicted", "label"))
    device = _device(args.device)
    data = _load_data(args)
    model = load_model(args, device)
    kwargs: dict[str, Any] = {}
    if args.steps is not None:
        kwargs["n_steps"] = args.steps
    if args.internal_batch_size is not None:
        kwargs["internal_batch_size"] = args.internal_batch_size
    try:
        result = attribute_dataset(
            args.method,
            model,
            data,
            args.out,
            target=target,
            baselines=args.baseline,
            batch_size=args.batch_size,
            method_kwargs=kwargs,
            resume=not args.no_resume,
            changed_inputs="recompute" if args.recompute_changed else "refuse",
            skip_errors=args.skip_errors,
            progress=not args.quiet,
            num_workers=args.num_workers,
            device=device,
        )
    except (DatasetError, ValueError, TypeError) as err:
        raise CLIError(str(err)) from err
    if result.damaged_blocks:
        print(
            f"{result.out}: recomputed {len(result.damaged_blocks)} damaged block(s) "
            f"(checksum mismatch or unreadable): {_listing(result.damaged_blocks)}"
        )
    if result.changed_blocks:
        print(
            f"{result.out}: recomputed {len(result.changed_blocks)} block(s) whose inputs "
            f"changed: {_listing(result.changed_blocks)}"
        )
    if result.rank == 0:
        print(
            f"{result.out}: wrote {result.blocks_written} blocks ({result.examples_written} "
            f"examples, {result.examples_failed} failed), skipped {result.blocks_skipped} "
            f"finished blocks; rank 0 of {result.world_size}"
            + ("" if result.complete is None else f"; complete: {result.complete}")
        )
    return 0


def _listing(blocks: tuple[int, ...]) -> str:
    shown = ", ".join(map(str, blocks[:10]))
    return shown + (f", ... ({len(blocks)} in all)" if len(blocks) > 10 else "")
