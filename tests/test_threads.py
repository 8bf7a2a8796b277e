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


class _FakeMachine:
    """/proc/stat, this process's CPU time and the clock of a 2-core machine, advanced by hand."""

    def __init__(self):
        self.busy = self.total = 0
        self.own = self.t = 0.0

    def run(self, seconds: float, others: float, mine: float, cores: int = 2, hz: int = 100):
        self.total += int(cores * seconds * hz)
        self.busy += int((others + mine) * seconds * hz)
        self.own += mine * seconds
        self.t += seconds


def test_spare_cores_follow_the_other_processes():
    from faceedit.threads import SpareCores

    m = _FakeMachine()
    spare = SpareCores(2, cores=2, read_stat=lambda: (m.busy, m.total), own_cpu=lambda: m.own, clock=lambda: m.t)
    m.run(30, others=0.0, mine=2.0)         # we had both cores: nobody else wants them
    assert spare.others() == pytest.approx(0.0, abs=0.01)
    m.run(30, others=1.0, mine=1.0)         # a test run took one core
    assert spare.threads() == 1
    m.run(30, others=0.1, mine=1.0)         # it ended (a little background noise left)
    assert spare.threads() == 2
    m.run(30, others=2.0, mine=0.05)        # both cores busy elsewhere: still one thread, never zero
    assert spare.threads() == 1
    assert SpareCores(1, cores=2, read_stat=lambda: (m.busy, m.total)).threads() == 1  # the limit holds
    unknown = SpareCores(2, cores=2, read_stat=lambda: None)
    assert unknown.others() is None and unknown.threads() == 2  # no /proc/stat: the limit


def test_spare_cores_read_this_machine():
    from faceedit.threads import SpareCores, _read_proc_stat

    if _read_proc_stat() is None:
        pytest.skip("no /proc/stat here")
    spare = SpareCores(2)
    busy, total = _read_proc_stat()
    assert 0 <= busy <= total and 1 <= spare.threads() <= 2
