"""Drop-in faces: captum-style classes (:mod:`idgrad.compat.captum`) and the seed package's
function names (:mod:`idgrad.compat.seed`), thin wrappers over the same functions.

Example:
    >>> from idgrad.compat import IntegratedGradients, get_integrated_gradients
"""

from idgrad.compat.captum import (
    IntegratedDecisionGradients,
    IntegratedGradients,
    LayerIntegratedDecisionGradients,
    LayerIntegratedGradients,
)
from idgrad.compat.seed import get_integrated_decision_gradients, get_integrated_gradients

__all__ = [
    "IntegratedDecisionGradients",
    "IntegratedGradients",
    "LayerIntegratedDecisionGradients",
    "LayerIntegratedGradients",
    "get_integrated_decision_gradients",
    "get_integrated_gradients",
]
