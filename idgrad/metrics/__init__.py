"""Evaluation metrics for attributions: insertion, deletion, PIC (SIC/AIC) and sanity checks.

The insertion and deletion curves follow the protocol of the IDG paper (Walker et al., AAAI 2024,
arXiv 2305.20052), itself taken from RISE (Petsiuk et al., BMVC 2018): pixels are ranked by a
saliency map, changed ``pixels_per_step`` at a time in order of decreasing saliency, and the
model's softmax probability of the target class is recorded after every step. The area under
that curve (trapezoid rule over the fraction of pixels changed) summarises it: high is good for
insertion, low is good for deletion.

The Performance Information Curves (Kapishnikov et al., "XRAI", ICCV 2019) reveal the most
salient pixels of an image whose other pixels are interpolated from a sparse random subset, and
plot the model's normalised score against the image's normalised information content, estimated
by its losslessly compressed size.

Two cheap checks complete the package: :func:`~idgrad.metrics.completeness_error`
(``Σ_i A_i − (F(x) − F(x'))``) and :func:`~idgrad.metrics.parameter_randomization_check`
(Adebayo et al., NeurIPS 2018).

All functions evaluate the model under :func:`torch.no_grad` (the caller's grad mode is restored
on return), never call ``model.eval()`` or ``model.train()``, and never modify their arguments:
every function that calls the model does so inside one :class:`~idgrad.core.guard.ModelGuard`, which
restores the model's buffers (batch-norm running statistics) on return, also when it raises.
Put the model in evaluation mode yourself: dropout or batch statistics would make every score
random, and a model in train mode gets one :class:`~idgrad.core.guard.TrainModeWarning` per call.

One family a module: :mod:`~idgrad.metrics.causal_curves` (insertion, deletion),
:mod:`~idgrad.metrics.information_curves` (PIC), :mod:`~idgrad.metrics.completeness`,
:mod:`~idgrad.metrics.sanity` (parameter randomisation) and :mod:`~idgrad.metrics.images`
(saliency maps, blur, substrates). Every public name is importable from ``idgrad.metrics``.
"""

from __future__ import annotations

from idgrad.metrics._checks import Model, Score, ScoreFn, Target
from idgrad.metrics.causal_curves import Curve, deletion, insertion
from idgrad.metrics.completeness import completeness_error
from idgrad.metrics.images import Reduction, Substrate, gaussian_blur, saliency_map
from idgrad.metrics.information_curves import (
    DEFAULT_PIC_THRESHOLDS,
    PicAggregate,
    PicCurve,
    aggregate_pic,
    compressed_size,
    pic,
    random_pixel_mask,
)
from idgrad.metrics.sanity import RandomizationResult, parameter_randomization_check, spearman

__all__ = [
    "DEFAULT_PIC_THRESHOLDS",
    "Curve",
    "Model",
    "PicAggregate",
    "PicCurve",
    "RandomizationResult",
    "Reduction",
    "Score",
    "ScoreFn",
    "Substrate",
    "Target",
    "aggregate_pic",
    "completeness_error",
    "compressed_size",
    "deletion",
    "gaussian_blur",
    "insertion",
    "parameter_randomization_check",
    "pic",
    "random_pixel_mask",
    "saliency_map",
    "spearman",
]
