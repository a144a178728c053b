"""``nasforge bench ...``: imports that merge, --json output, and one-line errors with exit 2 and no store."""

from __future__ import annotations

import json
import os
import pickle

import pytest
from _benchmark_fixtures import CSV_ARCHS, NATS_INDEX, CodeRunner, csv_cell, nats_acc, write_nats_file, write_nb201_csv
from _cli import run


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NASFORGE_STORE", raising=False)
    monkeypatch.delenv("NASFORGE_DATA", raising=False)


@pytest.fixture
def store(tmp_path, capsys):
    out = tmp_path / "store"
    assert (
        run(capsys, "bench", "import", "nb201-csv", str(write_nb201_csv(tmp_path / "t.csv.gz")), "-o", str(out))[0] == 0
    )
    (tmp_path / "nats").mkdir()
    write_nats_file(tmp_path / "nats")
    assert run(capsys, "bench", "import", "nats", str(tmp_path / "nats"), "-o", str(out), "--merge")[0] == 0
    return out


def test_import_merge_then_query_json(store, capsys):
    code, out, _ = run(capsys, "bench", "query", str(CSV_ARCHS[2]), "--dataset", "cifar100", "--metric", "test_acc",
                       "--store", str(store), "--json")  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    assert payload["value"] == float(csv_cell(2, "c100_test_acc_200")) and payload["index"] == CSV_ARCHS[2]
    argv = ["bench", "query", str(NATS_INDEX), "--dataset", "cifar10-valid", "--metric", "valid_acc"]
    code, out, _ = run(
        capsys, *argv, "--epoch", "5", "--seed", "888", "--cost-epochs", "12", "--store", str(store), "--json"
    )
    payload = json.loads(out)
    assert payload["value"] == nats_acc("cifar10-valid", "x-valid", 888, 5) and payload["train_cost_s"] == 12 * 7.5


def test_info_lists_datasets_coverage_and_provenance(store, capsys):
    code, out, _ = run(capsys, "bench", "info", "--store", str(store), "--json", "--verify")
    info = json.loads(out)
    assert code == 0 and list(info["datasets"]) == ["cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"]
    assert info["datasets"]["cifar10-valid"]["valid_acc"]["curves"] == 1
    assert info["datasets"]["cifar10-valid"]["valid_acc"]["final"] == len(set(CSV_ARCHS) | {NATS_INDEX})
    assert [p["importer"] for p in info["provenance"]] == ["nb201-csv", "nats"]
    code, out, _ = run(capsys, "bench", "info", "--store", str(store))
    assert code == 0 and "curves 1 x 200 epochs" in out


def test_curves_and_plots_write_images(store, tmp_path, capsys):
    png = tmp_path / "c.png"
    code, out, _ = run(capsys, "bench", "curves", str(NATS_INDEX), "-o", str(png), "--store", str(store), "--json")
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(out)["curves"]["valid_acc"]["seeds"] == [777, 888, 999]
    code, out, _ = run(capsys, "bench", "plot", "pareto", "--dataset", "cifar100", "--cost", "params",
                       "-o", str(tmp_path / "p.png"), "--store", str(store), "--json")  # fmt: skip
    # NATS arch 11: params 0.25, test 46.79; CSV rows r: params 100 r + 28.25, test 100 r + 20.25. So arch 11
    # is cheapest and beats row 0; rows 1 and 2 each beat everything cheaper.
    front = [p["index"] for p in json.loads(out)["front"]]
    assert code == 0 and front == [NATS_INDEX, CSV_ARCHS[1], CSV_ARCHS[2]]
    code, out, _ = run(capsys, "bench", "plot", "rank-12-200", "--dataset", "cifar100", "-o",
                       str(tmp_path / "r.png"), "--store", str(store), "--json")  # fmt: skip
    # valid_acc_12ep vs valid_acc on cifar100: rows 0..2 (32.25/19.25, 132.25/119.25, 232.25/219.25) and arch 11
    # (24.211/43.788): arch 11 and row 0 swap ranks, the rest agree -> rho = 1 - 6*(1+1)/(4*15) = 0.8.
    assert code == 0 and json.loads(out)["spearman"] == pytest.approx(0.8)


