"""tests/captum_models.py computes what captum's test helper models compute (captum as oracle).

Models with fixed weights are compared as built; models with random weights get captum's
weights through ``load_state_dict`` (strict: same parameter names and shapes) first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import captum_models as ours
import pytest
import torch

helpers = pytest.importorskip("captum.testing.helpers.basic_models")
classification = pytest.importorskip("captum.testing.helpers.classification_models")


def _r(*shape: int) -> torch.Tensor:
    return 3 * torch.randn(*shape)


FIXED: dict[str, tuple[Callable[[], Any], Callable[[], Any], Callable[[], tuple[Any, ...]]]] = {
    "BasicModel": (ours.BasicModel, helpers.BasicModel, lambda: (_r(6, 3),)),
    "BasicModel2": (ours.BasicModel2, helpers.BasicModel2, lambda: (_r(6), _r(6))),
    "BasicModel3": (ours.BasicModel3, helpers.BasicModel3, lambda: (_r(6), _r(6))),
    "BasicModel4_MultiArgs": (
        ours.BasicModel4_MultiArgs,
        helpers.BasicModel4_MultiArgs,
        lambda: (_r(4, 3), _r(4, 3), torch.rand(4, 3) + 0.5, 2),
    ),
    "BasicModel5_MultiArgs": (
        ours.BasicModel5_MultiArgs,
        helpers.BasicModel5_MultiArgs,
        lambda: (_r(4, 3), _r(4, 3), [2, 3], 1),
    ),
    "BasicModel6_MultiTensor": (
        ours.BasicModel6_MultiTensor,
        helpers.BasicModel6_MultiTensor,
        lambda: (_r(4, 3), _r(4, 3)),
    ),
    "BasicModel_MultiLayer": (
        ours.BasicModel_MultiLayer,
        helpers.BasicModel_MultiLayer,
        lambda: (_r(4, 3),),
    ),
    "BasicModel_MultiLayer_multidim": (
        ours.BasicModel_MultiLayer,
        helpers.BasicModel_MultiLayer,
        lambda: (_r(4, 3), _r(4, 3), True),
    ),
    "BasicModel_MultiLayer_multi_input_module": (
        lambda: ours.BasicModel_MultiLayer(multi_input_module=True),
        lambda: helpers.BasicModel_MultiLayer(multi_input_module=True),
        lambda: (_r(4, 3),),
    ),
    "BasicModel_MultiLayer_MultiInput": (
        ours.BasicModel_MultiLayer_MultiInput,
        helpers.BasicModel_MultiLayer_MultiInput,
        lambda: (_r(4, 3), _r(4, 3), _r(4, 3), 5),
    ),
    "BasicModel_MultiLayer_TrueMultiInput": (
        ours.BasicModel_MultiLayer_TrueMultiInput,
        helpers.BasicModel_MultiLayer_TrueMultiInput,
        lambda: (_r(4, 3), _r(4, 3), _r(4, 3), _r(4, 3)),
    ),
}

RANDOM: dict[str, tuple[Callable[[], Any], Callable[[], Any], Callable[[], tuple[Any, ...]]]] = {
    "SigmoidModel": (
        lambda: ours.SigmoidModel(20, 5, 1),
        lambda: classification.SigmoidModel(20, 5, 1),
        lambda: (_r(3, 20),),
    ),
    "SoftmaxModel": (
        lambda: ours.SoftmaxModel(40, 20, 10),
        lambda: classification.SoftmaxModel(40, 20, 10),
        lambda: (_r(3, 40),),
    ),
    "BasicModel_ConvNet": (
        ours.BasicModel_ConvNet,
        helpers.BasicModel_ConvNet,
        lambda: (_r(3, 1, 10, 10),),
    ),
    "BasicEmbeddingModel": (
        lambda: ours.BasicEmbeddingModel(nested_second_embedding=True),
        lambda: helpers.BasicEmbeddingModel(nested_second_embedding=True),
        lambda: tuple(torch.randint(0, 30, (3, 4)) for _ in range(3)),
    ),
}


@pytest.mark.parametrize("name", list(FIXED))
def test_fixed_weight_models_match_captum(name: str) -> None:
    make_ours, make_theirs, args = FIXED[name]
    a = args()
    torch.testing.assert_close(make_ours()(*a), make_theirs()(*a), rtol=0, atol=0)


@pytest.mark.parametrize("name", list(RANDOM))
def test_random_weight_models_match_captum(name: str) -> None:
    make_ours, make_theirs, args = RANDOM[name]
    theirs, mine = make_theirs(), make_ours()
    mine.load_state_dict(theirs.state_dict(), strict=True)
    a = args()
    torch.testing.assert_close(mine(*a), theirs(*a), rtol=1e-6, atol=1e-7)
