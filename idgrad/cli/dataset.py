"""``idgrad dataset``: attribute a whole dataset to disk (resumable, torchrun-ready).

All the work is :func:`idgrad.dataset.attribute_dataset`; this module only turns
files into its arguments: a TorchScript model (``torch.jit.load``) or an exported
program (``.pt2``, ``torch.export.load``), ``.npy`` arrays
(memory-mapped; one file per model input, optional labels) or an image folder.

Examples (shell)::

    idgrad dataset --model model.pt --data x.npy --labels y.npy --target label --out attr/
    torchrun --nproc_per_node 4 -m idgrad.cli dataset --model model.pt --data images/ \\
        --image-size 224 224 --out attr/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from idgrad.cli import CLIError
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
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="MODEL.pt",
        help="TorchScript model file (torch.jit.save), or a .pt2 exported program "
        "(torch.export.save, with a dynamic batch dimension)",
    )
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="PATH",
        help="a folder of images (sub-folders = classes), or .npy file(s) "
        "(N, ...), one per model input",
    )
    p.add_argument("--labels", metavar="LABELS.npy", help="integer labels (N,) for .npy data")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--method", default=CLI_METHOD, choices=sorted(METHODS), help="attribution method"
    )
    p.add_argument(
        "--target",
        default="predicted",
        metavar="T",
        help="class to explain: 'predicted' (default), 'label', an int, or a .npy file of N ints",
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
    p.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), help="resize images to H x W"
    )
    p.add_argument("--grayscale", action="store_true", help="read images as one channel")
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
        "--no-resume", action="store_true", help="delete a previous run in --out and start over"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} {path} does not exist")
    return p


def _load_model(path: str) -> Any:
    import warnings

    import torch

    file = _existing(path, "model file")
    if file.suffix == ".pt2":
        try:
            return torch.export.load(str(file)).module()
        except Exception as err:
            raise CLIError(
                f"cannot load {path} as an exported program (torch.export.save): {err}"
            ) from err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is asked for here
            model = torch.jit.load(str(file), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as err:  # torch raises RuntimeError/ValueError for non-TorchScript files
        raise CLIError(
            f"cannot load {path} as a TorchScript model (torch.jit.save): {err}"
        ) from err
    return model.eval()


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
                paths[0], size=args.image_size, mode="L" if args.grayscale else "RGB"
            )
        except ValueError as err:
            raise CLIError(str(err)) from err
    bad = [str(p) for p in paths if p.suffix != ".npy" or p.is_dir()]
    if bad:
        raise CLIError(f"--data takes one image folder or .npy files; not: {', '.join(bad)}")
    labels = _existing(args.labels, "labels file") if args.labels else None
    try:
        return ArrayDataset.from_npy(*paths, labels=labels)
    except ValueError as err:
        raise CLIError(f"cannot read the data: {err}") from err


def _target(value: str) -> Any:
    import numpy as np

    if value in ("predicted", "label"):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    if value.endswith(".npy"):
        return np.load(_existing(value, "target file"), allow_pickle=False)
    raise CLIError(f"--target must be 'predicted', 'label', an int or a .npy file, got {value!r}")


def _device(value: str | None) -> Any:
    import os

    import torch

    if value is not None:
        return torch.device(value)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def run(args: argparse.Namespace) -> int:
    """Call :func:`idgrad.dataset.attribute_dataset` with the parsed arguments."""
    from idgrad.dataset import DatasetError, ResumeMismatchError, attribute_dataset

    model = _load_model(args.model)
    data = _load_data(args)
    target = _target(args.target)
    device = _device(args.device)
    model = model.to(device)
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
            skip_errors=args.skip_errors,
            progress=not args.quiet,
            num_workers=args.num_workers,
            device=device,
        )
    except (ResumeMismatchError, DatasetError, ValueError) as err:
        raise CLIError(str(err)) from err
    if result.rank == 0:
        print(
            f"{result.out}: wrote {result.blocks_written} blocks ({result.examples_written} "
            f"examples, {result.examples_failed} failed), skipped {result.blocks_skipped} "
            f"finished blocks; rank 0 of {result.world_size}"
            + ("" if result.complete is None else f"; complete: {result.complete}")
        )
    return 0
