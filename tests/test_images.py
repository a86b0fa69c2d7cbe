"""idgrad.files.images: image files to model inputs; hostile and unusual files in one line.

A PNG of a hundred bytes may declare 20000 x 20000 pixels: refused from its header, before
anything is decoded, naming the limit (which a caller who trusts the file raises). A 16-bit
grayscale image keeps its 65536 levels, scaled to the 0-255 scale (never clipped).
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import hostile
import numpy as np
import pytest
import torch

from idgrad.files.images import read_image
from idgrad.files.limits import FileLimits

Image = pytest.importorskip("PIL.Image")


def test_an_image_that_declares_a_huge_size_is_refused_from_its_header(tmp_path: Path) -> None:
    """The issue's PNG (Pillow raises DecompressionBombError for it), and one between
    idgrad's limit and Pillow's (Pillow would decode it): one OSError naming the limit."""
    bomb = hostile.png_declaring(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 200
    with pytest.raises(Image.DecompressionBombError):
        Image.open(bomb)  # the premise: Pillow's own error, which escaped read_image
    start = time.perf_counter()
    with pytest.raises(OSError) as info:
        read_image(bomb)
    assert time.perf_counter() - start < 1.0
    text = str(info.value)
    assert text == (
        f"cannot read image {bomb}: it declares 400000000 pixels, more than the limit "
        "image_pixels=67108864 (for a file you trust: limits=FileLimits(image_pixels=...))"
    )
    below_pillow = hostile.png_declaring(tmp_path / "big.png", 9000, 9000)
    with pytest.raises(OSError, match="declares 9000 x 9000 = 81000000 pixels, more than the"):
        read_image(below_pillow)


def test_a_raised_pixel_limit_reads_a_big_honest_image(tmp_path: Path) -> None:
    path = tmp_path / "ramp.png"
    Image.fromarray(np.tile(np.arange(200, dtype=np.uint8), (100, 1))).save(path)
    with pytest.raises(OSError, match="100 = 20000 pixels, more than the limit image_pixels=5000"):
        read_image(path, limits=FileLimits(image_pixels=5000))
    x = read_image(path, mode="L", normalize="raw", limits=FileLimits(image_pixels=20000))
    assert x.shape == (1, 100, 200) and x[0, 0].tolist() == list(range(200))


def test_sixteen_bit_grayscale_keeps_its_levels(tmp_path: Path) -> None:
    """Values 0..63000 read with normalize='raw', mode='L': v * 255 / 65535, not {0, 255}."""
    values = np.linspace(0, 63000, 48).astype(np.uint16).reshape(6, 8)
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    expected = torch.from_numpy(values.astype(np.float32) * np.float32(255 / 65535))
    raw = read_image(path, mode="L", normalize="raw")
    assert raw.dtype == torch.float32 and raw.shape == (1, 6, 8)
    torch.testing.assert_close(raw[0], expected, rtol=1e-6, atol=1e-4)
    assert len(torch.unique(raw)) == 48  # every level kept
    unit = read_image(path, mode="L")
    torch.testing.assert_close(unit[0], expected / 255)
    rgb = read_image(path, normalize="raw")
    assert rgb.shape == (3, 6, 8) and torch.equal(rgb[0], rgb[2])
    torch.testing.assert_close(rgb[1], expected, rtol=1e-6, atol=1e-4)
    resized = read_image(path, size=(3, 4), mode="L", normalize="raw")
    assert resized.shape == (1, 3, 4) and 0 < float(resized.max()) <= 255  # scaled, then resized


@pytest.mark.parametrize("dtype, mode", [(np.int32, "I"), (np.float32, "F")])
def test_images_without_a_fixed_scale_are_refused(dtype: type, mode: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.tif"
    Image.fromarray(np.full((4, 4), 100000, dtype)).save(path)
    assert Image.open(path).mode == mode
    with pytest.raises(OSError, match=f"32-bit .* \\(Pillow mode {mode}\\), which have no fixed"):
        read_image(path)


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in chunks:
        out += (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )
    return out


def _text_chunk_bomb() -> bytes:
    """A 2 x 2 PNG with a compressed text chunk of 64 MB (about 64 KB in the file)."""
    return _png(
        [
            (b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)),
            (b"zTXt", b"k\x00\x00" + zlib.compress(bytes(64 * 2**20), 9)),
            (b"IDAT", zlib.compress(b"\x00\x00\x00" * 2)),
            (b"IEND", b""),
        ]
    )


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", "cannot identify image file"),
        ("truncated", "cannot read image"),
        ("text-chunk bomb", "ValueError: Decompressed data too large"),  # Pillow's ValueError
    ],
)
def test_damaged_and_hostile_images_are_one_oserror(
    kind: str, message: str, tmp_path: Path
) -> None:
    content = {
        "text": lambda: b"not an image at all",
        "truncated": lambda: b"\x89PNG\r\n\x1a\n\x00\x00",
        "text-chunk bomb": _text_chunk_bomb,
    }[kind]()
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(OSError) as info:
        read_image(path)
    text = str(info.value)
    assert text.startswith(f"cannot read image {path}") and message in text
    assert "\n" not in text
