"""Take the README's screenshots of the web page with headless Chromium and Playwright.

    .venv/bin/python scripts/web_screenshot.py [-o docs] [--photo PATH] [--invert-steps N]

Serves the default model on a free loopback port and writes three palette PNGs into the folder ``-o``:
``web.png`` (desktop: an example photo uploaded, found, aligned and inverted, two sliders moved, the split view),
``web_side.png`` (a seed face with an edit, side by side, the Mix & morph tab with its gallery) and ``web_mobile.png`` (a phone-sized
window scrolled down to the sliders, the face still in view at the top). ``--photo`` uploads another photo instead
of the first example photo.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOWN = "document.getElementById('face').dataset.seq === String(state.seq)"
#: The head-pose line under the face has been measured for the face on screen (shown, or hidden: no face found).
POSE_MEASURED = "document.getElementById('pose').dataset.seq === String(state.seq)"


def save_palette(png: bytes, path: Path) -> None:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


def move(page, name: str, amount: float) -> None:
    """Set attribute ``name``'s slider to ``amount`` (opening its group) and wait for the rendering."""
    page.evaluate(f"document.getElementById('slider-{name}').closest('details').open = true")
    page.fill(f"#slider-{name}", str(amount))
    page.wait_for_function(SHOWN)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--photo", type=Path, default=None)
    ap.add_argument("--invert-steps", type=int, default=None)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()

    import torch
    from playwright.sync_api import sync_playwright

    from faceedit import api
    from faceedit.web import create_app
    from faceedit.web.server import background_server

    torch.set_num_threads(1)
    model = api.load("default")
    opts = {} if args.invert_steps is None else {"steps": args.invert_steps}
    app = create_app(model, invert_options=opts)
    state = app.state.faceedit
    edits = state.directions is not None
    with background_server(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("document.querySelectorAll('#example-seeds img').length > 0")
        page.click("#example-seeds button:nth-child(5)")
        page.wait_for_function("state.session && state.session.seed === 21")
        if edits:
            move(page, "smiling", 3)
            move(page, "age", 2)
        page.click(".modes [data-mode=side]")
        page.click("#tab-mix")
        page.select_option("#mix-layers", "coarse")
        page.wait_for_function("document.getElementById('mix-gallery').dataset.key.includes('/coarse/')")
        page.wait_for_function("document.getElementById('face-before').dataset.session === state.session.id")
        page.wait_for_function("[...document.querySelectorAll('#mix-gallery img')].every((i) => i.complete)")
        page.wait_for_function(POSE_MEASURED, timeout=60_000)
        page.wait_for_timeout(300)
        save_palette(page.screenshot(), args.out / "web_side.png")

        page.click("#tab-edit")
        if state.inverter is not None:
            if args.photo is not None:
                page.set_input_files("#file", str(args.photo))
            else:
                page.click("#example-photos button:nth-child(1)")
            page.wait_for_function("document.getElementById('caption').textContent.includes('your photo')",
                                   timeout=300_000)
            page.wait_for_function(SHOWN)
        if edits:
            move(page, "smiling", 3)
            move(page, "blond_hair", 2.5)
        page.click(".modes [data-mode=split]")
        page.fill("#split", "45")
        page.wait_for_function("document.getElementById('face-before').dataset.session === state.session.id")
        page.wait_for_function(POSE_MEASURED, timeout=60_000)
        page.wait_for_timeout(300)
        save_palette(page.screenshot(), args.out / "web.png")

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
                                 has_touch=True)
        phone.goto(url + "/")
        phone.wait_for_selector("body[data-ready='1']")
        phone.wait_for_function(SHOWN)
        if edits:
            move(phone, "smiling", 2.5)
            phone.evaluate("document.getElementById('slider-male').scrollIntoView({block: 'end'})")
            phone.wait_for_timeout(300)
        save_palette(phone.screenshot(), args.out / "web_mobile.png")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
