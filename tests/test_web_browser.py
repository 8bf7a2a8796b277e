"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): the page uploads a photo,
a slider is dragged, and the face shown changes to exactly the newest edit."""

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "celebamask-hq" / "images"

if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"{CHROMIUM} is missing (Debian package 'chromium'; .ci/run installs it)", allow_module_level=True)
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="the Python package 'playwright' is not installed")


def photo_for_upload(model, tmp_path) -> tuple[Path, bool]:
    """An aligned CelebAMask-HQ face when the data set is there, else a generated face (both already aligned)."""
    if PHOTOS.is_dir():
        first = next(iter(sorted(PHOTOS.glob("*.jpg"))), None)
        if first is not None:
            return Path(shutil.copy(first, tmp_path / "photo.jpg")), True
    from faceedit.media import save_image

    return save_image(tmp_path / "generated.png", model.generate(seeds=[5]).images[0]), False


def directions_for(model):
    """The directions fitted for the model when they exist, else random unit vectors (the page cannot tell)."""
    from faceedit.edit.directions import Direction, DirectionSet, load_directions
    from faceedit.errors import FaceEditError

    try:
        return load_directions(model)
    except FaceEditError:
        rng = np.random.default_rng(0)
        out = []
        for name in ("smiling", "age"):
            v = rng.standard_normal(model.w_dim).astype(np.float32)
            out.append(Direction(name, "w", v / np.linalg.norm(v), scale=1.0, meta={"val_accuracy": 0.5}))
        return DirectionSet(out)


def shown_image(page) -> bytes:
    """The bytes of the image the page shows (a blob: URL)."""
    data = page.evaluate("""async () => {
        const r = await fetch(document.getElementById('face').src);
        return Array.from(new Uint8Array(await r.arrayBuffer()));
    }""")
    return bytes(data)


def test_upload_drag_a_slider_and_see_the_edit(tmp_path):
    import httpx

    from faceedit import api
    from faceedit.web import create_app
    from faceedit.web.server import background_server

    model = api.load("default")
    directions = directions_for(model)
    app = create_app(model, directions, invert_options={"steps": 15})
    photo, is_real = photo_for_upload(model, tmp_path)
    attr = directions.names[0]

    with background_server(app) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=15000)
            page.wait_for_function("document.getElementById('face').src.startsWith('blob:')")

            page.check("#aligned")  # both candidate photos are aligned face crops
            page.set_input_files("#file", str(photo))
            page.wait_for_function("document.getElementById('caption').textContent.includes('your photo')",
                                   timeout=60000)
            assert page.locator("#progress").get_attribute("value") == "1"
            # the photo's own first rendering (the timing line may still speak of the seed face shown before)
            page.wait_for_function("document.getElementById('face').dataset.seq === String(state.seq)",
                                   timeout=30000)
            assert page.locator("#photo-view").is_visible()
            session = page.evaluate("state.session.id")
            before = shown_image(page)

            # drag the slider: many input events, each aborting the previous request; the newest must win
            slider = page.locator(f"#slider-{attr}")
            box = slider.bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.95, y, steps=12)
            page.mouse.up()
            value = float(slider.input_value())
            assert value > 2, value
            seq = page.evaluate("state.seq")
            page.wait_for_function(f"document.getElementById('face').dataset.seq === '{seq}'", timeout=15000)
            after = shown_image(page)
            assert after != before, "the image did not change after moving the slider"

            # what is shown is exactly the server's rendering of the final slider value
            r = httpx.post(f"{url}/api/sessions/{session}/edit", json={"amounts": {attr: value}})
            assert r.status_code == 200
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(after).digest()

            # before/after toggle shows the unedited face again
            page.click("#before-after")
            page.wait_for_function(f"document.getElementById('face').dataset.seq === '{seq + 1}'")
            assert shown_image(page) == before

            page.click("#before-after")
            page.wait_for_function(f"document.getElementById('face').dataset.seq === '{seq + 2}'")
            shot = tmp_path / "web.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            assert not errors, errors
            assert page.locator("#message").is_hidden()
        finally:
            browser.close()
    if not is_real:
        pytest.skip(f"{PHOTOS} is missing: uploaded a generated face instead of a photo (the rest passed)")
