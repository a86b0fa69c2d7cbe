"""Genomics helpers for path attributions: one-hot DNA, references, expected attributions,
targets for track models, contribution scores, in-silico mutagenesis, TF-MoDISco motifs,
bigWig tracks, logos, and planted-motif ground truths.

Modules: :mod:`~idgrad.genomics.sequences`, :mod:`~idgrad.genomics.references`,
:mod:`~idgrad.genomics.expected`, :mod:`~idgrad.genomics.targets`,
:mod:`~idgrad.genomics.contributions`, :mod:`~idgrad.genomics.ism`,
:mod:`~idgrad.genomics.motifs` (modisco-lite, lazy), :mod:`~idgrad.genomics.bigwig`
(pybigtools, lazy), :mod:`~idgrad.genomics.plots` (matplotlib, lazy),
:mod:`~idgrad.genomics.synthetic` (planted motifs and a small CNN),
:mod:`~idgrad.genomics.motif_recovery` (scores against the planted mask),
:mod:`~idgrad.genomics.synthetic_profiles` and :mod:`~idgrad.genomics.bpnet` (the same for
a profile model).

Example:
    >>> import idgrad
    >>> from idgrad.genomics import one_hot, dinucleotide_shuffle, expected_attributions
    >>> x = one_hot(["GATAAGATAC"])
    >>> refs = dinucleotide_shuffle(x, n_shuffles=8, seed=0)  # (1, 8, 4, 10)
    >>> model = lambda z: z[:, 2].sum(dim=1)  # counts the Gs
    >>> attr = expected_attributions(idgrad.integrated_gradients, model, x, refs)
    >>> attr.shape
    torch.Size([1, 4, 10])
"""

from __future__ import annotations

from idgrad.genomics.bigwig import read_bigwig, write_bigwig
from idgrad.genomics.bpnet import BPNet, train_bpnet
from idgrad.genomics.contributions import (
    Contributions,
    actual_contributions,
    contribution_scores,
    hypothetical_contributions,
    load_modisco_npz,
    save_modisco_cli_inputs,
    save_modisco_npz,
)
from idgrad.genomics.expected import expected_attributions, repeat_per_reference
from idgrad.genomics.ism import Agreement, agreement, ism, ism_evaluations
from idgrad.genomics.motif_recovery import auroc, topk_precision
from idgrad.genomics.motifs import (
    ModiscoResults,
    Pattern,
    Seqlet,
    modisco,
    modisco_from_files,
    pwm_similarity,
    read_modisco_h5,
)
from idgrad.genomics.plots import logo_layout, plot_logo, plot_tracks
from idgrad.genomics.references import (
    dinucleotide_counts,
    dinucleotide_shuffle,
    gc_reference,
    uniform_reference,
    zeros_reference,
)
from idgrad.genomics.sequences import (
    Layout,
    check_one_hot,
    decode,
    from_channels_first,
    infer_layout,
    one_hot,
    reverse_complement,
    to_channels_first,
)
from idgrad.genomics.synthetic import (
    CTCF_MOTIF,
    GATA_MOTIF,
    MotifData,
    motif_cnn,
    planted_motifs,
    train_motif_model,
)
from idgrad.genomics.synthetic_profiles import (
    PROFILE_CLASSES,
    PROFILE_MOTIFS,
    ProfileData,
    ProfileMotif,
    planted_profiles,
)
from idgrad.genomics.targets import counts_target, profile_target, track_target, window_targets

__all__ = [
    "CTCF_MOTIF",
    "GATA_MOTIF",
    "PROFILE_CLASSES",
    "PROFILE_MOTIFS",
    "BPNet",
    "Agreement",
    "Contributions",
    "Layout",
    "ModiscoResults",
    "MotifData",
    "Pattern",
    "ProfileData",
    "ProfileMotif",
    "Seqlet",
    "actual_contributions",
    "agreement",
    "auroc",
    "check_one_hot",
    "contribution_scores",
    "counts_target",
    "decode",
    "dinucleotide_counts",
    "dinucleotide_shuffle",
    "expected_attributions",
    "from_channels_first",
    "gc_reference",
    "hypothetical_contributions",
    "infer_layout",
    "ism",
    "ism_evaluations",
    "load_modisco_npz",
    "logo_layout",
    "modisco",
    "modisco_from_files",
    "motif_cnn",
    "one_hot",
    "planted_motifs",
    "planted_profiles",
    "plot_logo",
    "plot_tracks",
    "profile_target",
    "pwm_similarity",
    "read_bigwig",
    "read_modisco_h5",
    "repeat_per_reference",
    "reverse_complement",
    "save_modisco_cli_inputs",
    "save_modisco_npz",
    "to_channels_first",
    "topk_precision",
    "track_target",
    "window_targets",
    "train_bpnet",
    "train_motif_model",
    "uniform_reference",
    "write_bigwig",
    "zeros_reference",
]
