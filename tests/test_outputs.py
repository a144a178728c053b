"""Where commands write (issue 11, items 1-4 and 9): output locations checked before any work, --force that
removes only the run's own files, the run lock between real processes, resume settings, closed pipes."""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nasforge.cli._outputs import (
    COMPARE_RUN,
    DARTS_RUN,
    RETRAIN_RUN,
    SEARCH_RUN,
    SETTINGS_NAME,
    TRAIN_RUN,
    check_output_dir,
    check_output_file,
)
from nasforge.cli.main import main
from nasforge.errors import ConfigError, StudyError
from nasforge.runlock import LOCK_NAME, RunLock, RunLockedError

REPO = Path(__file__).resolve().parents[1]
TINY_TRAIN = ["0", "--dataset", "mnist", "--epochs", "1", "--fraction", "0.05", "--C", "4", "--N", "1",
              "--eval-size", "100", "--threads", "1"]  # fmt: skip


def _writable(directory: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


@pytest.fixture(scope="module")
def read_only_dir(tmp_path_factory) -> Path:
    """A directory this process really cannot write in: a chmod 0555 one, or (as root, who ignores modes)
    /sys, which is read-only for everyone; skips when neither holds."""
    mine = tmp_path_factory.mktemp("ro")
    mine.chmod(0o555)
    if not _writable(mine):
        return mine
    if Path("/sys").is_dir() and not _writable(Path("/sys")):
        return Path("/sys")
    pytest.skip("no read-only directory available here (root on a system whose /sys is writable)")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nasforge: error:"), (code, err)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err


# --- 1. output locations ----------------------------------------------------------------------------------------


def test_output_checks_name_the_problem(tmp_path, read_only_dir):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(ConfigError, match=r"--out .*/f is a file, not a directory"):
        check_output_dir(tmp_path / "f", "--out")
    with pytest.raises(ConfigError, match=r"--out .*/f/sub lies under .*/f, which is a file"):
        check_output_dir(tmp_path / "f" / "sub", "--out")
    with pytest.raises(ConfigError, match=r"--report .* is a directory; give a file name"):
        check_output_file(tmp_path, "--report")
    with pytest.raises(ConfigError, match=r"-o .*/f/r\.md lies under .*/f, which is a file"):
        check_output_file(tmp_path / "f" / "r.md", "-o")
    with pytest.raises(ConfigError, match="cannot write there"):
        check_output_dir(read_only_dir / "run", "--out")
    with pytest.raises(ConfigError, match="cannot write there"):
        check_output_file(read_only_dir / "r.md", "--report")
    (tmp_path / "dangling").symlink_to(tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"--out .*/dangling/run: .*/dangling is a broken symbolic link"):
        check_output_dir(tmp_path / "dangling" / "run", "--out")
    with pytest.raises(ConfigError, match="file name too long"):
        check_output_dir(tmp_path / ("a" * 300), "--out")
    with pytest.raises(ConfigError, match="file name too long"):
        check_output_file(tmp_path / ("a" * 300 + ".png"), "-o")
    with pytest.raises(ConfigError, match=r"-o .*/x/ names a directory"):
        check_output_file(f"{tmp_path}/x/", "-o")
    assert check_output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "f"]  # checks write nothing, not even a probe


# Each writing command with each kind of bad place. FILE is a file, DIR a directory, RO a read-only directory.
BAD_PLACES = [
    ["search", "--out", "FILE", "--n-iter", "3"],
    ["search", "--out", "FILE/run", "--n-iter", "3"],
    ["search", "--out", "RO/run", "--n-iter", "3"],
    ["compare", "--out", "FILE", "--seeds", "2"],
    ["compare", "--out", "DIR/cmp", "--report", "DIR", "--seeds", "2"],
    ["compare", "--out", "DIR/cmp", "--report", "RO/r.md", "--seeds", "2"],
    ["compare", "--out", "DIR/cmp", "--report", "FILE/r.md", "--seeds", "2"],
    ["darts", "--out", "FILE"],
    ["darts", "--out", "RO/logs"],
    ["train", *TINY_TRAIN, "--out", "RO/t"],
    ["train", *TINY_TRAIN, "--out", "FILE/t"],
    ["train-genotype", "DIR", "--out", "FILE"],
    ["train-genotype", "DIR", "--out", "RO/retrain"],
    ["bench", "import", "nb201-csv", "DIR/x.csv", "-o", "FILE/store"],
    ["bench", "import", "nb201-csv", "DIR/x.csv", "-o", "RO/store"],
    ["bench", "curves", "0", "-o", "DIR"],
    ["bench", "curves", "0", "-o", "RO/c.png"],
    ["bench", "plot", "pareto", "-o", "FILE/p.png"],
    ["bench", "plot", "pareto", "-o", "RO/p.png"],
    ["viz", "genotype", "DIR", "-o", "FILE"],
    ["viz", "alphas", "DIR", "-o", "RO/figs"],
    ["darts", "--out", "LINK/logs"],
    ["train", *TINY_TRAIN, "--out", "DIR/" + "t" * 300],
]


