"""Seeds sharded across workers: ``faceedit generate --count N`` and the sampling of ``directions fit``.

Generation: seeds ``first … first+count-1`` are cut into shards of :data:`SHARD_SEEDS`; a worker draws a shard,
writes each face as ``OUT/<seed // 1000, 6 digits>/seed<seed, 7 digits>.<fmt>`` (a thousand files a folder) and
then the shard's latents as ``OUT/latents/seeds<first>-<last>.npz``; the latents file is the shard's "done"
mark, so a killed run loses at most the shards in flight and ``--resume`` skips the others. An image equals
``faceedit generate --seeds`` for the same seed (same z, truncation and noise).

Sampling for directions: ``n`` samples are cut into chunks of :data:`SAMPLE_CHUNK`; chunk ``c`` draws its latents
from a generator seeded by (``seed``, ``c``), so the samples are the same whatever the number of workers (they
differ from the single-process :func:`~faceedit.edit.directions.sample_scores`, which draws one stream).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from faceedit.batch.pipeline import encode_image, latents_bytes, resolve_device
from faceedit.batch.storage import Storage
from faceedit.errors import FaceEditError

#: Seeds per generation shard (one task, one latents file).
SHARD_SEEDS = 256
#: Samples per sampling chunk of ``directions fit``.
SAMPLE_CHUNK = 128
#: Largest seed count of one sharded generation (seeds are never listed, only counted).
MAX_COUNT = 100_000_000
SEED_LIMIT = 2 ** 32


def image_name(seed: int, fmt: str) -> str:
    """Where seed ``seed``'s image goes below the output folder."""
    return f"{seed // 1000:06d}/seed{seed:07d}.{fmt}"


@dataclass
class SeedShard:
    """Seeds ``first … first+count-1`` of a generation job."""

    first: int
    count: int
    key: str = ""

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    @property
    def input(self) -> str:
        return f"seeds {self.first}-{self.last}"

    @property
    def source(self) -> str:
        return self.input

    @property
    def output(self) -> str:
        return f"latents/seeds{self.first:07d}-{self.last:07d}.npz"


def seed_shards(first: int, count: int, size: int = SHARD_SEEDS) -> list[SeedShard]:
    """The shards of seeds ``first … first+count-1``."""
    if not 1 <= count <= MAX_COUNT:
        raise FaceEditError(f"--count must be from 1 to {MAX_COUNT:,}")
    if not 0 <= first or first + count > SEED_LIMIT:
        raise FaceEditError(f"seeds {first}…{first + count - 1} leave the seed range 0 to {SEED_LIMIT - 1}")
    return [SeedShard(s, min(size, first + count - s)) for s in range(first, first + count, size)]


@dataclass(frozen=True)
class GenerateJob:
    """Settings of a sharded generation (as ``faceedit generate``'s options)."""

    model: str = "default"
    truncation: float = 0.7
    truncation_cutoff: int | None = None
    noise: str = "const"
    format: str = "png"
    quality: int = 95
    batch: int = 8
    threads: int = 1
    device: str = "auto"

    def key(self) -> str:
        import hashlib
        import json

        from faceedit.batch.job import _file_identity

        what = {k: v for k, v in self.__dict__.items() if k not in ("threads", "device", "batch")}
        what["model_file"] = _file_identity(self.model)
        what["shard"] = SHARD_SEEDS
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


class GenerateWorker:
    """Draws seed shards into ``out_root`` (the model loaded once)."""

    def __init__(self, job: GenerateJob, out_root: str):
        from faceedit import api

        torch.set_num_threads(max(1, int(job.threads)))
        self.job = job
        self.storage = Storage(out_root)
        self.model = api.load(job.model, device=resolve_device(job.device))
        self.fmt = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[job.format]

    def __call__(self, shard: SeedShard) -> dict[str, Any]:
        t0 = time.perf_counter()
        seeds = list(range(shard.first, shard.first + shard.count))
        ws = []
        for part in self.model.generate_batches(seeds, truncation=self.job.truncation,
                                                truncation_cutoff=self.job.truncation_cutoff,
                                                noise_mode=self.job.noise, batch_size=self.job.batch):
            for seed, img in zip(part.seeds, part.images):
                self.storage.write_bytes(image_name(seed, self.job.format), encode_image(img, self.fmt,
                                                                                           self.job.quality))
            ws.append(part.ws)
        self.storage.write_bytes(shard.output, latents_bytes(torch.cat(ws).numpy(), self.model,
                                                             seeds=np.asarray(seeds, np.int64)))
        return {"input": shard.input, "source": shard.source, "output": shard.output, "key": shard.key,
                "status": "ok", "reason": "", "seconds": {"total": round(time.perf_counter() - t0, 4)}}


