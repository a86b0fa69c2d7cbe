"""captum interoperability: idgrad's classes inside captum's NoiseTunnel and visualisation."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import idgrad
from idgrad.compat.captum import LayerIntegratedDecisionGradients, LayerIntegratedGradients

captum_attr = pytest.importorskip("captum.attr")

D = torch.float64


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
@pytest.mark.parametrize("layer", [False, True])
def test_inside_captum_noise_tunnel_matches_captum(nt_type: str, layer: bool) -> None:
    model = _mlp()
    x = torch.randn(2, 4, dtype=D)
    if layer:
        ours, theirs = (
            LayerIntegratedGradients(model, model[0]),
            captum_attr.LayerIntegratedGradients(model, model[0]),
        )
    else:
        ours, theirs = idgrad.IntegratedGradients(model), captum_attr.IntegratedGradients(model)
    kwargs = {
        "nt_type": nt_type,
        "nt_samples": 5,
        "nt_samples_batch_size": 2,
        "stdevs": 0.3,
        "target": torch.tensor([1, 2]),
        "n_steps": 12,
        "return_convergence_delta": True,
    }
    torch.manual_seed(3)  # captum draws its noise from the global RNG
    a, da = captum_attr.NoiseTunnel(ours).attribute(x, **kwargs)
    torch.manual_seed(3)
    b, db = captum_attr.NoiseTunnel(theirs).attribute(x, **kwargs)
    # captum's step weights are float32: agreement to ~1e-8 relative
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(da, db, rtol=0, atol=1e-6)


def test_idg_classes_inside_captum_noise_tunnel() -> None:
    model = _mlp()
    x = torch.randn(3, 4, dtype=D)
    for method, options in (
        (idgrad.IntegratedDecisionGradients(model), {}),
        (LayerIntegratedDecisionGradients(model, model[2]), {"schedule": "uniform"}),
        (idgrad.IntegratedDecisionGradients(model), {"schedule": "pilot", "rule": "gausslegendre"}),
    ):
        nt = captum_attr.NoiseTunnel(method)
        assert nt.multiplies_by_inputs and nt.has_convergence_delta()
        out = nt.attribute(x, nt_samples=3, stdevs=0.0, target=0, n_steps=8, **options)
        plain = method.attribute(x, target=0, n_steps=8, **options)
        torch.testing.assert_close(out, plain, rtol=0, atol=1e-12)


def test_captum_image_visualisation() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from captum.attr import visualization as viz

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Tanh(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    image = torch.rand(1, 3, 8, 8)
    attr = idgrad.IntegratedDecisionGradients(model).attribute(image, target=1, n_steps=8)
    hwc = attr[0].permute(1, 2, 0).detach().numpy()
    fig, ax = viz.visualize_image_attr(
        hwc,
        image[0].permute(1, 2, 0).numpy(),
        method="blended_heat_map",
        sign="all",
        use_pyplot=False,
    )
    assert fig is not None and ax is not None
    _, axes = viz.visualize_image_attr_multiple(
        hwc,
        image[0].permute(1, 2, 0).numpy(),
        ["original_image", "heat_map"],
        ["all", "absolute_value"],
        use_pyplot=False,
    )
    assert len(axes) == 2
    matplotlib.pyplot.close("all")


def test_idgrad_does_not_import_captum() -> None:
    code = (
        "import sys, idgrad, idgrad.methods.layer, idgrad.methods.noise, idgrad.compat.captum; "
        "print('captum' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
