"""The JAX adapter (idgrad.frameworks.jax): same answers as torch with the same weights,
one compilation per chunk shape, JAX arrays in and out, and one-line errors before any work.

The twin models (tests/jax_models.py) hold the same weights in PyTorch and in Flax nnx,
Flax linen, Haiku and Equinox. float32 answers agree to 1e-5 relative, float64 ones (with
``jax_enable_x64``) to 1e-10; the points, weights and evaluation counts are equal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
import jax.numpy as jnp  # noqa: E402

import idgrad  # noqa: E402
from idgrad.frameworks import JaxModel  # noqa: E402
from idgrad.frameworks.jax import padded_size  # noqa: E402
from tests.jax_models import (  # noqa: E402
    NnxCNN,
    NnxMLP,
    cnn_weights,
    equinox_mlp,
    haiku_mlp,
    linen_mlp,
    mlp_weights,
    torch_cnn,
    torch_mlp,
)

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _np(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _rel(a: Any, b: Any) -> float:
    """max |a - b| / max |b|, in float64."""
    a64, b64 = _np(a).astype(np.float64), _np(b).astype(np.float64)
    return float(np.abs(a64 - b64).max() / max(np.abs(b64).max(), 1e-300))


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> Any:
    if request.param == torch.float64:
        with jax.enable_x64(True):
            yield request.param
    else:
        yield request.param


def _jdt(dtype: torch.dtype) -> Any:
    return jnp.float64 if dtype == torch.float64 else jnp.float32


def _mlp_pair(dtype: torch.dtype) -> tuple[Any, Any, torch.Tensor, Any]:
    w = mlp_weights()
    x = np.random.default_rng(3).normal(size=(3, 6))
    xt = torch.from_numpy(x).to(dtype)
    return torch_mlp(w, dtype), NnxMLP(w, _jdt(dtype)), xt, jnp.asarray(xt.numpy())


def _cnn_pair(dtype: torch.dtype) -> tuple[Any, Any, torch.Tensor, Any]:
    from idgrad.genomics import one_hot

    w = cnn_weights()
    xt = one_hot(["ACGTTGCAACGTAGCTAGGA", "TTGACGATCGATCGGGCTAA"], dtype=dtype)
    return torch_cnn(w, dtype), NnxCNN(w, _jdt(dtype)), xt, jnp.asarray(xt.numpy())


# Every registered path method on the MLP, with its options; the schedules of IG and IDG.
CASES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "ig-uniform": (idgrad.integrated_gradients, dict(target=1, n_steps=12)),
    "ig-pilot": (idgrad.integrated_gradients, dict(target=1, n_steps=12, schedule="pilot")),
    "ig-rtol": (idgrad.integrated_gradients, dict(target=1, rtol=1e-3, max_evaluations=128)),
    "idg-uniform": (
        idgrad.integrated_decision_gradients,
        dict(target=[0, 1, 2], n_steps=12, schedule="uniform"),
    ),
    "idg-pilot": (idgrad.integrated_decision_gradients, dict(target=2, n_steps=12)),
    "idg-graded": (
        idgrad.integrated_decision_gradients,
        dict(target=1, schedule="graded", n_steps=24),
    ),
    "left-ig": (idgrad.left_integrated_gradients, dict(target=1, n_steps=12)),
    "guided-ig": (idgrad.guided_integrated_gradients, dict(target=1, n_steps=8)),
    "agi": (idgrad.adversarial_gradient_integration, dict(target=1, top_k=2, max_iter=4)),
    "ig-sign": (idgrad.integrated_gradients_sign, dict(target=0, n_steps=8)),
    "predicted": (idgrad.integrated_gradients, dict(target="predicted", n_steps=8)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_method_matches_torch_with_the_same_weights(name: str, dtype: Any) -> None:
    method, kwargs = CASES[name]
    net, model, xt, xj = _mlp_pair(dtype)
    dj = method.details(model, xj, **kwargs)
    dt = method.details(net, xt, **kwargs)
    assert isinstance(dj.attributions, jax.Array)
    assert dj.attributions.dtype == _jdt(dtype)
    assert _rel(dj.attributions, dt.attributions) < TOL[dtype]
    assert dj.n_gradient_evals == dt.n_gradient_evals
    assert dj.n_forward_evals == dt.n_forward_evals
    for field in ("alphas", "weights", "evaluations"):
        if hasattr(dt, field):  # the schedule's points and weights: equal
            assert isinstance(getattr(dj, field), jax.Array)
            ours, theirs = _np(getattr(dj, field)), _np(getattr(dt, field))
            assert np.array_equal(ours, theirs.astype(ours.dtype)), field
    for field in ("outputs", "derivatives", "start", "end"):
        if hasattr(dt, field):
            assert _rel(getattr(dj, field), getattr(dt, field)) < TOL[dtype], field


@pytest.mark.parametrize(
    "method", [idgrad.integrated_gradients, idgrad.integrated_decision_gradients]
)
def test_dna_cnn_matches_torch(method: Any, dtype: Any) -> None:
    net, model, xt, xj = _cnn_pair(dtype)
    a = method(model, xj, target=2, n_steps=16)
    b = method(net, xt, target=2, n_steps=16)
    assert _rel(a, b) < TOL[dtype]


def test_blur_ig_and_noise_tunnel_match_torch() -> None:
    w = mlp_weights(n_in=2 * 4 * 4)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch_mlp(w))
    mlp = NnxMLP(w)

    def model(x: jax.Array) -> jax.Array:
        return mlp(x.reshape(x.shape[0], -1))

    xt = torch.from_numpy(np.random.default_rng(0).uniform(size=(2, 2, 4, 4)).astype(np.float32))
    xj = jnp.asarray(xt.numpy())
    a = idgrad.blur_integrated_gradients(model, xj, target=1, n_steps=8, max_sigma=2.0)
    b = idgrad.blur_integrated_gradients(net, xt, target=1, n_steps=8, max_sigma=2.0)
    assert isinstance(a, jax.Array) and _rel(a, b) < 1e-5
    kw = dict(target=1, n_steps=8, nt_samples=3, nt_seed=0, stdevs=0.1)
    a = idgrad.noise_tunnel(idgrad.integrated_gradients, xj, forward_func=model, **kw)
    b = idgrad.noise_tunnel(idgrad.integrated_gradients, xt, forward_func=net, **kw)
    assert isinstance(a, jax.Array) and _rel(a, b) < 1e-5


@pytest.mark.parametrize("kind", ["linen", "haiku", "equinox"])
def test_linen_haiku_and_equinox_models_match_torch(kind: str) -> None:
    pytest.importorskip({"linen": "flax", "haiku": "haiku", "equinox": "equinox"}[kind])
    w = mlp_weights()
    build = {"linen": linen_mlp, "haiku": haiku_mlp, "equinox": equinox_mlp}[kind]
    model = build(w)
    x = np.random.default_rng(5).normal(size=(2, 6)).astype(np.float32)
    a = idgrad.integrated_decision_gradients(model, jnp.asarray(x), target=0, n_steps=16)
    b = idgrad.integrated_decision_gradients(
        torch_mlp(w), torch.from_numpy(x), target=0, n_steps=16
    )
    assert isinstance(a, jax.Array) and _rel(a, b) < 1e-5


def test_one_compilation_per_chunk_shape() -> None:
    _, module, _, xj = _mlp_pair(torch.float32)
    model = JaxModel(module)
    # 3 examples x 50 points = 150 points in chunks of 32: 4 full chunks and one of 22,
    # padded to 32, so one shape; F at both ends (6 points) is a second, forward-only shape.
    idgrad.integrated_gradients.details(model, xj, target=1, n_steps=50, internal_batch_size=32)
    assert model.compilations == {"value_and_grad": 1, "value": 1}
    # a second call of any size within the same shapes compiles nothing more
    idgrad.integrated_gradients(model, xj[:2], target=0, n_steps=40, internal_batch_size=32)
    assert model.compilations["value_and_grad"] == 1
    # the adapter is kept per model object: passing the module itself reuses its programs
    idgrad.integrated_gradients(module, xj, target=1, n_steps=50, internal_batch_size=32)
    idgrad.integrated_gradients(module, xj, target=1, n_steps=50, internal_batch_size=32)
    from idgrad.frameworks.boundary import adapter_for

    assert adapter_for(module, "jax").compilations["value_and_grad"] == 1


def test_padded_size() -> None:
    assert [padded_size(n, 32) for n in (1, 3, 17, 32)] == [1, 4, 32, 32]
    assert padded_size(150, None) == 256


def test_weights_changed_between_calls_are_read_again() -> None:
    w = mlp_weights()
    module = NnxMLP(w)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 6)).astype(np.float32))
    first = idgrad.integrated_gradients(module, x, target=0, n_steps=8)
    module.l3.kernel[...] = module.l3.kernel[...] * 2  # "trained" between calls
    second = idgrad.integrated_gradients(module, x, target=0, n_steps=8)
    assert np.allclose(_np(second), 2 * _np(first), rtol=1e-5)


def test_callable_targets_in_jax_and_in_torch() -> None:
    net, module, xt, xj = _cnn_pair(torch.float32)
    model = JaxModel(module)
    jax_target = lambda out: jnp.sum(out[:, :2], axis=1)  # traced with JAX: one program
    a = idgrad.integrated_gradients(model, xj, target=jax_target, n_steps=8)
    b = idgrad.integrated_gradients(net, xt, target=lambda o: o[:, :2].sum(1), n_steps=8)
    assert _rel(a, b) < 1e-5 and model.compilations == {"value_and_grad": 1}
    torch_target = lambda out: out.sum(dim=1)  # torch only: outputs, then a VJP
    a = idgrad.integrated_gradients(model, xj, target=torch_target, n_steps=8)
    b = idgrad.integrated_gradients(net, xt, target=torch_target, n_steps=8)
    assert _rel(a, b) < 1e-5 and model.compilations["vjp"] == 1


def test_extra_forward_arguments_per_example_and_shared() -> None:
    w = jnp.asarray(np.random.default_rng(2).normal(size=(3,)).astype(np.float32))
    f = lambda x, scale, offset: jnp.tanh((x * scale) @ w + offset)
    ft = lambda x, scale, offset: torch.tanh((x * scale) @ torch.from_numpy(np.asarray(w)) + offset)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    scale = np.array([[1.0], [2.0]], np.float32)
    a = idgrad.integrated_gradients(
        f, jnp.asarray(x), additional_forward_args=(jnp.asarray(scale), 0.5), n_steps=8
    )
    b = idgrad.integrated_gradients(
        ft, torch.from_numpy(x), additional_forward_args=(torch.from_numpy(scale), 0.5), n_steps=8
    )
    assert _rel(a, b) < 1e-5


def test_inputs_and_model_left_as_found() -> None:
    _, module, _, xj = _mlp_pair(torch.float32)
    before_x = np.array(xj)
    before_w = np.array(module.l1.kernel[...])
    baseline = jnp.full_like(xj, 0.25)
    idgrad.integrated_decision_gradients(module, xj, baseline, target=1, n_steps=8)
    assert np.array_equal(np.array(xj), before_x)
    assert np.array_equal(np.array(baseline), np.full_like(before_x, 0.25))
    assert np.array_equal(np.array(module.l1.kernel[...]), before_w)


def test_import_idgrad_does_not_import_jax() -> None:
    code = "import sys, idgrad, idgrad.frameworks; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- bad input


class _Counting:
    """A JAX function that counts its (traced or real) calls."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, x: jax.Array) -> jax.Array:
        self.calls += 1
        return self.fn(x)


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_not_differentiable_is_refused_in_one_line_before_work() -> None:
    x = jnp.ones((2, 3))
    f = _Counting(lambda x: jnp.argmax(x, axis=1))  # integer outputs
    with pytest.raises(TypeError) as err:
        idgrad.integrated_gradients(f, x, n_steps=500)
    assert "int32 outputs, which have no gradient" in _one_line(err)

    def opaque(x: jax.Array) -> jax.Array:  # a host callback without a derivative rule
        shape = jax.ShapeDtypeStruct((x.shape[0],), x.dtype)
        return jax.pure_callback(lambda v: np.asarray(v).sum(1), shape, x)

    with pytest.raises(TypeError) as err:
        idgrad.integrated_gradients(opaque, x, n_steps=500)
    assert _one_line(err).startswith("the JAX function cannot be differentiated")