@pytest.mark.parametrize("kind", ["nb201-csv", "naslib-pickle", "nats", "latency"])
@pytest.mark.parametrize("content", ["random", "truncated", "code"])
def test_bad_files_give_one_line_exit_2_and_no_store(tmp_path, capsys, kind, content):
    path = tmp_path / ("000001.pickle.pbz2" if kind == "nats" else "bad.file")
    if content == "random":
        path.write_bytes(os.urandom(4096))
    elif content == "truncated":
        path.write_bytes(write_nb201_csv(tmp_path / "t.csv.gz").read_bytes()[:300])
    else:
        path.write_bytes(pickle.dumps(CodeRunner(tmp_path / "pwned")))
    code, out, err = run(capsys, "bench", "import", kind, str(path), "-o", str(tmp_path / "store"))
    assert code == 2 and err.startswith("nasforge: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "store").exists() and not (tmp_path / "pwned").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".store")]  # no temp directory left behind


def test_a_failed_merge_keeps_the_old_store(store, tmp_path, capsys):
    before = (store / "manifest.json").read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("arch_str,c10_val_acc_200\n")
    code, _, err = run(capsys, "bench", "import", "nb201-csv", str(bad), "-o", str(store), "--merge")
    assert code == 2 and "no data rows" in err
    assert (store / "manifest.json").read_text() == before


def test_existing_store_needs_merge_or_overwrite(store, tmp_path, capsys):
    code, _, err = run(capsys, "bench", "import", "nb201-csv", str(tmp_path / "t.csv.gz"), "-o", str(store))
    assert code == 2 and "already exists: pass --merge" in err


def test_checksum_failure_via_cli(store, capsys):
    target = store / "columns" / "cifar100" / "test_acc.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    code, _, err = run(capsys, "bench", "info", "--store", str(store), "--verify")
    assert code == 2 and "checksum mismatch in columns/cifar100/test_acc.npy" in err


def test_unknown_metric_and_missing_store(store, tmp_path, capsys):
    code, _, err = run(
        capsys, "bench", "query", "0", "--dataset", "cifar10", "--metric", "valid_acc", "--store", str(store)
    )
    assert code == 2 and "(valid_acc exists on cifar10-valid, cifar100, ImageNet16-120)" in err
    code, _, err = run(capsys, "bench", "info", "--data-dir", str(tmp_path / "nothing"))
    assert code == 2 and "nasforge bench import" in err and err.count("\n") == 1


# --- pack, unpack, upgrade ------------------------------------------------------------------------------------------


def _values(store_path):
    from nasforge.benchmarks import open_store

    store = open_store(store_path)
    # Bytes, so that NaN (not recorded) compares equal to NaN and every value bit for bit.
    return {(ds, m): store.query_many(list(range(15625)), ds, m, missing="nan").tobytes()
            for ds in store.datasets for m in store.metrics(ds) if store.coverage(ds, m)["final"]}  # fmt: skip


def test_pack_and_unpack_give_back_the_same_store(store, tmp_path, capsys):
    packed = tmp_path / "s.tar.xz"
    code, out, _ = run(capsys, "bench", "pack", str(store), "-o", str(packed), "--json")
    assert code == 0 and json.loads(out)["packed_bytes"] == packed.stat().st_size
    assert packed.read_bytes()[:6] == b"\xfd7zXZ\x00"  # the xz magic
    code, _, _ = run(capsys, "bench", "unpack", str(packed), "-o", str(tmp_path / "back"))
    assert code == 0
    assert _values(tmp_path / "back") == _values(store)
    assert (tmp_path / "back" / "manifest.json").read_bytes() == (store / "manifest.json").read_bytes()
    code, _, err = run(capsys, "bench", "unpack", str(packed), "-o", str(tmp_path / "back"))
    assert code == 2 and "already exists; pass --overwrite" in err


def _tar_xz(path, members):
    import io
    import tarfile

    with tarfile.open(path, "w:xz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("damage", ["not listed", "outside", "wrong size", "manifest not first", "missing file"])
def test_unpack_refuses_an_archive_that_does_not_match_its_manifest(store, tmp_path, capsys, damage):
    manifest = (store / "manifest.json").read_bytes()
    files = json.loads(manifest)["files"]
    members = [("manifest.json", manifest)] + [(rel, (store / rel).read_bytes()) for rel in sorted(files)]
    first = sorted(files)[0]
    if damage == "not listed":
        members.append(("extra.npy", b"x"))
    elif damage == "outside":
        members.append(("../evil.npy", b"x"))
    elif damage == "wrong size":
        members[1] = (first, members[1][1] + b"\0")
    elif damage == "manifest not first":
        members = members[1:] + members[:1]
    else:
        members = members[:-1]
    archive = _tar_xz(tmp_path / "bad.tar.xz", members)
    code, _, err = run(capsys, "bench", "unpack", str(archive), "-o", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(archive) in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.npy").exists()


def test_upgrade_rewrites_an_old_store_value_for_value(store, tmp_path, capsys):
    from test_benchmark_store import _write_v2_store

    old = _write_v2_store(tmp_path / "v2")
    before = _values(old)
    code, out, _ = run(capsys, "bench", "upgrade", str(old), "-o", str(tmp_path / "v3"), "--json")
    assert code == 0 and json.loads(out) == {"store": str(tmp_path / "v3"), "old_schema": 2, "schema": 3}
    assert _values(tmp_path / "v3") == before and json.loads((old / "manifest.json").read_text())["schema_version"] == 2
    code, out, _ = run(capsys, "bench", "upgrade", str(old))  # in place
    assert code == 0 and "schema 3 (was 2)" in out and _values(old) == before
    code, out, _ = run(capsys, "bench", "upgrade", str(old))
    assert code == 0 and "already at schema 3" in out


def test_pack_refuses_to_overwrite_a_file_it_did_not_write(store, tmp_path, capsys):
    mine = tmp_path / "mine.tar.xz"
    mine.write_bytes(b"a user's file")
    code, _, err = run(capsys, "bench", "pack", str(store), "-o", str(mine))
    assert code == 2 and "--force" in err and err.count("\n") == 1 and mine.read_bytes() == b"a user's file"
    code, _, err = run(capsys, "bench", "pack", str(store), "-o", str(mine), "--force")  # not a packed store
    assert code == 2 and "not a packed store" in err and mine.read_bytes() == b"a user's file"
    other = _tar_xz(tmp_path / "other.tar.xz", [("notes.txt", b"x")])  # a tar.xz, but not one 'bench pack' wrote
    before = other.read_bytes()
    code, _, err = run(capsys, "bench", "pack", str(store), "-o", str(other), "--force")
    assert code == 2 and "not a packed store" in err and other.read_bytes() == before
    packed = tmp_path / "s.tar.xz"
    assert run(capsys, "bench", "pack", str(store), "-o", str(packed))[0] == 0
    assert run(capsys, "bench", "pack", str(store), "-o", str(packed))[0] == 2
    os.utime(packed, (0, 0))
    assert run(capsys, "bench", "pack", str(store), "-o", str(packed), "--force")[0] == 0
    assert packed.stat().st_mtime > 0
    code, _, err = run(capsys, "bench", "pack", str(store), "-o", str(store / "inside.tar.xz"))
    assert code == 2 and "inside the store" in err and not (store / "inside.tar.xz").exists()


def test_unpack_overwrite_replaces_only_the_stores_own_files(store, tmp_path, capsys):
    packed = tmp_path / "s.tar.xz"
    assert run(capsys, "bench", "pack", str(store), "-o", str(packed))[0] == 0
    back = tmp_path / "back"
    assert run(capsys, "bench", "unpack", str(packed), "-o", str(back))[0] == 0
    (back / "mynotes.txt").write_text("keep me")
    code, _, err = run(capsys, "bench", "unpack", str(packed), "-o", str(back), "--overwrite")
    assert code == 2 and "mynotes.txt" in err and err.count("\n") == 1
    assert (back / "mynotes.txt").read_text() == "keep me" and (back / "manifest.json").is_file()
    (back / "mynotes.txt").unlink()
    (back / "mydir").mkdir()  # an empty directory of the user's is not the store's either
    code, _, err = run(capsys, "bench", "unpack", str(packed), "-o", str(back), "--overwrite")
    assert code == 2 and "mydir" in err and (back / "mydir").is_dir()
    (back / "mydir").rmdir()
    first = sorted(json.loads((back / "manifest.json").read_text())["files"])[0]
    (back / first).unlink()  # a store missing one of its files is still the store's own: replaced whole
    assert run(capsys, "bench", "unpack", str(packed), "-o", str(back), "--overwrite")[0] == 0
    assert _values(back) == _values(store)
    code, _, err = run(capsys, "bench", "unpack", str(store), "-o", str(tmp_path / "x"))
    assert code == 2 and "is a directory, not a packed .tar.xz file" in err and "does not exist" not in err
    assert not (tmp_path / "x").exists()


def test_upgrade_of_a_current_store_writes_nothing_and_checks_it_either_way(store, tmp_path, capsys):
    new = tmp_path / "new"
    code, out, _ = run(capsys, "bench", "upgrade", str(store), "-o", str(new))
    assert code == 0 and f"{store} is already at schema 3; nothing written" in out and not new.exists()
    first = sorted(json.loads((store / "manifest.json").read_text())["files"])[0]
    data = bytearray((store / first).read_bytes())
    data[-1] ^= 0xFF  # same size, wrong sha256
    (store / first).write_bytes(bytes(data))
    code, _, in_place = run(capsys, "bench", "upgrade", str(store))
    assert code == 2 and in_place.count("\n") == 1 and first in in_place
    code, _, elsewhere = run(capsys, "bench", "upgrade", str(store), "-o", str(new))
    assert code == 2 and elsewhere == in_place and not new.exists()
