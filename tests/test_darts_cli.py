"""``nasforge darts``, ``train-genotype`` and ``viz`` end to end on a tiny MNIST written in the real IDX format."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from nasforge.cli.main import main
from nasforge.oneshot.search import SearchConfig, search
from nasforge.spaces.darts import MNIST_OPS, Genotype

TINY = ["--batch-size", "16", "--C", "4", "--threads", "1"]


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory) -> Path:
    """MNIST-format files: 128 train / 40 test digits whose class is drawn as a bright row (learnable)."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 128), ("t10k", 40)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c : 4 + 2 * c, 4:24] = 255
        _write_idx(root / "mnist" / f"{split}-images-idx3-ubyte.gz", images, 2051)
        _write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte.gz", labels, 2049)
    return root


@pytest.fixture(scope="module")
def search_logs(tiny_mnist, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "logs"
    code = main(
        [
            "darts",
            "--space",
            "darts-mnist",
            "--dataset",
            "mnist",
            "--epochs",
            "2",
            "--out",
            str(out),
            "--data-dir",
            str(tiny_mnist),
            "--json",
            *TINY,
        ]
    )
    assert code == 0
    return out


def test_search_writes_the_log_directory(search_logs, capsys):
    records = [json.loads(line) for line in (search_logs / "search.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert set(r["alphas"]) == {"alpha_normal", "alpha_reduce"}
        for rows in r["alphas"].values():
            assert len(rows) == 3 and all(len(row) == len(MNIST_OPS) for row in rows)
            assert all(abs(sum(row) - 1) < 1e-5 for row in rows)  # softmax rows
        assert 0 <= r["valid_acc"] <= 100 and r["train_loss"] > 0
    doc = json.loads((search_logs / "genotype.json").read_text())
    genotype = Genotype.from_dict(doc["genotype"])
    assert str(genotype) == records[-1]["genotype"] == doc["printable"]
    genotype.check_space("darts-mnist")
    assert "epoch 2/2" in (search_logs / "search.log").read_text()
    # α moved during the second epoch's α steps (4 Adam steps of lr 3e-4 shift α by up to ~1e-3).
    first, last = (np.array(r["alphas"]["alpha_normal"]) for r in records)
    assert np.abs(first - last).max() > 1e-5
    # The sheet's two files: its log lines and the genotype's printed form.
    assert (search_logs / "architecture").read_text() == doc["printable"]
    sheet_log = (search_logs / "log.txt").read_text().splitlines()
    assert re.fullmatch(r"\d\d/\d\d \d\d:\d\d:\d\d [AP]M param size = 0\.\d{6}MB", sheet_log[1])
    for epoch, r in enumerate(records, start=1):
        assert any(line.endswith(f"Starting epoch {epoch}/2") for line in sheet_log)
        assert any(line.endswith(f"train_acc {r['train_acc']:f}") for line in sheet_log)
        assert any(line.endswith(f"valid_acc {r['valid_acc']:f}") for line in sheet_log)
    assert sheet_log[-1].endswith(f"genotype = {doc['printable']}")


def test_resume_continues_an_interrupted_search_to_the_same_result(tiny_mnist, search_logs, tmp_path):
    from nasforge.data import load_dataset

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    config = SearchConfig(epochs=2, batch_size=16, C=4)
    with pytest.raises(Stop):
        search(config, load_dataset("mnist", "train", tiny_mnist), out_dir=tmp_path, progress=False, on_epoch=stop)
    assert len((tmp_path / "search.jsonl").read_text().splitlines()) == 1
    code = main(
        ["darts", "--epochs", "2", "--out", str(tmp_path), "--data-dir", str(tiny_mnist), "--resume", "--json", *TINY]
    )
    assert code == 0
    resumed = [json.loads(line) for line in (tmp_path / "search.jsonl").read_text().splitlines()]
    full = [json.loads(line) for line in (search_logs / "search.jsonl").read_text().splitlines()]
    assert [r["genotype"] for r in resumed] == [r["genotype"] for r in full]
    for a, b in zip(resumed, full, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["valid_acc"] == pytest.approx(b["valid_acc"], abs=1e-6)


def test_resume_into_another_configuration_is_one_line_exit_2(tiny_mnist, search_logs, tmp_path, capsys):
    run = tmp_path / "logs"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes((search_logs / "checkpoint.pt").read_bytes())
    code = main(
        ["darts", "--epochs", "2", "--out", str(run), "--data-dir", str(tiny_mnist), "--resume", "--seed", "7", *TINY]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "another configuration" in err and "seed 2 -> 7" in err  # darts-mnist: the sheet's seed 2


def test_an_occupied_out_dir_needs_resume_or_force(tiny_mnist, search_logs, tmp_path, capsys):
    run = tmp_path / "logs"
    run.mkdir()
    for name in ("checkpoint.pt", "search.jsonl", "genotype.json", "search.log"):
        (run / name).write_bytes((search_logs / name).read_bytes())
    (run / "notes.txt").write_text("mine")
    base = ["darts", "--epochs", "1", "--out", str(run), "--data-dir", str(tiny_mnist), *TINY]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a one-shot search" in err and "--resume" in err
    assert (run / "search.jsonl").read_bytes() == (search_logs / "search.jsonl").read_bytes()  # untouched
    assert main([*base, "--resume", "--force"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main([*base, "--force", "--json"]) == 0
    assert len((run / "search.jsonl").read_text().splitlines()) == 1  # the 1-epoch search replaced the 2-epoch one
    assert "epoch 2/2" not in (run / "search.log").read_text()
    assert (run / "notes.txt").read_text() == "mine"  # only the search's own files are replaced


def test_a_run_killed_before_its_first_checkpoint_points_to_force_only(tiny_mnist, tmp_path, capsys):
    # What a darts run killed during its first epoch leaves: no checkpoint.pt, so --resume cannot continue it.
    run = tmp_path / "logs"
    run.mkdir()
    (run / "log.txt").write_text("")
    (run / "search.log").write_text("")
    (run / "nasforge-run.json").write_text(json.dumps({"run": "one-shot search", "settings": {}}))
    (run / ".nasforge.lock").write_text("999999\n")  # stale: its process is gone
    base = ["darts", "--epochs", "1", "--out", str(run), "--data-dir", str(tiny_mnist), *TINY]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a one-shot search" in err
    assert "no checkpoint.pt" in err and "--force" in err and "--resume" not in err
    assert main([*base, "--resume"]) == 2  # and --resume, for its part, names --force too
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing to resume" in err and "--force" in err


def test_resume_without_a_checkpoint_is_one_line_exit_2(tiny_mnist, tmp_path, capsys):
    assert main(["darts", "--out", str(tmp_path), "--data-dir", str(tiny_mnist), "--resume", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing to resume" in err


def test_train_genotype_trains_the_discrete_network(search_logs, tiny_mnist, tmp_path, capsys):
    code = main(
        [
            "train-genotype",
            str(search_logs),
            "--dataset",
            "mnist",
            "--epochs",
            "1",
            "--data-dir",
            str(tiny_mnist),
            "--out",
            str(tmp_path),
            "--json",
            "--C",
            "4",
            "--threads",
            "1",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["test_size"] == 40 and 0 <= payload["test_acc"] <= 100
    assert payload["genotype"] == json.loads((search_logs / "genotype.json").read_text())["printable"]


def test_viz_writes_valid_pdfs_and_pngs(search_logs, tmp_path):
    assert main(["viz", "genotype", str(search_logs), "-o", str(tmp_path)]) == 0
    assert main(["viz", "alphas", str(search_logs), "-o", str(tmp_path)]) == 0
    for name in ("normal", "reduction", "alphas_normal", "alphas_reduce"):
        pdf = (tmp_path / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 1000
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_viz_alphas_draws_a_search_without_its_genotype_json(search_logs, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("search.jsonl", "nasforge-run.json"):  # a search whose genotype.json is not there
        (run / name).write_bytes((search_logs / name).read_bytes())
    assert main(["viz", "alphas", str(run), "-o", str(tmp_path / "figs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 2
    assert (tmp_path / "figs" / "alphas_normal.png").read_bytes().startswith(b"\x89PNG")
    (run / "nasforge-run.json").unlink()  # nothing left to name the space: one line naming the right command
    assert main(["viz", "alphas", str(run), "-o", str(tmp_path / "figs2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "genotype.json" in err and "nasforge oneshot" in err
    (run / "search.jsonl").unlink()
    (run / "search.log").write_text("")  # a search killed in its first epoch
    assert main(["viz", "alphas", str(run), "-o", str(tmp_path / "figs2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not finished an epoch" in err and not (tmp_path / "figs2").exists()


def test_the_readme_main_job_with_default_channels_draws_and_retrains(tiny_mnist, tmp_path, capsys):
    # README's main job leaves --C at the space's default, which genotype.json records as null.
    logs = tmp_path / "logs"
    argv = ["darts", "--space", "darts-mnist", "--epochs", "1", "--batch-size", "16", "--threads", "1"]
    assert main([*argv, "--out", str(logs), "--data-dir", str(tiny_mnist)]) == 0
    assert json.loads((logs / "genotype.json").read_text())["C"] is None
    assert main(["viz", "genotype", str(logs), "-o", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "normal.pdf").read_bytes().startswith(b"%PDF-")
    retrain = ["train-genotype", str(logs), "--epochs", "1", "--batch-size", "16", "--C", "4", "--fraction", "0.5"]
    assert main([*retrain, "--out", str(tmp_path / "retrain"), "--data-dir", str(tiny_mnist), "--json"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["darts", "--space", "enas"], "invalid choice: 'enas'"),
        (["darts", "--dataset", "svhn"], "--dataset svhn: no such dataset or path"),
        (["darts", "--space", "darts-mnist", "--dataset", "cifar10"], "built for 28x28 grey digits"),
        (["darts", "--lr-schedule", "step"], "invalid choice: 'step'"),
        (["darts", "--space", "nb201", "--stem-multiplier", "0"], "NB201's stem is fixed"),
        (["train-genotype", "NOPE"], "not found"),
        (["viz", "alphas", "NOPE"], "not found"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out is ./logs, which README's main job leaves in the checkout
    with pytest.raises(SystemExit) if "invalid choice" in message else _no_raise():
        code = main([a.replace("NOPE", str(tmp_path / "missing")) for a in argv])
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"space": "darts-mnist"}', "lacks the field 'genotype'"),
        ('{"space": "warp"}', "names no known space"),
        (
            json.dumps(
                {
                    "space": "darts-mnist",
                    "genotype": {
                        "normal": [["sep_conv_3x3", 0], ["conv_3x3", 0], ["conv_3x3", 1]],
                        "normal_concat": [1, 2],
                        "reduce": [["conv_3x3", 0], ["conv_3x3", 0], ["conv_3x3", 1]],
                        "reduce_concat": [1, 2],
                    },
                }
            ),
            "not in the darts-mnist space",
        ),
        (
            json.dumps(
                {
                    "space": "darts",
                    "genotype": {
                        "normal": [["skip_connect", 0], ["skip_connect", 0], ["skip_connect", 1]],
                        "normal_concat": [1, 2],
                        "reduce": [["skip_connect", 0], ["skip_connect", 0], ["skip_connect", 1]],
                        "reduce_concat": [1, 2],
                    },
                }
            ),
            "darts cells have 2 and 4",
        ),
        (
            json.dumps({"space": "darts-mnist", "stem_multiplier": "x", "genotype": {}}),
            "'stem_multiplier' is 'x', expected an integer >= 0 or null",
        ),
        (
            json.dumps({"space": "darts-mnist", "stem_multiplier": False, "genotype": {}}),
            "'stem_multiplier' is 'False', expected an integer >= 0 or null",
        ),
    ],
)
def test_corrupted_or_mismatched_genotype_file_is_one_line_exit_2(content, message, tmp_path, capsys):
    (tmp_path / "genotype.json").write_text(content)
    for argv in (["train-genotype", str(tmp_path)], ["viz", "genotype", str(tmp_path), "-o", str(tmp_path / "f")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "f").exists() and not (tmp_path / "retrain").exists()  # nothing half-written


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "argv, message",
    [(["--grad-clip", "-1"], "'-1' is outside [0, 1e+06]"), (["--stem-multiplier", "-1"], "'-1' is outside 0..16")],
)
def test_bad_protocol_options_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["darts", *argv])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and message in err


# --- the sheet's scripts: examples/darts_mnist/ -------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "darts_mnist"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"darts_mnist_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_train_search_then_visualize(tiny_mnist, tmp_path, capsys):
    logs, figs = tmp_path / "logs", tmp_path / "figs"
    train_search = _script("train_search")
    argv = ["--data", str(tiny_mnist), "--epochs", "1", "--batch_size", "16", "--save", str(logs)]
    assert train_search.main(argv) == 0
    printed = capsys.readouterr().out
    genotype = Genotype.parse((logs / "architecture").read_text())
    assert f"genotype = {genotype}" in printed and "64 images" not in printed  # 128 digits: 64 + 64 halves
    config = json.loads((logs / "search.jsonl").read_text().splitlines()[0])
    assert config["epoch"] == 1
    assert train_search.main(argv) == 2  # a second run does not overwrite the first without --force
    assert "add --force" in capsys.readouterr().err
    assert _script("visualize").main(["--log", str(logs), "--out", str(figs)]) == 0
    for name in ("normal", "reduction"):
        assert (figs / f"{name}.pdf").read_bytes().startswith(b"%PDF-")
    assert _script("visualize").main(["--log", str(tmp_path / "none"), "--out", str(figs)]) == 2


def test_darts_space_with_one_cell_runs_and_keeps_alpha_normal(tiny_mnist, tmp_path, capsys):
    # The input: `darts --space darts --layers 1` (its only cell reduces, so alpha_normal is unused).
    out = tmp_path / "one-cell"
    argv = ["darts", "--space", "darts", "--layers", "1", "--epochs", "1", "--out", str(out),
            "--data-dir", str(tiny_mnist), "--json", *TINY]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    doc = json.loads((out / "genotype.json").read_text())
    assert doc["layers"] == 1 and doc["space"] == "darts"
    # alpha_normal never got a gradient: its softmax is still that of the seeded initial alpha
    from nasforge.oneshot.supernet import build_supernet

    initial = build_supernet("darts", "mnist", C=4, layers=1, seed=0).alpha_weights()
    record = json.loads((out / "search.jsonl").read_text().splitlines()[-1])
    np.testing.assert_allclose(record["alphas"]["alpha_normal"], initial["alpha_normal"], rtol=1e-6)
    assert not np.allclose(record["alphas"]["alpha_reduce"], initial["alpha_reduce"], rtol=1e-6, atol=0)


def test_example_scripts_refuse_an_unwritable_place_in_one_line(tiny_mnist, tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    argv = ["--data", str(tiny_mnist), "--epochs", "1", "--batch_size", "16", "--save", str(tmp_path / "file")]
    assert _script("train_search").main(argv) == 2
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "architecture").write_text(
        "Genotype(normal=[('conv_3x3', 0), ('max_pool_3x3', 1), ('conv_3x3', 0)], normal_concat=range(1, 3), "
        "reduce=[('conv_3x3', 0), ('conv_3x3', 1), ('skip_connect', 0)], reduce_concat=range(1, 3))"
    )
    assert _script("visualize").main(["--log", str(tmp_path / "logs"), "--out", str(tmp_path / "file" / "f")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(": error: " in line and "choose another place" in line for line in err), err
    assert (tmp_path / "file").read_text() == "mine"
