"""Array transforms behind the plots: attribution -> 2-D map, image -> displayable array.

Everything here is pure numpy (torch tensors are accepted and converted), so it can be tested
exactly and reused without matplotlib. The drawing functions in :mod:`idgrad.plot` are thin
layers on top of these.

The usual pipeline for an image attribution of shape ``(C, H, W)`` or ``(H, W, C)``::

    reduce_channels  ->  select_sign  ->  normalize_map
       (H, W)             (H, W)          (H, W) in [-1, 1], or [0, 1] for one sign

which :func:`attribution_map` runs in one call.

Example:
    >>> import numpy as np
    >>> attribution = np.zeros((3, 5, 5))  # (C, H, W)
    >>> attribution[:, 1, 2] = 1.0
    >>> attribution[:, 3, 0] = -0.5
    >>> m = attribution_map(attribution, sign="all", clip_percentile=100)
    >>> float(m[1, 2]), float(m[3, 0]), m.shape
    (1.0, -0.5, (5, 5))
"""

from __future__ import annotations

from idgrad.ops.channels import REDUCTIONS, Reduction
from idgrad.visual.curves import decision_region, normalized_auc
from idgrad.visual.display import blend, mask_image, to_display_image, to_grayscale
from idgrad.visual.maps import (
    DEFAULT_CLIP_PERCENTILE,
    SIGNS,
    Sign,
    attribution_map,
    normalize_map,
    reduce_channels,
    select_sign,
)

__all__ = [
    "DEFAULT_CLIP_PERCENTILE",
    "REDUCTIONS",
    "SIGNS",
    "Reduction",
    "Sign",
    "attribution_map",
    "blend",
    "decision_region",
    "mask_image",
    "normalize_map",
    "normalized_auc",
    "reduce_channels",
    "select_sign",
    "to_display_image",
    "to_grayscale",
]