@pytest.mark.parametrize("argv", BAD_PLACES, ids=[" ".join(a) for a in BAD_PLACES])
def test_a_bad_output_place_is_one_line_before_any_work(capsys, tmp_path, read_only_dir, monkeypatch, argv):
    monkeypatch.delenv("NASFORGE_DATA", raising=False)  # no data: any work started would fail differently
    (tmp_path / "FILE").write_text("mine")
    (tmp_path / "DIR").mkdir()
    (tmp_path / "LINK").symlink_to(tmp_path / "absent")
    places = {"FILE": str(tmp_path / "FILE"), "DIR": str(tmp_path / "DIR"), "RO": str(read_only_dir),
              "LINK": str(tmp_path / "LINK")}  # fmt: skip
    argv = [places.get(a.split("/")[0], a.split("/")[0]) + a[len(a.split("/")[0]) :] for a in argv]
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, argv)
    one_line(code, err)
    assert any(w in err for w in ("is a file", "lies under", "is a directory", "cannot write there", "broken symbolic",
                                  "name too long")), err  # fmt: skip
    assert out == "" and snapshot(tmp_path) == before


# --- 2. --force removes only the run's own files ----------------------------------------------------------------


def test_run_kinds_name_the_files_the_library_writes():
    darts = importlib.import_module("nasforge.oneshot.search")
    from nasforge.search.study import DB_FILES
    from nasforge.train.engine import CHECKPOINT_NAME

    assert set(DB_FILES) <= set(SEARCH_RUN.files) and SEARCH_RUN.resume_from == DB_FILES[0]
    assert set(DARTS_RUN.files + DARTS_RUN.companions) == set(darts.OUTPUT_NAMES)
    assert TRAIN_RUN.resume_from == RETRAIN_RUN.resume_from == CHECKPOINT_NAME
    assert COMPARE_RUN.owns("anytime_cifar10_200000s.png") and not COMPARE_RUN.owns("notes.png")
    assert DARTS_RUN.owns(".checkpoint.pt.a1b2c3.tmp") and not DARTS_RUN.owns("checkpoint.pt.bak")


def test_the_docs_name_every_file_a_search_run_writes():
    # optuna.journal is written by the search itself (its live mirror), not only by nasforge dashboard; the pages
    # that list a search's files omitted it. The -wal/-shm files are written "(+ `-wal`, `-shm`)".
    from nasforge.integrations.optuna import MIRROR_NAME

    assert MIRROR_NAME in SEARCH_RUN.files
    root = Path(__file__).resolve().parents[1]
    for page in ("docs/search.md", "docs/run_directories.md"):
        text = (root / page).read_text("utf-8")
        named = text[: text.index("`--force`")] if page == "docs/search.md" else text  # the list before --force
        missing = [f for f in SEARCH_RUN.files if not f.endswith(("-wal", "-shm")) and f"`{f}`" not in named]
        assert not missing, f"{page} does not name {missing}"
    doc = importlib.import_module("nasforge.cli.dashboard").__doc__
    assert "written by this command only" not in doc and "nasforge search" in doc


@pytest.mark.parametrize("command", ["search", "compare", "darts", "train", "train-genotype"])
def test_force_help_lists_the_files_it_removes(capsys, command):
    kind = {"search": SEARCH_RUN, "compare": COMPARE_RUN, "darts": DARTS_RUN, "train": TRAIN_RUN,
            "train-genotype": RETRAIN_RUN}[command]  # fmt: skip
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in kind.files) and "nothing else" in text


