"""Every default value of the public API, written once.

The functions, the captum-style classes, the layer methods, the seed names and the
command line all take their defaults from here (``tests/test_defaults.py`` walks
their signatures and fails on any default that differs).

Example:
    >>> N_STEPS, IG_SCHEDULE, IDG_SCHEDULE, UNIFORM_RULE, PILOT_RULE
    (50, 'uniform', 'graded', 'gausslegendre', 'riemann_middle')
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ADAPTIVE",
    "AGI_CLASSES",
    "AGI_EPSILON",
    "AGI_MAX_ITER",
    "AGI_PROBABILITIES",
    "AGI_SEED",
    "AGI_TOP_K",
    "ATTRIBUTE_TO_LAYER_INPUT",
    "BLUR_MAX_SIGMA",
    "BLUR_TRUNCATE",
    "CLI_DEVICE",
    "CLI_METHOD",
    "CLI_TARGET",
    "DATASET_BATCH_SIZE",
    "GRADED_MAX_EVALUATIONS",
    "GRADED_MIN_STEPS",
    "GUIDED_FRACTION",
    "GUIDED_MAX_DIST",
    "IDG_SCHEDULE",
    "IG_SCHEDULE",
    "IMAGE_MAX_PIXELS",
    "INTERNAL_BATCH_SIZE",
    "LEFT_FRACTION",
    "LEFT_N_REFINE",
    "MAX_EVALUATIONS",
    "MULTIPLY_BY_INPUTS",
    "NORMALIZE",
    "N_PILOT_STEPS",
    "N_STEPS",
    "N_STEPS_AUTO",
    "PILOT_RULE",
    "PT2_MAX_EXPRESSION_CHARS",
    "PT2_MAX_EXPRESSION_DEPTH",
    "PT2_MAX_EXPRESSION_NODES",
    "PT2_MAX_INTEGER_BITS",
    "PT2_MAX_JSON_BYTES",
    "RTOL",
    "RULE_AUTO",
    "SCHEDULE_AUTO",
    "SIGN_MU",
    "TARGETS",
    "UNIFORM_RULE",
    "ZIP_MAX_INFLATION",
]

# -- every path method
#: The registry name the command line attributes with unless told otherwise.
CLI_METHOD = "idg"
#: What the command line explains unless told otherwise (``--target``): each example's
#: predicted class.
CLI_TARGET = "predicted"
#: The command line's device (``--device``): None is CUDA when available
#: (``cuda:LOCAL_RANK`` under torchrun), else the CPU.
CLI_DEVICE: str | None = None
#: Examples per block of a dataset run (``batch_size`` of
#: :func:`idgrad.dataset.attribute_dataset` without a DataLoader, ``idgrad dataset --batch-size``).
DATASET_BATCH_SIZE = 32
#: Gradient evaluations per example.
N_STEPS = 50
#: ``n_steps`` of the path methods: None is N_STEPS, or as many as ``rtol`` needs.
N_STEPS_AUTO: int | None = None
#: ``schedule``: None is the method's own (IG_SCHEDULE, IDG_SCHEDULE), or ``"graded"`` when
#: ``rtol`` is given.
SCHEDULE_AUTO: str | None = None
#: ``rule``: None is the schedule's own (UNIFORM_RULE, PILOT_RULE; the graded schedule
#: chooses its own).
RULE_AUTO: str | None = None
#: IG's schedule (and Left-IG's, Blur IG's, IG x Sign's): one quadrature rule.
IG_SCHEDULE = "uniform"
#: IDG's schedule: points where the integrand needs them, with an error estimate.
IDG_SCHEDULE = "graded"
#: The rule of the uniform schedule: Gauss-Legendre, exact for polynomials of degree 2n - 1.
UNIFORM_RULE = "gausslegendre"
#: The rule inside each pilot interval of the pilot schedule (the paper's midpoints).
PILOT_RULE = "riemann_middle"
#: Pilot intervals of the pilot schedule (None: :func:`idgrad.default_pilot_steps` of
#: ``n_steps``).
N_PILOT_STEPS: int | None = None
#: No tolerance: a fixed budget of ``n_steps`` points.
RTOL: float | None = None
#: Most gradient evaluations per example that ``rtol`` may spend (None: GRADED_MAX_EVALUATIONS).
MAX_EVALUATIONS: int | None = None
#: What ``max_evaluations=None`` allows ``rtol`` to spend per example.
GRADED_MAX_EVALUATIONS = 1024
#: The fewest evaluations ``max_evaluations`` may allow.
GRADED_MIN_STEPS = 8
#: Points per forward/backward pass: chosen from the size of one example.
INTERNAL_BATCH_SIZE: Literal["auto"] = "auto"
#: Multiply by ``x - x'`` (global attribution) rather than the path-averaged gradient.
MULTIPLY_BY_INPUTS = True
#: ``targets``: None is one target, the one ``target`` names; a list (or ``"all"``) explains
#: several in one call.
TARGETS: None = None

# -- Integrated Gradients (and IG x Sign, Left-IG, Blur IG, the layer IG)
#: IG x Sign's threshold ``mu`` of the sign map.
SIGN_MU = 0.0

# -- Integrated Decision Gradients (and the layer IDG)
#: Rescale each example's IDG attributions to ``F(x) - F(x')``.
NORMALIZE = True

# -- the seed package's names (idgrad.compat.seed)
#: ``get_integrated_decision_gradients(adaptive=...)``: the seed's pilot schedule.
ADAPTIVE = True

# -- Left-IG
#: Share of the way from ``F(x')`` to ``F(x)`` that defines ``alpha*``.
LEFT_FRACTION = 0.9
#: Bisection steps on the crossing interval.
LEFT_N_REFINE = 8

# -- Guided IG (the Guided IG authors' values)
#: Share of the features moved per selection.
GUIDED_FRACTION = 0.25
#: Largest progress gap between a feature and the straight line.
GUIDED_MAX_DIST = 0.02

# -- Blur IG
#: Blur scale (pixels) where the path starts.
BLUR_MAX_SIGMA = 50.0
#: Kernel radius in units of ``max_sigma``.
BLUR_TRUNCATE = 4.0

# -- AGI (the IDG paper's comparison settings)
#: Step size per feature.
AGI_EPSILON = 0.05
#: Most steps per adversarial path.
AGI_MAX_ITER = 20
#: False classes per example.
AGI_TOP_K = 20
#: How the false classes are chosen.
AGI_CLASSES: Literal["top", "random"] = "top"
#: Seed of ``classes="random"``.
AGI_SEED: int | None = 0
#: Integrate softmax probabilities (True) or raw outputs.
AGI_PROBABILITIES = True

# -- layer methods
#: Attribute to the layer's output (False) or its input.
ATTRIBUTE_TO_LAYER_INPUT = False

# -- limits for files we read
# A file that would cost more than these is refused before the work starts, naming the
# limit (docs/security.md). A caller who trusts a file raises them for one call with
# ``limits=idgrad.files.FileLimits(...)``.
#: Largest JSON record of a ``.pt2`` archive (its graph, ``models/*.json``, and its
#: configs), in bytes once inflated: a real EfficientNet-Lite0's graph is 0.5 MB.
PT2_MAX_JSON_BYTES = 64 * 2**20
#: Most bytes a zip-based model or tensor file (``.pt2``, TorchScript, ``torch.save``) may
#: inflate to, as a multiple of its size on disk (torch stores weights uncompressed: about 1).
ZIP_MAX_INFLATION = 32
#: Longest symbolic shape expression of a ``.pt2`` archive, in characters.
PT2_MAX_EXPRESSION_CHARS = 4096
#: Most syntax-tree nodes of one shape expression (a real EfficientNet-Lite0 export with
#: dynamic height and width has at most 52).
PT2_MAX_EXPRESSION_NODES = 512
#: Deepest nesting of one shape expression (calls and operators inside each other).
PT2_MAX_EXPRESSION_DEPTH = 64
#: Largest number, in bits, that a shape expression may compute (sympy computes exact
#: integers: ``((9**64)**64)**64`` is refused before sympy sees it), every shape symbol
#: taken as a 64-bit value.
PT2_MAX_INTEGER_BITS = 2**16
#: Most pixels (width x height) of an image file, checked from its header before it is
#: decoded (a PNG of a few hundred bytes can declare 20000 x 20000 pixels).
IMAGE_MAX_PIXELS = 2**26