def test_wrong_output_shape_is_refused_in_one_line() -> None:
    x = jnp.ones((4, 3))
    with pytest.raises(ValueError) as err:
        idgrad.integrated_gradients(lambda x: x.sum(), x, n_steps=500)
    assert "returned shape () when called on 2 rows" in _one_line(err)
    with pytest.raises(ValueError) as err:
        idgrad.integrated_gradients(lambda x: x * 2, x, target=7, n_steps=500)
    assert "out of range" in _one_line(err)


def test_mixed_frameworks_are_refused_in_one_line() -> None:
    _, module, xt, xj = _mlp_pair(torch.float32)
    with pytest.raises(TypeError) as err:
        idgrad.integrated_gradients(module, xj, torch.zeros(3, 6), target=0)
    assert _one_line(err).startswith("baselines is a torch.Tensor but this call explains a jax")
    with pytest.raises(TypeError) as err:
        idgrad.integrated_gradients(torch_mlp(mlp_weights()), xj, target=0)
    assert "forward_func is a torch.nn.Module but the call's arrays are JAX arrays" in _one_line(
        err
    )
    with pytest.raises(TypeError) as err:
        idgrad.integrated_gradients(module, xt, target=0)  # a Flax module with torch inputs
    assert _one_line(err).startswith("inputs is a torch.Tensor but this call explains a jax")
    with pytest.raises(TypeError) as err:
        idgrad.layer_integrated_gradients(module, object(), xj, target=0)
    assert "layer attribution hooks into torch.nn.Module layers" in _one_line(err)


