"""The README's commands run as written: every `faceedit …` line of its ```bash blocks and every ```python block,
in README order, in one sandbox folder on the embedded default model (a command may use what an earlier one
wrote, as a reader following the README would). A few inputs a reader brings along are made here (``me.jpg`` and
``photos/``: the web page's example photos; latents, a mask, a CSV). What cannot run here is skipped by pattern,
each with its reason: official weights to download, long trainings, clusters and GPUs, servers, files the README
never makes. New README sections are picked up by themselves; give a new kind of long command a SKIP rule.

Optional parts in brackets (``[--json]``) are left out. Each command gets the whole command tree's error handling:
a README line that prints ``error: …`` fails here with that line.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "src" / "faceedit" / "web" / "static" / "examples"

#: (pattern searched in the command or Python block, why it is skipped here). The first match wins.
SKIP: list[tuple[str, str]] = [
    (r"^(bash|\.venv/|curl|FACEEDIT_TOKEN=|python )", "not a faceedit command (set-up scripts, benchmarks, HTTP "
                                                      "clients)"),
    (r"\bserve\b", "starts a server that runs until stopped (the web app: tests/test_web_*.py)"),
    (r"ffhq|stylegan2-|e4e|psp|_boundary\.npy|models fetch|--model (?!default\b)[a-z]+-",
     "needs official weights (`faceedit models fetch`), not downloaded in tests"),
    (r"--ray\b|s3://|/nfs/|--device cuda|--devices|--gpus", "needs a Ray cluster, GPUs or shared storage"),
    (r"\btrain (gan|classifier|parser|encoder|style)\b|\bdata (build|pack)\b|\badapt\b|--time-budget|--minutes",
     "a training or data-set build (minutes to hours)"),
    (r"runs/|\.cache/data128|\.cache/pack128|export-encoder|save-state",
     "uses a training run or data set made by a long command above"),
    (r"--method gatys|--samples (\d{5,})|--steps (\d{4,})|eval inversion|--n 1000\b",
     "a long optimisation or sampling run (minutes on a CPU)"),
    (r"\bregister\b|\.ply\b|\.obj\b|\.xyz\b", "needs 3-D meshes and the geometry extra (tests/test_geometry.py)"),
    (r"--k 8\b|k=8\b", "needs photos of at least 8 people (k = 8 clusters; tests/test_cluster.py)"),
    (r"\bbatch\b|run_photo_job", "inverts every photo of a folder (tests/test_batch.py covers it)"),
    (r"^faceedit (inpaint|crossover .*--mask|decode|eval ppl)\b", "a newer command with its own tests"),
]

#: Options whose value is a file the command writes (so it need not exist beforehand).
OUTPUT_OPTIONS = {"-o", "--out", "--output", "--save-latents", "--json", "--png", "--diff", "--overlay", "--grid",
                  "--tsne-png", "--csv", "--save-json", "--preview", "--run-dir"}
INPUT_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".npz", ".npy", ".csv", ".mp4", ".gif", ".safetensors", ".pt",
                  ".pkl", ".zip"}


def readme_items() -> list[tuple[str, str, int]]:
    """(kind "cli" or "python", text, line number) of every command line and Python block, in README order."""
    text = README.read_text(encoding="utf-8")
    items = []
    for m in re.finditer(r"^```(bash|python)\n(.*?)^```", text, re.S | re.M):
        start = text.count("\n", 0, m.start(2)) + 1
        if m.group(1) == "python":
            items.append(("python", m.group(2), start))
            continue
        for i, line in enumerate(m.group(2).splitlines()):
            code = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if code:
                items.append(("cli", code, start + i))
    return items


ITEMS = readme_items()


def skip_reason(text: str) -> str | None:
    for pattern, why in SKIP:
        if re.search(pattern, text):
            return why
    return None


def without_optional(code: str) -> str:
    """``faceedit score face.png [--json]`` → ``faceedit score face.png``."""
    return re.sub(r"\s*\[[^\]]*\]", "", code).strip()


def missing_inputs(args: list[str], cwd: Path) -> list[str]:
    """The files a command reads that are not in the sandbox (neither made by the fixtures nor by an earlier
    README command)."""
    out = []
    for i, a in enumerate(args):
        if i and args[i - 1] in OUTPUT_OPTIONS:
            continue
        path = a.split("#", 1)[0]
        if Path(path).suffix.lower() in INPUT_SUFFIXES and "*" not in path and not (cwd / path).exists():
            out.append(path)
    return out


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder with what a reader brings along: me.jpg and photos/ (the example photos: generated faces in
    synthetic scenes), latents of a neutral and a smiling face, a mask, a CSV of photo edits."""
    import torch

    from faceedit import api
    from faceedit.latents import save_latents

    root = tmp_path_factory.mktemp("readme")
    photos = sorted(EXAMPLES.glob("*.jpg"))
    shutil.copy(photos[0], root / "me.jpg")
    (root / "photos").mkdir()
    for p in photos[1:]:
        shutil.copy(p, root / "photos" / p.name)
    model = api.load("default")
    from PIL import Image

    for name, src in (("a.png", photos[1]), ("b.png", photos[2 % len(photos)])):
        Image.open(src).save(root / name)
    ws = model.generate(seeds=[3]).ws
    save_latents(root / "neutral.npz", ws, model=model)
    save_latents(root / "smile.npz", model.edit(ws, smiling=2), model=model)
    w, h = Image.open(root / "me.jpg").size
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    Image.fromarray(mask).save(root / "mask.png")
    (root / "list.csv").write_text("path,smiling\nphotos/" + photos[1].name + ",1.5\n")
    old_cwd, old_threads = Path.cwd(), os.environ.get("FACEEDIT_THREADS")
    os.chdir(root)
    os.environ["FACEEDIT_THREADS"] = "1"
    torch.manual_seed(0)
    try:
        yield root
    finally:
        os.chdir(old_cwd)
        if old_threads is None:
            os.environ.pop("FACEEDIT_THREADS", None)
        else:
            os.environ["FACEEDIT_THREADS"] = old_threads