def test_train_into_an_existing_run_refuses_and_force_keeps_foreign_files(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("NASFORGE_DATA", raising=False)
    out = tmp_path / "run"
    assert cli(capsys, ["train", *TINY_TRAIN, "--out", str(out)])[0] == 0
    (out / "notes.txt").write_text("my notes")
    (out / "sub").mkdir()
    before = snapshot(out)
    code, _, err = cli(capsys, ["train", *TINY_TRAIN, "--out", str(out)])  # once silently replaced the run
    one_line(code, err, "already holds a training run", "--resume", "--force")
    assert snapshot(out) == before
    code, _, err = cli(capsys, ["train", *TINY_TRAIN, "--out", str(out), "--resume", "--force"])
    one_line(code, err, "contradict")
    assert cli(capsys, ["train", *TINY_TRAIN, "--out", str(out), "--force", "--seed", "1"])[0] == 0
    assert (out / "notes.txt").read_text() == "my notes" and (out / "sub").is_dir()
    assert json.loads((out / SETTINGS_NAME).read_text())["settings"]["--seed"] == 1  # the new run's settings
    assert not (out / LOCK_NAME).exists()


def test_search_force_keeps_foreign_files(capsys, tmp_path, real_data_dir):
    out = tmp_path / "R"
    out.mkdir()
    (out / "notes.md").write_text("mine")  # a directory with the user's files is a fine place for a new search
    base = ["search", "--data-dir", str(real_data_dir), "--out", str(out), "--n-iter", "3", "--json"]
    assert cli(capsys, base)[0] == 0
    code, _, err = cli(capsys, base)
    one_line(code, err, "already holds a search (study.db)", "--resume", "--force")
    code, stdout, _ = cli(capsys, [*base, "--force", "--n-iter", "2"])
    assert code == 0 and json.loads(stdout)["trials"] == 2
    assert (out / "notes.md").read_text() == "mine"
    # the search's own files (its Optuna mirror where the optuna extra is installed) and the user's
    mirror = ["optuna.journal"] if importlib.util.find_spec("optuna") else []
    assert sorted(p.name for p in out.iterdir()) == sorted(["incumbent.png", "notes.md", "params_vs_accuracy.png",
                                                            "study.db", *mirror])  # fmt: skip


def test_import_overwrite_refuses_a_directory_that_is_not_a_store(capsys, tmp_path):
    (tmp_path / "S").mkdir()
    (tmp_path / "S" / "thesis.tex").write_text("precious")
    before = snapshot(tmp_path)
    code, _, err = cli(capsys, ["bench", "import", "nb201-csv", str(tmp_path / "x.csv"), "-o", str(tmp_path / "S"),
                                "--overwrite"])  # fmt: skip
    one_line(code, err, "no nasforge store (manifest.json missing)")
    assert snapshot(tmp_path) == before


# --- 3. the run lock, between real processes --------------------------------------------------------------------

HOLDER = """
import sys, time
from nasforge.runlock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def _hold(directory: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, env=env,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_holder_refuses_others_and_a_killed_one_is_taken_over(tmp_path):
    holder = _hold(tmp_path)
    try:
        with pytest.raises(RunLockedError, match=f"in use by process {holder.pid}") as info:
            RunLock(tmp_path).acquire()
        assert info.value.holder == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # a killed holder cannot clean up: its lock is stale
    with RunLock(tmp_path) as lock:
        assert lock.stale_holder == holder.pid
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--out", "RUN", "--n-iter", "3", "--force"],
        ["compare", "--out", "RUN", "--force"],
        ["darts", "--out", "RUN", "--force"],
        ["train", *TINY_TRAIN, "--out", "RUN", "--force"],
        ["train-genotype", "RUN", "--out", "RUN", "--force"],
    ],
    ids=lambda a: a[0],
)
def test_a_run_directory_in_use_is_refused_naming_the_pid(capsys, tmp_path, argv):
    (tmp_path / "study.db").write_text("a running search's database")  # what the second --force deleted
    holder = _hold(tmp_path)
    try:
        before = snapshot(tmp_path)
        code, _, err = cli(capsys, [str(tmp_path) if a == "RUN" else a for a in argv])
        one_line(code, err, f"in use by process {holder.pid}")
        assert "--force" not in err and snapshot(tmp_path) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_two_nasforge_processes(tmp_path):
    """A real `nasforge train` holds its run; a second `--force` into it is refused; after a kill -9 the
    directory is usable again."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    env.pop("NASFORGE_DATA", None)
    nasforge = [sys.executable, "-m", "nasforge.cli.main"]
    long_run = ["train", *TINY_TRAIN[:4], "1000", *TINY_TRAIN[5:], "--out", str(tmp_path)]
    first = subprocess.Popen([*nasforge, *long_run], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / SETTINGS_NAME).exists():  # written once its data is loaded, under the lock
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = subprocess.run([*nasforge, *long_run, "--force"], env=env, capture_output=True, text=True)
        assert second.returncode == 2 and second.stderr.splitlines() == [
            f"nasforge: error: {tmp_path} is in use by process {first.pid}; wait for it to finish or choose another "
            "directory"
        ]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with RunLock(tmp_path) as lock:
        assert lock.stale_holder == first.pid


# --- 4. resume checks the settings that shape the run -----------------------------------------------------------


def _write_mnist(root: Path) -> None:
    """20 train and 20 test digits in MNIST's IDX format (a data directory other than the embedded default)."""
    (root / "mnist").mkdir(parents=True)
    images = bytes(20 * 28 * 28)
    labels = bytes(i % 10 for i in range(20))
    for prefix in ("train", "t10k"):
        (root / "mnist" / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 2051, 20, 28, 28) + images)
        )
        (root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">II", 2049, 20) + labels)
        )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    data = os.environ.pop("NASFORGE_DATA", None)
    try:
        assert main(["train", *TINY_TRAIN, "--out", str(out)]) == 0
    finally:
        if data is not None:
            os.environ["NASFORGE_DATA"] = data
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--lr", "0.1"], "--lr 0.05 then, 0.1 now"),
        (["--fraction", "0.1"], "--fraction 0.05 then, 0.1 now"),
        (["--eval-size", "50"], "--eval-size 100 then, 50 now"),
        (["--data-dir", "{data}"], 'data "embedded MNIST'),
    ],
)
def test_train_resume_names_a_changed_setting_and_both_values(capsys, tmp_path, monkeypatch, trained_run, change,
                                                              message):  # fmt: skip
    monkeypatch.delenv("NASFORGE_DATA", raising=False)
    _write_mnist(tmp_path / "data")
    before = snapshot(trained_run)
    change = [c.replace("{data}", str(tmp_path / "data")) for c in change]
    code, _, err = cli(capsys, ["train", *TINY_TRAIN, "--out", str(trained_run), "--resume", *change])
    one_line(code, err, "cannot resume", message)
    assert "--force" not in err and snapshot(trained_run) == before


