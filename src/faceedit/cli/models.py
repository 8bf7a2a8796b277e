"""``faceedit models list | fetch | convert | info``: the model registry and checkpoint conversion."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from faceedit.errors import FaceEditError
from faceedit.io.formats import formats_help
from faceedit.cli.options import QUIET

models_app = typer.Typer(help="List, download, convert and inspect StyleGAN2 checkpoints.", no_args_is_help=True,
                         add_completion=False)


def _short_sha(sha: str | None, how: str) -> str:
    if not sha:
        return "none published (printed by 'models fetch')"
    return f"{sha} ({how})"


@models_app.command("list")
def list_models(
    cache: Optional[Path] = typer.Option(None, "--cache", help="cache folder (default: $FACEEDIT_CACHE or "
                                                                  "~/.cache/faceedit)"),
    as_json: bool = typer.Option(False, "--json", help="print the registry as JSON"),
) -> None:
    """Show the named models: size, sha256, licence, and where each is (or would be) cached."""
    from faceedit.io.model_files import describe_size, file_sha256, human_size
    from faceedit.io.registry import REGISTRY, DEFAULT_ASSET, default_cache_dir, default_model_path, model_path

    rows = []
    try:
        default_file = default_model_path()
        default_state = "embedded"
    except FaceEditError:
        default_file, default_state = None, "missing"
    size, how = describe_size(None, default_file)
    rows.append({"name": "default", "resolution": None, "format": "native", "size": size, "size_source": how,
                 "status": default_state, "path": str(default_file) if default_file else None,
                 "description": f"embedded model (faceedit/assets/{DEFAULT_ASSET})", "url": None,
                 "sha256": file_sha256(default_file, remember=False) if default_file else None, "sha256_source": "of the file",
                 "licence": "faceedit's own weights, trained on CelebA/CelebAMask-HQ/UTKFace faces: non-commercial "
                            "research use (README, Models and licences)"})
    for e in REGISTRY.values():
        p = model_path(e.name, cache)
        here = p.is_file()
        size, how = describe_size(e, p)
        sha, sha_how = (file_sha256(p), "of the file") if here else (e.sha256, "published")
        if here and e.sha256:
            sha_how = "of the file, matches the published one" if sha == e.sha256 else "of the file, DIFFERS from " \
                      "the published one: fetch again with --force"
        rows.append({"name": e.name, "resolution": e.resolution, "format": e.format, "size": size,
                     "size_source": how, "status": "downloaded" if here else "not downloaded", "path": str(p),
                     "description": e.description, "url": e.url, "sha256": sha, "sha256_source": sha_how,
                     "licence": e.licence})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    root = Path(cache).expanduser() if cache else default_cache_dir()
    print(f"cache: {root}  ($FACEEDIT_CACHE or --cache to change)\n")
    for r in rows:
        res = f"{r['resolution']} px, " if r["resolution"] else ""
        print(f"{r['name']}  [{r['status']}]  {res}{r['format']}, {human_size(r['size'], r['size_source'])}")
        print(f"    {r['description']}")
        print(f"    sha256   {_short_sha(r['sha256'], r['sha256_source'])}")
        print(f"    licence  {r['licence']}")
        print(f"    {'file    ' if r['status'] != 'not downloaded' else 'goes to '} {r['path']}")


@models_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="registry name (see 'faceedit models list')"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="cache folder (default: $FACEEDIT_CACHE or "
                                                                  "~/.cache/faceedit)"),
    force: bool = typer.Option(False, "--force", help="download again even if present"),
    quiet: bool = typer.Option(False, *QUIET, help="no progress bar"),
) -> None:
    """Download a named model into the cache (resumable, checksum-verified)."""
    from faceedit.io.fetch import fetch_model
    from faceedit.io.registry import get_entry

    if name == "default":
        raise FaceEditError("the default model is embedded in faceedit and needs no download")
    get_entry(name)
    path = fetch_model(name, cache_dir=cache, progress=not quiet, force=force)
    print(path)


@models_app.command("convert")
def convert(
    src: str = typer.Argument(..., metavar="IN", help="checkpoint path or model name"),
    dst: Path = typer.Argument(..., metavar="OUT", help="output file"),
    to: str = typer.Option(..., "--to", help=f"output format: {formats_help()}"),
    fp16: bool = typer.Option(True, "--fp16/--fp32", help="safetensors precision (rosinality is always fp32)"),
    no_training_nets: bool = typer.Option(False, "--g-ema-only", help="write only G_ema (drop G and D)"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="cache folder for model names"),
) -> None:
    """Convert a checkpoint: `faceedit models convert ffhq.pkl ffhq.safetensors --to safetensors`."""
    from faceedit.io.formats import writer
    from faceedit.io.loader import load_checkpoint

    fmt = writer(to)  # checked before the (slow) load
    ckpt = load_checkpoint(src, load_training_nets=not no_training_nets, cache_dir=cache)
    if Path(src).exists() and dst.exists() and dst.resolve() == Path(src).resolve():
        raise FaceEditError("OUT must differ from IN")
    nets = [n for n, m in (("G_ema", ckpt.G_ema), ("G", ckpt.G), ("D", ckpt.D)) if m is not None]
    what = fmt.write(dst, ckpt, fp16)
    print(f"wrote {dst} ({what}; {', '.join(nets)}; {ckpt.resolution} px, from {ckpt.source_format})",
          file=sys.stderr)


@models_app.command("info")
def info(
    path: str = typer.Argument(..., help="checkpoint path or model name"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="cache folder for model names"),
) -> None:
    """Show a checkpoint's format, resolution, number of w+ layers, parameter counts and sha256."""
    from faceedit.io.loader import describe, load_checkpoint

    d = describe(load_checkpoint(path, cache_dir=cache))
    if as_json:
        print(json.dumps(d, indent=2))
        return
    params = ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in d["params"].items())
    print(f"path        {d['path']}\nformat      {d['format']}\nresolution  {d['resolution']}\n"
          f"num_ws      {d['num_ws']}\nz/w dims    {d['z_dim']}/{d['w_dim']}\nparams      {params}\n"
          f"sha256      {d['sha256']}")
    if d["card"]:
        print(f"card        {json.dumps(d['card'], sort_keys=True)}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
