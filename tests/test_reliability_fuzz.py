"""Issue 19, item 9: every parser of a user string, fuzzed with Hypothesis — the answer is a valid result within the
caps or a FaceEditError, never another exception and never a large allocation; and a corpus of bad image files
the test makes itself (corrupt, truncated, huge, odd modes, EXIF rotations, CMYK, 16-bit, palette, animated)
through the image loader and the ``align`` / ``score`` commands: a correct image or one error line."""

from __future__ import annotations

import contextlib
import io
import math
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from faceedit.errors import FaceEditError
from faceedit.limits import MAX_DURATION_S, MAX_SEEDS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)
#: Most memory one parse may allocate (traced Python and numpy allocations).
PARSE_BYTES = 8 * 2 ** 20

# Texts near each grammar (digits, separators, signs, units, odd characters) as well as arbitrary text.
_pieces = st.sampled_from(["0", "1", "7", "12", "999999999", "4294967295", "4294967296", "99999999999999",
                           "-", ",", " ", "--", "e", "1e9", "nan", "inf", ".", ":", "#", "=", "s", "m", "h", "d",
                           "coarse", "fine", "all", "seed:", "²", "٣", "\x00", "x", "1_0", "+"])
NEAR = st.lists(_pieces, max_size=12).map("".join)
TEXT = st.one_of(st.text(max_size=60), NEAR)
RANGES = st.lists(st.one_of(st.integers(-3, 2 ** 33).map(str),
                            st.tuples(st.integers(-3, 2 ** 33), st.integers(-3, 2 ** 33)).map(lambda t: f"{t[0]}-{t[1]}")),
                  min_size=1, max_size=6).map(",".join)