@pytest.mark.parametrize(
    "argv",
    [["darts", "--out", "RUN", "--force"], ["darts", "--out", "RUN", "--resume"],
     ["train-genotype", "RUN", "--out", "RUN", "--force"], ["search", "--n-iter", "1", "--out", "RUN"],
     ["search", "--n-iter", "1", "--out", "RUN", "--force"], ["compare", "--out", "RUN", "--force"]],  # fmt: skip
    ids=lambda a: " ".join(a),
)
def test_another_kind_of_run_is_never_continued_or_replaced(capsys, trained_run, argv):
    # darts and train both write checkpoint.pt: the run record tells whose it is.
    before = snapshot(trained_run)
    code, _, err = cli(capsys, [str(trained_run) if a == "RUN" else a for a in argv])
    one_line(code, err, "holds a training run, not a")
    assert snapshot(trained_run) == before


def test_darts_resume_names_a_changed_fraction(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("NASFORGE_DATA", raising=False)
    base = ["darts", "--epochs", "1", "--batch-size", "32", "--C", "4", "--threads", "1", "--fraction", "0.1",
            "--out", str(tmp_path)]  # fmt: skip
    assert cli(capsys, [*base, "--json"])[0] == 0
    before = snapshot(tmp_path)
    code, _, err = cli(capsys, [*base[:-4], "--fraction", "0.2", "--epochs", "2", *base[-2:], "--resume"])
    one_line(code, err, "--fraction 0.1 then, 0.2 now", "--epochs 1 then, 2 now")
    assert snapshot(tmp_path) == before


def test_resume_of_a_read_only_study_says_read_only_and_never_force(capsys, tmp_path, real_data_dir):
    """A really read-only run (a read-only bind mount, which binds root too), resumed in another process."""
    run = tmp_path / "R"
    assert cli(capsys, ["search", "--data-dir", str(real_data_dir), "--out", str(run), "--n-iter", "3"])[0] == 0
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("unshare -m (a private mount namespace) is not available here")
    resume = f"{sys.executable} -m nasforge.cli.main search --data-dir {real_data_dir} --out {run} --resume"
    script = f"mount --bind {run} {run} && mount -o remount,bind,ro {run} && exec {resume}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env)
    if "mount" in done.stderr and done.returncode != 2:
        pytest.skip(f"cannot make a read-only bind mount here: {done.stderr.strip()}")
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "read-only file system; copy the run somewhere writable" in lines[0] and "--force" not in lines[0]


def test_a_run_that_stops_before_writing_leaves_no_settings(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("NASFORGE_DATA", raising=False)

    def stop(*args, **kwargs):  # noqa: ANN002, ANN003
        raise StudyError("stopped before the first epoch")

    monkeypatch.setattr("nasforge.train.train", stop)
    code, _, err = cli(capsys, ["train", *TINY_TRAIN, "--out", str(tmp_path / "new" / "run")])
    one_line(code, err, "stopped before the first epoch")
    assert not (tmp_path / "new").exists()  # the directories it created are gone again


# --- 9. a closed pipe -------------------------------------------------------------------------------------------


def test_a_closed_stdout_pipe_ends_quietly():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "nasforge.cli.main", "space", "sample", "--n", "5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert proc.stdout.readline()  # `| head -1`: one line read, then the pipe is closed
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 141 and err == b""


# Found by an independent bad-input run: inputs that were accepted (or refused too late) and wrote files.
REFUSED_EARLY = [
    (["search", "--n-iter", "2", "--out", ""], "--out is empty"),
    (["train", *TINY_TRAIN, "--out", ""], "--out is empty"),
    (["darts", "--out", ""], "--out is empty"),
    (["compare", "--seeds", "2", "--out", "cmp", "--report", ""], "--report is empty"),
    (["compare", "--seeds", "2", "--out", "cmp", "--optimizers", "rs,rs"], "names rs more than once"),
    (["compare", "--seeds", "2", "--out", "cmp", "--optimizers", "rs,,rea"], "has an empty item"),
    (["search", "--n-iter", "2", "--out", "run", "--epochs", "3"], "--epochs applies only to --train"),
    (["search", "--n-iter", "2", "--out", "run", "--device", "cpu"], "--device applies only to --train"),
    (["bench", "curves", "0", "-o", "c.xyz"], "cannot write .xyz images"),
    (["bench", "plot", "pareto", "-o", "p.xyz"], "cannot write .xyz images"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSED_EARLY, ids=[" ".join(a) for a, _ in REFUSED_EARLY])
def test_inputs_that_would_write_in_the_wrong_place_are_refused_first(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # an empty --out would be the current directory
    (tmp_path / "notes.md").write_text("mine")
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err, err
    assert out == "" and snapshot(tmp_path) == before


@pytest.mark.parametrize("force", [False, True], ids=["plain", "--force"])
def test_a_users_log_txt_is_neither_claimed_nor_overwritten_by_darts(capsys, tmp_path, force):
    # log.txt and architecture are the sheet's generic names: alone in --out they are the user's.
    (tmp_path / "log.txt").write_text("my notes")
    before = snapshot(tmp_path)
    code, _, err = cli(capsys, ["darts", "--out", str(tmp_path), *(["--force"] if force else [])])
    one_line(code, err, "holds log.txt, which is not a nasforge file")
    assert snapshot(tmp_path) == before
