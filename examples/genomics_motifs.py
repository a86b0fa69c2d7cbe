"""Genomics walk-through: find planted motifs with expected IDG over dinucleotide shuffles.

Trains a tiny CNN on synthetic sequences whose label depends only on planted GATA-like
(``AGATAA``) and CTCF-like motifs, explains a few positive sequences with Integrated Decision
Gradients averaged over dinucleotide-shuffled references, draws contribution logos, and writes
the scores in the layout TF-MoDISco takes.

Run (about 10 s on two CPU cores)::

    python examples/genomics_motifs.py --out /tmp/idgrad-genomics
"""

from __future__ import annotations

import argparse
import os

import torch

import idgrad
from idgrad.genomics import (
    auroc,
    contribution_scores,
    dinucleotide_shuffle,
    motif_cnn,
    planted_motifs,
    save_modisco_npz,
    topk_precision,
    train_motif_model,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="genomics-example", help="output folder")
    parser.add_argument("--shuffles", type=int, default=8, help="references per sequence")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # 1. data and model: label = "a motif was planted"
    train = planted_motifs(3000, 80, seed=0)
    model = motif_cnn(n_filters=16, kernel_size=15, seed=0)
    losses = train_motif_model(model, train.sequences, train.labels, epochs=8)
    test = planted_motifs(200, 80, seed=1)
    with torch.no_grad():
        accuracy = ((model(test.sequences) > 0).float() == test.labels).float().mean()
    print(f"training loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f}")

    # 2. expected IDG against dinucleotide shuffles (one call for all N x R pairs)
    positives = test.labels == 1
    x, mask = test.sequences[positives][:16], test.mask[positives][:16]
    refs = dinucleotide_shuffle(x, n_shuffles=args.shuffles, seed=0)  # (16, R, 4, 80)
    scores = contribution_scores(
        idgrad.integrated_decision_gradients, model, x, refs, n_steps=32, internal_batch_size=2048
    )
    per_position = scores.actual.sum(dim=1)  # (16, 80)
    print(
        f"top-k precision {topk_precision(per_position, mask).nanmean():.3f} "
        f"(chance {mask.float().mean():.3f}), AUROC {auroc(per_position.abs(), mask).nanmean():.3f}"
    )
    print(f"max |delta| over sequence x reference pairs: {scores.delta.abs().max():.2e}")

    # 3. TF-MoDISco input: (N, L, 4) one-hot, actual and hypothetical contributions
    path = save_modisco_npz(
        os.path.join(args.out, "modisco_inputs.npz"), x, scores.actual, scores.hypothetical
    )
    print(f"wrote {path}")

    # 4. logos of the first sequence (matplotlib only needed here)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: skipping the logos")
        return
    from idgrad.genomics import plot_logo, plot_tracks

    fig, axes = plt.subplots(3, 1, figsize=(14, 6), sharex=True)
    plot_logo(scores.actual[0], ax=axes[0])
    axes[0].set_title("actual contributions (expected IDG, dinucleotide-shuffled references)")
    plot_logo(scores.hypothetical[0], ax=axes[1])
    axes[1].set_title("hypothetical contributions")
    plot_tracks(
        {"planted motif": mask[0].float(), "sum of contributions": per_position[0]}, ax=axes[2]
    )
    fig.tight_layout()
    figure = os.path.join(args.out, "logo.png")
    fig.savefig(figure, dpi=120)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
