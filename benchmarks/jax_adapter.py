"""The JAX adapter against its floor, and its memory in ``n_steps``.

Speed: Integrated Gradients of a small Flax nnx CNN on one-hot DNA ``(B, 4, L)`` through
idgrad (the adapter and the whole engine: points, weights, sums) against the floor, a plain
loop of ``jax.jit(jax.vmap(jax.value_and_grad(F)))`` over the same points in the same chunks
(the points built in JAX beforehand, nothing accumulated). Both are compiled before timing
(their compilations counted: one per chunk shape), then timed alternately, ``--repeats``
times each; the table gives the median points per second and the paired ratio. Target:
the adapter at >= 0.9x the floor.

Memory: the peak resident memory of one IG call in a fresh process for several ``n_steps``
at a fixed ``internal_batch_size``. Target: flat in ``n_steps`` (within 5%).

Run: ``python -m benchmarks.jax_adapter [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import command_line, header, markdown_table, verdict, write_result

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**10
    return float("nan")


def _model(length: int, width: int) -> Any:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    class CNN(nnx.Module):
        def __init__(self) -> None:
            rngs = nnx.Rngs(0)
            self.conv1 = nnx.Conv(4, width, (15,), padding="SAME", rngs=rngs)
            self.conv2 = nnx.Conv(width, width, (9,), padding="SAME", rngs=rngs)
            self.head = nnx.Linear(width, 3, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:  # (B, 4, L), channels first
            h = jax.nn.gelu(self.conv1(jnp.swapaxes(x, 1, 2)))
            h = jax.nn.gelu(self.conv2(h))
            return self.head(h.mean(1))

    return CNN()


def _inputs(batch: int, length: int) -> Any:
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (batch, length))
    return jnp.asarray(np.eye(4, dtype=np.float32)[codes].transpose(0, 2, 1))


def speed(
    batch: int, length: int, width: int, n_steps: int, chunk: int, repeats: int
) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import idgrad
    from idgrad.engine.rules import uniform_schedule
    from idgrad.frameworks import JaxModel

    module = _model(length, width)
    x = _inputs(batch, length)
    model = JaxModel(module)
    target = 1

    def run_idgrad() -> Any:
        return idgrad.integrated_gradients(
            model, x, target=target, n_steps=n_steps, internal_batch_size=chunk
        )

    # the floor: the same points (the same Gauss-Legendre nodes), the same chunks
    alphas = np.asarray(uniform_schedule(n_steps, "gausslegendre").alphas, np.float32).reshape(-1)
    graph, state = jax.tree_util.tree_flatten(module)[1], jax.tree_util.tree_leaves(module)

    def scalar(xi: jax.Array, leaves: Any) -> jax.Array:
        m = jax.tree_util.tree_unflatten(graph, leaves)
        return m(xi[None])[0, target]

    floor_fn = jax.jit(jax.vmap(jax.value_and_grad(scalar), in_axes=(0, None)))
    points = (alphas[None, :, None, None] * x[:, None]).reshape((-1,) + x.shape[1:])
    chunks = [points[i : i + chunk] for i in range(0, points.shape[0], chunk)]
    if chunks[-1].shape[0] != chunk:  # the floor pads its last chunk too
        last = chunks[-1]
        pad = jnp.repeat(last[-1:], chunk - last.shape[0], axis=0)
        chunks[-1] = jnp.concatenate([last, pad])
    chunks = [jax.block_until_ready(c) for c in chunks]

    def run_floor() -> Any:
        out = [floor_fn(c, state) for c in chunks]
        return jax.block_until_ready(out)

    t0 = time.perf_counter()
    run_idgrad()
    compile_idgrad = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_floor()
    compile_floor = time.perf_counter() - t0
    times: dict[str, list[float]] = {"idgrad": [], "floor": []}
    for _ in range(repeats):
        for name, fn in (("floor", run_floor), ("idgrad", run_idgrad)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    n_points = batch * n_steps
    ratios = [f / i for f, i in zip(times["floor"], times["idgrad"])]
    return {
        "points": n_points,
        "chunk": chunk,
        "idgrad_pps": n_points / statistics.median(times["idgrad"]),
        "floor_pps": n_points / statistics.median(times["floor"]),
        "ratio": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "first_call_s": {"idgrad": compile_idgrad, "floor": compile_floor},
        "compilations_idgrad": model.compilations,
        "compilations_floor": int(floor_fn._cache_size()),  # type: ignore[attr-defined]
    }


def _child(spec: dict[str, Any]) -> dict[str, float]:
    import idgrad

    module = _model(spec["length"], spec["width"])
    x = _inputs(spec["batch"], spec["length"])
    before = _peak_mb()
    idgrad.integrated_gradients(
        module, x, target=1, n_steps=spec["n_steps"], internal_batch_size=spec["chunk"]
    )
    return {"setup_mb": before, "peak_mb": _peak_mb()}


def memory(spec: dict[str, Any], steps: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    for n in steps:
        arg = json.dumps({**spec, "n_steps": n})
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.jax_adapter", "--child", arg],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")},
        )
        rows.append({"n_steps": n, **json.loads(out.stdout.strip().splitlines()[-1])})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", type=Path, default=None, help="results folder")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    batch, length, width, n_steps, chunk = (8, 1000, 32, 64, 128)
    steps = [64, 256, 1024]
    if args.quick:
        batch, length, width, n_steps, chunk, steps = 2, 200, 8, 16, 16, [16, 64]
    s = speed(batch, length, width, n_steps, chunk, args.repeats)
    mem = memory({"batch": batch, "length": length, "width": width, "chunk": chunk}, steps)
    peaks = [r["peak_mb"] for r in mem]
    flat = max(peaks) <= 1.05 * min(peaks)
    load = os.getloadavg()
    text = header(
        "JAX adapter: speed against its floor, memory in n_steps",
        command_line("benchmarks.jax_adapter", argv),
    )
    text += (
        f"\nLoad average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min). "
        f"Model: Flax nnx CNN (conv 15 -> conv 9, width {width}) on one-hot DNA "
        f"({batch}, 4, {length}); IG, target 1, {n_steps} Gauss-Legendre points per example, "
        f"internal_batch_size {chunk}.\n\n"
    )
    text += markdown_table(
        ["", "points/s (median)", "first call (s)", "compilations"],
        [
            [
                "floor: jit(vmap(value_and_grad)) loop",
                f"{s['floor_pps']:.0f}",
                f"{s['first_call_s']['floor']:.2f}",
                s["compilations_floor"],
            ],
            [
                "idgrad.integrated_gradients (JAX adapter)",
                f"{s['idgrad_pps']:.0f}",
                f"{s['first_call_s']['idgrad']:.2f}",
                s["compilations_idgrad"],
            ],
        ],
    )
    lo, hi = s["ratio_range"]
    text += (
        f"\nidgrad / floor: {s['ratio']:.3f}x (paired, {args.repeats} repeats, range "
        f"{lo:.3f}-{hi:.3f}); target >= 0.9x: {verdict(s['ratio'] >= 0.9)}.\n\n"
    )
    text += markdown_table(
        ["n_steps", "peak RSS (MB)", "after setup (MB)"],
        [[r["n_steps"], f"{r['peak_mb']:.0f}", f"{r['setup_mb']:.0f}"] for r in mem],
    )
    text += f"\nPeak RSS flat in n_steps (within 5%): {verdict(flat)}.\n"
    write_result("jax_adapter_quick" if args.quick else "jax_adapter", text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
