"""Long jobs are never silent: off a terminal, progress is a plain line per trial / epoch on stderr."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _benchmark_fixtures import write_seed_store

from nasforge.cli._common import Progress
from nasforge.cli.main import main

LINE = re.compile(r"^\[\d\d:\d\d:\d\d \+\d+:\d\d:\d\d\] (.+)$")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_update_is_one_line_with_time_count_and_state():
    log = io.StringIO()
    with Progress("rea search", total=3, unit="trials", stream=log) as p:
        p.update(incumbent="90.00")
        p.update(incumbent="91.50")
    lines = log.getvalue().splitlines()
    assert [LINE.match(line).group(1) for line in lines] == [
        "rea search: 1/3 trials; incumbent 90.00",
        "rea search: 2/3 trials; incumbent 91.50",
    ]


def test_min_interval_thins_lines_but_the_last_state_is_always_printed():
    log = io.StringIO()
    with Progress("compare", total=1000, min_interval=3600, stream=log) as p:
        for _ in range(10):
            p.update()
    printed = [LINE.match(line).group(1) for line in log.getvalue().splitlines()]
    assert printed == ["compare: 1/1000", "compare: 10/1000"]  # the first, then the latest on close
    done = io.StringIO()
    with Progress("compare", total=4, min_interval=3600, stream=done) as p:
        for _ in range(4):
            p.update()
    assert [LINE.match(line).group(1) for line in done.getvalue().splitlines()] == ["compare: 1/4", "compare: 4/4"]


def test_on_a_terminal_it_is_a_bar_not_lines():
    tty = Terminal()
    with Progress("rs search", total=2, stream=tty) as p:
        p.update(incumbent="90.00")
        p.update(incumbent="91.00")
    assert "\r" in tty.getvalue() and not LINE.search(tty.getvalue().replace("\r", "\n"))
    quiet = io.StringIO()
    with Progress("rs search", total=2, stream=quiet, enabled=False) as p:
        p.update()
    assert quiet.getvalue() == ""


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory) -> Path:
    return write_seed_store(tmp_path_factory.mktemp("progress"), 5)[0]


@pytest.mark.parametrize("workers", ["1", "2"])  # the sequential loop and the asynchronous one
def test_search_with_stderr_a_pipe_prints_a_line_per_trial(seed_store, tmp_path, workers):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-m", "nasforge.cli.main", "search", "--store", str(seed_store), "--objective",
            "valid_acc", "--n-iter", "5", "--workers", workers, "--out", str(tmp_path / "r"), "--no-plots"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)  # stderr: a pipe
    assert done.returncode == 0, done.stderr
    lines = [LINE.match(line) for line in done.stderr.splitlines()]
    assert all(lines) and len(lines) == 5, done.stderr
    for k, line in enumerate(lines, start=1):
        assert line.group(1).startswith(f"rs search: {k}/5 trials; failed 0, clock ")
    # The incumbent after the last trial: arch k = 4 of the fixture, 5 + 199/10 + 4 = 28.9 (test 99 - 4).
    assert lines[-1].group(1).endswith("incumbent 28.90, test 95.00")
    assert "rs on cifar10 (benchmark): 5 trials" in done.stdout  # the summary stays on stdout


@pytest.mark.slow
def test_darts_with_json_prints_its_epoch_lines_on_stderr(real_data_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    code = main(["darts", "--space", "darts-mnist", "--epochs", "2", "--fraction", "0.002", "--C", "4",
                 "--batch-size", "16", "--threads", "1", "--data-dir", str(real_data_dir), "--out",
                 str(tmp_path / "d"), "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["config"]["epochs"] == 2
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("epoch")] == ["epoch 1", "epoch 2"]
