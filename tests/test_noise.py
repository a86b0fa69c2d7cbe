"""Noise tunnel: identities, reproducibility, batching, expansion of per-example arguments."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import idgrad
from idgrad.methods.layer import layer_integrated_decision_gradients, layer_integrated_gradients
from idgrad.methods.noise import noise_tunnel

D = torch.float64


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def _x(b: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, 4, generator=torch.Generator().manual_seed(seed), dtype=D)


def _manual(method, x: torch.Tensor, n: int, sd: float, seed: int, **kwargs) -> torch.Tensor:
    """The method at each noisy sample, one call per sample, stacked ``(n, B, ...)``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.stack(
        [
            method(inputs=x + sd * torch.randn(x.shape, generator=gen, dtype=x.dtype), **kwargs)
            for _ in range(n)
        ]
    )


@pytest.mark.parametrize(
    "method", [idgrad.integrated_gradients, idgrad.integrated_decision_gradients]
)
def test_stdev_zero_is_the_method_itself(method) -> None:
    model, x = _mlp(), _x()
    plain = method(model, x, target=[0, 2, 1], n_steps=8)
    for nt_type, expected in (
        ("smoothgrad", plain),
        ("smoothgrad_sq", plain**2),
        ("vargrad", torch.zeros_like(plain)),
    ):
        out = noise_tunnel(
            method,
            x,
            nt_type=nt_type,
            nt_samples=4,
            stdevs=0.0,
            nt_samples_batch_size=3,
            forward_func=model,
            target=[0, 2, 1],
            n_steps=8,
        )
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 2, 5, None])
def test_types_match_the_sample_statistics(batch_size: int | None) -> None:
    model, x = _mlp(), _x()
    samples = _manual(
        idgrad.integrated_gradients, x, 5, 0.4, seed=3, forward_func=model, target=1, n_steps=6
    )
    run = functools.partial(
        noise_tunnel,
        idgrad.integrated_gradients,
        x,
        nt_samples=5,
        stdevs=0.4,
        nt_seed=3,
        nt_samples_batch_size=batch_size,
        forward_func=model,
        target=1,
        n_steps=6,
    )
    mean, mean_sq = samples.mean(0), (samples**2).mean(0)
    torch.testing.assert_close(run(nt_type="smoothgrad"), mean, rtol=0, atol=1e-12)
    torch.testing.assert_close(run(nt_type="smoothgrad_sq"), mean_sq, rtol=0, atol=1e-12)
    vargrad = run(nt_type="vargrad")
    torch.testing.assert_close(vargrad, mean_sq - mean**2, rtol=0, atol=1e-12)
    torch.testing.assert_close(vargrad, samples.var(0, unbiased=False), rtol=0, atol=1e-12)


def test_vargrad_keeps_its_digits_under_small_noise() -> None:
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))  # float32
    x = _x().float() * 10
    samples = _manual(
        idgrad.integrated_gradients,
        x.double(),
        6,
        1e-3,
        seed=0,
        forward_func=_mlp_as_double(model),
        target=0,
        n_steps=6,
    )
    reference = samples.var(0, unbiased=False)
    ours = noise_tunnel(
        idgrad.integrated_gradients,
        x,
        nt_type="vargrad",
        nt_samples=6,
        stdevs=1e-3,
        nt_seed=0,
        nt_samples_batch_size=2,
        forward_func=model,
        target=0,
        n_steps=6,
    )
    # float32 attributions: the variance is ~1e-6 of the mean squared; it is still right
    # to a few percent (E[a^2] - E[a]^2 in float32 would be pure rounding noise)
    big = reference > 1e-3 * reference.max()
    rel = ((ours.double() - reference).abs() / reference)[big]
    assert rel.max() < 0.05


def _mlp_as_double(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).double()


