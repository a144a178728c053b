"""NATS-Bench's size space: the arch value, its optimizer view, the networks, the benchmark importers and a
search on a tiny real-format store; real-data tests check the official meta and per-arch files."""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge.benchmarks import nats_sss as bench
from nasforge.benchmarks._unpickle import safe_load_file
from nasforge.benchmarks.store import open_store
from nasforge.cli.main import main
from nasforge.errors import ArchError, BenchmarkError
from nasforge.optimizers import create_optimizer, get_space
from nasforge.search.study import Study
from nasforge.spaces import nats_sss
from nasforge.spaces.nats_sss import CHANNELS, GENOTYPE, SSSArch, SSSSpaceView
from nasforge.spaces.nats_sss_model import SSSNetwork, cost_table, network_costs

# --- the arch value ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "index"),
    [("8:8:8:8:8", 0), ("8:8:8:8:16", 1), ("8:8:8:16:32", 11), ("8:8:40:32:40", 284), ("64:64:64:64:64", 32767),
     ("16:8:8:8:8", 4096)],  # fmt: skip
)
def test_index_is_the_base8_number_of_the_digits(text: str, index: int) -> None:
    # by hand: 8:8:40:32:40 -> digits 0 0 4 3 4 -> 4*64 + 3*8 + 4 = 284 (NATS's file 000284 holds that arch)
    arch = SSSArch.parse(text)
    assert arch.index == index
    assert SSSArch.from_index(index) == arch == SSSArch.from_any(str(index)) == SSSArch.from_any(text)
    assert str(arch) == text


@pytest.mark.parametrize(
    "bad", ["8:8:8:8", "8:8:8:8:8:8", "8:8:8:8:9", "8:8:8:8:72", "0:8:8:8:8", "a:8:8:8:8", "8,8,8,8,8", "32768", "-1"]
)
def test_bad_archs_name_the_choices(bad: str) -> None:
    with pytest.raises(ArchError) as info:
        SSSArch.from_any(bad)
    message = str(info.value)
    assert "\n" not in message
    assert "0..32767" in message if bad.lstrip("-").isdigit() else "8, 16, 24, 32, 40, 48, 56, 64" in message


def test_channel_values_are_checked() -> None:
    with pytest.raises(ArchError, match="5 layers"):
        SSSArch((8, 8, 8))
    with pytest.raises(ArchError, match="not an sss choice"):
        SSSArch((8, 8, 8, 8, 8.0))  # type: ignore[arg-type]
    with pytest.raises(ArchError, match="not an sss choice"):
        SSSArch((8, 8, 8, 8, True))  # type: ignore[arg-type]


def test_all_archs_and_tables_agree() -> None:
    archs = list(nats_sss.all_archs())
    assert len(archs) == len(set(archs)) == 8**5
    assert [a.index for a in archs[:3]] == [0, 1, 2]
    table = nats_sss.channel_table()
    assert table[284].tolist() == [8, 8, 40, 32, 40]
    assert all(tuple(table[a.index]) == a.channels for a in archs[::997])


def test_neighbors_differ_in_one_layer() -> None:
    arch = SSSArch.parse("8:64:24:32:40")
    neighbors = arch.neighbors()
    assert len(neighbors) == len(set(neighbors)) == 5 * 7
    assert all(sum(a != b for a, b in zip(n.channels, arch.channels)) == 1 for n in neighbors)


def test_config_space_round_trip() -> None:
    space = nats_sss.config_space(seed=1)
    assert sorted(space) == [f"channels_{k}" for k in range(5)]
    for config in space.sample_configuration(5):
        arch = SSSArch.from_config(config)
        assert arch.to_config() == {k: int(v) for k, v in dict(config).items()}
    with pytest.raises(ArchError, match="channels_4"):
        SSSArch.from_config({f"channels_{k}": 8 for k in range(4)})


def test_space_view_protocol() -> None:
    view = get_space("nats-sss")
    assert isinstance(view, SSSSpaceView) and view.size == 32768 and view.choices == (8,) * 5
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = view.sample(rng)
        assert view.decode(view.encode(arch)) == arch
        child = view.mutate(arch, rng)
        assert child in arch.neighbors()
    draws = {view.sample(rng).channels[0] for _ in range(400)}
    assert draws == set(CHANNELS)


# --- the networks ---------------------------------------------------------------------------------------------


def _hand_params(c: tuple[int, ...], classes: int) -> int:
    """NATS's network counted by hand: conv weights, BN affine pairs, the classifier with its bias."""
    def rcb(i: int, o: int, k: int) -> int:
        return i * o * k * k + 2 * o

    def cell(i: int, o: int) -> int:  # 0->1, 0->2 convs from i; 1->2, 1->3, 2->3 convs; 0->3 skip (1x1 + BN if i != o)
        return 2 * rcb(i, o, 3) + 3 * rcb(o, o, 3) + (0 if i == o else i * o + 2 * o)

    def reduction(i: int, o: int) -> int:
        return rcb(i, o, 3) + rcb(o, o, 3) + i * o

    return (3 * c[0] * 9 + 2 * c[0] + cell(c[0], c[0]) + reduction(c[0], c[1]) + cell(c[1], c[2])
            + reduction(c[2], c[3]) + cell(c[3], c[4]) + 2 * c[4] + c[4] * classes + classes)  # fmt: skip


