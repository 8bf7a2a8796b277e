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

#: Public names → the module that defines them (imported on first use: a worker process that only needs the
#: engines starts without importing torch).
_EXPORTS = {
    "LocalPool": "engines", "Outcome": "engines", "RayPool": "engines", "make_engine": "engines",
    "collect": "inputs", "PhotoJob": "job", "PhotoTask": "job",
    "Summary": "runner", "run_generate_job": "runner", "run_photo_job": "runner",
    "GenerateJob": "seeds", "SampleJob": "seeds", "sample_scores_sharded": "seeds", "Storage": "storage",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"faceedit.batch.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
