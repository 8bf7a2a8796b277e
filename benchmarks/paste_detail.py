"""Photo edits: paste the edit's *change* onto the photo's own pixels, or paste the generator's face?

For identity-disjoint validation photos (the raw files behind the aligned build's val rows, largest first), each
photo is aligned and inverted (pivotal by default, as `faceedit edit` does), then pasted back two ways:

- ``replace``: the generator's (low-resolution) face replaces the photo's face, feathered;
- ``change``:  edited − reconstruction is upsampled and added to the photo's pixels inside the feathered mask.

Figures, inside the face mask of the photo:
- with no edit: PSNR against the original photo, sharpness (variance of the Laplacian, as a share of the
  original's) and identity distance to the original (face-api, dlib's 128-d descriptor; same person < 0.6);
- with an edit (``--attr`` ± ``--amount``): the attribute's classifier logit measured on the pasted photo,
  re-aligned (its change from the unedited photo), for both modes.

    python benchmarks/paste_detail.py --n 12 --attr smiling --amount 2 --threads 1 [--method pivotal] \
        [--png docs/paste_detail.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceedit import api  # noqa: E402
from faceedit.align import align_face, face_region_mask  # noqa: E402
from faceedit.invert import invert_photo  # noqa: E402
from faceedit.media import to_uint8  # noqa: E402

CLASSIFIER_ATTR = {"smiling": "Smiling", "age": "Young", "male": "Male", "eyeglasses": "Eyeglasses"}


def photo_mask(inv) -> np.ndarray:
    """The face mask of the inversion's aligned face, warped into the photo (H×W float in [0, 1])."""
    af = inv.aligned
    s = af.size
    m = face_region_mask(af, s, feather=0.04, region="face")
    t = af.transform.for_size(s)
    x0, y0, x1, y1 = t.photo_box()
    vals, valid = t.unwarp(m[..., None].repeat(3, axis=2), (x0, y0, x1, y1))
    out = np.zeros(inv.original.shape[:2], np.float32)
    out[y0:y1, x0:x1] = vals[..., 0] * valid
    return out


def psnr_masked(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    w = m[..., None] > 0.5
    mse = (((a.astype(np.float64) - b.astype(np.float64)) ** 2) * w).sum() / max(w.sum() * 3, 1)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def laplacian_var(img: np.ndarray, m: np.ndarray) -> float:
    g = img.astype(np.float64).mean(2)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    w = m[1:-1, 1:-1] > 0.5
    return float(lap[w].var())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=".cache/data128")
    ap.add_argument("--model", default="default")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--method", default="pivotal")
    ap.add_argument("--attr", default="smiling")
    ap.add_argument("--amount", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--png", default=None, help="figure (photo | replace | change), .jpg or .png")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from faceedit.data.datasets import read_manifest
    from faceedit.metrics.distances import IdentityDistance
    from faceedit.scorers import load_classifier

    rows = [r for r in read_manifest(args.data) if r.get("split") == "val"]
    rows.sort(key=lambda r: (-(r.get("eye_distance") or 0)))  # the largest faces first: where detail matters
    rows = rows[: args.n]
    model = api.load(args.model)
    ident = IdentityDistance("faceapi", box="ffhq")
    clf = load_classifier()
    attr = CLASSIFIER_ATTR.get(args.attr, args.attr)
    res = {"replace": [], "change": []}
    examples = []
    t0 = time.time()
    for r in rows:
        inv = invert_photo(r["orig"], model, method=args.method, progress=False)
        fm = inv.model_for(model)
        with torch.no_grad():
            base = to_uint8(fm.synthesize(inv.ws))[0]
            ed = to_uint8(fm.synthesize(model.edit(inv.ws, **{args.attr: args.amount})))[0]
        mask = photo_mask(inv)
        orig = inv.original
        sharp0 = laplacian_var(orig, mask)
        aligned_orig = align_face(orig, size=256).image
        for mode in ("replace", "change"):
            same = inv.paste(base, mode=mode)
            edited = inv.paste(ed, mode=mode)
            a_same = align_face(same, size=256).image
            a_ed = align_face(edited, size=256).image
            to_t = lambda a: torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
            with torch.no_grad():
                d_id = ident(to_t(a_same), to_t(aligned_orig)).item()
                d_id_ed = ident(to_t(a_ed), to_t(aligned_orig)).item()
                logits = clf.logits(torch.cat([to_t(aligned_orig), to_t(a_ed)]))
            k = clf.attributes.index(attr)
            res[mode].append({"psnr": psnr_masked(same, orig, mask), "sharpness": laplacian_var(same, mask) / sharp0,
                              "identity": d_id, "attr_change": float(logits[1, k] - logits[0, k]),
                              "sharpness_edit": laplacian_var(edited, mask) / sharp0, "identity_edit": d_id_ed})
            if len(examples) < 4 and mode == "change":
                examples.append((orig, inv.paste(ed, mode="replace"), edited))
    print(f"{len(rows)} val photos ({args.method} inversion, {args.attr} {args.amount:+g}), "
          f"{time.time() - t0:.0f} s\n")
    print("| paste | no edit: PSNR dB | sharpness vs photo | identity dist. | edit: sharpness | identity dist. | "
          f"{attr} logit change |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for mode, rs in res.items():
        m = {k: float(np.mean([x[k] for x in rs])) for k in rs[0]}
        summary[mode] = m
        psnr = "∞ (identical)" if m["psnr"] > 100 else f"{m['psnr']:.2f}"
        print(f"| {mode} | {psnr} | {m['sharpness']:.2f} | {m['identity']:.3f} | {m['sharpness_edit']:.2f} | "
              f"{m['identity_edit']:.3f} | {m['attr_change']:+.2f} |")
    print(json.dumps(summary))
    if args.png and examples:
        from PIL import Image

        h = 256
        tiles = []
        for row in examples:
            ims = []
            for im in row:
                w = int(round(im.shape[1] * h / im.shape[0]))
                ims.append(np.asarray(Image.fromarray(im).resize((w, h), Image.LANCZOS)))
            tiles.append(np.concatenate(ims, axis=1))
        wmax = max(t.shape[1] for t in tiles)
        tiles = [np.pad(t, ((0, 0), (0, wmax - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
        Image.fromarray(np.concatenate(tiles, axis=0)).save(args.png, quality=85)
        print(f"figure (photo | replace | change): {args.png}")


if __name__ == "__main__":
    main()