@pytest.mark.parametrize("text", ["8:8:8:8:8", "8:8:8:16:32", "64:8:56:16:24", "64:64:64:64:64"])
def test_params_equal_a_hand_count_and_whole_networks(text: str) -> None:
    arch = SSSArch.parse(text)
    costs = network_costs(arch)
    for dataset, classes, size in (("cifar10", 10, 32), ("cifar100", 100, 32), ("ImageNet16-120", 120, 16)):
        assert costs[dataset].params == _hand_params(arch.channels, classes)
        with torch.device("meta"):
            net = SSSNetwork(arch, classes)
        assert sum(p.numel() for p in net.parameters()) == costs[dataset].params
        assert net.flops(size) == costs[dataset].flops
        params, flops = cost_table(dataset)
        assert (params[arch.index], flops[arch.index]) == (costs[dataset].params, costs[dataset].flops)


def test_flops_of_the_smallest_network_by_hand() -> None:
    # 8:8:8:8:8 on CIFAR-10 (README: NATS stores 4.481114 MFLOPs): stem 3*8*9*32^2, five 8->8 3x3 convs per cell
    # at 32, 16, 8; reductions 2 convs + 1x1 shortcut at 16 and 8; classifier 8*10 + 10.
    conv = 8 * 8 * 9
    expected = (3 * 8 * 9 * 1024 + 5 * conv * (1024 + 256 + 64) + (2 * conv + 64) * (256 + 64) + 90)
    assert network_costs(SSSArch.from_index(0), ("cifar10",))["cifar10"].flops == expected == 4_481_114


def test_network_forward_and_layout() -> None:
    torch.manual_seed(0)
    net = SSSNetwork(SSSArch.parse("8:16:24:32:40"), num_classes=100)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 100)
    keys = net.state_dict()
    # NATS's names: the changed-width skip of cell 2 is a FactorizedReduce (conv + bn), equal widths are identities
    assert "cells.2.layers.3.conv.weight" in keys and "cells.0.layers.3.conv.weight" not in keys
    assert keys["cells.2.layers.0.op.1.weight"].shape == (24, 16, 3, 3)
    assert keys["cells.2.layers.2.op.1.weight"].shape == (24, 24, 3, 3)
    with pytest.raises(ArchError, match="16-channel"):
        net.cells[2](torch.zeros(1, 8, 4, 4))


# --- importers and search on a tiny real-format fixture ---------------------------------------------------------

TABLE_HEADER = "index,arch_str,c10valid_val_acc_90ep_s777,c100_val_acc_90ep_s777,in16_val_acc_90ep_s777"


def fake_acc(index: int, column: int) -> float:
    """The tiny table's accuracy: 40 + total channels / 8 (+10 per column): unimodal, best at 64:64:64:64:64."""
    return 40.0 + sum(SSSArch.from_index(index).channels) / 8 + 10 * column


def write_table(path: Path, indices: range | list[int], *, bad: tuple[int, int, str] | None = None) -> Path:
    lines = [TABLE_HEADER]
    for row, i in enumerate(indices):
        cells = [str(i), str(SSSArch.from_index(i)), *(repr(fake_acc(i, k)) for k in range(3))]
        if bad and bad[0] == row:
            cells[bad[1]] = bad[2]
        lines.append(",".join(cells))
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _record(ds: str, seed: int, epochs: int, arch: SSSArch, splits: tuple[str, ...]) -> dict:
    def acc(e: int, k: int) -> float:
        return 10.0 + e / 2 + k + (seed - 777) / 100

    evals = {f"{s}@{e}": acc(e, k) for k, s in enumerate(splits) for e in range(epochs)}
    return {
        "name": ds, "train_acc1es": {e: acc(e, 5) for e in range(epochs)},
        "train_acc5es": {e: acc(e, 6) for e in range(epochs)},
        "train_losses": {e: 2.0 - e / 100 for e in range(epochs)},
        "train_times": OrderedDict((e, 3.5) for e in range(epochs)),
        "arch_config": {"name": "infer.shape.tiny", "channels": str(arch), "arch_str": str(arch), "genotype": GENOTYPE,
                        "class_num": 10},
        "params": 0.011714, "flop": 4.481114, "seed": f"{seed:04d}", "epochs": epochs, "latency": [0.01, 0.03],
        "eval_names": list(splits), "eval_acc1es": evals, "eval_times": {k: 0.5 for k in evals},
        "eval_losses": {k: 1.0 for k in evals}, "net_state_dict": None,
    }  # fmt: skip


def write_sss_file(directory: Path, index: int = 0, *, arch_index: int | None = None) -> Path:
    """An official-format sss per-arch file: schedules '12' (seeds 777, 888) and '90' (seed 777)."""
    arch = SSSArch.from_index(index)
    data = OrderedDict()
    for hp, seeds in (("12", (777, 888)), ("90", (777,))):
        results = {}
        for seed in seeds:
            results[("cifar10-valid", seed)] = _record("cifar10-valid", seed, int(hp), arch, ("x-valid", "ori-test"))
            results[("cifar100", seed)] = _record("cifar100", seed, int(hp), arch, ("x-valid", "x-test", "ori-test"))
        data[hp] = {"arch_index": index if arch_index is None else arch_index, "arch_str": str(arch),
                    "all_results": results, "dataset_seed": {}, "clear_net_done": True}  # fmt: skip
    path = directory / f"{index:06d}.pickle.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps(data, protocol=4)))
    return path


