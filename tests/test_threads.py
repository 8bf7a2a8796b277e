"""The default CPU thread count (faceedit.threads) and the --threads options."""

import subprocess
import sys

import pytest
import torch

from faceedit.threads import ENV, default_threads, set_threads


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.5, 1), (2, 2.0, 1), (2, 7.9, 1),
    (8, 3.0, 5), (8, 0.0, 8), (16, 15.7, 1), (1, 0.0, 1), (4, float("nan"), 4)])
def test_default_is_the_cores_the_load_leaves_free(monkeypatch, cores, load, expected):
    monkeypatch.delenv(ENV, raising=False)
    assert default_threads(cores=cores, load=load) == expected


def test_environment_wins_and_a_bad_value_is_ignored(monkeypatch, capsys):
    monkeypatch.setenv(ENV, "3")
    assert default_threads(cores=2, load=9.0) == 3
    monkeypatch.setenv(ENV, "lots")
    assert default_threads(cores=2, load=9.0) == 1
    assert "ignored" in capsys.readouterr().err


def test_set_threads_sets_torch(monkeypatch):
    n = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(ENV, "2")
        assert set_threads() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(n)


def _cli(*args, env_extra=None):
    import os

    env = dict(os.environ, **(env_extra or {}))
    env.pop(ENV, None)
    env.pop("OMP_NUM_THREADS", None)
    code = ("import sys, torch; from faceedit.cli import main; rc = main(sys.argv[1:]); "
            "print('THREADS', torch.get_num_threads()); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_threads_on_the_root_and_on_edit_and_animate(tmp_path):
    r = _cli("--threads", "1", "generate", "--seeds", "1", "-o", str(tmp_path / "g"))
    assert r.returncode == 0, r.stderr
    assert "THREADS 1" in r.stdout
    r = _cli("edit", "--seed", "1", "--smiling", "1", "--threads", "2", "-o", str(tmp_path / "e.png"))
    assert r.returncode == 0, r.stderr
    assert "THREADS 2" in r.stdout and (tmp_path / "e.png").is_file()
    r = _cli("animate", "--seed", "1", "--attr", "smiling", "--frames", "2", "--threads", "0",
             "-o", str(tmp_path / "a.gif"))
    assert r.returncode != 0 and "--threads" in r.stderr and "Traceback" not in r.stderr