def test_float64_inputs_need_x64() -> None:
    x = np.ones((1, 3))  # numpy float64 with an explicit adapter: JAX would truncate
    with pytest.raises(TypeError) as err:
        idgrad.integrated_gradients(JaxModel(lambda x: x.sum(1)), x, n_steps=4)
    assert "jax_enable_x64" in _one_line(err)


# ---------------------------------------------------------------------- the other helpers


def test_genomics_helpers_take_and_return_jax_arrays() -> None:
    from idgrad.genomics import (
        contribution_scores,
        dinucleotide_shuffle,
        expected_attributions,
    )

    net, module, xt, xj = _cnn_pair(torch.float32)
    refs_t = dinucleotide_shuffle(xt, n_shuffles=3, seed=0)
    refs_j = dinucleotide_shuffle(xj, n_shuffles=3, seed=0)
    assert isinstance(refs_j, jax.Array) and np.array_equal(_np(refs_j), _np(refs_t))
    a = expected_attributions(
        idgrad.integrated_decision_gradients, module, xj, refs_j, target=1, n_steps=8
    )
    b = expected_attributions(
        idgrad.integrated_decision_gradients, net, xt, refs_t, target=1, n_steps=8
    )
    assert isinstance(a, jax.Array) and _rel(a, b) < 1e-5
    c = contribution_scores(idgrad.integrated_gradients, module, xj, refs_j, target=1, n_steps=8)
    d = contribution_scores(idgrad.integrated_gradients, net, xt, refs_t, target=1, n_steps=8)
    assert isinstance(c.hypothetical, jax.Array)
    assert _rel(c.hypothetical, d.hypothetical) < 1e-5
    assert np.abs(_np(c.delta)).max() < 1e-6 and np.abs(_np(d.delta)).max() < 1e-6  # rounding


