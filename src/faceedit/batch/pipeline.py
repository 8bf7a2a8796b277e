"""One photo through the batch pipeline: read → align → invert → edit → render and paste back → write.

:class:`PhotoWorker` is built once per worker process (it loads the generator, the encoder, the directions and any
art model or style network once) and is then called for each :class:`~faceedit.batch.job.PhotoTask`. It never
raises for a photo's own problem: a bad file, no face, an unknown attribute come back as a ``skip`` record with the
reason; an unexpected failure as an ``error`` record. The output image (and the ``.npz`` of its latents) is
written by the worker itself, atomically, into the job's :class:`~faceedit.batch.storage.Storage`, so on a cluster
the pixels never travel back to the driver — only the record does.

    worker = PhotoWorker(PhotoJob(edits=(("smiling", 1.5),)), "out/")
    record = worker(PhotoTask(input="me.jpg", output="me.jpg"))
    record["status"], record["seconds"]          # 'ok', {'read': …, 'align': …, 'invert': …, …, 'total': …}
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from faceedit.batch.job import PhotoJob, PhotoTask, image_format
from faceedit.batch.storage import Storage, as_local_file, read_input, sha256_hex, stat_identity
from faceedit.errors import FaceEditError


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when this process sees a GPU (a Ray GPU actor, or ``CUDA_VISIBLE_DEVICES``), else
    ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FaceEditError("--device cuda: no GPU is visible to this worker")
    return device


def encode_image(image: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """An H×W×3 uint8 image as the bytes of a ``fmt`` file (PIL's name: JPEG, PNG, WEBP)."""
    from PIL import Image

    buf = io.BytesIO()
    kwargs = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _style_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The shipped fast style network ``name`` as ``uint8 image → uint8 image``."""
    try:
        from faceedit.stylize import stylize_fast
    except ImportError:
        raise FaceEditError(f"--style {name}: this build has no style transfer (faceedit.stylize); leave out "
                            "--style") from None
    return lambda img: stylize_fast(img, name)


class _Clock:
    """Wall-clock seconds per stage of one photo."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t0 = self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._last, 4)
        self._last = now

    def total(self) -> dict[str, float]:
        return {**self.seconds, "total": round(time.perf_counter() - self._t0, 4)}


class PhotoWorker:
    """The per-photo pipeline of ``job``, writing into ``out_root`` (a local folder or an fsspec URI).
    Building it loads the models; a problem with the job itself (a model that does not load, an unknown
    attribute in the job's own edits, a style that does not exist) raises :class:`FaceEditError` here, which
    stops the job before any photo."""

    def __init__(self, job: PhotoJob, out_root: str):
        from faceedit import api
        from faceedit.invert import default_encoder

        self.job = job
        self.storage = Storage(out_root)
        torch.set_num_threads(max(1, int(job.threads)))
        self.device = resolve_device(job.device)
        self.model = api.load(job.model, device=self.device)
        self.art = api.load(job.art_model, device=self.device) if job.art_model else None
        if self.art is not None and (self.art.num_ws, self.art.w_dim) != (self.model.num_ws, self.model.w_dim):
            raise FaceEditError(f"--art-model {job.art_model} has {self.art.num_ws} w+ layers of {self.art.w_dim}; "
                                f"the model has {self.model.num_ws} of {self.model.w_dim}: not the same latent space")
        self.encoder = None
        if job.method in ("hybrid", "pivotal", "encoder"):
            self.encoder, _ = default_encoder(self.model)
        self._directions = None
        self._directions_error: str | None = None
        self._styles: dict[str, Callable] = {}
        if job.edits:  # the job's own edits must work before any photo is touched
            self.directions().delta(job.edit_amounts, self.model.num_ws, job.keep, job.layers)
        if job.style:
            self.style(job.style)

    # ------------------------------------------------------------------------------------------------ helpers
    def directions(self):
        """The model's attribute directions (loaded on first use; a load failure is every edit's skip reason)."""
        if self._directions is None:
            if self._directions_error is not None:
                raise FaceEditError(self._directions_error)
            from faceedit.edit.directions import load_directions

            try:
                self._directions = load_directions(self.model, self.job.directions,
                                                   check=not self.job.force_directions)
            except FaceEditError as exc:
                self._directions_error = str(exc)
                raise
        return self._directions

    def style(self, name: str) -> Callable[[np.ndarray], np.ndarray]:
        if name not in self._styles:
            self._styles[name] = _style_function(name)
        return self._styles[name]

    # ------------------------------------------------------------------------------------------------ one photo
    def __call__(self, task: PhotoTask) -> dict[str, Any]:
        record: dict[str, Any] = {"input": task.input, "source": task.source, "output": task.output, "key": task.key}
        ident = stat_identity(task.input)
        if ident is not None:
            record["size"], record["mtime_ns"] = ident
        clock = _Clock()
        try:
            data = read_input(task.input)
            record["sha256"] = sha256_hex(data)
            clock.lap("read")
            with as_local_file(task.input, data) as path:
                notes = self._process(task, path, clock)
            record.update(status="ok", reason="")
            if notes:
                record["notes"] = notes
        except FaceEditError as exc:
            record.update(status="skip", reason=_strip_name(str(exc), task.input))
        except MemoryError:
            record.update(status="error", reason="out of memory")
        except Exception as exc:  # noqa: BLE001 - one photo's failure never stops the job
            detail = " ".join(str(exc).split())
            record.update(status="error", reason=f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else ""))
        record["seconds"] = clock.total()
        return record

    def _process(self, task: PhotoTask, path: Path, clock: _Clock) -> list[str]:
        from faceedit.invert import InvertedPhoto, invert_images, prepare_photo
        from faceedit.media import to_uint8

        job, m = self.job, self.model
        fmt = image_format(task.output)
        amounts, keep, style = task.amounts(job), task.keep_list(job), task.style_name(job)
        stylize = self.style(style) if style else None
        if amounts:  # unknown attributes are this photo's skip reason before any work is done
            self.directions().delta(amounts, m.num_ws, keep, job.layers)
        photo, aligned, small = prepare_photo(path, m, aligned=job.aligned, detector=job.detector, name=task.input)
        limits = job.pose_limits
        if limits.active:  # before the inversion: a face turned too far costs no more work
            from faceedit.geometry.headpose import estimate_pose

            why = limits.miss(estimate_pose(aligned.face.landmarks)[0])
            if why is not None:
                raise FaceEditError(f"face 0: {why}")
        clock.lap("align")
        kw = {} if job.steps is None else {"steps": job.steps}
        inv = invert_images(m, small[None], method=job.method, perceptual=job.perceptual, encoder=self.encoder, **kw)
        inverted = InvertedPhoto.of(inv, photo, aligned, task.input)
        clock.lap("invert")
        ws = inverted.ws.to(m.device)
        edited = self.directions().apply(ws, amounts, keep, job.layers) if amounts else ws
        clock.lap("edit")
        if self.art is not None:
            images, mode = self.art.synthesize(edited), "replace"
        else:
            images, mode = inverted.model_for(m).synthesize(edited), job.paste
        out = to_uint8(images)[0] if job.paste == "crop" else np.asarray(inverted.paste(images, mode=mode))
        if stylize is not None:
            out = np.asarray(stylize(out))
        clock.lap("render")
        self.storage.write_bytes(task.output, encode_image(out, fmt, job.quality))
        if job.save_latents:
            self.storage.write_bytes(task.latents_name(), self._latents_bytes(inverted, inv, task))
        clock.lap("write")
        return list(inv.notes)

    def _latents_bytes(self, inverted, inv, task: PhotoTask) -> bytes:
        """The photo's inversion as a latent file (the format of ``faceedit invert``, tuned weights included, so
        that ``faceedit edit out/me.npz --smiling 2`` draws it with its tuned generator)."""
        extra = {"paths": np.array([task.input]), "method": np.array(inv.method), "space": np.array("w+"),
                 "mse": inv.losses["mse"].numpy() if "mse" in inv.losses else np.zeros(1, np.float32),
                 "quads": np.asarray(inverted.aligned.transform.quad, dtype=np.float32)[None],
                 "photo_shapes": np.array([inverted.original.shape[:2]], dtype=np.int64)}
        if inverted.tuned is not None:
            extra.update(inverted.tuned.to_arrays())
        return latents_bytes(inverted.ws.cpu().numpy(), self.model, **extra)


def latents_bytes(ws: np.ndarray, model, seeds: np.ndarray | None = None, **extra) -> bytes:
    """The bytes of a latent file (:func:`faceedit.latents.save_latents`'s format) of ``ws`` [N, num_ws, w_dim]."""
    from faceedit.latents import save_latents

    with tempfile.TemporaryDirectory(prefix="faceedit-latents-") as tmp:
        p = save_latents(os.path.join(tmp, "latents.npz"), ws, model=model, seeds=seeds, **extra)
        return Path(p).read_bytes()


def _strip_name(text: str, name: str) -> str:
    """A reason without the input's own name at its start or end (the record names the input already)."""
    for n in {name, os.path.basename(name)}:
        if text.endswith(f": {n}") and len(text) > len(n) + 2:
            text = text[:-len(n) - 2]
        if text.startswith(f"{n}: "):
            text = text[len(n) + 2:]
        text = text.replace(f" in {n}", "")
    return text