def test_table_import_names_the_metric_plainly(tmp_path: Path) -> None:
    builder = bench.sss_builder()
    assert bench.import_sss_table(builder, write_table(tmp_path / "t.csv.gz", [0, 284, 32767])) == 3
    builder.write(tmp_path / "store")
    store = open_store(tmp_path / "store")
    assert store.manifest["space"] == "nats-sss" and store.num_archs == 32768
    assert store.query("8:8:40:32:40", "cifar100", "valid_acc_90ep_s777") == fake_acc(284, 1)
    assert store.query(32767, "ImageNet16-120", "valid_acc_90ep_s777", seed=777) == fake_acc(32767, 2)
    with pytest.raises(BenchmarkError, match="valid_acc_90ep_s777"):
        store.query(0, "cifar10-valid", "test_acc")  # no test accuracy: the error names what exists
    with pytest.raises(BenchmarkError, match="not recorded for arch 1"):
        store.query(1, "cifar10-valid", "valid_acc_90ep_s777")


@pytest.mark.parametrize(
    ("bad", "message"),
    [((0, 0, "5"), "not the official index"), ((1, 1, "8:8:8:8:9"), "not an sss choice"),
     ((0, 2, "abc"), "not a number"), ((0, 3, "101.5"), "0..100")],  # fmt: skip
)
def test_table_import_refuses_bad_rows(tmp_path: Path, bad: tuple[int, int, str], message: str) -> None:
    builder = bench.sss_builder()
    with pytest.raises(BenchmarkError, match=message):
        bench.import_sss_table(builder, write_table(tmp_path / "t.csv.gz", [0, 284], bad=bad))
    assert builder.scalars == {}  # nothing partial


def test_official_file_import(tmp_path: Path) -> None:
    path = write_sss_file(tmp_path, 0)
    builder = bench.sss_builder()
    assert bench.import_sss_files(builder, [path]) == [0]
    builder.write(tmp_path / "store")
    store = open_store(tmp_path / "store")
    # x-valid at epoch 89 of seed 777: 10 + 89/2 + 0
    assert store.query(0, "cifar10-valid", "valid_acc_90ep") == 54.5 == store.query(
        0, "cifar10-valid", "valid_acc_90ep_s777")
    assert store.query(0, "cifar10-valid", "test_acc_90ep") == 55.5  # ori-test: split 1
    assert store.query(0, "cifar100", "ori_test_acc_90ep") == 56.5  # ori-test is split 2 there
    assert store.curve(0, "cifar100", "valid_acc_90ep")[:2].tolist() == [10.0, 10.5]
    assert store.seeds(0, "cifar10-valid", "valid_acc_12ep") == [777, 888]
    assert store.query(0, "cifar10-valid", "valid_acc_12ep", seed=888) == 10 + 11 / 2 + 1.11
    assert store.query(0, "cifar100", "train_acc5_90ep") == 10 + 89 / 2 + 6
    assert store.query(0, "cifar100", "train_time_90ep") == 3.5
    assert store.query(0, "cifar100", "valid_eval_time_90ep") == 0.5
    assert store.query(0, "cifar100", "latency") == pytest.approx(0.02)
    assert store.query(0, "cifar100", "params") == 0.011714


def test_official_file_bad_input(tmp_path: Path) -> None:
    path = write_sss_file(tmp_path, 11, arch_index=12)
    with pytest.raises(BenchmarkError, match="does not match"):
        bench.import_sss_files(bench.sss_builder(), [path])
    nb201_store = bench.StoreBuilder()  # an NB201-shaped builder
    with pytest.raises(BenchmarkError, match="nats-sss"):
        bench.import_sss_files(nb201_store, [write_sss_file(tmp_path, 0)])
    meta = tmp_path / "meta.pickle.pbz2"
    archs = [str(a) for a in nats_sss.all_archs()]
    archs[5], archs[6] = archs[6], archs[5]
    meta.write_bytes(bz2.compress(pickle.dumps({"meta_archs": archs, "total_archs": 32768})))
    with pytest.raises(BenchmarkError, match=r"meta_archs\[5\]"):
        bench.import_sss_files(bench.sss_builder(), [meta])


def _pbz2(path: Path, value: object) -> Path:
    path.write_bytes(bz2.compress(pickle.dumps(value)))
    return path


def test_files_that_are_not_sss_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "000001.pickle.pbz2"
    broken.write_bytes(bz2.compress(b"not a pickle"))
    with pytest.raises(BenchmarkError, match="000001.pickle.pbz2"):
        bench.import_sss_files(bench.sss_builder(), [broken])
    tss = tmp_path / "000002.pickle.pbz2"
    tss.write_bytes(bz2.compress(pickle.dumps({"200": {}, "12": {}})))
    with pytest.raises(BenchmarkError, match="tss .topology. file, not an sss file"):
        bench.import_sss_files(bench.sss_builder(), [tss])
    with pytest.raises(BenchmarkError, match="not a NATS-Bench sss file"):
        bench.import_sss_files(bench.sss_builder(), [_pbz2(tmp_path / "3.pickle.pbz2", [1, 2])])
    headless = tmp_path / "t.csv.gz"
    with gzip.open(headless, "wt") as f:
        f.write("index,arch_str,c10valid_val_acc_90ep_s777\n0,8:8:8:8:8,70.0\n")
    with pytest.raises(BenchmarkError, match="missing column.*c100_val_acc_90ep_s777"):
        bench.import_sss_table(bench.sss_builder(), headless)


