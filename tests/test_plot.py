"""Tests for idgrad.plot: every drawing function runs, draws what it should and saves a PNG.

No image comparison: the tests count artists, read colour limits and legend texts, and check
that saved files are of a plausible size.
"""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after importorskip and the backend)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from idgrad import plot  # noqa: E402

RNG = np.random.default_rng(7)
MIN_PNG_BYTES = 4_000


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _saved_size(fig: object, path: Path) -> int:
    fig.savefig(path, dpi=72)  # type: ignore[attr-defined]
    return path.stat().st_size


def _legend(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def _photo(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth colourful uint8 picture, (H, W, 3)."""
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    rgb = np.stack([np.sin(6 * xx) ** 2, np.cos(5 * yy) ** 2, (xx + yy) / 2], axis=-1)
    texture = 0.15 * np.random.default_rng(h * w).random((h, w, 3))
    return (255 * np.clip(0.85 * rgb + texture, 0.0, 1.0)).astype(np.uint8)


def _blob_attribution(h: int = 48, w: int = 64) -> torch.Tensor:
    """A (3, H, W) attribution: a positive and a negative Gaussian blob plus noise."""
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-((yy - h / 2) ** 2 + (xx - w / 3) ** 2) / (2 * (h / 6) ** 2))
    blob -= 0.6 * np.exp(-((yy - h / 4) ** 2 + (xx - 3 * w / 4) ** 2) / (2 * (h / 8) ** 2))
    noise = 0.05 * RNG.normal(size=(3, h, w))
    return torch.from_numpy(blob[None] * RNG.uniform(0.5, 1.0, size=(3, 1, 1)) + noise)


# --------------------------------------------------------------------------------------------
# import hygiene
# --------------------------------------------------------------------------------------------


def test_import_does_not_import_matplotlib() -> None:
    code = (
        "import sys, idgrad.plot, idgrad.visual\n"
        "html = idgrad.plot.text_highlight(['a'], [1.0])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('matplotlib'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_drawing_without_matplotlib_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        "import numpy as np, idgrad.plot\n"
        "try:\n"
        "    idgrad.plot.image_attribution(np.ones((3, 8, 8)), method='heat_map')\n"
        "except ImportError as error:\n"
        "    from idgrad.ops.extras import install_hint\n"
        "    assert install_hint('plot') in str(error), error\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------
# image_attribution
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign", ["all", "positive", "negative", "absolute"])
@pytest.mark.parametrize("method", plot.METHODS)
def test_image_attribution_every_method_and_sign(method: str, sign: str, tmp_path: Path) -> None:
    fig, ax = plot.image_attribution(
        _blob_attribution(),
        _photo(),
        method=method,  # type: ignore[arg-type]
        sign=sign,  # type: ignore[arg-type]
        title="t",
    )
    assert fig is ax.figure
    assert len(ax.images) == 1
    assert ax.get_title() == "t"
    has_colorbar = method in ("blended_heat_map", "heat_map")
    assert len(fig.axes) == (2 if has_colorbar else 1)
    assert _saved_size(fig, tmp_path / f"{method}-{sign}.png") > MIN_PNG_BYTES


@pytest.mark.parametrize(
    ("sign", "cmap", "clim"),
    [
        ("all", "RdBu_r", (-1.0, 1.0)),
        ("positive", "Reds", (0.0, 1.0)),
        ("negative", "Blues", (0.0, 1.0)),
        ("absolute", "inferno", (0.0, 1.0)),
    ],
)
def test_heat_map_colour_map_and_limits(sign: str, cmap: str, clim: tuple[float, float]) -> None:
    attribution = _blob_attribution()
    _, ax = plot.image_attribution(
        attribution,
        method="heat_map",
        sign=sign,  # type: ignore[arg-type]
    )
    image = ax.images[0]
    assert image.get_cmap().name == cmap
    assert image.get_clim() == clim
    data = np.asarray(image.get_array())
    assert data.shape == (48, 64)
    assert data.min() >= clim[0] and data.max() <= clim[1]
    if sign == "all":  # signed: red blob positive, blue blob negative
        assert data[24, 21] > 0.5 and data[12, 48] < -0.3


def test_blended_heat_map_is_rgb_in_unit_range_and_keeps_unimportant_pixels_grey() -> None:
    attribution = torch.zeros(3, 48, 64)
    attribution[:, 20:28, 10:20] = 1.0
    _, ax = plot.image_attribution(attribution, _photo())
    rgb = np.asarray(ax.images[0].get_array())
    assert rgb.shape == (48, 64, 3)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    # Zero attribution: grey photo (equal channels); the important patch is red.
    np.testing.assert_allclose(rgb[0, 0, 0], rgb[0, 0, 1])
    patch = rgb[24, 15]  # RdBu_r's end is a dark red
    assert patch[0] > 2 * patch[1] and patch[0] > 2 * patch[2]


def test_masked_image_multiplies_by_sqrt_of_the_map() -> None:
    attribution = np.zeros((3, 48, 64))
    attribution[:, :, 32:] = 1.0
    attribution[:, 0, 63] = 4.0  # one outlier: clipped at the 99.5th percentile
    photo = _photo()
    _, ax = plot.image_attribution(attribution, photo, method="masked_image", sign="absolute")
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(shown[:, :32], 0.0)
    np.testing.assert_allclose(shown[1:, 32:], photo[1:, 32:] / 255.0, rtol=1e-12)


def test_image_attribution_into_existing_axes_and_options(tmp_path: Path) -> None:
    fig, axes = plt.subplots(1, 2)
    out_fig, out_ax = plot.image_attribution(
        _blob_attribution().permute(1, 2, 0),  # (H, W, C)
        torch.from_numpy(_photo()).permute(2, 0, 1),  # uint8 (C, H, W)
        ax=axes[1],
        colorbar=False,
        cmap="viridis",
        clip_percentile=100,
    )
    assert out_fig is fig and out_ax is axes[1]
    assert len(fig.axes) == 2 and not axes[0].images
    assert _saved_size(fig, tmp_path / "existing.png") > MIN_PNG_BYTES


def test_image_attribution_heat_map_without_image() -> None:
    _, ax = plot.image_attribution(RNG.normal(size=(1, 3, 20, 24)), method="heat_map")
    assert isinstance(ax.images[0], AxesImage)


def test_image_attribution_bad_inputs() -> None:
    attribution, photo = _blob_attribution(), _photo()
    with pytest.raises(ValueError, match="sign"):
        plot.image_attribution(attribution, photo, sign="pos")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        plot.image_attribution(attribution, photo, method="contour")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs an image"):
        plot.image_attribution(attribution)
    with pytest.raises(ValueError, match="48x64"):
        plot.image_attribution(attribution, _photo(40, 64))
    with pytest.raises(ValueError, match="shape"):
        plot.image_attribution(np.zeros(10), method="heat_map")
    with pytest.raises(ValueError, match="batch of 2"):
        plot.image_attribution(np.zeros((2, 3, 8, 8)), method="heat_map")
    with pytest.raises(ValueError, match="alpha"):
        plot.image_attribution(attribution, photo, alpha=2.0)
    with pytest.raises(ValueError, match="clip_percentile"):
        plot.image_attribution(attribution, photo, clip_percentile=0)
    assert not plt.get_fignums()  # validation happens before a figure is made


# --------------------------------------------------------------------------------------------
# figure_grid
# --------------------------------------------------------------------------------------------


def test_figure_grid_shape_titles_and_png(tmp_path: Path) -> None:
    images = torch.rand(3, 3, 32, 40)
    maps = {"IG": torch.randn(3, 3, 32, 40), "IDG": [RNG.normal(size=(3, 32, 40))] * 3}
    fig, axes = plot.figure_grid(images, maps, row_titles=["a", "b", "c"])
    assert axes.shape == (3, 3)
    assert [ax.get_title() for ax in axes[0]] == ["image", "IG", "IDG"]
    assert [axes[i, 0].get_ylabel() for i in range(3)] == ["a", "b", "c"]
    assert all(len(ax.images) == 1 for ax in axes.flat)
    assert axes[0, 1].images[0].get_cmap().name == "inferno"  # paper's |sum| saliency
    assert _saved_size(fig, tmp_path / "grid.png") > 3 * MIN_PNG_BYTES


def test_figure_grid_blended_into_existing_axes() -> None:
    fig, given = plt.subplots(2, 2)
    images = [_photo(), _photo()]
    out_fig, axes = plot.figure_grid(
        images,
        {"IDG": [_blob_attribution()] * 2},
        method="blended_heat_map",
        sign="all",
        axes=given,
    )
    assert out_fig is fig and axes[1, 1] is given[1, 1]
    assert np.asarray(axes[1, 1].images[0].get_array()).shape == (48, 64, 3)


def test_figure_grid_bad_inputs() -> None:
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="3 examples but there are 2 images"):
        plot.figure_grid(images, {"IG": torch.randn(3, 3, 16, 16)})
    with pytest.raises(ValueError, match="non-empty"):
        plot.figure_grid(images, {})
    with pytest.raises(ValueError, match="row_titles"):
        plot.figure_grid(images, {"IG": torch.randn(2, 3, 16, 16)}, row_titles=["x"])
    with pytest.raises(ValueError, match="axes"):
        plot.figure_grid(images, {"IG": torch.randn(2, 3, 16, 16)}, axes=plt.subplots(2, 3)[1])


# --------------------------------------------------------------------------------------------
# path_dynamics
# --------------------------------------------------------------------------------------------


class Details(NamedTuple):
    """The fields of idgrad.Details that path_dynamics reads (plus a few it ignores)."""

    attributions: torch.Tensor
    delta: torch.Tensor
    alphas: torch.Tensor
    weights: torch.Tensor
    outputs: torch.Tensor
    derivatives: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    pilot_alphas: torch.Tensor | None
    pilot_outputs: torch.Tensor | None
    n_gradient_evals: int
    n_forward_evals: int


def _logit(alpha: torch.Tensor, rate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """F(alpha) = 9 * (1 - exp(-rate * alpha)): rises early, then saturates (like a real CNN)."""
    value = 9.0 * (1.0 - torch.exp(-rate * alpha))
    return value, 9.0 * rate * torch.exp(-rate * alpha)


def _details(alphas: np.ndarray, pilot: np.ndarray | None = None) -> Details:
    """Details for a batch of two examples with different decision regions."""
    rate = torch.tensor([[40.0], [10.0]], dtype=torch.float64)
    a = torch.from_numpy(np.asarray(alphas, dtype=np.float64)).expand(2, -1).clone()
    outputs, derivatives = _logit(a, rate)
    ends = _logit(torch.ones(2, 1, dtype=torch.float64), rate)[0][:, 0]
    pilot_a = pilot_f = None
    if pilot is not None:
        pilot_a = torch.from_numpy(pilot).expand(2, -1).clone()
        pilot_f = _logit(pilot_a, rate)[0]
    s = a.shape[1]
    return Details(
        attributions=torch.zeros(2, 3, 4, 4),
        delta=torch.zeros(2),
        alphas=a,
        weights=torch.full((2, s), 1.0 / s, dtype=torch.float64),
        outputs=outputs.float(),
        derivatives=derivatives.float(),
        start=torch.zeros(2),
        end=ends.float(),
        pilot_alphas=pilot_a,
        pilot_outputs=pilot_f,
        n_gradient_evals=2 * s,
        n_forward_evals=0 if pilot is None else 2 * pilot.size,
    )


UNIFORM = (np.arange(20) + 0.5) / 20
ADAPTIVE = np.concatenate([np.linspace(0.005, 0.095, 16), [0.3, 0.5, 0.7, 0.9]])
PILOT = np.linspace(0.0, 1.0, 11)


def test_path_dynamics_single_run(tmp_path: Path) -> None:
    fig, (top, bottom) = plot.path_dynamics(_details(UNIFORM))
    # top: F curve, the run's points, the band's legend key; bottom: F' and the zero line.
    assert len(top.lines) == 3 and len(bottom.lines) == 2
    assert len(top.patches) == 1 and len(bottom.patches) == 1  # the decision band
    legend = _legend(top)
    assert legend[1].startswith("fixed schedule: 20 points, 1 in the band")
    assert top.get_title() == "Path dynamics, example 0"
    assert _saved_size(fig, tmp_path / "path.png") > MIN_PNG_BYTES


def test_path_dynamics_uniform_vs_adaptive_shows_where_points_go(tmp_path: Path) -> None:
    uniform, adaptive = _details(UNIFORM), _details(ADAPTIVE, PILOT)
    fig, (top, bottom) = plot.path_dynamics(
        uniform, other=adaptive, labels=["uniform", "adaptive"], title="chelsea"
    )
    # F curve + 2 runs + pilot + band key on top; 2 runs + zero line below.
    assert len(top.lines) == 5 and len(bottom.lines) == 3
    legend = _legend(top)
    # Band of 9 * (1 - exp(-40 a)): 10 % at a = ln(10/9) / 40 = 0.0026, 90 % at
    # ln(10) / 40 = 0.0576. Inside: of the midpoints (k + 0.5) / 20 only 0.025; of the adaptive
    # points 0.005, 0.011, ..., 0.053 (nine; the tenth, 0.059, is just past the band).
    lo, hi = np.log(10 / 9) / 40, np.log(10) / 40
    assert np.sum((UNIFORM >= lo) & (UNIFORM <= hi)) == 1
    assert np.sum((ADAPTIVE >= lo) & (ADAPTIVE <= hi)) == 9
    assert legend[1] == "uniform: 20 points, 1 in the band"
    assert legend[2] == "adaptive: 20 points, 9 in the band"
    assert legend[3] == "pilot: 11 forward passes"
    # The F curve passes through every evaluated point, sorted by alpha.
    curve_x = np.asarray(top.lines[0].get_xdata())
    assert curve_x.size == 2 + 20 + 20 + 11 and np.all(np.diff(curve_x) >= 0)
    assert top.get_title() == "chelsea"
    assert _saved_size(fig, tmp_path / "path2.png") > MIN_PNG_BYTES


def test_path_dynamics_other_as_labelled_list_index_and_axes() -> None:
    fig, given = plt.subplots(2, 1)
    runs = [("midpoint", _details(UNIFORM)), ("adaptive", _details(ADAPTIVE, PILOT))]
    out_fig, (top, bottom) = plot.path_dynamics(
        _details(UNIFORM[::2]), index=1, other=runs, axes=given, decision_fractions=None
    )
    assert out_fig is fig and top is given[0] and bottom is given[1]
    assert not top.patches  # no band
    legend = _legend(top)
    assert legend[1:4] == [
        "fixed schedule: 10 points",
        "midpoint: 20 points",
        "adaptive: 20 points",
    ]
    # index=1 draws the second example (slower rise: F(0.975) is below example 0's).
    assert np.asarray(top.lines[1].get_ydata())[-1] < 9 * (1 - np.exp(-10 * 0.95)) + 1e-6


def test_path_dynamics_accepts_a_simple_namespace_with_numpy() -> None:
    a = UNIFORM[None]
    d = types.SimpleNamespace(
        alphas=a,
        outputs=np.tanh(8 * a),
        derivatives=8 / np.cosh(8 * a) ** 2,
        start=np.zeros(1),
        end=np.tanh(np.array([8.0])),
    )
    _, (top, _) = plot.path_dynamics(d)
    assert len(top.lines) == 3


@pytest.mark.parametrize(("schedule", "n_steps"), [("graded", 12), ("graded", 24), ("pilot", 12)])
def test_path_dynamics_with_the_cores_details(schedule: str, n_steps: int, tmp_path: Path) -> None:
    import idgrad

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x = 3.0 * torch.randn(2, 5)
    uniform = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=12, schedule="uniform"
    )
    other = idgrad.integrated_decision_gradients.details(
        model, x, target=1, n_steps=n_steps, schedule=schedule
    )
    fig, (top, bottom) = plot.path_dynamics(
        uniform, index=1, other=other, labels=["uniform", schedule]
    )
    n_pilot = 0 if other.pilot_alphas is None else 1
    assert (n_pilot == 1) == (schedule == "pilot")
    assert len(top.lines) == 1 + 2 + n_pilot + 1 and len(bottom.lines) == 3
    assert _saved_size(fig, tmp_path / "core.png") > MIN_PNG_BYTES


def test_path_dynamics_bad_inputs() -> None:
    d = _details(UNIFORM)
    with pytest.raises(ValueError, match="out of range"):
        plot.path_dynamics(d, index=2)
    with pytest.raises(TypeError, match="index"):
        plot.path_dynamics(d, index=0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="missing fields"):
        plot.path_dynamics(types.SimpleNamespace(alphas=d.alphas))
    with pytest.raises(ValueError, match=r"shape of details\.alphas"):
        plot.path_dynamics(d._replace(outputs=d.outputs[:, :5]))
    with pytest.raises(ValueError, match="labels"):
        plot.path_dynamics(d, labels=["a", "b"])
    with pytest.raises(TypeError, match="label, Details"):
        plot.path_dynamics(d, other=[d])
    with pytest.raises(ValueError, match="pilot"):
        plot.path_dynamics(
            d._replace(pilot_alphas=torch.zeros(2, 3), pilot_outputs=torch.zeros(2, 4))
        )


def test_path_dynamics_warns_when_runs_are_not_the_same_example() -> None:
    d = _details(UNIFORM)
    with pytest.warns(UserWarning, match="endpoints"):
        plot.path_dynamics(d, other=d._replace(end=d.end + 5.0))


# --------------------------------------------------------------------------------------------
# insertion_deletion_curves
# --------------------------------------------------------------------------------------------


def test_insertion_deletion_curves(tmp_path: Path) -> None:
    f = np.linspace(0.0, 1.0, 51)
    curves = {"IG": (f, f), "IDG": (torch.from_numpy(f), f**0.5), "Left-IG": (list(f), f**0.3)}
    fig, ax = plot.insertion_deletion_curves(curves, aucs={"Left-IG": 0.123456}, title="Insertion")
    assert len(ax.lines) == 3
    legend = _legend(ax)
    assert legend[0] == "IG (AUC 0.500)"
    assert legend[1].startswith("IDG (AUC 0.66")  # trapezoid of sqrt on 51 points
    assert legend[2] == "Left-IG (AUC 0.123)"
    assert ax.get_title() == "Insertion"
    assert _saved_size(fig, tmp_path / "curves.png") > MIN_PNG_BYTES


def test_insertion_deletion_curves_bad_inputs() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        plot.insertion_deletion_curves({})
    with pytest.raises(ValueError, match="same length"):
        plot.insertion_deletion_curves({"IG": ([0, 0.5, 1], [1, 2])})
    with pytest.raises(ValueError, match="pair"):
        plot.insertion_deletion_curves({"IG": ([0, 1], [1, 2], [3, 4])})  # type: ignore[dict-item]


# --------------------------------------------------------------------------------------------
# tabular_bars
# --------------------------------------------------------------------------------------------


def test_tabular_bars_sorted_and_coloured(tmp_path: Path) -> None:
    names = ["age", "income", "debt", "children", "zip"]
    values = torch.tensor([[0.2, -1.0, 0.5, 0.0, -0.3]])
    fig, ax = plot.tabular_bars(names, values, title="why")
    bars = ax.patches
    assert len(bars) == 5
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[::-1] == ["income", "debt", "zip", "age", "children"]  # largest on top
    widths = [bar.get_width() for bar in bars if isinstance(bar, Rectangle)][::-1]
    np.testing.assert_allclose(widths, [-1.0, 0.5, -0.3, 0.2, 0.0], rtol=1e-6)
    colours = [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in bars][::-1]
    assert colours == ["#1f77b4", "#d62728", "#1f77b4", "#d62728", "#d62728"]
    assert _saved_size(fig, tmp_path / "bars.png") > MIN_PNG_BYTES / 2


def test_tabular_bars_top_k_and_bad_inputs() -> None:
    _, ax = plot.tabular_bars(list("abcdef"), RNG.normal(size=6), top_k=3)
    assert len(ax.patches) == 3
    with pytest.raises(ValueError, match="2 feature names for 3"):
        plot.tabular_bars(["a", "b"], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="top_k"):
        plot.tabular_bars(["a"], [1.0], top_k=0)
    with pytest.raises(ValueError, match="n_features"):
        plot.tabular_bars(["a", "b"], np.ones((2, 2)))


# --------------------------------------------------------------------------------------------
# text_highlight / save_html
# --------------------------------------------------------------------------------------------


def test_text_highlight_spans_colours_and_escaping(tmp_path: Path) -> None:
    tokens = ["The", "<script>alert('x')</script>", "film", "&", "bad"]
    scores = torch.tensor([0.0, 2.0, -1.0, 0.5, -2.0])
    out = plot.text_highlight(tokens, scores)
    assert "<script" not in out
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert "&amp;" in out
    assert out.count("<span") == len(tokens) == out.count("</span>")
    assert "rgba(214, 39, 40, 0.850)" in out  # strongest positive: red, full strength
    assert "rgba(31, 119, 180, 0.425)" in out  # -1 of max 2: blue, half strength
    assert "rgba(31, 119, 180, 0.850)" in out
    page = plot.save_html(out, tmp_path / "text.html", title="<t>")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and out in text and "<title>&lt;t&gt;</title>" in text


def test_text_highlight_zero_scores_and_max_abs() -> None:
    out = plot.text_highlight(["a", "b"], [0.0, 0.0])
    assert "nan" not in out and out.count("0.000)") == 2
    clipped = plot.text_highlight(["a"], [5.0], max_abs=1.0)
    assert "0.850)" in clipped


def test_text_highlight_bad_inputs() -> None:
    with pytest.raises(ValueError, match="2 tokens for 3 scores"):
        plot.text_highlight(["a", "b"], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="strings"):
        plot.text_highlight(["a", 3], [1.0, 2.0])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="one string"):
        plot.text_highlight("ab", [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        plot.text_highlight(["a"], [float("nan")])
    with pytest.raises(ValueError, match="max_abs"):
        plot.text_highlight(["a"], [1.0], max_abs=0.0)
    with pytest.raises(ValueError, match="scores"):
        plot.text_highlight(["a"], np.ones((2, 2)))
