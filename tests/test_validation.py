"""One validation module: its wording, and devices checked before any model call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models import CountingModel, SmallMLP

import idgrad
from idgrad.core.validation import (
    check_chunk_size,
    check_int,
    check_model_device,
    check_number,
    model_devices,
)

D = torch.float64


def test_check_int_wording_and_forms() -> None:
    assert check_int(np.int64(3), "n_steps") == 3
    assert check_int(0, "n_refine", minimum=0) == 0
    with pytest.raises(ValueError, match="^n_steps must be >= 1, got 0$"):
        check_int(0, "n_steps")
    with pytest.raises(TypeError, match="^top_k must be an int, got float$"):
        check_int(2.0, "top_k")
    with pytest.raises(TypeError, match="got bool"):
        check_int(True, "n_steps")


def test_check_number_bounds() -> None:
    assert check_number(1, "fraction", minimum=0.0, maximum=1.0, open_minimum=True) == 1.0
    with pytest.raises(ValueError, match=r"fraction must be finite and in \(0, 1\], got 0"):
        check_number(0.0, "fraction", minimum=0.0, maximum=1.0, open_minimum=True)
    with pytest.raises(ValueError, match=r"epsilon must be finite and in \(0, inf\)"):
        check_number(float("inf"), "epsilon", minimum=0.0, open_minimum=True)
    with pytest.raises(TypeError, match="max_dist must be a number"):
        check_number("1", "max_dist")


def test_check_chunk_size() -> None:
    for ok in (None, "auto", 1, 7):
        check_chunk_size(ok)
    with pytest.raises(ValueError, match="internal_batch_size must be >= 1, got 0"):
        check_chunk_size(0)
    with pytest.raises(TypeError, match="internal_batch_size must be an int, 'auto' or None"):
        check_chunk_size("big")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fn, kwargs",
    [
        (idgrad.integrated_gradients, {"n_steps": 0}),
        (idgrad.integrated_decision_gradients, {"n_pilot_steps": 0, "schedule": "pilot"}),
        (idgrad.left_integrated_gradients, {"n_refine": -1}),
        (idgrad.guided_integrated_gradients, {"n_steps": 0}),
        (idgrad.noise_tunnel, {"nt_samples": 0}),
    ],
)
def test_methods_word_counts_the_same(fn, kwargs) -> None:  # type: ignore[no-untyped-def]
    name, value = next(iter(kwargs.items()))
    minimum = 0 if name == "n_refine" else 1
    model = lambda z: z.sum(1)
    x = torch.rand(2, 3)
    call = (
        (lambda: fn(idgrad.integrated_gradients, x, forward_func=model, **kwargs))
        if fn is idgrad.noise_tunnel
        else (lambda: fn(model, x, **kwargs))
    )
    with pytest.raises(ValueError, match=f"^{name} must be >= {minimum}, got {value}$"):
        call()


# ------------------------------------------------------------------ devices


def test_model_devices() -> None:
    model = SmallMLP(3, 4, 2)
    assert model_devices(model) == {torch.device("cpu")}
    assert model_devices(model.forward) == {torch.device("cpu")}  # a bound method
    assert model_devices(lambda z: z) == set()
    assert model_devices(torch.nn.ReLU()) == set()  # nothing to compare with


def test_meta_inputs_are_refused_before_any_model_call() -> None:
    model = CountingModel(SmallMLP(3, 4, 2))
    x = torch.empty(2, 3, dtype=D, device="meta")
    with pytest.raises(
        ValueError, match="inputs are on meta but the model's parameters are on cpu"
    ):
        idgrad.integrated_gradients(model, x, target=0)
    with pytest.raises(ValueError, match="inputs is on the meta device"):  # no parameters
        idgrad.integrated_gradients(lambda z: z.sum(1), x)
    with pytest.raises(ValueError, match="baselines is on meta but its input is on cpu"):
        idgrad.integrated_gradients(model, torch.rand(2, 3, dtype=D), baselines=x, target=0)
    with pytest.raises(ValueError, match="baselines is on the meta device"):  # 0-d
        meta_number = torch.empty((), dtype=D, device="meta")
        idgrad.integrated_gradients(
            model, torch.rand(2, 3, dtype=D), baselines=meta_number, target=0
        )
    assert model.calls == 0


def test_model_on_another_device_is_named_before_any_model_call() -> None:
    inner = SmallMLP(3, 4, 2).to("meta")
    model = CountingModel(inner)
    x = torch.rand(2, 3, dtype=D)
    for fn in (
        idgrad.integrated_gradients,
        idgrad.integrated_decision_gradients,
        idgrad.guided_integrated_gradients,
        idgrad.adversarial_gradient_integration,
    ):
        with pytest.raises(
            ValueError, match="inputs are on cpu but the model's parameters are on meta"
        ):
            fn(model, x, target=0)
    with pytest.raises(ValueError, match="on cpu but the model's parameters are on meta"):
        idgrad.layer_integrated_gradients(model, inner.net[0], x, target=0)
    assert model.calls == 0


def test_check_model_device_accepts_any_device_of_a_split_model() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1).to("meta"))
    check_model_device(model, [torch.zeros(1, 2)])
    check_model_device(model, [torch.zeros(1, 2, device="meta")])


@pytest.mark.cuda
def test_inputs_and_model_on_different_real_devices(device: torch.device) -> None:
    if device.type != "cuda":
        pytest.skip("needs a second device")
    model = CountingModel(SmallMLP(3, 4, 2).to(device))
    x = torch.rand(2, 3, dtype=D)
    with pytest.raises(
        ValueError, match=f"inputs are on cpu but the model's parameters are on {device}"
    ):
        idgrad.integrated_gradients(model, x, target=0)
    with pytest.raises(ValueError, match=f"baselines is on cpu but its input is on {device}"):
        idgrad.integrated_gradients(model, x.to(device), baselines=torch.zeros(2, 3), target=0)
    assert model.calls == 0
    # a 0-d baseline tensor counts as a number, as in torch
    idgrad.integrated_gradients(model, x.to(device), baselines=torch.tensor(0.0), target=0)
