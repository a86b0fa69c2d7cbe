"""Devices and dtypes: float64 / float32 / bfloat16, CPU and CUDA (``device`` fixture)."""

from __future__ import annotations

import pytest
import torch

import idgrad


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc1 = torch.nn.Linear(6, 16)
        self.fc2 = torch.nn.Linear(16, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


@pytest.mark.parametrize("fn", ["ig", "idg"])
def test_bfloat16_accumulates_in_float32(device: torch.device, fn: str) -> None:
    model = Small().to(device)
    x = torch.rand(3, 6, device=device)
    method = idgrad.integrated_gradients if fn == "ig" else idgrad.integrated_decision_gradients
    ref = method(model, x, target=0, n_steps=16)
    d = method.details(model.to(torch.bfloat16), x.to(torch.bfloat16), target=0, n_steps=16)
    assert d.attributions.dtype == torch.bfloat16
    assert d.outputs.dtype == torch.float32 and d.delta.dtype == torch.float32
    assert torch.isfinite(d.attributions.float()).all()
    # bfloat16 carries ~3 significant digits
    err = (d.attributions.float() - ref).norm() / ref.norm()
    assert err < 0.05


def test_per_example_target_tensor_on_device(device: torch.device) -> None:
    model = Small().double().to(device)
    x = torch.rand(3, 6, dtype=torch.float64, device=device)
    t = torch.tensor([2, 0, 1], device=device)
    a = idgrad.integrated_gradients(model, x, target=t, n_steps=8)
    b = idgrad.integrated_gradients(model, x, target=t.cpu().tolist(), n_steps=8)
    assert torch.allclose(a, b, rtol=0, atol=0)
