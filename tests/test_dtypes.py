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
def test_float32_close_to_float64(device: torch.device, fn: str) -> None:
    model64 = Small().double().to(device)
    model32 = Small().to(device)
    x = torch.rand(4, 6, dtype=torch.float64, device=device)
    method = idgrad.integrated_gradients if fn == "ig" else idgrad.integrated_decision_gradients
    det = method.details(model64, x, target=1, n_steps=24)
    a64, _d64 = det.attributions, det.delta
    det = method.details(model32, x.float(), target=1, n_steps=24)
    a32, d32 = det.attributions, det.delta
    assert a64.dtype == torch.float64 and a32.dtype == torch.float32
    assert a64.device.type == device.type and d32.device.type == device.type
    assert torch.allclose(a32.double(), a64, atol=1e-5, rtol=1e-4)
    assert d32.dtype == torch.float32


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


def test_chunk_invariance_on_device(device: torch.device) -> None:
    model = Small().double().to(device)
    x = torch.rand(5, 6, dtype=torch.float64, device=device)
    ref = idgrad.integrated_decision_gradients(model, x, target=2, n_steps=10)
    for chunk in (1, 7):
        out = idgrad.integrated_decision_gradients(
            model, x, target=2, n_steps=10, internal_batch_size=chunk
        )
        assert torch.allclose(out, ref, rtol=0, atol=1e-12)


def test_per_example_target_tensor_on_device(device: torch.device) -> None:
    model = Small().double().to(device)
    x = torch.rand(3, 6, dtype=torch.float64, device=device)
    t = torch.tensor([2, 0, 1], device=device)
    a = idgrad.integrated_gradients(model, x, target=t, n_steps=8)
    b = idgrad.integrated_gradients(model, x, target=t.cpu().tolist(), n_steps=8)
    assert torch.allclose(a, b, rtol=0, atol=0)
