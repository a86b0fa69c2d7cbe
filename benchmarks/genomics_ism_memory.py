"""ISM's memory stays flat in sequence length × batch: peak RSS of ``idgrad.genomics.ism``.

Each case runs in a fresh process (so peaks do not mix): ``B`` random sequences of length ``L``
through a small convolutional model, with ``internal_batch_size`` mutants per pass (chunked) or
all ``3 L B`` mutants in one pass (``None``, what an unchunked loop-free ISM does). Reported: the
peak resident memory of the process above its level after the model and the sequences were made
(``ru_maxrss``), and the size of the ``(B, 4, L)`` result for scale.

Run::

    python -m benchmarks.genomics_ism_memory
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import command_line, machine, markdown_table

CASES = [(4, 250), (4, 1000), (16, 1000), (4, 4000)]


def _one(batch: int, length: int, chunk: int | str | None) -> dict[str, float]:
    import torch

    from idgrad.genomics import ism, one_hot

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 16, 11, padding=5),
        torch.nn.ReLU(),
        torch.nn.Conv1d(16, 1, 11, padding=5),
        torch.nn.Flatten(),
    ).eval()
    codes = torch.randint(0, 4, (batch, length), generator=gen)
    x = one_hot(["".join("ACGT"[c] for c in row) for row in codes.tolist()])
    with torch.no_grad():
        model(x[:1])  # allocator and kernels warmed up before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    effects = ism(model, x, lambda out: out.sum(dim=1), internal_batch_size=chunk)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "peak_mib": (peak - base) / 1024,
        "result_mib": effects.numel() * effects.element_size() / 2**20,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--chunk",
        default="auto,256",
        help="internal_batch_size of the chunked runs: ints or 'auto', comma-separated",
    )
    p.add_argument(
        "--unchunked-up-to",
        type=int,
        default=4 * 1000,
        help="run the unchunked case only up to this B x L",
    )
    p.add_argument("--quick", action="store_true", help="the smallest case only")
    p.add_argument("--out", type=Path, default=None, help="folder for genomics_ism_memory.md")
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)  # B,L,chunk: one child run
    args = p.parse_args(argv)
    if args.case:
        b, length, chunk = args.case.split(",")
        size = None if chunk == "none" else chunk if chunk == "auto" else int(chunk)
        print(json.dumps(_one(int(b), int(length), size)))
        return ""
    rows = []
    for batch, length in CASES[:1] if args.quick else CASES:
        for chunk in [*args.chunk.split(","), None]:
            if chunk is None and batch * length > args.unchunked_up_to:
                continue
            case = f"{batch},{length},{'none' if chunk is None else chunk}"
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.genomics_ism_memory", "--case", case],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(
                [
                    batch,
                    length,
                    batch * length * 3,
                    "all" if chunk is None else chunk,
                    f"{got['peak_mib']:.1f}",
                    f"{got['result_mib']:.2f}",
                    f"{got['seconds']:.1f}",
                ]
            )
    text = (
        f"Command: `{command_line('benchmarks.genomics_ism_memory', argv)}`  \n"
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}\n\n"
        + markdown_table(
            [
                "B",
                "L",
                "mutants",
                "mutants per pass",
                "peak RSS above baseline (MiB)",
                "result (MiB)",
                "seconds",
            ],
            rows,
        )
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "genomics_ism_memory.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
