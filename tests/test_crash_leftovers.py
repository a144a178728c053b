"""Crash leftovers and the store cache: temporaries of killed writes are removed (only a dead writer's), several
processes building one cache never fail, and the cache keeps one store per source."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _benchmark_fixtures import write_nb201_csv

from nasforge._io import _host_tag, atomic_directory, atomic_write_bytes, remove_stale_temps, temp_prefix
from nasforge.benchmarks import load_nb201

ROOT = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)


def test_a_write_killed_midway_leaves_a_temp_that_the_next_write_there_removes(tmp_path):
    # A real process is killed (SIGKILL: no cleanup runs) inside an atomic file write and a store-like directory.
    killed = _run(
        f"""
        import os, signal
        from unittest import mock
        from nasforge._io import atomic_directory, atomic_write_bytes
        with atomic_directory({str(tmp_path / "store")!r}) as tmp:
            (tmp / "big.npy").write_bytes(b"x" * 1000)
            with mock.patch("os.replace", side_effect=lambda *a: os.kill(os.getpid(), signal.SIGKILL)):
                atomic_write_bytes({str(tmp_path / "checkpoint.pt")!r}, b"half")
        """
    )
    assert killed.returncode == -9
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert len(leftovers) == 2 and all(n.startswith((".store.", ".checkpoint.pt.")) for n in leftovers)
    assert not (tmp_path / "store").exists() and not (tmp_path / "checkpoint.pt").exists()
    atomic_write_bytes(tmp_path / "search.log", b"next run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.log"]


def test_only_dead_writers_temps_of_our_own_form_are_removed(tmp_path):
    if _host_tag() == "000000":
        pytest.skip("this host's tag collides with the foreign tag used here")
    dead = tmp_path / f".incumbent.png.{_host_tag()}-{_dead_pid()}-abcd1234.tmp"
    dead_dir = tmp_path / f".nb201-0123abcd-0123456789abcdef.{_host_tag()}-{_dead_pid()}-x_y_z123.tmp"
    live = Path(str(tmp_path / temp_prefix("checkpoint.pt")) + "abcd1234.tmp")  # this (live) process's own
    other_host = tmp_path / f".search.log.000000-{_dead_pid()}-abcd1234.tmp"
    user = [tmp_path / n for n in (".notes.tmp", "draft.tmp", ".x.12-34.tmp", ".my.plan.tmp", "a.abcd1234.tmp")]
    fresh_legacy = tmp_path / ".curves.json.k2j4h5g6.tmp"  # an older nasforge's temp, possibly still being written
    old_legacy = tmp_path / ".study.png.a1b2c3d4.tmp"
    old_user = tmp_path / ".notes.abcdefgh.tmp"  # the same form, but not a name nasforge ever wrote
    for path in (dead, live, other_host, fresh_legacy, old_legacy, old_user, *user):
        path.write_text("x")
    (dead_dir / "scalars").mkdir(parents=True)
    (dead_dir / "scalars" / "a.npy").write_text("x")
    for path in (old_legacy, old_user):
        os.utime(path, (time.time() - 2 * 86400,) * 2)
    assert sorted(remove_stale_temps(tmp_path)) == sorted([dead, dead_dir, old_legacy])
    assert all(p.exists() for p in (live, other_host, fresh_legacy, old_user, *user))


def test_an_overwrite_replaces_a_directory_and_leaves_no_temps(tmp_path):
    target = tmp_path / "store"
    for value in ("1", "2"):
        with atomic_directory(target, overwrite=True) as tmp:
            (tmp / "v").write_text(value)
    assert (target / "v").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == ["store"]
    with pytest.raises(FileExistsError), atomic_directory(target) as tmp:
        (tmp / "v").write_text("3")
    assert (target / "v").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == ["store"]


@pytest.mark.parametrize("leftover", [False, True], ids=["empty cache", "a manifest-less leftover dir"])
def test_concurrent_builds_into_one_cache_all_succeed(data_dir, tmp_path, leftover):
    cache = tmp_path / "cache"
    if leftover:  # a directory with the target's name but no store: every builder overwrites it at once
        from nasforge.benchmarks.nb201 import _cache_key, nb201_sources, source_tag

        key = _cache_key(nb201_sources(data_dir / "nb201"))
        (cache / f"nb201-{source_tag(data_dir / 'nb201')}-{key}").mkdir(parents=True)
    start = time.time() + 3  # all builders start together (after their imports) to race for the same store
    code = f"""
        import time
        from nasforge.benchmarks import load_nb201
        time.sleep(max(0.0, {start} - time.time()))
        store = load_nb201({str(data_dir)!r})
        print(store.path.name, store.query(0, "cifar10", "test_acc"))
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NASFORGE_CACHE": str(cache)}
    env.pop("NASFORGE_STORE", None)
    builders = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    results = [(b.wait(timeout=120), *b.communicate()) for b in builders]
    assert [r[0] for r in results] == [0, 0, 0, 0], "\n".join(r[2][-1500:] for r in results)
    assert len({r[1] for r in results}) == 1  # every builder reads the same store and the same value
    assert [p.name for p in cache.iterdir()] == [results[0][1].split()[0]]  # one store, no temporaries


def test_the_cache_keeps_one_store_per_source_and_never_prunes_an_open_one(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NASFORGE_STORE", raising=False)
    csv_path = data_dir / "nb201" / "nb201_final.csv.gz"
    first = load_nb201(data_dir)
    first.query(0, "cifar10", "test_acc")
    os.utime(csv_path, (time.time() + 10,) * 2)  # the user touched the source: a new store is built
    second = load_nb201(data_dir)
    assert second.path != first.path and first.path.is_dir()  # the first is still open here: kept
    assert first.curve(11, "cifar10-valid", "valid_acc").shape == (200,)  # and still fully readable
    first.close()
    os.utime(csv_path, (time.time() + 20,) * 2)
    third = load_nb201(data_dir)
    kept = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert kept == sorted([second.path.name, third.path.name])  # first pruned; second is still open
    second.close()
    assert load_nb201(data_dir).path == third.path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [third.path.name]
    # another data folder's store is another source: never pruned by this one
    other = tmp_path / "other"
    (other / "nb201").mkdir(parents=True)
    write_nb201_csv(other / "nb201" / "nb201_final.csv.gz")
    assert load_nb201(other).path != third.path and third.path.is_dir()


def test_a_store_open_in_another_process_is_not_pruned(data_dir, tmp_path):
    cache = tmp_path / "cache"
    env = {"NASFORGE_CACHE": str(cache), "NASFORGE_STORE": ""}
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from nasforge.benchmarks import load_nb201
            store = load_nb201({str(data_dir)!r})
            print(store.path, flush=True)
            sys.stdin.readline()  # hold it open until told
            print(store.curve(11, "cifar10-valid", "valid_acc")[0], flush=True)
        """)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    held = Path(reader.stdout.readline().strip())
    os.utime(data_dir / "nb201" / "nb201_final.csv.gz", (time.time() + 10,) * 2)
    newer = _run(f"from nasforge.benchmarks import load_nb201; print(load_nb201({str(data_dir)!r}).path)", env)
    assert newer.returncode == 0 and held.is_dir()
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert float(reader.stdout.readline()) > 0 and reader.wait(timeout=60) == 0
    again = _run(f"from nasforge.benchmarks import load_nb201; print(load_nb201({str(data_dir)!r}).path)", env)
    assert again.returncode == 0 and not held.exists()
