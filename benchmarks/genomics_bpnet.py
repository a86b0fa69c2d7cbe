"""Genomics end to end: IG, IDG (every schedule), DeepLIFT/SHAP and ISM on a BPNet-style model.

Ground truth: :func:`idgrad.genomics.synthetic_profiles.planted_profiles` plants motifs with
known PWMs at known positions (a strong GATA site, the same at low affinity, a medium AP-1
site, a weak GC-box, and an E-box that acts only 12 bp upstream of a GATA site), and draws read
profiles from them. A :class:`~idgrad.genomics.bpnet.BPNet` (dilated residual convolutions, a
profile and a count head, ~93k parameters) is trained on them here; it is cached in
``benchmarks/cache/`` under a digest of the code that makes the data and trains the model,
so a rerun skips the training.

Held-out sequences are explained through the count head (``counts_target``; ``--target
profile`` for the profile head, BPNet's ``Σ softmax(z).detach() · z``), each against ``R``
dinucleotide shuffles, by:

* IG and IDG on every schedule idgrad offers (graded, the paper's pilot schedule, uniform),
  all at ``B`` model evaluations per (sequence, reference) pair, counted from ``Details``;
* DeepLIFT/SHAP from tangermeme (``deep_lift_shap``, the field's standard; one forward and
  backward pass over the pair, i.e. 2 evaluations per pair);
* ISM (centred, ``1 + 3 L`` forward evaluations per sequence, no references).

Each method's hypothetical contributions go to TF-MoDISco (modisco-lite), and we report:

(a) planted motifs recovered: a planted motif counts when some pattern's PWM matches its PWM
    with :func:`~idgrad.genomics.pwm_similarity` ``>= --match`` (Pearson over the aligned
    columns, best offset and strand); patterns that match no planted motif are false motifs;
(b) seqlet precision (fraction of the patterns' seqlets that cover a planted instance's centre)
    and recall per class (fraction of planted instances whose centre some seqlet covers), and a
    position-level recall that does not depend on TF-MoDISco: the fraction of instances whose
    summed actual contribution beats 95% of background windows of the same width;
(c) agreement with ISM: Spearman of hypothetical contributions with centred ISM (all 4 L
    entries), and the overlap of the top-20 positions by |actual contribution|;
(d) cost: model evaluations per sequence and seconds.

Run::

    python -m benchmarks.genomics_bpnet                   # counts head: 6-7 min, 2 busy cores
    python -m benchmarks.genomics_bpnet --target profile  # profile head: 8-9 min
    python -m benchmarks.genomics_bpnet --smoke           # seconds; caches nothing

Training the model, the first time, took 20 min (niced, load 7-9); then it is cached.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import idgrad
from benchmarks._common import command_line, machine, markdown_table
from benchmarks.accuracy import code_digest
from idgrad.genomics import (
    _training,
    agreement,
    bpnet,
    contribution_scores,
    counts_target,
    dinucleotide_shuffle,
    ism,
    ism_evaluations,
    modisco,
    profile_target,
    pwm_similarity,
    synthetic_profiles,
)
from idgrad.genomics.bpnet import BPNet, train_bpnet
from idgrad.genomics.synthetic_profiles import (
    PROFILE_CLASSES,
    PROFILE_MOTIFS,
    ProfileData,
    planted_profiles,
)

CACHE = Path(__file__).resolve().parent / "cache"
RESULTS = Path(__file__).resolve().parent / "results"
PATH_METHODS = ("IG", "IDG graded", "IDG pilot", "IDG uniform")
ALL_METHODS = (*PATH_METHODS, "DeepLIFT/SHAP", "ISM")


# ----------------------------------------------------------------------------- the methods


def path_call(name: str, budget: int) -> tuple[Any, dict[str, Any]]:
    """The path method and its options for ``name`` at ``budget`` evaluations per pair.

    The one place that spells idgrad's schedules: IG on Gauss–Legendre with ``B − 2``
    gradient points (+ ``F(x')``, ``F(x)``); IDG graded with ``B − 2`` nodes and both ends,
    every one a gradient point; IDG on the paper's pilot schedule with ``n`` gradient points
    and an ``N + 1``-point forward pilot, ``n + N + 1 <= B``; uniform IDG like IG.
    """
    if name == "IG":
        return idgrad.integrated_gradients, {"n_steps": budget - 2}
    if name == "IDG graded":
        return idgrad.integrated_decision_gradients, {"n_steps": budget - 2, "schedule": "graded"}
    if name == "IDG pilot":
        n, pilot = max(
            (n, idgrad.default_pilot_steps(n))
            for n in range(1, budget)
            if n + idgrad.default_pilot_steps(n) + 1 <= budget
        )
        return idgrad.integrated_decision_gradients, {
            "n_steps": n,
            "n_pilot_steps": pilot,
            "schedule": "pilot",
        }
    if name == "IDG uniform":
        return idgrad.integrated_decision_gradients, {"n_steps": budget - 2, "schedule": "uniform"}
    raise ValueError(f"unknown path method {name!r}")


def make_target(which: str) -> Callable[[Any], torch.Tensor]:
    if which == "counts":
        return counts_target(head=1)
    return profile_target(head=0, center=False)


class _Scalar(torch.nn.Module):
    """The model with its target as one output column, as tangermeme's DeepLIFT wants it."""

    def __init__(self, model: torch.nn.Module, which: str) -> None:
        super().__init__()
        self.model = model
        self.target = make_target(which)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.target(self.model(x))[:, None]


def explain(
    name: str,
    model: torch.nn.Module,
    x: torch.Tensor,
    refs: torch.Tensor,
    which: str,
    budget: int,
    chunk: int,
) -> dict[str, Any]:
    """Hypothetical and actual contributions of one method, with its cost."""
    t0 = time.perf_counter()
    n, r, length = x.shape[0], refs.shape[1], x.shape[2]
    target = make_target(which)
    if name in PATH_METHODS:
        method, options = path_call(name, budget)
        counted = _Counting(model)
        scores = contribution_scores(
            method, counted, x, refs, target=target, internal_batch_size=chunk, **options
        )
        hyp, actual = scores.hypothetical, scores.actual
        evals = counted.rows / n
        if evals > r * budget + 1e-9:
            raise RuntimeError(f"{name}: {evals / r:.2f} evaluations per pair > {budget}")
    elif name == "DeepLIFT/SHAP":
        from tangermeme.deep_lift_shap import deep_lift_shap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deltas: the detached softmax has no rule
            hyp = deep_lift_shap(
                _Scalar(model, which),
                x,
                references=refs,
                target=0,
                batch_size=max(1, chunk // 2),
                hypothetical=True,
                device="cpu",
                warning_threshold=float("inf"),
            )
        hyp = hyp.to(x.dtype)
        actual = hyp * x
        evals = 2.0 * r  # one forward and backward pass over the input and the reference
    elif name == "ISM":
        hyp = ism(model, x, target, internal_batch_size=chunk)
        actual = hyp * x
        evals = ism_evaluations(x) / n
        assert evals == 1 + 3 * length
    else:
        raise ValueError(name)
    return {
        "hypothetical": hyp.detach(),
        "actual": actual.detach(),
        "evals_per_sequence": float(evals),
        "seconds": time.perf_counter() - t0,
    }


class _Counting(torch.nn.Module):
    """Counts the rows (sequences) the model is evaluated on."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows = 0

    def forward(self, x: torch.Tensor) -> Any:
        self.rows += int(x.shape[0])
        return self.model(x)


# ----------------------------------------------------------------------------- metrics


def motif_matches(patterns: list[Any], threshold: float) -> dict[str, Any]:
    """Which planted motifs some pattern matches, and the patterns that match none."""
    best = {m.name: 0.0 for m in PROFILE_MOTIFS}
    false = 0
    names = []
    found = []
    for p in patterns:
        sims = {m.name: pwm_similarity(m.pwm, p.pwm) for m in PROFILE_MOTIFS}
        found.append(
            {"name": p.name, "seqlets": len(p.seqlets), "similarity": sims, "pwm": p.pwm.tolist()}
        )
        for k, v in sims.items():
            best[k] = max(best[k], v)
        hit = [k for k, v in sims.items() if v >= threshold]
        false += not hit
        names.append(
            f"{'+' if p.sign > 0 else '-'}{'/'.join(hit) if hit else '?'}({len(p.seqlets)})"
        )
    return {
        "recovered": sorted(k for k, v in best.items() if v >= threshold),
        "best": best,
        "false": false,
        "patterns": names,
        "found": found,
    }


def seqlet_scores(patterns: list[Any], data: ProfileData) -> dict[str, Any]:
    """Seqlet precision (covers a planted centre) and recall per class (centre covered)."""
    centres: dict[int, list[tuple[float, str]]] = {}
    for k, start, end, cls, _ in data.instances:
        centres.setdefault(k, []).append(((start + end - 1) / 2, cls))
    seqlets = [s for p in patterns for s in p.seqlets]
    hits = sum(any(s.start <= c < s.end for c, _ in centres.get(s.example, [])) for s in seqlets)
    covered = {cls: [0, 0] for cls in PROFILE_CLASSES}
    by_example: dict[int, list[Any]] = {}
    for s in seqlets:
        by_example.setdefault(s.example, []).append(s)
    for k, items in centres.items():
        for c, cls in items:
            covered[cls][1] += 1
            covered[cls][0] += any(s.start <= c < s.end for s in by_example.get(k, []))
    return {
        "n_seqlets": len(seqlets),
        "precision": hits / len(seqlets) if seqlets else float("nan"),
        "recall": {k: (v[0] / v[1] if v[1] else float("nan")) for k, v in covered.items()},
    }


def instance_recall(actual: torch.Tensor, data: ProfileData, seed: int = 0) -> dict[str, float]:
    """Per class: fraction of instances whose summed contribution beats 95% of background
    windows of the same width (20 random windows per sequence, away from every instance)."""
    per_pos = actual.sum(dim=1).to(torch.float64).numpy()  # (N, L)
    n, length = per_pos.shape
    busy = np.zeros((n, length), dtype=bool)
    for k, start, end, _, _ in data.instances:
        busy[k, max(0, start - 3) : end + 3] = True
    rng = np.random.default_rng(seed)
    out = {}
    for cls in PROFILE_CLASSES:
        items = [(k, s, e) for k, s, e, c, _ in data.instances if c == cls]
        if not items:
            out[cls] = float("nan")
            continue
        width = items[0][2] - items[0][1]
        background = []
        for k in range(n):
            starts = [s for s in range(length - width) if not busy[k, s : s + width].any()]
            for s in rng.choice(starts, size=min(20, len(starts)), replace=False):
                background.append(per_pos[k, s : s + width].sum())
        cut = float(np.quantile(background, 0.95))
        out[cls] = float(np.mean([per_pos[k, s:e].sum() > cut for k, s, e in items]))
    return out


def background_shift(actual: torch.Tensor, data: ProfileData) -> dict[str, float]:
    """How the contributions off the motifs look: the fraction of background positions (3 bp
    or more from every instance) that are positive, and the background's share of ``Σ|a|``."""
    per_pos = actual.sum(dim=1).to(torch.float64)
    busy = torch.zeros_like(per_pos, dtype=torch.bool)
    for k, start, end, _, _ in data.instances:
        busy[k, max(0, start - 3) : end + 3] = True
    back = per_pos[~busy]
    return {
        "positive_fraction": float((back > 0).to(torch.float64).mean()),
        "abs_share": float(back.abs().sum() / per_pos.abs().sum().clamp(min=1e-300)),
    }


# ----------------------------------------------------------------------------- model cache


def _digest(args: argparse.Namespace) -> str:
    """The code that makes the data and trains the model (docstrings aside), and the settings."""
    code = code_digest([inspect.getsource(m) for m in (synthetic_profiles, bpnet, _training)])
    settings = [args.n_train, args.length, args.epochs, args.channels, args.layers, args.seed]
    return hashlib.sha256((code + repr(settings)).encode()).hexdigest()[:10]


def trained_model(args: argparse.Namespace) -> tuple[BPNet, dict[str, Any]]:
    """Train the BPNet (or load it from the cache, keyed by the code and the settings)."""
    key = f"genomics_bpnet_{_digest(args)}"
    path = CACHE / f"{key}.pt"
    model = BPNet(channels=args.channels, layers=args.layers, seed=args.seed)
    if path.exists() and not args.smoke:
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state"])
        model.eval()
        info = {**json.loads(saved["info"]), "cached": str(path.name)}
    else:
        t0 = time.perf_counter()
        train = planted_profiles(args.n_train, args.length, seed=args.seed)
        losses = train_bpnet(
            model, train.sequences, train.profiles, epochs=args.epochs, seed=args.seed
        )
        info = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "losses": losses,
            "train_seconds": time.perf_counter() - t0,
        }
        if not args.smoke:
            CACHE.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"state": model.state_dict(), "info": json.dumps(info)}, tmp)
            tmp.replace(path)
        info["cached"] = False
    test = planted_profiles(args.n_test, args.length, seed=args.seed + 1000)
    with torch.no_grad():
        logits, counts = model(test.sequences)
    truth = torch.log1p(test.profiles.sum(dim=1))
    info["count_pearson"] = float(np.corrcoef(counts.numpy(), truth.numpy())[0, 1])
    probs = torch.softmax(logits, dim=1).numpy()
    expected = test.expected.numpy()
    varied = [i for i in range(len(probs)) if np.ptp(expected[i]) > 1e-3]  # a motif planted
    info["profile_pearson_median"] = float(
        np.median([np.corrcoef(probs[i], expected[i])[0, 1] for i in varied])
    )
    return model, info


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny run (seconds), caches nothing")
    p.add_argument("--train-only", action="store_true", help="train (or load) the model, stop")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--length", type=int, default=120)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--layers", type=int, default=7)
    p.add_argument("--n-test", type=int, default=500, help="held-out sequences scored")
    p.add_argument("--n-eval", type=int, default=320, help="held-out sequences explained")
    p.add_argument("--shuffles", type=int, default=4, help="references per sequence")
    p.add_argument("--budget", type=int, default=16, help="evaluations per pair (path methods)")
    p.add_argument("--target", choices=["counts", "profile"], default="counts")
    p.add_argument("--methods", default=",".join(ALL_METHODS))
    p.add_argument("--match", type=float, default=0.85, help="PWM similarity for a match")
    p.add_argument("--chunk", type=int, default=2048, help="internal_batch_size")
    p.add_argument("--leiden-runs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="folder for genomics_bpnet.md/.json")
    args = p.parse_args(argv)
    if args.smoke:
        args.n_train, args.length, args.epochs, args.channels, args.layers = 64, 100, 1, 8, 2
        args.n_test, args.n_eval, args.shuffles, args.budget = 20, 6, 2, 8
    torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad:
        raise SystemExit(f"unknown methods {bad}; choose from {list(ALL_METHODS)}")
    t_start = time.perf_counter()
    load = os.getloadavg()
    model, info = trained_model(args)
    if args.train_only:
        print(json.dumps(info, indent=1))
        return json.dumps(info)
    data = planted_profiles(args.n_eval, args.length, seed=args.seed + 1)
    x = data.sequences
    refs = dinucleotide_shuffle(x, n_shuffles=args.shuffles, seed=args.seed)
    modisco_options = {
        "sliding_window_size": 13,
        "flank_size": 4,
        "trim_to_window_size": 16,
        "initial_flank_to_add": 4,
        "n_leiden_runs": args.leiden_runs,
        "max_seqlets_per_metacluster": 4000,
        "min_metacluster_size": 50,  # modisco-lite's 100 starves a few hundred short sequences
    }
    results: dict[str, dict[str, Any]] = {}
    for name in methods:
        print(f"[genomics_bpnet] {name} ...", file=sys.stderr, flush=True)
        res = explain(name, model, x, refs, args.target, args.budget, args.chunk)
        t0 = time.perf_counter()
        try:
            found = modisco(x, None, res["hypothetical"], **modisco_options).patterns
            res["modisco_error"] = ""
        except Exception as err:  # modisco-lite fails on degenerate inputs (smoke runs)
            found, res["modisco_error"] = [], f"{type(err).__name__}: {err}"[:120]
        res["modisco_seconds"] = time.perf_counter() - t0
        res["motifs"] = motif_matches(found, args.match)
        res["seqlets"] = seqlet_scores(found, data)
        res["instances"] = instance_recall(res["actual"], data, seed=args.seed)
        res["background"] = background_shift(res["actual"], data)
        results[name] = res
    if "ISM" in results:
        ref = results["ISM"]
        for res in results.values():
            hyp = agreement(res["hypothetical"], ref["hypothetical"], k=40)
            pos = agreement(res["actual"].sum(dim=1), ref["actual"].sum(dim=1), k=20)
            res["ism_spearman"] = float(hyp.spearman.nanmean())
            res["ism_top20"] = float(pos.topk.mean())
    text = report(args, argv, info, data, results, load, time.perf_counter() - t_start)
    out = args.out or (None if args.smoke else RESULTS)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "genomics_bpnet.md").write_text(text)
        slim = {
            k: {kk: vv for kk, vv in v.items() if not isinstance(vv, torch.Tensor)}
            for k, v in results.items()
        }
        (out / "genomics_bpnet.json").write_text(
            json.dumps(
                {"args": vars(args) | {"out": str(out)}, "model": info, "results": slim},
                indent=1,
                default=str,
            )
        )
    print(text)
    return text