def test_cli_will_not_mix_sss_into_an_nb201_store(data_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    nb201 = tmp_path / "nb201-store"
    assert run(capsys, "bench", "import", "nb201", "--data-dir", str(data_dir), "-o", str(nb201))[0] == 0
    manifest = (nb201 / "manifest.json").read_bytes()
    code, out, err = run(capsys, "bench", "import", "nats-sss", str(write_table(tmp_path / "t.csv.gz", [0])),
                         "-o", str(nb201), "--merge")  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and "'nb201' store" in err
    assert (nb201 / "manifest.json").read_bytes() == manifest  # nothing written


def test_load_sss_builds_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data" / "nats_sss").mkdir(parents=True)
    write_table(tmp_path / "data" / "nats_sss" / bench.TABLE_NAME, [0, 11])
    first = bench.load_sss(tmp_path / "data", costs=cost_table)
    again = bench.load_sss(tmp_path / "data", costs=cost_table)
    assert first.path == again.path and first.path.parent == tmp_path / "cache"
    assert first.query("8:8:8:16:32", "cifar10-valid", "valid_acc_90ep_s777") == fake_acc(11, 0)
    assert first.query(32767, "cifar10", "params") == _hand_params((64,) * 5, 10) / 1e6  # computed for every arch
    with pytest.raises(BenchmarkError, match="nats_sss"):
        bench.load_sss(tmp_path, costs=cost_table)  # no nats_sss/ there


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every arch in the real table format (hand-made accuracies) plus the computed costs."""
    root = tmp_path_factory.mktemp("sss")
    builder = bench.sss_builder()
    bench.import_sss_costs(builder, cost_table)
    bench.import_sss_table(builder, write_table(root / "t.csv.gz", range(32768)))
    return builder.write(root / "store")


@pytest.mark.parametrize("name", ["rs", "rea", "ls", "tpe"])
def test_search_on_the_tiny_store(tiny_store: Path, name: str) -> None:
    evaluator = bench.SSSBenchmarkEvaluator(open_store(tiny_store), "cifar100")
    study = Study.in_memory({"space": "nats-sss", "optimizer": name})
    outcome = study.optimize(create_optimizer(name, 0, space="nats-sss"), evaluator, n_iter=60)
    assert len(outcome.trials) == 60 and outcome.clock == 60 * bench.TRIAL_COST
    params, _ = cost_table("cifar100")
    for trial in outcome.trials:
        assert trial.result.objective == fake_acc(trial.arch.index, 1)
        assert trial.result.metrics["params"] == params[trial.arch.index] / 1e6
    assert outcome.incumbent.result.objective == max(t.result.objective for t in outcome.trials)


def test_local_search_reaches_the_optimum(tiny_store: Path) -> None:
    # The tiny objective grows with every layer's channels: its one local optimum is 64:64:64:64:64, and first-
    # improvement local search needs at most 35 moves of at most 35 neighbours each to get there.
    evaluator = bench.SSSBenchmarkEvaluator(open_store(tiny_store), "cifar10")
    study = Study.in_memory({"space": "nats-sss", "optimizer": "ls"})
    outcome = study.optimize(create_optimizer("ls", 3, space="nats-sss"), evaluator, n_iter=10 + 35 * 35)
    assert str(outcome.incumbent.arch) == "64:64:64:64:64"
    assert outcome.incumbent.result.objective == 40 + 5 * 64 / 8


def test_evaluator_refuses_what_the_store_lacks(tiny_store: Path) -> None:
    store = open_store(tiny_store)
    with pytest.raises(BenchmarkError, match="no test accuracy"):
        bench.SSSBenchmarkEvaluator(store, "cifar10", objective="test_acc_90ep")
    with pytest.raises(BenchmarkError, match="known: cifar10"):
        bench.SSSBenchmarkEvaluator(store, "cifar10-valid")
    # an NB201 arch's index would silently name another sss arch: refused, naming the fix
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.trial import Request

    with pytest.raises(BenchmarkError, match="space='nats-sss'"):
        bench.SSSBenchmarkEvaluator(store, "cifar10").evaluate(Request(NB201Arch.from_index(7), None))


# --- CLI ----------------------------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("bad", ["8:8:8:8:12", "8:8:8:8", "32768", "8:8:8:8:8:8"])
def test_cli_bad_arch_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = run(capsys, "space", "show", bad, "--space", "nats-sss")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert ("0..32767" if bad == "32768" else "8, 16, 24, 32, 40, 48, 56, 64") in err


def test_cli_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run(capsys, "space", "show", "8:8:40:32:40", "--space", "nats-sss", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["index"] == 284
    assert payload["costs"]["cifar10"]["params"] == _hand_params((8, 8, 40, 32, 40), 10)


def test_cli_verify_and_sample_without_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "space", "verify", "--space", "nats-sss", "--limit", "300", "--data-dir",
                         str(tmp_path), "--json")  # fmt: skip
    payload = json.loads(out)
    assert code == 0, err
    assert payload["ok"] and payload["archs"] == 300 and payload["meta_file"] is None
    assert payload["ranges"]["cifar10"]["params_M"][0] == 0.011714  # 8:8:8:8:8, NATS's file 000000
    code, out, _ = run(capsys, "space", "sample", "--space", "nats-sss", "--n", "4", "--seed", "3", "--json")
    archs = json.loads(out)["archs"]
    rng = np.random.default_rng(3)
    assert [a["index"] for a in archs] == [nats_sss.sample(rng).index for _ in range(4)]


def test_cli_import_and_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = write_table(tmp_path / "t.csv.gz", [0, 284])
    raw = tmp_path / "raw"
    raw.mkdir()
    write_sss_file(raw, 11)
    store = tmp_path / "store"
    code, _, err = run(capsys, "bench", "import", "nats-sss", str(table), str(raw), "-o", str(store))
    assert code == 0, err
    code, out, _ = run(capsys, "bench", "query", "8:8:40:32:40", "--dataset", "cifar10-valid",
                       "--metric", "valid_acc_90ep_s777", "--store", str(store))  # fmt: skip
    assert code == 0 and f"{fake_acc(284, 0):.6g}" in out
    code, out, err = run(capsys, "bench", "query", "284", "--dataset", "cifar10-valid", "--metric", "test_acc",
                         "--store", str(store))  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and "test_acc_90ep" in err
    # the official files alone, through 'import nats' (recognised as sss), merged into the same store
    write_sss_file(raw, 12)
    code, _, err = run(capsys, "bench", "import", "nats", str(raw / "000012.pickle.pbz2"), "-o", str(store), "--merge")
    assert code == 0, err
    assert open_store(store).query(12, "cifar10-valid", "valid_acc_90ep_s777") == 54.5
    assert open_store(store).query(284, "cifar10-valid", "valid_acc_90ep_s777") == fake_acc(284, 0)


# --- real data --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sss_raw(real_data_dir: Path) -> Path:
    raw = real_data_dir / "nats_sss" / "raw"
    if not raw.is_dir():
        pytest.skip(f"{raw} absent: the NATS sss files are needed for this test")
    return raw


def _official(raw: Path, name: str) -> Path:
    return next(raw.glob(f"*{name}.pickle.pbz2"))


def test_index_and_string_for_all_archs_equal_the_meta_file(sss_raw: Path) -> None:
    meta = safe_load_file(_official(sss_raw, "meta"), 1 << 26, what="meta")["meta_archs"]
    assert meta == [str(a) for a in nats_sss.all_archs()]
    assert [SSSArch.parse(s).index for s in meta] == list(range(32768))


@pytest.mark.parametrize("name", ["000000", "000011", "000284"])
def test_params_and_flops_equal_the_official_files(sss_raw: Path, name: str) -> None:
    data = safe_load_file(_official(sss_raw, name), 1 << 26, what="sss")
    for hp, entry in data.items():
        arch = SSSArch.parse(entry["arch_str"])
        assert arch.index == entry["arch_index"] == int(name)
        costs = network_costs(arch)
        datasets = {ds for ds, _ in entry["all_results"]}
        assert datasets == {"cifar10-valid", "cifar10", "cifar100", "ImageNet16-120"}
        for (ds, _), rec in entry["all_results"].items():
            config = rec["arch_config"]
            assert arch.net_config(config["class_num"]) == {
                "name": config["name"], "channels": config["channels"], "genotype": config["genotype"],
                "num_classes": config["class_num"]}  # fmt: skip
            assert costs[ds].params == round(rec["params"] * 1e6), (hp, ds)
            assert costs[ds].flops == round(rec["flop"] * 1e6), (hp, ds)


def test_real_store_matches_the_readme(sss_raw: Path, tmp_path: Path) -> None:
    store = open_store(bench.build_sss_store(sss_raw.parent, tmp_path / "store", cost_table))
    every = np.arange(32768)
    for ds, best, index in (("cifar10-valid", 90.712, 32767), ("cifar100", 70.920, 31615),
                            ("ImageNet16-120", 46.733, 24511)):  # fmt: skip
        values = store.query_many(every, ds, "valid_acc_90ep_s777")
        assert int(np.argmax(values)) == index and values.max() == pytest.approx(best, abs=5e-4)
    # the table's values and the official files' x-valid@89 of seed 777 are the same numbers (README)
    table = bench.sss_builder()
    bench.import_sss_table(table, sss_raw.parent / bench.TABLE_NAME)
    for index in (0, 11, 284):
        for ds in ("cifar10-valid", "cifar100", "ImageNet16-120"):
            assert store.query(index, ds, "valid_acc_90ep", seed=777) == table.scalars[ds]["valid_acc_90ep_s777"][index]
    assert store.query(0, "cifar10-valid", "valid_acc_90ep_s777") == pytest.approx(76.888)


def test_cli_verify_real(sss_raw: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "space", "verify", "--space", "nats-sss", "--data-dir", str(sss_raw.parents[1]),
                         "--json")  # fmt: skip
    payload = json.loads(out)
    assert code == 0, err
    assert payload["ok"] and payload["meta_file"]["equal"] == 32768 and payload["networks_counted"] == 4 * 32768
    assert len(payload["official_files"]) == 12


# --- nasforge search on the search road ---------------------------------------------------------------------------


def _search(capsys: pytest.CaptureFixture[str], store: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "search", "--space", "nats-sss", "--store", str(store), "--out", str(out), "--no-plots",
               "--json", *extra)  # fmt: skip


@pytest.mark.parametrize("name", ["rs", "rea", "ls", "tpe"])
def test_cli_search_stores_sss_archs_and_resumes(tiny_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 name: str) -> None:  # fmt: skip
    import json
    import sqlite3

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    for out in (whole, cut):
        code, _, err = _search(capsys, tiny_store, out, "--optimizer", name, "--benchmark", "cifar100",
                               "--n-iter", "25", "--seed", "4")  # fmt: skip
        assert code == 0, err
    # A run killed after 10 trials: the database as it was then (trials and starts 10.. not yet written).
    with sqlite3.connect(cut / "study.db") as db:
        db.execute("DELETE FROM trials WHERE number >= 10")
        db.execute("DELETE FROM asks WHERE ask_number >= 10")
    code, out, err = run(capsys, "search", "--out", str(cut), "--resume", "--store", str(tiny_store), "--no-plots",
                         "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    with Study.open(whole) as a, Study.open(cut) as b:
        assert [t.arch for t in b.trials] == [t.arch for t in a.trials] and len(b.trials) == 25
        assert all(isinstance(t.arch, SSSArch) for t in b.trials)
        for trial in b.trials:  # the hand-made table's value for the arch (column 1: CIFAR-100), 1 per trial
            assert trial.result.objective == fake_acc(trial.arch.index, 1) and trial.result.cost == 1.0
        best = max(b.trials, key=lambda t: t.result.objective)
    assert summary["trials"] == 25 and summary["clock_s"] == 25.0
    assert summary["incumbent"]["arch"] == str(best.arch) and summary["objective"] == "valid_acc_90ep_s777"


def test_cli_search_resume_refusals_read_as_typed(tiny_store: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "s"
    assert _search(capsys, tiny_store, out, "--optimizer", "rs", "--time-budget", "20")[0] == 0
    code, _, err = _search(capsys, tiny_store, out, "--optimizer", "rs", "--time-budget", "30", "--resume")
    assert code == 2 and err.count("\n") == 1
    assert "(--time-budget 30 given, 20 stored)" in err  # whole trials, not 30.0 / 20.0
    # an existing run (made with --no-plots: no plots, maybe an Optuna mirror) is named by its study.db
    code, _, err = _search(capsys, tiny_store, out, "--optimizer", "rs", "--time-budget", "20")
    assert code == 2 and err.count("\n") == 1
    assert "already holds a search (study.db); continue it with --resume" in err


@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="the optuna extra is not installed")
def test_cli_search_mirrors_sss_trials_for_the_dashboard(tiny_store: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import optuna

    code, _, err = _search(capsys, tiny_store, tmp_path / "run", "--optimizer", "rea", "--n-iter", "12")
    assert code == 0, err
    journal = optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "optuna.journal"))
    storage = optuna.storages.JournalStorage(journal)
    trials = optuna.load_study(study_name="run", storage=storage).trials
    assert len(trials) == 12
    for t in trials:
        arch = SSSArch.parse(t.user_attrs["arch"])
        assert t.values == [fake_acc(arch.index, 0)] and tuple(t.params.values()) == arch.channels


@pytest.mark.parametrize(("extra", "message"), [
    (("--objective", "test_acc_90ep"), "it has valid_acc_90ep_s777 (no test accuracy"),
    (("--optimizer", "hb"), "single-fidelity optimizer (rs, rea, ls, tpe)"),
    (("--optimizer", "sh"), "single-fidelity optimizer (rs, rea, ls, tpe)"),
    (("--eval-cost-epochs", "1"), "costs 1"),
    (("--benchmark", "cifar10-valid"), "known: cifar10, cifar100, ImageNet16-120"),
])  # fmt: skip
def test_cli_search_bad_input_is_one_line(tiny_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          extra: tuple[str, ...], message: str) -> None:  # fmt: skip
    code, out, err = _search(capsys, tiny_store, tmp_path / "run", *extra)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "run").exists()


def test_cli_compare_on_the_tiny_store(tiny_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    # Local search's one optimum on the tiny table is 64:64:64:64:64 (80 on CIFAR-10), reached within 10 + 35 * 35
    # trials; each trial costs 1, so a budget of 1,235 runs exactly that many trials.
    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--optimizers", "ls,rs", "--seeds", "2",
                         "--datasets", "cifar10", "--time-budget", "1235", "--store", str(tiny_store), "--out",
                         str(tmp_path / "cmp"), "--processes", "1", "--json")  # fmt: skip
    assert code == 0, err
    cells = {c["optimizer"]: c for c in json.loads(out)["cells"]}
    assert cells["ls"]["mean"] == 80.0 and cells["ls"]["std"] == 0.0
    assert cells["ls"]["mean_trials"] == cells["rs"]["mean_trials"] == 1235
    assert 40 + 8 * 5 / 8 < cells["rs"]["mean"] <= 80.0
    assert "validation acc. `valid_acc_90ep_s777`" in (tmp_path / "cmp" / "results.md").read_text()
    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--optimizers", "rs,hb", "--seeds", "1",
                         "--store", str(tiny_store), "--out", str(tmp_path / "bad"))  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and "one fidelity" in err
    assert not (tmp_path / "bad").exists()


def test_cli_sss_clock_counts_trials_in_text_json_and_plots(tiny_store: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import json

    import nasforge.viz.multiobjective as mo_viz
    import nasforge.viz.search as viz

    # Each sss trial costs 1 (bench.TRIAL_COST): every budget, clock and time axis of the space counts trials.
    labels: dict[str, object] = {}
    for module, name, key in ((viz, "plot_anytime", "xlabel"), (viz, "plot_incumbent", "time_label"),
                              (mo_viz, "plot_regret", "xlabel")):  # fmt: skip
        real = getattr(module, name)

        def record(*args, _real=real, _name=name, _key=key, **kwargs):  # noqa: ANN002, ANN003, ANN202
            labels[_name] = kwargs.get(_key)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, record)
    code, out, err = run(capsys, "search", "--space", "nats-sss", "--store", str(tiny_store), "--out",
                         str(tmp_path / "s"), "--optimizer", "rs", "--time-budget", "7")  # fmt: skip
    assert code == 0, err
    assert "7 trials (0 failed), clock 7 trials, stopped by the budget in trials (--time-budget)" in out
    # study show counts the same clock and costs in trials (before: "clock 7 s" and a cost_s column)
    code, out, err = run(capsys, "study", "show", str(tmp_path / "s"))
    assert code == 0, err
    head, columns = out.splitlines()[:2]
    assert head.endswith("7 trials (7 complete, 0 failed, 0 unfinished), clock 7 trials") and "cost_s" not in columns
    assert columns.split()[4] == "cost_trials"
    code, out, err = run(capsys, "study", "show", str(tmp_path / "s"), "--json")
    assert (json.loads(out)["clock_s"], json.loads(out)["clock_unit"]) == (7.0, "trials")
    assert labels["plot_incumbent"].startswith("trials")
    code, out, err = _search(capsys, tiny_store, tmp_path / "j", "--optimizer", "rs", "--time-budget", "7")
    assert (json.loads(out)["clock_s"], json.loads(out)["clock_unit"]) == (7.0, "trials")
    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--optimizers", "rs", "--seeds", "1", "--datasets",
                         "cifar10", "--time-budget", "5", "--store", str(tiny_store), "--out", str(tmp_path / "c"),
                         "--processes", "1")  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "c" / "anytime_cifar10_5trials.png").is_file() and labels["plot_anytime"].startswith("trials")
    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--optimizers", "rs", "--seeds", "1", "--datasets",
                         "cifar100", "--time-budget", "5", "--objectives", "valid_acc_90ep_s777:max,params:min",
                         "--store", str(tiny_store), "--out", str(tmp_path / "m"), "--processes", "1")  # fmt: skip
    assert code == 0, err
    assert labels["plot_regret"].startswith("trials")
    # a budget of less than one trial ends every search before it starts: refused in trials
    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--optimizers", "rs", "--seeds", "1", "--datasets",
                         "cifar10", "--time-budget", "0.5", "--store", str(tiny_store), "--out", str(tmp_path / "z"))
    assert code == 2 and "a search of 0.5 trials on cifar10 ends before its first trial: a trial costs 1" in err
    # search shares compare's check (before: 0 trials, exit 0, "no incumbent")
    code, out, err = _search(capsys, tiny_store, tmp_path / "z", "--time-budget", "0.5")
    assert code == 2 and out == "" and "a search of 0.5 trials on cifar10 ends before its first trial" in err
    # a fraction of a trial is refused, not rounded (before: 1.5 accepted, a report of 1 or 2 trials)
    for argv in (("search", "--space", "nats-sss", "--no-plots"), ("compare", "--space", "nats-sss", "--seeds", "1",
                                                                   "--optimizers", "rs", "--datasets", "cifar10")):
        code, out, err = run(capsys, *argv, "--time-budget", "1.5", "--store", str(tiny_store),
                             "--out", str(tmp_path / "z"))  # fmt: skip
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert "--time-budget 1.5 on cifar10: a nats-sss budget counts trials (each costs 1); give a whole" in err
    assert not (tmp_path / "z").exists()


# --- multi-objective on sss: exact fronts, search and compare with objectives; bad input across sss paths ----------


def _front_values(acc: np.ndarray, cost: np.ndarray) -> set[tuple[float, float]]:
    """The (cost, accuracy) pairs of the exact max-accuracy x min-cost front, by a plain sweep (no nasforge code)."""
    out, best = set(), -np.inf
    for k in np.lexsort((-acc, cost)):  # cost ascending, then accuracy descending
        if acc[k] > best:
            out.add((float(cost[k]), float(acc[k])))
            best = acc[k]
    return out


def _front_size(acc: np.ndarray, cost: np.ndarray) -> int:
    """Archs on the exact front: those whose (cost, accuracy) is a front pair (equal values dominate nothing)."""
    pairs = _front_values(acc, cost)
    return sum((float(c), float(a)) in pairs for c, a in zip(cost, acc))


def test_cli_pareto_on_sss_is_the_exact_front(tiny_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "pareto", "--space", "nats-sss", "--benchmark", "cifar100", "--objectives",
                         "valid_acc_90ep_s777:max,params:min", "--store", str(tiny_store), "--json")  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    acc = np.array([fake_acc(i, 1) for i in range(32768)])
    params = cost_table("cifar100")[0] / 1e6
    want = _front_values(acc, params)
    assert {(p["params"], p["valid_acc_90ep_s777"]) for p in payload["front"]} == want
    assert payload["feasible_archs"] == 32768 and payload["space"] == "nats-sss"
    assert payload["front_size"] == _front_size(acc, params)
    ends = {p["arch"] for p in payload["front"]}
    assert {"8:8:8:8:8", "64:64:64:64:64"} <= ends  # cheapest and most accurate (90 = 40 + 320/8 + 10)
    assert max(p["valid_acc_90ep_s777"] for p in payload["front"]) == 90.0


@pytest.mark.parametrize("argv, message", [
    (("--objectives", "test_acc:max,params:min"), "no test accuracy exists"),
    (("--objectives", "valid_acc_90ep_s777:max,latency_pixel3:min"), "valid_acc_90ep_s777, params, flops"),
    (("--objectives", "valid_acc_90ep_s777:max,params:min", "--benchmark", "cifar10-valid"),
     "known: cifar10, cifar100, ImageNet16-120"),
])  # fmt: skip
def test_cli_pareto_on_sss_bad_input(tiny_store: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                                     message: str) -> None:  # fmt: skip
    code, out, err = run(capsys, "pareto", "--space", "nats-sss", "--store", str(tiny_store), *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_cli_search_on_sss_with_objectives(tiny_store: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import json
    import sqlite3

    code, out, err = _search(capsys, tiny_store, tmp_path / "mo", "--optimizer", "rs", "--benchmark", "cifar100",
                             "--n-iter", "40", "--objectives", "valid_acc_90ep_s777:max,flops:min")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["trials"] == 40
    flops = cost_table("cifar100")[1] / 1e6
    with sqlite3.connect(tmp_path / "mo" / "study.db") as db:
        archs = [SSSArch.parse(a) for (a,) in db.execute("SELECT arch FROM trials")]
    assert len(archs) == 40
    # the found front (printed) holds only archs that no other trial dominates, in the table's own values
    front = json.loads(out)["front"]
    acc = np.array([fake_acc(a.index, 1) for a in archs])
    cost = np.array([flops[a.index] for a in archs])
    assert {(p["flops"], p["valid_acc_90ep_s777"]) for p in front["points"]} == _front_values(acc, cost)
    assert front["true_front_size"] == _front_size(np.array([fake_acc(i, 1) for i in range(32768)]), flops)
    code, out, err = _search(capsys, tiny_store, tmp_path / "bad", "--objectives", "test_acc_90ep:max,params:min")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "known for 3 archs only" not in err
    assert "valid_acc_90ep_s777, params, flops" in err and not (tmp_path / "bad").exists()


def test_cli_compare_objectives_on_sss(tiny_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--optimizers", "rs,morea", "--seeds", "2",
                         "--datasets", "cifar100", "--time-budget", "60", "--objectives",
                         "valid_acc_90ep_s777:max,params:min", "--store", str(tiny_store), "--out",
                         str(tmp_path / "mo"), "--processes", "1", "--json")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["rows"]
    front = _front_size(np.array([fake_acc(i, 1) for i in range(32768)]), cost_table("cifar100")[0] / 1e6)
    assert {r["optimizer"] for r in rows} == {"rs", "morea"} and all(r["front_size"] == front for r in rows)
    assert all(0.0 <= r["mean_hv_regret"] < 1.0 and r["mean_trials"] == 60 for r in rows)  # 1 per trial
    report = (tmp_path / "mo" / "results.md").read_text()
    assert "validation-set results" in report and "--space nats-sss" in report and "32,768 archs" in report
    code, out, err = run(capsys, "compare", "--space", "nats-sss", "--seeds", "1", "--datasets", "cifar100",
                         "--time-budget", "20", "--objectives", "test_acc:max,params:min", "--store",
                         str(tiny_store), "--out", str(tmp_path / "bad"))  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no test accuracy exists" in err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("bad, message", [
    ("8:8:8:8:12", "8, 16, 24, 32, 40, 48, 56, 64"),  # a channel count outside the 8 choices
    ("8:8:8:8", "5 channel counts"),                  # a wrong number of layers
    ("8:8:8:8:8:8", "5 channel counts"),
    ("32768", "0..32767"),                            # an index outside 0..32767
])  # fmt: skip
def test_cli_bench_query_bad_sss_arch(tiny_store: Path, capsys: pytest.CaptureFixture[str], bad: str,
                                      message: str) -> None:  # fmt: skip
    code, out, err = run(capsys, "bench", "query", bad, "--dataset", "cifar100", "--metric", "valid_acc_90ep_s777",
                         "--store", str(tiny_store))  # fmt: skip
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err