def test_metrics_take_jax_models_and_arrays() -> None:
    from idgrad.metrics import deletion, insertion

    w = mlp_weights(n_in=3 * 4 * 4)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch_mlp(w))
    mlp = NnxMLP(w)

    def model(x: jax.Array) -> jax.Array:
        return mlp(x.reshape(x.shape[0], -1))

    xt = torch.from_numpy(np.random.default_rng(0).uniform(size=(2, 3, 4, 4)).astype(np.float32))
    sal = torch.from_numpy(np.random.default_rng(1).uniform(size=(2, 4, 4)).astype(np.float32))
    for curve in (deletion, insertion):
        a = curve(model, jnp.asarray(xt.numpy()), jnp.asarray(sal.numpy()), pixels_per_step=4)
        b = curve(net, xt, sal, pixels_per_step=4)
        assert isinstance(a.auc, jax.Array) and _rel(a.auc, b.auc) < 1e-5


def test_attribute_dataset_with_a_jax_model(tmp_path: Any) -> None:
    from idgrad.dataset import attribute_dataset, load_attributions

    net, module, xt, xj = _mlp_pair(torch.float32)
    attribute_dataset(
        "idg",
        module,
        xj,
        tmp_path / "jax",
        target=1,
        batch_size=2,
        method_kwargs={"n_steps": 8},
        progress=False,
    )
    attribute_dataset(
        "idg",
        net,
        xt,
        tmp_path / "torch",
        target=1,
        batch_size=2,
        method_kwargs={"n_steps": 8},
        progress=False,
    )
    a = load_attributions(tmp_path / "jax").attributions
    b = load_attributions(tmp_path / "torch").attributions
    assert _rel(a, b) < 1e-5


