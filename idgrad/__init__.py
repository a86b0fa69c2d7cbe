"""idgrad: Integrated Decision Gradients and exact path attributions for PyTorch.

Example:
    >>> import torch, idgrad
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    >>> x = torch.rand(4, 3)
    >>> attr = idgrad.integrated_decision_gradients(model, x, target=0, n_steps=16)
    >>> attr.shape
    torch.Size([4, 3])
"""

from idgrad.compat import get_integrated_decision_gradients, get_integrated_gradients
from idgrad.compat.captum import (
    IntegratedDecisionGradients,
    IntegratedGradients,
    LayerIntegratedDecisionGradients,
    LayerIntegratedGradients,
)
from idgrad.core.baselines import BASELINE_KINDS, make_baseline
from idgrad.core.guard import TrainModeWarning
from idgrad.core.results import (
    AGIDetails,
    Details,
    GradedDetails,
    LeftIGDetails,
    PathDetails,
    ToleranceWarning,
)
from idgrad.dataset import attribute_dataset, load_attributions
from idgrad.engine.rules import RULES, Schedule, uniform_schedule
from idgrad.engine.schedules import SCHEDULES
from idgrad.engine.schedules.pilot import adaptive_schedule
from idgrad.methods import (
    IDGWarning,
    PathMethod,
    adversarial_gradient_integration,
    blur_integrated_gradients,
    default_pilot_steps,
    guided_integrated_gradients,
    integrated_decision_gradients,
    integrated_gradients,
    integrated_gradients_sign,
    left_integrated_gradients,
)
from idgrad.methods.layer import layer_integrated_decision_gradients, layer_integrated_gradients
from idgrad.methods.noise import NT_TYPES, noise_tunnel

__version__ = "0.1.0"

__all__ = [
    "BASELINE_KINDS",
    "NT_TYPES",
    "RULES",
    "SCHEDULES",
    "AGIDetails",
    "Details",
    "GradedDetails",
    "IDGWarning",
    "IntegratedDecisionGradients",
    "IntegratedGradients",
    "LayerIntegratedDecisionGradients",
    "LayerIntegratedGradients",
    "LeftIGDetails",
    "PathDetails",
    "PathMethod",
    "Schedule",
    "ToleranceWarning",
    "TrainModeWarning",
    "__version__",
    "adaptive_schedule",
    "adversarial_gradient_integration",
    "attribute_dataset",
    "blur_integrated_gradients",
    "default_pilot_steps",
    "get_integrated_decision_gradients",
    "get_integrated_gradients",
    "guided_integrated_gradients",
    "integrated_decision_gradients",
    "integrated_gradients",
    "integrated_gradients_sign",
    "layer_integrated_decision_gradients",
    "layer_integrated_gradients",
    "left_integrated_gradients",
    "load_attributions",
    "make_baseline",
    "noise_tunnel",
    "uniform_schedule",
]