def test_readme_has_commands_to_check():
    kinds = [k for k, _, _ in ITEMS]
    assert kinds.count("cli") > 50 and kinds.count("python") >= 5
    runnable = [t for k, t, _ in ITEMS if k == "cli" and skip_reason(t) is None]
    assert len(runnable) > 30, "the skip rules must leave most of the README's commands to run"


@pytest.mark.parametrize("kind, text, line", ITEMS, ids=[f"README.md:{n}" for _, _, n in ITEMS])
def test_readme_item_runs(sandbox, capsys, kind, text, line):
    why = skip_reason(text)
    if why is not None:
        pytest.skip(f"README.md:{line}: {why}")
    if kind == "python":
        needs = [f for f in re.findall(r"[\"']([\w./-]+\.(?:jpg|png|npz|safetensors|csv))[\"']", text)
                 if not (sandbox / f).exists() and not re.search(rf"write\w*\([\"']{re.escape(f)}", text)]
        if needs:
            pytest.skip(f"README.md:{line}: needs {', '.join(needs)} (not made by the README)")
        exec(compile(text, f"README.md:{line}", "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
        return
    from faceedit.cli import main

    code = without_optional(text)
    args = shlex.split(code)
    assert args[0] == "faceedit", f"README.md:{line}: not a faceedit command: {code}"
    expanded: list[str] = []
    for a in args[1:]:
        hits = sorted(glob.glob(a)) if any(c in a for c in "*?") else []
        expanded += hits or [a]
    missing = missing_inputs(expanded, sandbox)
    if missing:
        pytest.skip(f"README.md:{line}: needs {', '.join(missing)} (made by a skipped command above, or by none)")
    rc = main(expanded)
    err = capsys.readouterr().err
    assert rc == 0, f"README.md:{line}: `{code}` failed: {err.strip().splitlines()[-1:] if err else rc}"
