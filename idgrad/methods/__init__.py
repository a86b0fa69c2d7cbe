"""Attribution methods, each a thin function over the schedules, integrator and seam."""

from idgrad.methods.idg import IDGWarning, default_pilot_steps, integrated_decision_gradients
from idgrad.methods.ig import integrated_gradients

__all__ = [
    "integrated_gradients",
    "integrated_decision_gradients",
    "default_pilot_steps",
    "IDGWarning",
]
