"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): the page uploads a photo,
a slider is dragged, and the face shown changes to exactly the newest edit; the grouped sliders reset on a new
face (unless "keep my edits"), the views (original, side by side, split) and keyboard shortcuts work, and a
phone-sized window keeps the face in view while the sliders scroll."""

import hashlib
import os
import re
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


SHOWN = "document.getElementById('face').dataset.seq === String(state.seq)"
BEFORE_SHOWN = "document.getElementById('face-before').dataset.session === state.session.id"


def shown_image(page, element: str = "face") -> bytes:
    """The bytes of the image ``element`` shows (a blob: URL)."""
    data = page.evaluate("""async (id) => {
        const r = await fetch(document.getElementById(id).src);
        return Array.from(new Uint8Array(await r.arrayBuffer()));
    }""", element)
    return bytes(data)


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


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
        browser = launch(pw)
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
            page.wait_for_function(SHOWN, timeout=30000)
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

            # "Original" shows the unedited face again (its own image, the edit stays loaded under it)
            page.click(".modes [data-mode=before]")
            page.wait_for_function(BEFORE_SHOWN)
            assert page.locator("#face-before").is_visible() and not page.locator("#face").is_visible()
            assert shown_image(page, "face-before") == before

            page.click(".modes [data-mode=after]")
            assert page.locator("#face").is_visible() and shown_image(page) == after
            shot = tmp_path / "web.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            assert not errors, errors
            assert page.locator("#message").is_hidden()
        finally:
            browser.close()
    if not is_real:
        pytest.skip(f"{PHOTOS} is missing: uploaded a generated face instead of a photo (the rest passed)")


def test_groups_reset_views_shortcuts_and_phone_layout():
    import httpx

    from faceedit import api
    from faceedit.web import create_app
    from faceedit.web.server import background_server

    model = api.load("default")
    directions = directions_for(model)
    app = create_app(model, directions, inverter=False)
    attr = directions.names[0]

    def value(page) -> float:
        return float(page.locator(f"#slider-{attr}").input_value())

    def server_image(url, sid, amounts) -> bytes:
        return httpx.post(f"{url}/api/sessions/{sid}/edit", json={"amounts": amounts}).content

    with background_server(app) as url, sync_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors, failed = [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=15000)
            page.wait_for_function(SHOWN)

            # the head pose measured on the face shown appears under it once the rendering settles
            page.wait_for_function("!document.getElementById('pose').hidden", timeout=30000)
            line = page.inner_text("#pose")
            assert re.fullmatch(r"head pose: yaw [+−]?\d+°, pitch [+−]?\d+°, roll −?\d+°", line), line

            # grouped sliders with words, not "acc 91%"; example faces to start from
            titles = page.locator("details.group > summary").all_inner_texts()
            assert len(titles) >= 1 and "acc " not in page.locator("#sliders").inner_text()
            assert page.locator("#sliders .fit").count() == len(set(directions.names))
            page.wait_for_function("document.querySelectorAll('#example-seeds img').length >= 4")

            # a new face starts unedited ...
            page.evaluate(f"document.getElementById('slider-{attr}').closest('details').open = true")
            page.fill(f"#slider-{attr}", "3")
            page.wait_for_function(SHOWN)
            page.click("#example-seeds button:nth-child(2)")
            page.wait_for_function("state.session.seed === 3")
            page.wait_for_function(SHOWN)
            assert value(page) == 0 and page.evaluate("Object.keys(state.amounts).length") == 0
            sid = page.evaluate("state.session.id")
            assert shown_image(page) == server_image(url, sid, {})
            # ... unless "keep my edits": then the next seed (the ] key) carries the edit
            page.fill(f"#slider-{attr}", "2.5")
            page.check("#keep-edits")
            page.locator("#face").click()  # focus off the inputs so the page gets the key
            page.keyboard.press("]")
            page.wait_for_function("state.session.seed === 4")
            page.wait_for_function(SHOWN)
            assert value(page) == 2.5
            sid = page.evaluate("state.session.id")
            assert shown_image(page) == server_image(url, sid, {attr: 2.5})

            # V: side by side (original on the left, same row), V again: split with a movable divider
            page.keyboard.press("v")
            page.wait_for_function(BEFORE_SHOWN)
            a, b = page.locator("#face").bounding_box(), page.locator("#face-before").bounding_box()
            assert b["x"] + b["width"] <= a["x"] + 3 and abs(a["y"] - b["y"]) < 2 and a["width"] > 100
            assert shown_image(page, "face-before") == server_image(url, sid, {})
            page.keyboard.press("v")
            assert page.evaluate("state.mode") == "split"
            page.fill("#split", "30")
            frame, line = page.locator("#frame").bounding_box(), page.locator("#divider").bounding_box()
            assert abs((line["x"] - frame["x"]) / frame["width"] - 0.30) < 0.02
            page.keyboard.press("b")
            assert page.locator("#face-before").is_visible() and not page.locator("#face").is_visible()
            page.keyboard.press("b")
            assert page.locator("#face").is_visible()
            page.keyboard.press("r")  # reset
            page.wait_for_function(SHOWN)
            assert value(page) == 0 and shown_image(page) == server_image(url, sid, {})
            page.keyboard.press("2")
            assert page.locator("#panel-mix").is_visible() and not page.locator("#panel-edit").is_visible()
            # the mixing gallery: this face with each example face; a click keeps that mix as the new face
            page.wait_for_function("[...document.querySelectorAll('#mix-gallery img')].length >= 4 && "
                                   "[...document.querySelectorAll('#mix-gallery img')].every((i) => i.complete "
                                   "&& i.naturalWidth > 0)", timeout=30000)
            page.click("#mix-gallery button:nth-child(1)")
            page.wait_for_function("state.session.source === 'mix'")
            page.wait_for_function(SHOWN)
            page.keyboard.press("3")
            assert page.locator("#panel-style").is_visible()
            page.keyboard.press("?")
            assert page.locator("#help").is_visible()
            page.keyboard.press("Escape")
            assert not errors, errors
            assert not failed, failed  # favicon and every thumbnail found

            # a phone: one column, nothing wider than the screen, the face stays in view while the sliders scroll
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone.goto(url + "/")
            phone.wait_for_selector("body[data-ready='1']", timeout=15000)
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            last = phone.locator("#sliders input[type=range]").last
            phone.evaluate("document.querySelectorAll('details.group').forEach((d) => d.open = true)")
            last.scroll_into_view_if_needed()
            assert phone.evaluate("window.scrollY") > 300
            face, row = phone.locator("#face").bounding_box(), last.bounding_box()
            assert face["y"] >= 0 and face["y"] + face["height"] <= 844 and face["width"] >= 200
            assert row["y"] >= face["y"] + face["height"] and row["y"] + row["height"] <= 844
        finally:
            browser.close()
