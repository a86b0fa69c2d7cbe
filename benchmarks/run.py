"""Regenerate every benchmark table and plot into ``benchmarks/results/``.

Run: ``python -m benchmarks.run [--quick] [--only NAME[,NAME...]]`` with NAME in
``overhead, peers, memory, accuracy, gpu``. ``--quick`` (< 1 minute) runs the small
cases only; the full run takes about 20 minutes on 2 CPU cores. The GPU table runs
when CUDA is available (``gpu`` on the CPU only with ``--only gpu``, small).
Each table goes to ``results/<name>.md``; ``results/all.md`` collects them, and a
full run into ``results/`` rebuilds BENCHMARKS.md (:mod:`benchmarks.assemble`).
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from benchmarks import NAMES
from benchmarks._common import RESULTS, machine

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases only (< 1 minute)")
    parser.add_argument(
        "--only", type=str, default=None, help=f"comma-separated subset of {', '.join(NAMES)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    names = NAMES if args.only is None else tuple(args.only.split(","))
    unknown = set(names) - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(NAMES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    sections, timings = [], []
    for name in names:
        sub = ["--out", str(args.out)]
        if name == "gpu":
            if torch.cuda.is_available():
                sub += ["--autocast"] + (["--quick"] if args.quick else [])
            elif args.only is not None:
                sub += ["--device", "cpu", "--quick"]
            else:
                note = _gpu_skipped(args.out)
                sections.append(note)
                print(note)
                continue
        elif args.quick:
            sub.append("--quick")
        t0 = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        sections.append(module.main(sub))
        timings.append(f"{name}: {time.perf_counter() - t0:.0f} s")
    summary = (
        "# idgrad benchmark results\n\n"
        f"`python -m benchmarks.run{' --quick' if args.quick else ''}"
        f"{' --only ' + args.only if args.only else ''}` on {machine()}.\n"
        f"Time per table: {', '.join(timings)}.\n\n"
    )
    (args.out / "all.md").write_text(summary + "\n\n".join(sections))
    print(summary)
    if args.out.resolve() == RESULTS.resolve() and not args.quick:
        from benchmarks import assemble

        assemble.main([])  # BENCHMARKS.md from results/*.md


def _gpu_skipped(out: Path) -> str:
    """The GPU table's place when there is no CUDA device: say so, with the command to run."""
    from benchmarks._common import header, write_result

    text = header("GPU: points per second against the floor", "python -m benchmarks.gpu")
    text += (
        "\n**Not run: no CUDA device on this machine.** No GPU was lent to this project's "
        "tasks so far, so the GPU target (idgrad >= 90% of the floor's points per second on a "
        "ResNet-50-sized model, batch 32) has no measurement. On a GPU machine, "
        "`python -m benchmarks.gpu --autocast` (or `python -m benchmarks.run`) writes the "
        "table here. The script itself runs in the test suite on the CPU at a tiny size "
        "(`tests/test_benchmarks_smoke.py`).\n"
    )
    write_result("gpu", text, out)
    return text


if __name__ == "__main__":
    main()
