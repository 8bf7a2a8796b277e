"""Jobs over many photos or seeds, on a local process pool or a Ray cluster; resumable.

    from faceedit.batch import PhotoJob, collect, make_engine, run_photo_job
    job = PhotoJob(edits=(("smiling", 1.5),), method="pivotal")
    tasks, problems = collect(["photos/"], job, exclude=Path("out"))
    summary = run_photo_job(job, tasks, "out/", make_engine(workers=2), resume=True, problems=problems)
    summary.ok, summary.skipped, summary.errors, summary.rate     # photos/s of this run

Modules: :mod:`~faceedit.batch.job` (settings and resume keys), :mod:`~faceedit.batch.inputs` (folders, globs,
CSV / JSON-lines manifests), :mod:`~faceedit.batch.storage` (local folders and fsspec URIs, atomic writes),
:mod:`~faceedit.batch.results` (the results manifest), :mod:`~faceedit.batch.pipeline` (one photo: align →
invert → edit → paste back → write), :mod:`~faceedit.batch.engines` (local process pool, Ray actors),
:mod:`~faceedit.batch.seeds` (seed shards for generation and direction sampling), :mod:`~faceedit.batch.runner`
(plan, dispatch, record).
"""

from faceedit.batch.engines import LocalPool, Outcome, RayPool, make_engine
from faceedit.batch.inputs import collect
from faceedit.batch.job import PhotoJob, PhotoTask
from faceedit.batch.runner import Summary, run_generate_job, run_photo_job
from faceedit.batch.seeds import GenerateJob, SampleJob, sample_scores_sharded
from faceedit.batch.storage import Storage

__all__ = ["GenerateJob", "LocalPool", "Outcome", "PhotoJob", "PhotoTask", "RayPool", "SampleJob", "Storage",
           "Summary", "collect", "make_engine", "run_generate_job", "run_photo_job", "sample_scores_sharded"]