# ---------------------------------------------------------------------------------------------- sampling
def chunk_generator(seed: int, chunk: int) -> torch.Generator:
    """The random generator of sampling chunk ``chunk`` (independent streams per chunk)."""
    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@dataclass(frozen=True)
class SampleJob:
    """Settings of sharded sampling for ``directions fit``: ``scorer``: a picklable factory of the attribute
    scorer (default :meth:`AttributeScorer.load <faceedit.edit.attributes.AttributeScorer.load>`)."""

    model: str = "default"
    seed: int = 0
    batch: int = 64
    mixing: bool = False
    threads: int = 1
    device: str = "auto"
    scorer: Callable | None = None


@dataclass
class SampleChunk:
    index: int
    count: int


class SampleWorker:
    """Samples and scores chunks (the generator and the scorers loaded once)."""

    def __init__(self, job: SampleJob):
        from faceedit import api

        torch.set_num_threads(max(1, int(job.threads)))
        self.job = job
        self.model = api.load(job.model, device=resolve_device(job.device))
        if job.scorer is None:
            from faceedit.edit.attributes import AttributeScorer

            self.scorer = AttributeScorer.load(device=self.model.device)
        else:
            self.scorer = job.scorer(self.model)

    def __call__(self, chunk: SampleChunk) -> dict[str, Any]:
        """z [n, z_dim], w [n, w_dim], scores [n, A], ws [n, num_ws, w_dim] (fp16, mixing only), names."""
        m, job = self.model, self.job
        gen = chunk_generator(job.seed, chunk.index)
        zs, ws_, wps, scores = [], [], [], []
        with torch.no_grad():
            for i in range(0, chunk.count, job.batch):
                b = min(job.batch, chunk.count - i)
                z = torch.randn(b, m.z_dim, generator=gen)
                ws = m.map(z)
                if job.mixing:
                    z2 = torch.randn(b, m.z_dim, generator=gen)
                    cut = torch.randint(1, m.num_ws, (b,), generator=gen)
                    take = torch.arange(m.num_ws)[None, :] >= cut[:, None]
                    ws = torch.where(take[..., None].to(ws.device), m.map(z2), ws)
                    wps.append(ws.cpu().numpy().astype(np.float16))
                scores.append(self.scorer(m.synthesize(ws, batch_size=b)).numpy())
                zs.append(z.numpy())
                ws_.append(ws[:, 0].cpu().numpy())
        return {"index": chunk.index, "z": np.concatenate(zs), "w": np.concatenate(ws_),
                "scores": np.concatenate(scores), "ws": np.concatenate(wps) if wps else None,
                "names": list(self.scorer.names), "model_sha256": m.sha256}


def sample_scores_sharded(job: SampleJob, n: int, engine, chunk: int = SAMPLE_CHUNK, progress: bool = False):
    """:func:`~faceedit.edit.directions.sample_scores`'s result, sampled in chunks on ``engine``'s workers
    (the same samples for any number of workers). A chunk that fails stops the sampling with its reason."""
    import functools

    from faceedit.edit.directions import MAX_SAMPLES, Samples

    if not 2 <= n <= MAX_SAMPLES:
        raise FaceEditError(f"--samples must be between 2 and {MAX_SAMPLES}, got {n}")
    chunks = [SampleChunk(c, min(chunk, n - c * chunk)) for c in range(-(-n // chunk))]
    parts: dict[int, dict] = {}
    t0 = time.perf_counter()
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=n, desc="sampling + scoring", unit="sample", file=sys.stderr)
    try:
        for out in engine.map(functools.partial(SampleWorker, job), chunks):
            if out.error is not None:
                raise FaceEditError(f"sampling chunk {out.task.index} failed: {out.error}")
            parts[out.value["index"]] = out.value
            if bar is not None:
                bar.update(out.task.count)
    finally:
        if bar is not None:
            bar.close()
    ordered = [parts[c.index] for c in chunks]
    cat = _concat(ordered)
    return Samples(z=cat("z"), w=cat("w"), scores=cat("scores"), names=ordered[0]["names"],
                   model_sha256=ordered[0]["model_sha256"],
                   ws=cat("ws").astype(np.float32) if job.mixing else None, seconds=time.perf_counter() - t0)


def _concat(parts: list[dict]) -> Callable[[str], np.ndarray]:
    return lambda key: np.concatenate([p[key] for p in parts])

