"""Attribution methods, each a thin function over the engine (:mod:`idgrad.engine`).

Every method is a :class:`~idgrad.methods.base.PathMethod`: calling it returns the
attributions, its ``.details(...)`` (same arguments) the details object.
"""

from idgrad.engine.schedules.pilot import default_pilot_steps
from idgrad.methods.agi import adversarial_gradient_integration
from idgrad.methods.base import PathMethod, path_method
from idgrad.methods.blur_ig import blur_integrated_gradients
from idgrad.methods.guided_ig import guided_integrated_gradients
from idgrad.methods.idg import IDGWarning, integrated_decision_gradients
from idgrad.methods.ig import integrated_gradients
from idgrad.methods.ig_sign import integrated_gradients_sign
from idgrad.methods.left_ig import left_integrated_gradients

__all__ = [
    "IDGWarning",
    "PathMethod",
    "adversarial_gradient_integration",
    "blur_integrated_gradients",
    "default_pilot_steps",
    "guided_integrated_gradients",
    "integrated_decision_gradients",
    "integrated_gradients",
    "integrated_gradients_sign",
    "left_integrated_gradients",
    "path_method",
]