def _f(v: float, digits: int = 2) -> str:
    return "—" if v != v else f"{v:.{digits}f}"


def report(
    args: argparse.Namespace,
    argv: list[str] | None,
    info: dict[str, Any],
    data: ProfileData,
    results: dict[str, dict[str, Any]],
    load: tuple[float, float, float],
    seconds: float,
) -> str:
    counts = {c: sum(1 for *_, cls, _ in data.instances if cls == c) for c in PROFILE_CLASSES}
    lines = [
        f"Command: `{command_line('benchmarks.genomics_bpnet', argv)}`  ",
        f"Machine: {machine()}; load average at the start {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f}; total {seconds:.0f} s  ",
        f"Model: BPNet, {info['parameters']} parameters, trained on {args.n_train} sequences of "
        f"{args.length} bp for {args.epochs} epochs "
        + (f"(cached: {info['cached']})" if info["cached"] else f"({info['train_seconds']:.0f} s)")
        + f"; held-out count Pearson {info['count_pearson']:.3f}, median profile Pearson "
        f"{info['profile_pearson_median']:.3f}  ",
        f"Explained: {args.n_eval} held-out sequences × {args.shuffles} dinucleotide shuffles, "
        f"target {args.target}; path methods at B = {args.budget} evaluations per pair; planted "
        "instances: " + ", ".join(f"{c} {n}" for c, n in counts.items()),
        "",
    ]
    names = list(results)
    motif_rows = []
    for name in names:
        m = results[name]["motifs"]
        motif_rows.append(
            [
                name,
                f"{len(m['recovered'])}/{len(PROFILE_MOTIFS)} ({', '.join(m['recovered']) or '—'})",
                m["false"],
                " ".join(f"{_f(m['best'][k])}" for k in m["best"]),
                " ".join(m["patterns"]) + (f" {results[name]['modisco_error']}" or ""),
            ]
        )
    lines += [
        f"### (a) TF-MoDISco motifs (match: PWM similarity >= {args.match})\n",
        markdown_table(
            [
                "method",
                "planted motifs recovered",
                "false motifs",
                "best similarity " + "/".join(m.name for m in PROFILE_MOTIFS),
                "patterns (sign, match, seqlets)",
            ],
            motif_rows,
        ),
    ]
    seqlet_rows = []
    for name in names:
        s = results[name]["seqlets"]
        seqlet_rows.append(
            [name, s["n_seqlets"], _f(s["precision"])]
            + [_f(s["recall"][c]) for c in PROFILE_CLASSES]
        )
    lines += [
        "### (b) Seqlets against the planted instances (precision; recall per class)\n",
        markdown_table(["method", "seqlets", "precision", *PROFILE_CLASSES], seqlet_rows),
        "### (b') Instance recall without TF-MoDISco (summed contribution above 95% of "
        "background windows)\n",
        markdown_table(
            ["method", *PROFILE_CLASSES],
            [[n] + [_f(results[n]["instances"][c]) for c in PROFILE_CLASSES] for n in names],
        ),
    ]
    cost_rows = []
    for name in names:
        r = results[name]
        cost_rows.append(
            [
                name,
                _f(r.get("ism_spearman", float("nan"))),
                _f(r.get("ism_top20", float("nan"))),
                f"{r['evals_per_sequence']:.0f}",
                f"{r['seconds']:.0f}",
                f"{r['modisco_seconds']:.0f}",
                _f(r["background"]["positive_fraction"]),
                _f(r["background"]["abs_share"]),
            ]
        )
    lines += [
        "### (c) Agreement with ISM and (d) cost\n",
        markdown_table(
            [
                "method",
                "Spearman with ISM (hypothetical, 4L entries)",
                "top-20 positions shared with ISM",
                "model evaluations per sequence",
                "seconds",
                "TF-MoDISco seconds",
                "background positions > 0",
                "background share of Σ\\|actual\\|",
            ],
            cost_rows,
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
