"""Take the README's screenshot of the web page (docs/web.png) with headless Chromium and Playwright.

    .venv/bin/python scripts/web_screenshot.py [-o docs/web.png] [--photo PATH] [--invert-steps N]

Serves the default model on a free loopback port, uploads an aligned photo (the first CelebAMask-HQ image when
../shared/data is there, else a generated face), moves the first attribute slider when directions are fitted
(otherwise the page shows why editing is greyed out), and saves a palette PNG.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT.parent / "shared" / "data" / "celebamask-hq" / "images" / "00001.jpg"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "web.png")
    ap.add_argument("--photo", type=Path, default=PHOTO)
    ap.add_argument("--invert-steps", type=int, default=None)
    ap.add_argument("--amount", type=float, default=2.5)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()

    from PIL import Image
    from playwright.sync_api import sync_playwright

    from faceedit import api
    from faceedit.media import save_image
    from faceedit.web import create_app
    from faceedit.web.server import background_server

    model = api.load("default")
    opts = {} if args.invert_steps is None else {"steps": args.invert_steps}
    app = create_app(model, invert_options=opts)
    state = app.state.faceedit
    photo = args.photo
    if not photo.is_file():
        photo = save_image(Path("/tmp") / "faceedit-web-face.png", model.generate(seeds=[5]).images[0])
    with background_server(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1060, "height": 640})
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']")
        if state.inverter is not None:
            page.check("#aligned")
            page.set_input_files("#file", str(photo))
            page.wait_for_function("document.getElementById('caption').textContent.includes('your photo')",
                                   timeout=300_000)
        if state.directions is not None:
            name = state.directions.names[0]
            page.fill(f"#slider-{name}", str(args.amount))
        page.wait_for_function("document.getElementById('face').dataset.seq === String(state.seq)")
        png = page.screenshot()
        browser.close()
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