def test_seed_reproducible_and_global_rng_untouched() -> None:
    model, x = _mlp(), _x()
    tunnel = functools.partial(
        noise_tunnel,
        idgrad.integrated_gradients,
        x,
        nt_samples=3,
        stdevs=0.5,
        forward_func=model,
        target=0,
        n_steps=4,
    )
    state = torch.get_rng_state()
    a = tunnel(nt_seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = tunnel(generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = tunnel(nt_seed=8)
    assert not torch.allclose(a, c)
    torch.manual_seed(11)
    d = tunnel()
    torch.manual_seed(11)
    e = tunnel()
    torch.testing.assert_close(d, e, rtol=0, atol=0)


def test_per_example_arguments_and_deltas_follow_the_samples() -> None:
    class WithMask(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _mlp()

        def forward(self, x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
            return self.net(x * mask) * scale

    model, x = WithMask(), _x()
    mask = (torch.rand(3, 4, generator=torch.Generator().manual_seed(2)) > 0.3).double()
    base = _x(seed=9) * 0.1
    target = torch.tensor([2, 0, 1])
    kwargs = {
        "forward_func": model,
        "baselines": base,
        "target": target,
        "additional_forward_args": (mask, 2.0),
        "n_steps": 6,
    }
    samples = []
    gen = torch.Generator().manual_seed(4)
    deltas = []
    for _ in range(4):
        noisy = x + 0.3 * torch.randn(x.shape, generator=gen, dtype=D)
        det = idgrad.integrated_gradients.details(inputs=noisy, **kwargs)
        attr, delta = det.attributions, det.delta
        samples.append(attr)
        deltas.append(delta)
    for batch_size in (1, 3):
        out, delta = noise_tunnel(
            idgrad.integrated_gradients,
            x,
            nt_samples=4,
            stdevs=0.3,
            nt_seed=4,
            nt_samples_batch_size=batch_size,
            return_convergence_delta=True,
            **kwargs,
        )
        torch.testing.assert_close(out, torch.stack(samples).mean(0), rtol=0, atol=1e-12)
        assert delta.shape == (3, 4)
        torch.testing.assert_close(delta, torch.stack(deltas, 1), rtol=0, atol=1e-12)
    listed = noise_tunnel(
        idgrad.integrated_gradients,
        x,
        nt_samples=4,
        stdevs=0.3,
        nt_seed=4,
        nt_samples_batch_size=3,
        **{**kwargs, "target": [2, 0, 1]},
    )
    torch.testing.assert_close(listed, torch.stack(samples).mean(0), rtol=0, atol=1e-12)


def test_tuple_inputs_classes_and_layer_methods() -> None:
    model, x = _mlp(), _x()
    two = lambda a, b: model(a + b)
    out = noise_tunnel(
        idgrad.integrated_gradients,
        (x, x * 0.5),
        nt_samples=3,
        stdevs=(0.1, 0.0),
        nt_seed=1,
        forward_func=two,
        target=0,
        n_steps=4,
    )
    assert isinstance(out, tuple) and out[0].shape == out[1].shape == x.shape
    ig = idgrad.IntegratedGradients(model)
    via_class = noise_tunnel(ig, x, nt_samples=3, stdevs=0.2, nt_seed=1, target=0, n_steps=4)
    via_fn = noise_tunnel(
        idgrad.integrated_gradients,
        x,
        nt_samples=3,
        stdevs=0.2,
        nt_seed=1,
        forward_func=model,
        target=0,
        n_steps=4,
    )
    torch.testing.assert_close(via_class, via_fn, rtol=0, atol=0)
    layers = noise_tunnel(
        layer_integrated_gradients,
        x,
        nt_samples=3,
        stdevs=0.2,
        nt_seed=1,
        forward_func=model,
        layer=[model[0], model[2]],
        target=0,
        n_steps=4,
    )
    assert isinstance(layers, list) and layers[0].shape == (3, 6) and layers[1].shape == (3, 3)
    idg = noise_tunnel(
        layer_integrated_decision_gradients,
        x,
        nt_type="vargrad",
        nt_samples=2,
        stdevs=0.2,
        nt_seed=1,
        forward_func=model,
        layer=model[0],
        target=1,
        n_steps=4,
        internal_batch_size=5,
    )
    assert idg.shape == (3, 6) and (idg >= 0).all()


def test_bad_arguments() -> None:
    model, x = _mlp(), _x()
    ig = idgrad.IntegratedGradients(model)
    with pytest.raises(ValueError, match="nt_type"):
        noise_tunnel(ig, x, nt_type="smooth")
    with pytest.raises(ValueError, match="nt_samples"):
        noise_tunnel(ig, x, nt_samples=0)
    with pytest.raises(ValueError, match="nt_samples_batch_size"):
        noise_tunnel(ig, x, nt_samples_batch_size=0)
    with pytest.raises(ValueError, match="stdevs"):
        noise_tunnel(ig, x, stdevs=-1.0)
    with pytest.raises(ValueError, match="one per input"):
        noise_tunnel(ig, x, stdevs=(0.1, 0.2))
    with pytest.raises(ValueError, match="not both"):
        noise_tunnel(ig, x, nt_seed=1, generator=torch.Generator())
    with pytest.raises(TypeError, match="floating"):
        noise_tunnel(ig, torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="needs an idgrad method"):
        noise_tunnel(lambda inputs: inputs, x, return_convergence_delta=True)
    with pytest.raises(TypeError, match="attribute"):
        noise_tunnel(3, x)
    with pytest.raises(ValueError, match="target list"):
        noise_tunnel(ig, x, nt_samples=2, target=[0, 1])


def test_the_wrapped_methods_options_reach_it() -> None:
    """``rule=`` and ``schedule=`` reach the wrapped method (``method=``, the rule's old name,
    used to collide with noise_tunnel's own)."""
    model, x = _mlp(), _x()
    outs = {}
    for rule in ("riemann_middle", "gausslegendre"):
        outs[rule] = noise_tunnel(
            idgrad.integrated_gradients,
            x,
            nt_samples=2,
            stdevs=0.0,
            forward_func=model,
            target=1,
            n_steps=3,
            rule=rule,
        )
        want = idgrad.integrated_gradients(model, x, target=1, n_steps=3, rule=rule)
        torch.testing.assert_close(outs[rule], want, rtol=0, atol=1e-12)
    assert (outs["riemann_middle"] - outs["gausslegendre"]).abs().max() > 1e-6
    idg = idgrad.integrated_decision_gradients
    got = noise_tunnel(
        idg, x, nt_samples=2, stdevs=0.0, forward_func=model, target=1, n_steps=6, schedule="pilot"
    )
    want = idg(model, x, target=1, n_steps=6, schedule="pilot")
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    agi = idgrad.adversarial_gradient_integration
    kw = {"forward_func": model, "max_iter": 3, "top_k": 1, "classes": "random"}
    for seed in (1, 2):  # AGI's own seed= reaches AGI
        got = noise_tunnel(agi, x, nt_samples=1, stdevs=0.0, nt_seed=0, seed=seed, **kw)
        torch.testing.assert_close(got, agi(inputs=x, seed=seed, **kw), rtol=0, atol=1e-12)


def test_no_parameter_of_the_noise_tunnel_is_a_method_option() -> None:
    import inspect

    from idgrad.methods.registry import METHODS

    own = set(inspect.signature(noise_tunnel).parameters) - {"inputs", "method_kwargs"}
    methods = [spec.function for spec in METHODS.values()]
    methods += [layer_integrated_gradients, layer_integrated_decision_gradients]
    for fn in methods:
        assert not own & set(inspect.signature(fn).parameters), fn.__name__


# ---------------------------------------------------------------- targets


class _Counting(nn.Module):
    """A classifier whose predicted class flips under noise; counts forward rows."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _mlp()
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += int(x.shape[0])
        return self.net(x)


@pytest.mark.parametrize("batch_size", [None, 2])
def test_predicted_is_the_clean_inputs_class_for_every_sample(batch_size: int | None) -> None:
    model, x = _Counting(), _x(4)
    clean = model.net(x).argmax(1)
    noisy = model.net(x + 3.0 * torch.randn(8, 4, 4, generator=torch.Generator().manual_seed(0)))
    assert bool((noisy.argmax(-1) != clean).any())  # noise of this size changes some classes
    options = dict(nt_samples=6, stdevs=3.0, nt_samples_batch_size=batch_size, n_steps=4)
    model.rows = 0
    out, delta = noise_tunnel(
        idgrad.integrated_gradients,
        x,
        nt_seed=0,
        forward_func=model,
        target="predicted",
        return_convergence_delta=True,
        **options,
    )
    per_call = (batch_size or 6) * 4
    # one forward pass of the 4 clean inputs, then only the method's own evaluations
    calls = 6 // (batch_size or 6)
    ig_rows = calls * per_call * (4 + 2)  # 4 gradient points and the two end points
    assert model.rows == 4 + ig_rows
    want = noise_tunnel(
        idgrad.integrated_gradients, x, nt_seed=0, forward_func=model, target=clean, **options
    )
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert delta.shape == (4, 6)
    # the captum-style class finds the model in its forward_func
    ig = idgrad.IntegratedGradients(model)
    via_class = noise_tunnel(ig, x, nt_seed=0, target="predicted", **options)
    torch.testing.assert_close(via_class, want, rtol=0, atol=0)


def test_predicted_without_a_model_is_refused_before_any_work() -> None:
    with pytest.raises(TypeError, match="target='predicted' needs the model"):
        noise_tunnel(lambda inputs, target: inputs, _x(), target="predicted")


def test_targets_follow_the_methods_rules() -> None:
    model, x = _mlp(), _x()
    kwargs = dict(nt_samples=3, stdevs=0.1, nt_seed=0, forward_func=model, n_steps=4)
    every = noise_tunnel(idgrad.integrated_gradients, x, target=2, **kwargs)
    for one in ([2], [-1], torch.tensor([2]), -1):  # one element: for every example
        got = noise_tunnel(idgrad.integrated_gradients, x, target=one, **kwargs)
        torch.testing.assert_close(got, every, rtol=0, atol=0)
    per = noise_tunnel(idgrad.integrated_gradients, x, target=[0, -1, 1], **kwargs)
    want = noise_tunnel(idgrad.integrated_gradients, x, target=torch.tensor([0, 2, 1]), **kwargs)
    torch.testing.assert_close(per, want, rtol=0, atol=0)
    for bad, error in ((torch.tensor([True, False, True]), TypeError), (True, TypeError)):
        with pytest.raises(error, match="bool"):
            noise_tunnel(idgrad.integrated_gradients, x, target=bad, **kwargs)