def test_cli_factory_alone_builds_a_jax_model(tmp_path: Any, monkeypatch: Any) -> None:
    import argparse

    from idgrad.cli.common import load_model

    (tmp_path / "jaxfactory.py").write_text(_FACTORY % str(Path(__file__).parents[1]))
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_model(argparse.Namespace(model=None, factory="jaxfactory:build"), "cpu")
    assert isinstance(model, JaxModel)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32))
    a = idgrad.integrated_gradients(model, x, target=1)  # torch inputs: torch results
    assert isinstance(a, torch.Tensor)
    assert _rel(a, idgrad.integrated_gradients(torch_mlp(mlp_weights()), x, target=1)) < 1e-5


_FACTORY = (
    "import sys\nsys.path.insert(0, %r)\n"
    "from tests.jax_models import NnxMLP, mlp_weights\n"
    "def build():\n    return NnxMLP(mlp_weights())\n"
)


def test_cli_explain_with_a_factory_returning_a_jax_model(tmp_path: Any) -> None:
    try:
        import idgrad.cli.explain  # noqa: F401
    except ImportError as err:  # the engine branch's CLI is being ported
        pytest.skip(f"idgrad.cli.explain does not import on this branch: {err}")
    (tmp_path / "jaxfactory.py").write_text(_FACTORY % str(Path(__file__).parents[1]))
    x = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "idgrad",
        "explain",
        "--factory",
        "jaxfactory:build",
        "--input",
        str(tmp_path / "x.npy"),
        "--target",
        "1",
        "--method",
        "ig",
        "--out",
        str(tmp_path / "attr.npy"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    expected = idgrad.integrated_gradients(torch_mlp(mlp_weights()), torch.from_numpy(x), target=1)
    assert _rel(np.load(tmp_path / "attr.npy"), expected) < 1e-5