@contextlib.contextmanager
def address_space_cap(extra: int = 512 * 2 ** 20):
    """Let the process grow by at most ``extra`` bytes of address space (a runaway allocation then fails at once
    with MemoryError instead of eating the machine)."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError):
        yield
        return
    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + extra if old[1] == resource.RLIM_INFINITY else min(used + extra, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def parse_or_refuse(fn, *args):
    """``fn(*args)`` → its result, or None when it raised FaceEditError; any other exception fails the test (a
    runaway allocation hits the address-space cap as MemoryError), and so does an allocation above
    PARSE_BYTES."""
    tracemalloc.start()
    try:
        try:
            with address_space_cap():
                return fn(*args)
        except FaceEditError as exc:
            assert "\n" not in str(exc) and str(exc).strip()
            return None
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < PARSE_BYTES, f"{fn.__name__}{args!r} allocated {peak / 2 ** 20:.1f} MiB"
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------------------ string parsers
@FUZZ
@given(st.one_of(TEXT, RANGES))
def test_seed_lists(text):
    from faceedit.cli.options import parse_seeds

    seeds = parse_or_refuse(parse_seeds, text)
    if seeds is not None:
        assert 0 < len(seeds) <= MAX_SEEDS and all(0 <= s < 2 ** 32 for s in seeds)


@FUZZ
@given(st.one_of(TEXT, RANGES), st.integers(1, 30))
def test_layer_selections(text, num_ws):
    from faceedit.edit.layers import parse_layers

    layers = parse_or_refuse(parse_layers, text, num_ws)
    if layers is not None:
        assert layers == sorted(set(layers)) and all(0 <= i < num_ws for i in layers) and layers


_TOKEN = st.one_of(st.integers(-5, 10 ** 12).map(str), st.text(max_size=4),
                  st.sampled_from(["²", "٣", "b4.conv1", "b8.torgb", "", " 1", "1 ", "-0", "0x1", "4" * 5000]))
CHANNEL = st.tuples(_TOKEN, _TOKEN).map(lambda t: f"{t[0]}:{t[1]}")


@FUZZ
@given(st.one_of(TEXT, CHANNEL))
def test_style_channels(text):
    from faceedit.edit.layers import parse_channel

    style_layers = [("b4.conv1", 32), ("b4.torgb", 32), ("b8.conv0", 16), ("b8.conv1", 16), ("b8.torgb", 16)]
    cid = parse_or_refuse(parse_channel, text, style_layers)
    if cid is not None:
        assert 0 <= cid.layer < len(style_layers) and 0 <= cid.channel < style_layers[cid.layer][1]


@FUZZ
@given(st.one_of(TEXT, st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=8).map(
    lambda v: ",".join(map(repr, v)))))
def test_number_lists(text):
    from faceedit.cli.edit_ops import MAX_STRENGTH, _floats

    values = parse_or_refuse(_floats, text, "--alpha")
    if values is not None:
        assert values and all(math.isfinite(v) and abs(v) <= MAX_STRENGTH for v in values)


@FUZZ
@given(st.lists(st.one_of(TEXT, st.sampled_from(["--smiling", "--age=-1.5", "2", "--x", "nan", "1e400"])),
                max_size=6),
       st.lists(TEXT, max_size=3))
def test_attribute_amounts(args, edits):
    from faceedit.cli.edit_attrs import MAX_AMOUNT, parse_amounts, split_amount_args

    faces, extra = split_amount_args(args)
    assert len(faces) + len(extra) == len(args)
    amounts = parse_or_refuse(parse_amounts, extra, edits)
    if amounts is not None:
        assert all(math.isfinite(v) and abs(v) <= MAX_AMOUNT * (len(extra) + len(edits)) for v in amounts.values())


@FUZZ
@given(st.one_of(TEXT, st.floats(allow_nan=True, allow_infinity=True)))
def test_durations(text):
    from faceedit.limits import parse_duration

    seconds = parse_or_refuse(parse_duration, text)
    if seconds is not None:
        assert 0 < seconds <= MAX_DURATION_S


@FUZZ
@given(st.one_of(TEXT, st.lists(st.floats(-2, 2), min_size=4, max_size=4).map(lambda v: ",".join(map(str, v)))))
def test_face_boxes(text):
    from faceedit.cli.scorers import parse_box

    box = parse_or_refuse(parse_box, text)
    if box is not None and box != "ffhq":
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


@FUZZ
@given(TEXT)
def test_step_maps_and_augment_policies(text):
    from faceedit.cli.invert import parse_step_map
    from faceedit.limits import MAX_STEPS
    from faceedit.train.augment import POLICIES, parse_policy

    steps = parse_or_refuse(parse_step_map, text)
    if steps is not None:
        assert all(0 <= v <= MAX_STEPS for v in steps.values())
    policy = parse_or_refuse(parse_policy, text)
    if policy is not None:
        assert set(policy) <= set(POLICIES)


_MODEL = None


def _tiny():
    global _MODEL
    if _MODEL is None:
        from _edit_helpers import tiny_model

        _MODEL = tiny_model(16)
    return _MODEL


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.one_of(TEXT, st.sampled_from(["seed:3", "12", "x.npz#2", "face.npz#99999999999", "photo.jpg", "a.npy",
                                        "seed=4294967296", "#", ".npz", "/", "."])))
def test_face_references(text):
    from faceedit.face import resolve_face

    face = parse_or_refuse(resolve_face, text, _tiny())
    if face is not None:
        assert tuple(face.ws.shape) == (1, _tiny().num_ws, _tiny().w_dim)


# ------------------------------------------------------------------------------------------ web query strings
def test_web_query_strings():
    """The image route's edit/keep/layers query strings: 200, or a one-line 4xx error — never a 500."""
    pytest.importorskip("fastapi")
    import functools
    import warnings

    from test_web_api import make_directions

    from faceedit.web import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    model = _tiny()
    client = functools.partial(TestClient, base_url="http://127.0.0.1")
    with client(create_app(model, make_directions(model), False)) as c:
        sid = c.post("/api/generate", json={"seed": 1}).json()["id"]

        @settings(max_examples=60, deadline=None, derandomize=True)
        @given(st.one_of(TEXT, st.sampled_from(["smiling:2", "smiling:nan", "age:1e308", "smiling:2,age:-1"])),
               TEXT, st.one_of(st.none(), TEXT, RANGES))
        def check(edit, keep, layers):
            params = {"edit": edit, "keep": keep} | ({} if layers is None else {"layers": layers})
            r = c.get(f"/api/sessions/{sid}/image.png", params=params)
            assert r.status_code in (200, 422), (params, r.status_code, r.text[:200])
            if r.status_code != 200:
                assert set(r.json()) == {"error"} and "\n" not in r.json()["error"]

        check()


