"""Convergence of layer IG and layer IDG on MiniLM word embeddings (|delta| vs steps).

For the sentences of ``examples/text_minilm.py`` (4 similarity pairs, 2 sentiment
sentences with the head trained there), every method runs at 8..128 gradient points
per sentence and reports

* ``|delta| / |F(x) - F(x')|``: the relative convergence delta (IDG: before the
  rescaling, i.e. the schedule's quadrature error on the integral of ``G'``);
* the relative L1 error of the token scores against a 256-point Gauss-Legendre
  reference of the same method (IG against IG, IDG against IDG on the uniform schedule);
* model evaluations per sentence (gradient points + forward-only points: the two
  capture passes, end points or pilot).

IDG runs on each of its schedules (``schedule=``: uniform, the paper's pilot, graded) and
IG with each rule (``rule=``).

Run (about 30 minutes on a shared 2-core CPU; captum rows with --captum)::

    HF_HUB_OFFLINE=1 python benchmarks/text_convergence.py --out benchmarks/results/text.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import text_minilm as tm

from idgrad.methods.layer import layer_integrated_decision_gradients, layer_integrated_gradients

METHODS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "layer IG, rule=gausslegendre": (layer_integrated_gradients, {"rule": "gausslegendre"}, "ig"),
    "layer IG, rule=riemann_middle": (
        layer_integrated_gradients,
        {"rule": "riemann_middle"},
        "ig",
    ),
    "layer IG, rule=riemann_trapezoid": (
        layer_integrated_gradients,
        {"rule": "riemann_trapezoid"},
        "ig",
    ),
    "layer IDG, schedule=uniform, rule=riemann_middle": (
        layer_integrated_decision_gradients,
        {"schedule": "uniform", "rule": "riemann_middle"},
        "idg",
    ),
    "layer IDG, schedule=pilot, rule=riemann_middle": (
        layer_integrated_decision_gradients,
        {"schedule": "pilot", "rule": "riemann_middle"},
        "idg",
    ),
    "layer IDG, schedule=pilot, rule=gausslegendre": (
        layer_integrated_decision_gradients,
        {"schedule": "pilot", "rule": "gausslegendre"},
        "idg",
    ),
    "layer IDG, schedule=graded": (
        layer_integrated_decision_gradients,
        {"schedule": "graded"},
        "idg",
    ),
}
REFERENCE: dict[str, tuple[Any, dict[str, Any]]] = {
    "ig": (layer_integrated_gradients, {"rule": "gausslegendre"}),
    "idg": (layer_integrated_decision_gradients, {"schedule": "uniform", "rule": "gausslegendre"}),
}


def tasks(lm: tm.MiniLM, dtype: torch.dtype) -> list[tuple[str, torch.nn.Module, tm.Encoded]]:
    out: list[tuple[str, torch.nn.Module, tm.Encoded]] = []
    for first, second in tm.PAIRS:
        similarity = tm.Similarity(lm, tm.encode(lm, [second])[0])
        out.append((f"sim: {first}", similarity, tm.tokenize(lm, [first])))
    head = tm.train_sentiment_head(lm)
    sentiment = tm.Sentiment(lm, head)
    for sentence in tm.TEST:
        out.append((f"sentiment: {sentence}", sentiment, tm.tokenize(lm, [sentence])))
    return out


def captum_lig(
    model: Any,
    layer: Any,
    input_ids: torch.Tensor,
    baselines: torch.Tensor,
    additional_forward_args: Any,
    n_steps: int,
    internal_batch_size: int,
    method: str,
) -> Any:
    """captum's LayerIntegratedGradients, reported in the shape of idgrad's Details."""
    from types import SimpleNamespace

    from captum.attr import LayerIntegratedGradients

    attr, delta = LayerIntegratedGradients(model, layer).attribute(
        input_ids,
        baselines,
        additional_forward_args=additional_forward_args,
        n_steps=n_steps,
        method=method,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        end = model(input_ids, *additional_forward_args)
        start = model(baselines, *additional_forward_args)
    batch = input_ids.shape[0]
    # captum: n_steps gradient points, 2 capture passes and 2 passes for its delta
    return SimpleNamespace(
        attributions=attr,
        delta=delta,
        start=start,
        end=end,
        n_gradient_evals=batch * n_steps,
        n_forward_evals=4 * batch,
    )


def run(
    fn: Any,
    kwargs: dict[str, Any],
    model: Any,
    lm: tm.MiniLM,
    enc: tm.Encoded,
    n_steps: int,
    chunk: int,
) -> Any:
    # idgrad's layer methods give their details; captum_lig builds the same fields
    return getattr(fn, "details", fn)(
        model,
        lm.embeddings,
        enc.input_ids,
        baselines=enc.baseline_ids,
        additional_forward_args=(enc.attention_mask,),
        n_steps=n_steps,
        internal_batch_size=chunk,
        **kwargs,
    )


CAPTUM: dict[str, tuple[Any, dict[str, Any], str]] = {
    "captum 0.9 LayerIntegratedGradients, gausslegendre": (
        captum_lig,
        {"method": "gausslegendre"},
        "ig",
    ),
    "captum 0.9 LayerIntegratedGradients, riemann_trapezoid": (
        captum_lig,
        {"method": "riemann_trapezoid"},
        "ig",
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--reference-steps", type=int, default=256)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--chunk", type=int, default=64, help="internal_batch_size")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--captum", action="store_true", help="add captum's LayerIG rows")
    parser.add_argument("--only", default="", help="run the methods whose name contains this")
    args = parser.parse_args()
    methods = {**METHODS, **(CAPTUM if args.captum else {})}
    methods = {k: v for k, v in methods.items() if args.only in k}
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    lm = tm.load_minilm(dtype)
    rows: list[dict[str, Any]] = []
    started = time.time()
    for name, model, enc in tasks(lm, dtype):
        refs = {}
        for kind, (fn, kw) in REFERENCE.items():
            d = run(fn, kw, model, lm, enc, args.reference_steps, args.chunk)
            refs[kind] = d.attributions.sum(-1)[0].double()
        for label, (fn, kw, kind) in methods.items():
            for n in args.steps:
                t0 = time.time()
                d = run(fn, kw, model, lm, enc, n, args.chunk)
                scores = d.attributions.sum(-1)[0].double()
                gap = float(d.end[0] - d.start[0])
                rows.append(
                    {
                        "task": name,
                        "method": label,
                        "steps": n,
                        "rel_delta": abs(float(d.delta[0])) / abs(gap),
                        "rel_l1": float((scores - refs[kind]).abs().sum() / refs[kind].abs().sum()),
                        "evals": d.n_gradient_evals + d.n_forward_evals,
                        "seconds": time.time() - t0,
                        "gap": gap,
                    }
                )
        print(f"{time.time() - started:7.1f}s  {name}", flush=True)
    meta = {
        "command": "HF_HUB_OFFLINE=1 python " + " ".join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, {platform.python_version()}",
        "dtype": args.dtype,
        "reference_steps": args.reference_steps,
    }
    print(table(rows, args.steps))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(json.dumps(meta, indent=1))
    return 0


def _median(values: list[float]) -> float:
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else 0.5 * (v[mid - 1] + v[mid])


def table(rows: list[dict[str, Any]], steps: list[int]) -> str:
    """Markdown: median (max) over sentences, per method and step count."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = []
    for key, title in (
        ("rel_delta", "|delta| / |F(x) - F(x')|"),
        ("rel_l1", "token-score L1 error vs reference"),
    ):
        lines.append(f"\n{title}: median (max) over sentences\n")
        lines.append("| method | " + " | ".join(f"n={n}" for n in steps) + " |")
        lines.append("|---|" + "---|" * len(steps))
        for m in methods:
            cells = []
            for n in steps:
                vals = [r[key] for r in rows if r["method"] == m and r["steps"] == n]
                cells.append(f"{_median(vals):.1e} ({max(vals):.0e})")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
