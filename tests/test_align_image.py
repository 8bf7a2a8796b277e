"""load_image: every odd input a user may hand us (no dlib needed)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.align import load_image
from faceedit.errors import FaceEditError


def _png_bytes(w: int, h: int, bitdepth: int, ctype: int, raw: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, ctype, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _gradient(h=40, w=50) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 5 % 256, y * 6 % 256, (x + y) * 2 % 256], -1).astype(np.uint8)


def test_rgb_png_roundtrip(tmp_path):
    a = _gradient()
    Image.fromarray(a).save(tmp_path / "a.png")
    b = load_image(tmp_path / "a.png")
    assert b.dtype == np.uint8 and b.shape == (40, 50, 3)
    assert np.array_equal(a, b)


def test_grayscale_becomes_rgb(tmp_path):
    g = _gradient()[..., 0]
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    b = load_image(tmp_path / "g.png")
    assert b.shape == (40, 50, 3)
    for c in range(3):
        assert np.array_equal(b[..., c], g)


def test_rgba_composited_over_white(tmp_path):
    a = np.zeros((10, 12, 4), np.uint8)
    a[..., 0] = 200
    a[:, :6, 3] = 255  # left half opaque red-ish, right half fully transparent
    Image.fromarray(a, mode="RGBA").save(tmp_path / "t.png")
    b = load_image(tmp_path / "t.png")
    assert b.shape == (10, 12, 3)
    assert (b[:, :6] == [200, 0, 0]).all()
    assert (b[:, 6:] == 255).all()


def test_cmyk_jpeg(tmp_path):
    rgb = Image.fromarray(_gradient())
    rgb.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    b = load_image(tmp_path / "c.jpg")
    assert b.shape == (40, 50, 3)
    assert np.abs(b.astype(int) - np.asarray(rgb, dtype=int)).mean() < 12


def test_16bit_gray_png_scaled_not_clipped(tmp_path):
    g = (np.arange(12).reshape(4, 3) * 5000).astype(">u2")
    raw = b"".join(b"\x00" + g[y].tobytes() for y in range(4))
    (tmp_path / "g16.png").write_bytes(_png_bytes(3, 4, 16, 0, raw))
    b = load_image(tmp_path / "g16.png")
    assert b.shape == (4, 3, 3)
    expect = np.rint(g.astype(float) * 255 / 65535)
    assert np.abs(b[..., 0] - expect).max() <= 1
    assert b.max() > 200  # 55000/65535 of full scale: not clipped to 255 everywhere, not left at raw values


def test_16bit_rgb_png(tmp_path):
    a = (np.arange(4 * 3 * 3).reshape(4, 3, 3) * 1800).astype(">u2")
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(4))
    (tmp_path / "c16.png").write_bytes(_png_bytes(3, 4, 16, 2, raw))
    b = load_image(tmp_path / "c16.png")
    assert b.shape == (4, 3, 3)
    assert np.abs(b.astype(int) - (a.astype(int) // 257)).max() <= 1


def test_palette_and_bilevel(tmp_path):
    Image.fromarray(_gradient()).convert("P").save(tmp_path / "p.png")
    Image.fromarray(_gradient()[..., 0]).convert("1").save(tmp_path / "b.png")
    assert load_image(tmp_path / "p.png").shape == (40, 50, 3)
    b = load_image(tmp_path / "b.png")
    assert b.shape == (40, 50, 3) and set(np.unique(b)) <= {0, 255}


def test_exif_orientation_applied(tmp_path):
    a = _gradient(30, 60)
    im = Image.fromarray(a).transpose(Image.Transpose.ROTATE_90)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and tagged "rotate 90 CW to display"
    im.save(tmp_path / "r.png", exif=exif)
    b = load_image(tmp_path / "r.png")
    assert b.shape == (30, 60, 3)
    assert np.array_equal(b, a)


@pytest.mark.parametrize("case", ["zero", "random", "text", "truncated", "missing", "folder"])
def test_bad_files_give_one_line_messages(tmp_path, case):
    p = tmp_path / "x.jpg"
    if case == "zero":
        p.write_bytes(b"")
        expect = "empty file"
    elif case == "random":
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
        expect = "not an image"
    elif case == "text":
        p = tmp_path / "notes.txt"
        p.write_text("hello, this is not a picture\n")
        expect = "not an image"
    elif case == "truncated":
        Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.jpg", quality=95)
        p.write_bytes((tmp_path / "full.jpg").read_bytes()[:700])
        expect = "corrupt or truncated"
    elif case == "missing":
        p = tmp_path / "nope.jpg"
        expect = "no such file"
    else:
        p = tmp_path
        expect = "is a folder"
    with pytest.raises(FaceEditError) as e:
        load_image(p)
    msg = str(e.value)
    assert expect in msg and "\n" not in msg
    assert str(p) in msg


@pytest.mark.parametrize("side", [10_000, 50_000])  # over our cap / over PIL's own bomb limit
def test_pixel_cap_refuses_huge_header_without_decoding(tmp_path, side):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_bytes(side, side, 8, 2, b"\x00" * 64))
    with pytest.raises(FaceEditError, match="too large"):
        load_image(p)


def test_pixel_cap_is_configurable(tmp_path):
    Image.fromarray(_gradient(100, 100)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(FaceEditError, match="100x100"):
        load_image(tmp_path / "a.png", max_pixels=9_999)


def test_multiframe_gif_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 240)]
    frames[0].save(tmp_path / "m.gif", save_all=True, append_images=frames[1:])
    b = load_image(Path(tmp_path / "m.gif"))
    assert b.shape == (8, 8, 3) and abs(int(b.mean()) - 10) < 5