# ------------------------------------------------------------------------------------------ bad-file corpus
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid little PNG whose header claims width × height pixels (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00" + b"\x00" * 3 * 4)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def make_corpus(folder: Path) -> dict[str, object]:
    """name → expected: an ``(h, w, rgb_at_0_0)`` tuple for a file that must load correctly (rgb None: any), or
    the words the one-line error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    grad = np.zeros((48, 64, 3), np.uint8)
    grad[..., 0] = np.arange(64)[None, :] * 4
    grad[..., 1] = np.arange(48)[:, None] * 5
    grad[..., 2] = 77
    rgb = Image.fromarray(grad)
    good_png = _save(rgb, "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    files: dict[str, tuple[bytes, object]] = {
        "ok.png": (good_png, (48, 64, (0, 0, 77))),
        "truncated.png": (good_png[: len(good_png) // 2], "corrupt or truncated"),
        "corrupt.jpg": (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "corrupt"),
        "empty.png": (b"", "empty file"),
        "text.png": (b"hello, I am not an image\n" * 10, "not an image"),
        "bomb.png": (_bomb_png(100_000, 100_000), "too large"),
        "wide_bomb.png": (_bomb_png(2 ** 31 - 1, 1), "too large"),
        "zero.png": (_bomb_png(0, 10), ""),
        "exif_rot.jpg": (_save(rgb, "JPEG", quality=95, exif=exif), (64, 48, None)),
        "cmyk.jpg": (_save(rgb.convert("CMYK"), "JPEG", quality=95), (48, 64, None)),
        "gray16.png": (_save(Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16)),
                             "PNG"), (48, 64, (0, 0, 0))),
        "float.tif": (_save(Image.fromarray(np.full((48, 64), 0.5, np.float32)), "TIFF"), (48, 64, (128, 128, 128))),
        "palette.png": (_save(rgb.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"), (48, 64, None)),
        "palette_alpha.png": (_save(Image.new("P", (64, 48), 0), "PNG", transparency=0), (48, 64, (255, 255, 255))),
        "la.png": (_save(Image.new("LA", (64, 48), (10, 0)), "PNG"), (48, 64, (255, 255, 255))),
        "bilevel.png": (_save(Image.new("1", (64, 48), 1), "PNG"), (48, 64, (255, 255, 255))),
        "anim.gif": (_save(Image.new("RGB", (64, 48), (250, 0, 0)), "GIF", save_all=True,
                           append_images=[Image.new("RGB", (64, 48), (0, 0, 250))]), (48, 64, None)),
        "anim.webp": (_save(Image.new("RGB", (64, 48), (0, 250, 0)), "WEBP", save_all=True, lossless=True,
                            append_images=[Image.new("RGB", (64, 48), (0, 0, 250))]), (48, 64, (0, 250, 0))),
        "tiny.png": (_save(Image.new("RGB", (2, 300)), "PNG"), (300, 2, (0, 0, 0))),
    }
    expected = {}
    for name, (data, want) in files.items():
        (folder / name).write_bytes(data)
        expected[name] = want
    return expected


def test_bad_file_corpus_through_the_loader(tmp_path):
    from faceedit.align import load_image

    expected = make_corpus(tmp_path)
    for name, want in expected.items():
        try:
            img = load_image(tmp_path / name)
        except FaceEditError as exc:
            assert isinstance(want, str), f"{name} should load, got: {exc}"
            assert want in str(exc) and "\n" not in str(exc) and name in str(exc), (name, str(exc))
            continue
        assert isinstance(want, tuple), f"{name} should be refused ({want}), it loaded as {img.shape}"
        h, w, px = want
        assert img.shape == (h, w, 3) and img.dtype == np.uint8, (name, img.shape)
        if px is not None:
            assert np.abs(img[0, 0].astype(int) - px).max() <= 2, (name, img[0, 0])
    # the EXIF rotation moves the top-left pixel (gradient origin) to the top-right
    rot = load_image(tmp_path / "exif_rot.jpg")
    assert rot[0, -1, 2] > 60 and rot[0, -1, 0] < 20 and rot[0, -1, 1] < 20


def test_bad_file_corpus_through_align_and_score(tmp_path, capsys):
    from faceedit.align import have_dlib
    from faceedit.cli import main

    expected = make_corpus(tmp_path / "in")
    if have_dlib():
        assert main(["align", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        skipped = {Path(line[6:].split(": ", 1)[0]).name for line in err if line.startswith("skip: ")}
        assert skipped == set(expected), set(expected) ^ skipped  # no face anywhere: each file says why
        assert err[-1].startswith("error: no face was aligned") and not any("Traceback" in e for e in err)
    for name, want in expected.items():
        rc = main(["score", "--aligned", str(tmp_path / "in" / name)])
        out = capsys.readouterr()
        if isinstance(want, tuple):
            assert rc == 0 and "Smiling" in out.out, (name, out.err)
        else:
            lines = out.err.strip().splitlines()
            assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and want in lines[0], (name, lines)
