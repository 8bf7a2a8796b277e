"""Batch jobs (faceedit.batch, ``faceedit batch``, ``generate --count``, sharded sampling): inputs and manifests,
resume keys, the results manifest, the per-photo pipeline on the embedded model, the local process pool (crashes,
retries, timeouts, backpressure) and a small local Ray instance (skipped when Ray is not installed)."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.batch import GenerateJob, LocalPool, Outcome, PhotoJob, PhotoTask, collect, run_generate_job
from faceedit.batch import run_photo_job
from faceedit.batch.job import settings_key
from faceedit.batch.results import ResultsLog
from faceedit.batch.storage import Storage
from faceedit.cli import main
from faceedit.errors import FaceEditError

sys.path.insert(0, str(Path(__file__).parent))
import _batch_helpers as H  # noqa: E402
from _image_helpers import assert_same_drawing  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: A fast job: the shipped encoder alone, faces given aligned (no detector).
FAST = dict(method="encoder", aligned=True, perceptual="none")


class InlineEngine:
    """The engines' interface in this process (one worker, tasks in order, or in reverse order with
    ``reverse``): the runner's resume and manifest logic without spawning processes."""

    kind = "local"

    def __init__(self, reverse: bool = False):
        self.reverse = reverse
        self.started = 0

    def describe(self) -> str:
        return "inline"

    def map(self, factory, tasks):
        tasks = list(tasks)
        if not tasks:
            return
        worker = factory()
        self.started += 1
        for t in (reversed(tasks) if self.reverse else tasks):
            yield Outcome(t, value=worker(t), worker="inline")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Four aligned faces of the embedded generator (seeds 0-3) and a file that is not an image, in a folder with
    a subfolder."""
    from faceedit import api
    from faceedit.media import to_uint8

    root = tmp_path_factory.mktemp("faces")
    m = api.load("default")
    with torch.no_grad():
        imgs = to_uint8(m.synthesize(m.map(m.z_from_seeds([0, 1, 2, 3]), 0.7)).clamp(-1, 1))
    (root / "sub").mkdir()
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(root / ("sub" if i == 3 else ".") / f"face{i}.png")
    (root / "broken.png").write_bytes(b"not a png at all")
    (root / "notes.txt").write_text("ignored: not an image name")
    return root


# ---------------------------------------------------------------------------------------------- inputs
def test_collect_folder_glob_and_manifests(faces, tmp_path):
    job = PhotoJob(**FAST)
    tasks, problems = collect([str(faces)], job)
    assert [t.output for t in tasks] == ["broken.png", "face0.png", "face1.png", "face2.png", "sub/face3.png"]
    assert problems == []
    # the output folder inside the input folder is never read; --limit stops early
    out = faces / "out"
    out.mkdir()
    Image.new("RGB", (8, 8)).save(out / "old.png")
    try:
        tasks, _ = collect([str(faces)], job, exclude=out, limit=3)
        assert [t.output for t in tasks] == ["broken.png", "face0.png", "face1.png"]
    finally:
        (out / "old.png").unlink()
        out.rmdir()
    tasks, _ = collect([str(faces / "**" / "face*.png")], PhotoJob(format="jpg", **FAST))
    assert [t.output for t in tasks] == ["face0.jpg", "face1.jpg", "face2.jpg", "sub/face3.jpg"]

    csv = tmp_path / "list.csv"
    csv.write_text("path,smiling,age,keep,note\n"
                   f"{faces}/face0.png,1.5,,male,first\n"
                   "../nowhere/x.png,abc,,,\n"          # not a number: a problem, the job goes on
                   f"{faces}/face1.png,,-2,,\n"
                   ",1,,,\n"                             # no path
                   f"{faces}/face2.png,99,,,\n")         # out of range
    tasks, problems = collect([str(csv)], job)
    assert [(t.output, t.edits, t.keep) for t in tasks] == [("face0.png", {"smiling": 1.5}, ("male",)),
                                                             ("face1.png", {"age": -2.0}, None)]
    assert [w.rsplit(":", 1)[1] for w, _ in problems] == ["3", "5", "6"]
    assert "not a number" in problems[0][1] and problems[1][1] == "no path" and "from -50" in problems[2][1]
    jl = tmp_path / "list.jsonl"
    jl.write_text(json.dumps({"path": "face0.png", "edits": {"smile": 1}, "output": "a/b.webp"}) + "\n{oops\n"
                  + json.dumps({"path": str(faces / "face1.png"), "style": ""}) + "\n")
    tasks, problems = collect([str(jl)], job)
    assert tasks[0].input == str(tmp_path / "face0.png") and tasks[0].output == "a/b.webp"
    assert tasks[0].edits == {"smiling": 1.0} and tasks[1].style == "" and tasks[1].style_name(job) is None
    assert len(problems) == 1 and problems[0][0].endswith(":2") and "JSON" in problems[0][1]
    jl.write_text(json.dumps({"path": "x.png", "output": "../escape.png"}) + "\n")
    assert "inside the output folder" in collect([str(jl)], job)[1][0][1]
    with pytest.raises(FaceEditError, match="no such file"):
        collect([str(tmp_path / "missing")], job)
    # two inputs with one output name get distinct names
    (tmp_path / "x").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "x" / "face0.jpg")
    tasks, _ = collect([str(faces / "face0.png"), str(tmp_path / "x" / "face0.jpg")], PhotoJob(format="png", **FAST))
    assert tasks[0].output == "face0.png" and tasks[1].output.startswith("face0~") and len({t.output for t in tasks}) == 2


def test_settings_key_follows_everything_that_changes_an_output(tmp_path):
    job = PhotoJob(edits=(("smiling", 1.0),), **FAST)
    t = PhotoTask(input="a.png", output="a.png")
    key = settings_key(job, t)
    assert key == settings_key(PhotoJob(edits=(("smiling", 1.0),), threads=4, **FAST), t)  # threads: no change
    others = [settings_key(PhotoJob(edits=(("smiling", 2.0),), **FAST), t),
              settings_key(PhotoJob(edits=(("smiling", 1.0),), paste="replace", **FAST), t),
              settings_key(job, PhotoTask(input="a.png", output="a.jpg")),
              settings_key(job, PhotoTask(input="a.png", output="a.png", edits={"age": 1.0}))]
    assert len({key, *others}) == 5
    ckpt = tmp_path / "g.safetensors"
    ckpt.write_bytes(b"1")
    k1 = settings_key(PhotoJob(model=str(ckpt), **FAST), t)
    ckpt.write_bytes(b"22")  # a retrained checkpoint under the same name
    assert settings_key(PhotoJob(model=str(ckpt), **FAST), t) != k1
    with pytest.raises(FaceEditError, match="--paste"):
        PhotoJob(paste="glue")


def test_results_log_survives_a_torn_line_and_storage_uris(tmp_path, monkeypatch):
    from faceedit.batch import results

    monkeypatch.setattr(results, "PART_SECONDS", 1e9)
    st = Storage(str(tmp_path / "o"))
    log = ResultsLog(st)
    log.append({"input": "a", "source": "/a", "status": "ok"})
    log.append({"input": "a", "source": "/a", "status": "skip", "reason": "later"})
    with open(tmp_path / "o" / "results.jsonl", "a") as f:
        f.write('{"input": "b", "sour')  # a kill in the middle of a write
    assert {k: v["status"] for k, v in log.latest().items()} == {"/a": "skip"}
    log.write_csv(["/a"])
    rows = (tmp_path / "o" / "results.csv").read_text().splitlines()
    assert rows[0].startswith("input,output,status,reason,seconds") and rows[1].startswith("a,,skip,later")
    # an fsspec URI: whole parts instead of appends, read back in the same way
    mem = Storage("memory://batch-test/run")
    log = ResultsLog(mem)
    for i in range(3):
        log.append({"input": str(i), "source": str(i), "status": "ok"})
    assert log.latest() == {}  # buffered until a flush
    log.flush()
    assert sorted(log.latest()) == ["0", "1", "2"] and mem.listing("results") != set()
    mem.write_bytes("x/y.bin", b"abc")
    assert mem.read_bytes("x/y.bin") == b"abc" and "x/y.bin" in mem.listing()
    uri = Storage((tmp_path / "o").as_uri())
    assert uri.local == tmp_path / "o" and uri.read_bytes("results.csv") is not None
    with pytest.raises(FaceEditError, match="inside the output folder"):
        st.write_bytes("../evil.png", b"")


# ---------------------------------------------------------------------------------------------- photos
def test_photo_job_edits_reports_bad_files_and_resumes(faces, tmp_path, capsys):
    import shutil

    faces = Path(shutil.copytree(faces, tmp_path / "in"))  # this test changes a photo
    out = tmp_path / "out"
    job = PhotoJob(edits=(("smiling", 2.0),), **FAST)
    tasks, problems = collect([str(faces)], job, exclude=out)
    engine = InlineEngine()
    s = run_photo_job(job, tasks, str(out), engine, problems=problems, quiet=True)
    assert (s.ok, s.skipped, s.errors, s.done_before) == (4, 1, 0, 0)
    err = capsys.readouterr().err
    assert f"skip: {faces / 'broken.png'}: " in err and "not an image" in err
    recs = {Path(r["input"]).name: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert recs["broken.png"]["status"] == "skip" and recs["face0.png"]["status"] == "ok"
    assert {"read", "align", "invert", "edit", "render", "write", "total"} <= set(recs["face0.png"]["seconds"])
    src = np.asarray(Image.open(faces / "face0.png"))
    edited = np.asarray(Image.open(out / "face0.png"))
    assert edited.shape == src.shape and np.abs(edited.astype(int) - src).mean() > 1.0  # the edit changed it
    assert (out / "sub" / "face3.png").is_file()
    # without --resume an earlier run's folder is refused; with it everything is finished
    with pytest.raises(FaceEditError, match="--resume"):
        run_photo_job(job, tasks, str(out), engine, quiet=True)
    s = run_photo_job(job, tasks, str(out), engine, resume=True, problems=problems, quiet=True)
    assert (s.ok, s.done_before, engine.started) == (0, 5, 1)
    # a changed photo, a lost output and a run killed before its record are redone; nothing else
    Image.fromarray(src[::-1].copy()).save(faces / "face1.png")
    (out / "face2.png").unlink()
    lines = (out / "results.jsonl").read_text().splitlines()
    keep = [ln for ln in lines if "sub/face3.png" not in ln]
    (out / "results.jsonl").write_text("\n".join(keep) + "\n" + lines[-1][:20])  # its record torn by a kill
    s = run_photo_job(job, tasks, str(out), engine, resume=True, problems=problems, quiet=True)
    assert (s.ok, s.done_before) == (3, 2)
    latest = ResultsLog(Storage(str(out))).latest()
    assert latest[str(faces / "face1.png")]["run"] != latest[str(faces / "face0.png")]["run"]
    # another edit makes every photo a new item
    job2 = PhotoJob(edits=(("smiling", -2.0),), **FAST)
    s = run_photo_job(job2, collect([str(faces)], job2, exclude=out)[0], str(out), engine, resume=True, quiet=True)
    assert (s.ok, s.skipped, s.done_before) == (4, 1, 0)
    assert np.abs(np.asarray(Image.open(out / "face0.png")).astype(int) - edited).mean() > 1.0


def test_photo_job_manifest_edits_crop_latents_and_unknown_attribute(faces, tmp_path):
    from faceedit.latents import load_latents

    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"path": str(faces / "face0.png"), "smiling": 3, "output": "a.png"}) + "\n"
                   + json.dumps({"path": str(faces / "face0.png"), "output": "b.png"}) + "\n"
                   + json.dumps({"path": str(faces / "face0.png"), "output": "c.png", "edits": {"nosuch": 1}}) + "\n")
    job = PhotoJob(paste="crop", save_latents=True, **FAST)
    tasks, problems = collect([str(man)], job)
    out = tmp_path / "o"
    s = run_photo_job(job, tasks, str(out), InlineEngine(), quiet=True)
    assert (s.ok, s.skipped) == (2, 1)
    a, b = (np.asarray(Image.open(out / n)) for n in ("a.png", "b.png"))
    assert a.shape == b.shape == (64, 64, 3) and np.abs(a.astype(int) - b).mean() > 1.0  # only a was edited
    ws, meta = load_latents(out / "b.npz")
    assert ws.shape[0] == 1 and meta["num_ws"] == ws.shape[1]
    rec = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()][-1]
    assert rec["status"] == "skip" and "nosuch" in rec["reason"]
    # a job whose own edit is unknown stops before any photo, with one line
    with pytest.raises(FaceEditError, match="nosuch"):
        run_photo_job(PhotoJob(edits=(("nosuch", 1.0),), **FAST), tasks, str(tmp_path / "o2"), InlineEngine(),
                      quiet=True)


DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TURNED_PHOTOS = (DATA / "celebamask-hq" / "images" / "00000.jpg", DATA / "celeba" / "img_align_celeba" / "000002.jpg")


def test_photo_job_pose_limits_skip_turned_faces(tmp_path):
    from faceedit.align import detect_faces, have_dlib, load_image
    from faceedit.geometry.headpose import estimate_pose

    with pytest.raises(FaceEditError, match="--max-yaw must be"):
        PhotoJob(max_yaw=91)
    with pytest.raises(FaceEditError, match="--max-pitch must be"):
        PhotoJob(max_pitch=float("nan"))
    with pytest.raises(FaceEditError, match="leave out --aligned"):
        PhotoJob(max_yaw=20, **FAST)
    t = PhotoTask(input="a.png", output="a.png")
    base = dict(method="encoder", perceptual="none")
    key = settings_key(PhotoJob(**base), t)
    assert key == settings_key(PhotoJob(**base, max_yaw=None), t)
    assert len({key, settings_key(PhotoJob(**base, max_yaw=20), t), settings_key(PhotoJob(**base, max_yaw=30), t),
                settings_key(PhotoJob(**base, max_pitch=20), t)}) == 4
    if not (have_dlib() and all(p.is_file() for p in TURNED_PHOTOS)):
        pytest.skip(f"needs dlib and the photos {[str(p) for p in TURNED_PHOTOS]} (the rest passed)")
    yaws = [abs(estimate_pose(detect_faces(load_image(p))[0].landmarks)[0].yaw) for p in TURNED_PHOTOS]
    if abs(yaws[0] - yaws[1]) < 4:
        pytest.skip(f"the two photos' faces are turned alike (|yaw| {yaws})")
    limit = round(float(np.mean(yaws)), 1)
    job = PhotoJob(**base, paste="crop", max_yaw=limit)
    tasks, problems = collect([str(p) for p in TURNED_PHOTOS], job)
    s = run_photo_job(job, tasks, str(tmp_path / "out"), InlineEngine(), problems=problems, quiet=True)
    assert (s.ok, s.skipped, s.errors) == (1, 1, 0)
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    recs = {Path(r["input"]).name: r for r in map(json.loads, lines)}
    turned = TURNED_PHOTOS[int(np.argmax(yaws))].name
    assert recs[turned]["status"] == "skip" and recs[turned]["reason"].startswith("face 0: yaw ")
    assert recs[turned]["reason"].endswith(f"{limit:g}°") and "invert" not in recs[turned]["seconds"]
    assert [r["status"] for n, r in recs.items() if n != turned] == ["ok"]


# ---------------------------------------------------------------------------------------------- local pool
def test_local_pool_survives_crashes_retries_and_timeouts(tmp_path):
    marks = str(tmp_path)
    pool = LocalPool(workers=2, retries=1, timeout_s=3.0)
    pulled = []

    def tasks():
        for i in range(8):
            pulled.append(i)
            yield i

    results = {}
    for out in pool.map(functools.partial(H.Square, marks, die_on=3, raise_on=5, sleep_on=6, sleep_s=30), tasks()):
        if not results:
            assert len(pulled) <= 2  # backpressure: one task a worker, the rest not even read yet
        results[out.task] = out
    assert sorted(results) == list(range(8))
    assert all(results[i].value == i * i and results[i].error is None for i in (0, 1, 2, 4, 7))
    assert results[3].value == 9 and results[3].attempts == 2  # killed once (SIGKILL), done on the retry
    assert results[5].error == "ValueError: bad task 5" and results[5].attempts == 1  # its own error: no retry
    assert results[6].value is None and "timed out after 3 s (tried 2 times)" in results[6].error
    # a task that kills every worker gives up after the retries, with the reason
    out = list(LocalPool(workers=1, retries=2).map(functools.partial(H.Square, marks, die_on=11, always=True), [11, 2]))
    by = {o.task: o for o in out}
    assert by[2].value == 4 and "SIGKILL" in by[11].error and by[11].attempts == 3
    # a worker that cannot start stops the job with one line
    with pytest.raises(FaceEditError, match="could not start: RuntimeError: weights missing"):
        list(LocalPool(workers=2).map(H.Broken, [1, 2]))


def test_cli_batch_two_local_workers(faces, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["batch", str(faces), "-o", str(out), "--edit", "smiling=1.5", "--method", "encoder", "--aligned",
            "--workers", "2", "--quiet", "--format", "jpg"]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert f"skip: {faces / 'broken.png'}: " in cap.err and "4 photo(s) done, 1 skipped (0 errors)" in cap.out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        "face0.jpg", "face1.jpg", "face2.jpg", "sub/face3.jpg"]
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 6 and sum(",ok," in r for r in rows) == 4
    assert main(args) == 2 and "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0 and "5 done before" in capsys.readouterr().out
    assert main(["batch", str(faces / "broken.png"), "-o", str(tmp_path / "x"), "--workers", "1", "--aligned",
                 "--method", "encoder", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: no photo was edited")
    assert main(["batch", str(faces), "-o", str(tmp_path / "y"), "--edit", "smiling"]) == 2
    assert main(["batch", str(faces), "-o", str(tmp_path / "y"), "--workers", "0"]) == 2
    assert main(["batch", str(faces), "-o", str(tmp_path / "y"), "--timeout", "nan"]) == 2


# ---------------------------------------------------------------------------------------------- seeds
def test_generate_count_matches_generate_seeds_and_resumes(tmp_path, monkeypatch, capsys):
    from faceedit.batch import seeds as S
    from faceedit.latents import load_latents

    monkeypatch.setattr(S, "SHARD_SEEDS", 3)
    monkeypatch.setattr(S.seed_shards, "__defaults__", (3,))
    out = tmp_path / "g"
    job = GenerateJob(format="png")
    s = run_generate_job(job, 998, 7, str(out), InlineEngine(), quiet=True)
    assert (s.total, s.ok) == (3, 3)
    assert main(["generate", "--seeds", "999,1004", "-o", str(tmp_path / "ref"), "--format", "png"]) == 0
    for seed in (999, 1004):
        a = np.asarray(Image.open(out / S.image_name(seed, "png")))
        assert_same_drawing(a, np.asarray(Image.open(tmp_path / "ref" / f"seed{seed:04d}.png")))
    assert (out / "000000" / "seed0000999.png").is_file() and (out / "000001" / "seed0001004.png").is_file()
    ws, _ = load_latents(out / "latents" / "seeds0001001-0001003.npz")
    with np.load(out / "latents" / "seeds0001001-0001003.npz") as z:
        assert ws.shape[0] == 3 and list(z["seeds"]) == [1001, 1002, 1003]
    # a kill loses the shard in flight: its latents file (the done mark) is missing; resume redoes it only
    (out / "latents" / "seeds0001001-0001003.npz").unlink()
    engine = InlineEngine()
    s = run_generate_job(job, 998, 7, str(out), engine, resume=True, quiet=True)
    assert (s.ok, s.done_before) == (1, 2)
    assert main(["generate", "--count", "2", "-o", str(tmp_path / "c"), "--grid", str(tmp_path / "g.png")]) == 2
    assert main(["generate", "--workers", "2"]) == 2
    assert main(["generate", "--count", "0", "-o", str(tmp_path / "c")]) == 2


def test_sharded_sampling_does_not_depend_on_the_workers(monkeypatch):
    from faceedit.batch import SampleJob, sample_scores_sharded

    job = SampleJob(seed=5, batch=16, mixing=True, scorer=H.mean_pixel_scorer)
    a = sample_scores_sharded(job, 70, InlineEngine(), chunk=32)
    b = sample_scores_sharded(job, 70, InlineEngine(reverse=True), chunk=32)  # chunks finish in another order
    assert a.z.shape == (70, a.z.shape[1]) and a.scores.shape == (70, 3) and a.ws.shape[0] == 70
    assert np.array_equal(a.z, b.z) and np.array_equal(a.scores, b.scores) and np.array_equal(a.ws, b.ws)
    assert not np.array_equal(a.z[:32], a.z[32:64])  # chunks draw different latents
    c = sample_scores_sharded(SampleJob(seed=6, batch=16, scorer=H.mean_pixel_scorer), 70, InlineEngine(), chunk=32)
    assert not np.array_equal(a.z, c.z) and c.ws is None


# ---------------------------------------------------------------------------------------------- Ray
def test_ray_local_instance_retries_and_writes_to_a_file_uri(faces, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'faceedit[batch]')")
    from faceedit.batch import RayPool

    # Ray's worker processes inherit the driver's environment: let them import this folder's helpers
    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p))

    pool = RayPool("local", workers=2, retries=1, local_cpus=2)
    try:
        outs = {o.task: o for o in pool.map(functools.partial(H.Square, str(tmp_path), die_on=3), range(6))}
        assert {t: o.value for t, o in outs.items()} == {i: i * i for i in range(6)}
        # one retry in all: task 3's worker died once. Which task is charged with it can be task 3 or the one
        # before it on the same actor (Ray may lose that result with the actor), never a lost task or a third try
        assert sum(o.attempts for o in outs.values()) == 7 and pool.workers == 2
        assert (tmp_path / "died-3").exists()
        # the photo job on 2 Ray actors into a file:// URI equals the same job in this process
        job = PhotoJob(edits=(("smiling", 2.0),), **FAST)
        tasks, _ = collect([str(faces / "face*.png")], job)
        s = run_photo_job(job, tasks, (tmp_path / "ray").as_uri(), pool, quiet=True)
        assert (s.ok, s.skipped) == (3, 0) and s.workers == "2 Ray workers"
        workers = {json.loads(ln)["worker"] for ln in (tmp_path / "ray" / "results.jsonl").read_text().splitlines()}
        assert all(w.split(":")[1] != str(os.getpid()) for w in workers)
        run_photo_job(job, collect([str(faces / "face*.png")], job)[0], str(tmp_path / "here"), InlineEngine(),
                      quiet=True)
        for name in ("face0.png", "face1.png", "face2.png"):
            assert np.array_equal(np.asarray(Image.open(tmp_path / "ray" / name)),
                                  np.asarray(Image.open(tmp_path / "here" / name)))
    finally:
        pool.close()
    import ray

    assert not ray.is_initialized()
