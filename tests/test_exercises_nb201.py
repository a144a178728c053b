"""The NB201 exercise sheet's API (nasforge.exercises.nb201) and its two example scripts.

Independent facts used: hand-worked cell outputs, the sheet's published test values (reproduced where the
sheet's network equals NB201's, and shown to differ only by the documented differences otherwise), NB201's
recorded parameter counts, and the values of a benchmark file built like the real one (201 eval entries).
"""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import ConfigSpace
import networkx as nx
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _benchmark_fixtures import NASLIB_ARCHS, naslib_cost, naslib_value, write_naslib_pickle
from torch import nn

from nasforge.benchmarks import NB201BenchmarkAPI as StoreAPI
from nasforge.benchmarks import StoreBuilder
from nasforge.errors import ArchError, BenchmarkError
from nasforge.exercises.nb201 import (
    CategoricalOp,
    Dataset,
    Identity,
    Metric,
    NASBench201CellSearchSpace,
    NASBench201MacroGraph,
    NB201BenchmarkAPI,
    RandomSearchOptimizer,
    ReLUConvBN,
    Zero,
)
from nasforge.spaces.nb201 import OPS, NB201Arch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "nb201_exercise"
SHEET_ARCH = "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|"  # sheet test data


def sheet_config(values: dict[str, str]) -> ConfigSpace.Configuration:
    return ConfigSpace.Configuration(NASBench201CellSearchSpace.get_configuration_space(), values=values)


# --- ops, configuration space, cell ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kernel"), [("nor_conv_1x1", 1), ("nor_conv_3x3", 3)])
def test_conv_ops_are_relu_conv_bn_with_the_sheets_attributes(name, kernel):
    op = CategoricalOp(op=name).op  # in_channels defaults to 16, as in the sheet
    assert isinstance(op, ReLUConvBN) and op.kernel_size == kernel and op.stride == 1
    relu, conv, bn = op.seq
    assert isinstance(relu, nn.ReLU) and isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
    assert conv.weight.shape == (16, 16, kernel, kernel) and conv.bias is None
    x = torch.randn(2, 16, 8, 8)
    assert CategoricalOp(8, name).op(x[:, :8]).shape == (2, 8, 8, 8)


def test_other_ops_and_errors():
    assert isinstance(CategoricalOp(op="skip_connect").op, Identity)
    assert isinstance(CategoricalOp(op="none").op, Zero)
    pool = CategoricalOp(op="avg_pool_3x3").op
    assert isinstance(pool, nn.AvgPool2d) and (pool.kernel_size, pool.stride) == (3, 1)
    with pytest.raises(ArchError, match="unknown NB201 op 'conv_5x5'"):
        CategoricalOp(op="conv_5x5")


def test_configuration_space_defaults_to_skip_connect_as_the_sheet():
    space = NASBench201CellSearchSpace.get_configuration_space()
    assert sorted(space) == ["edge_0-1", "edge_0-2", "edge_0-3", "edge_1-2", "edge_1-3", "edge_2-3"]
    assert all(set(space[name].choices) == set(OPS) for name in space)
    assert set(dict(space.get_default_configuration()).values()) == {"skip_connect"}


def test_cell_is_a_graph_whose_edge_ops_compute_the_forward_pass():
    values = {"edge_0-1": "nor_conv_1x1", "edge_0-2": "nor_conv_3x3", "edge_0-3": "avg_pool_3x3",
              "edge_1-2": "skip_connect", "edge_1-3": "none", "edge_2-3": "avg_pool_3x3"}  # fmt: skip
    cell = NASBench201CellSearchSpace(in_channels=16, config=sheet_config(values))
    assert isinstance(cell, nx.DiGraph) and isinstance(cell, nn.Module)
    assert sorted(cell.nodes) == [0, 1, 2, 3] and len(cell.edges) == 6
    for edge, op in values.items():
        i, j = int(edge[5]), int(edge[7])
        assert isinstance(cell.edges[i, j]["op"], CategoricalOp) and cell.edges[i, j]["op"].op_name == op
    # the sheet's own example string for this configuration
    assert cell.get_string_representation() == (
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|none~1|avg_pool_3x3~2|"
    )
    # parameters: a 1x1 and a 3x3 conv on 16 channels, each with a BatchNorm (weight + bias)
    assert sum(p.numel() for p in cell.parameters()) == 16 * 16 * 1 + 32 + 16 * 16 * 9 + 32
    x = torch.randn(2, 16, 8, 8)
    before = cell(x)
    nn.init.zeros_(cell.edges[0, 2]["op"].op.seq[1].weight)  # the graph's op is the module that computes
    assert not torch.allclose(cell(x), before)


@pytest.mark.parametrize("op", OPS)
def test_string_representation_of_uniform_cells(op):
    cell = NASBench201CellSearchSpace(16, sheet_config({f"edge_{i}-{j}": op for i, j in
                                                        ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))}))  # fmt: skip
    assert cell.get_string_representation() == f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|"


def test_default_cell_is_four_times_its_input():
    # skip everywhere: node1 = x, node2 = x + node1 = 2x, node3 = x + node1 + node2 = 4x
    torch.manual_seed(9001)
    x = torch.rand(2, 16, 32, 32)
    out = NASBench201CellSearchSpace(in_channels=16)(x)
    assert torch.allclose(out, 4 * x)
    assert out.sum().item() == pytest.approx(65334.84375, abs=0.01)  # the sheet's published value


def _reference_cell(cell: NASBench201CellSearchSpace, x: torch.Tensor, count_include_pad: bool) -> torch.Tensor:
    """The cell written out by hand: node j = sum over i < j of op_ij(node i), pools done explicitly."""
    nodes = [x]
    for j in (1, 2, 3):
        total = torch.zeros_like(x)
        for i in range(j):
            op = cell.edges[i, j]["op"].op
            if isinstance(op, nn.AvgPool2d):
                total = total + F.avg_pool2d(nodes[i], 3, 1, 1, count_include_pad=count_include_pad)
            else:
                total = total + op(nodes[i])
        nodes.append(total)
    return nodes[3]


def test_random_cell_equals_the_hand_written_cell_and_the_sheet_up_to_pool_padding():
    torch.manual_seed(9001)  # the sheet's test, step by step
    values = {"edge_0-1": "avg_pool_3x3", "edge_0-2": "nor_conv_1x1", "edge_0-3": "none",
              "edge_1-2": "avg_pool_3x3", "edge_1-3": "skip_connect", "edge_2-3": "nor_conv_1x1"}  # fmt: skip
    cell = NASBench201CellSearchSpace(in_channels=16, config=sheet_config(values))
    x = torch.rand(2, 16, 32, 32)
    for _, _, data in cell.edges(data=True):
        if isinstance(data["op"].op, ReLUConvBN):
            nn.init.xavier_uniform_(data["op"].op.seq[1].weight)
    out = cell(x)
    torch.testing.assert_close(out, _reference_cell(cell, x, count_include_pad=False))
    # The sheet's cell counts the zero padding in its average pool: written that way, the same modules give
    # the sheet's published value (15671.9189453125); NB201's pool gives a different sum (docs/exercises.md).
    assert _reference_cell(cell, x, count_include_pad=True).sum().item() == pytest.approx(15671.9189, abs=0.01)
    assert out.sum().item() != pytest.approx(15671.9189, abs=1.0)


# --- macro graph ----------------------------------------------------------------------------------------------


def _sheet_init(model: nn.Module, seed: int = 9001) -> None:
    """The sheet's test initialisation: every leaf module with a weight gets normal_() from the same seed."""
    for module in model.modules():
        if not list(module.children()) and hasattr(module, "weight"):
            torch.manual_seed(seed)
            for p in module.parameters():
                nn.init.normal_(p)


@pytest.mark.parametrize(("N", "sheet_value", "tolerance"), [(1, -38991.4765625, 0.15), (3, -164554576.0, 150.0)])
def test_macro_graph_is_the_sheets_except_nb201s_final_bn_relu(N, sheet_value, tolerance):
    model = NASBench201MacroGraph(NASBench201CellSearchSpace.get_configuration_space().get_default_configuration(), N=N)
    assert all(isinstance(c, NASBench201CellSearchSpace) for c in model.cells if not hasattr(c, "conv_a"))
    _sheet_init(model)
    torch.manual_seed(9001)
    x = torch.randn(2, 3, 32, 32)
    ours = model(x).sum().item()
    model.lastact = nn.Identity()  # the sheet's macro graph has no final BatchNorm + ReLU
    assert model(x).sum().item() == pytest.approx(sheet_value, abs=tolerance)  # the sheet's published values
    assert ours != pytest.approx(sheet_value, abs=tolerance)


@pytest.mark.parametrize(("arch", "recorded"), [(SHEET_ARCH, 185306), (NB201Arch.from_index(0).to_string(), 129306)])
def test_macro_graph_parameters_equal_nb201s_recorded_counts(arch, recorded):
    # NB201 records 0.185306 M (the sheet's test data) and 0.129306 M (arch 0, NASLib's fixture)
    model = NASBench201MacroGraph(sheet_config(NB201Arch.parse(arch).to_config()))
    assert sum(p.numel() for p in model.parameters()) == recorded
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


# --- benchmark API --------------------------------------------------------------------------------------------


@pytest.fixture
def seed_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    return write_naslib_pickle(tmp_path / "nb201_cifar10_full_training.pickle")


LISTS = (
    (Metric.TRAIN_ACCURACY, "train_acc1es", 200),
    (Metric.TRAIN_LOSS, "train_losses", 200),
    (Metric.VAL_ACCURACY, "eval_acc1es", 201),  # NB201 appends the final ori-test value to eval lists
    (Metric.VAL_LOSS, "eval_losses", 201),
)


def test_api_returns_the_files_lists_exactly_as_stored(seed_file):
    api = NB201BenchmarkAPI(seed_file, Dataset.CIFAR10)
    for k, index in enumerate(NASLIB_ARCHS):
        arch = NB201Arch.from_index(index).to_string()
        for metric, key, length in LISTS:
            expected = [naslib_value(key, k, e) for e in range(length)]
            assert api.query(arch, metric, last_epoch_only=False) == expected
            assert api.query(arch, metric, last_epoch_only=True) == expected[-1]
        assert api.query(arch, Metric.VAL_ACCURACY, last_epoch_only=True) == 99.0 - k  # the appended 201st entry
        assert api.query(arch, Metric.PARAMS) == naslib_cost(k)["params"]
        assert api.query(arch, Metric.TRAIN_TIME, last_epoch_only=True) == naslib_cost(k)["train_time"]
    arch = NB201Arch.from_index(NASLIB_ARCHS[1])
    assert api.query(arch, "VAL_ACCURACY") == api.query(arch, "eval_acc1es") == api.query(arch, Metric.VAL_ACCURACY)
    # nasforge's own API names the splits instead: 200 validation epochs, the 201st entry is test_acc
    assert len(StoreAPI(seed_file, "cifar10").query(arch, "VAL_ACCURACY")) == 200
    assert api.store.query(arch, "cifar10-valid", "test_acc") == 98.0


def test_api_errors(seed_file):
    api = NB201BenchmarkAPI(seed_file, "cifar10-valid")
    assert api.dataset is Dataset.CIFAR10
    with pytest.raises(BenchmarkError, match="unknown metric 'val_acc'; use one of TRAIN_ACCURACY"):
        api.query(NB201Arch.from_index(0), "val_acc")
    with pytest.raises(BenchmarkError, match="unknown dataset 'cifar10'; the sheet's datasets are Dataset.CIFAR10"):
        NB201BenchmarkAPI(seed_file, "cifar10")
    with pytest.raises(BenchmarkError, match="not found"):
        NB201BenchmarkAPI(seed_file.with_name("missing.pickle"))


# --- random search --------------------------------------------------------------------------------------------


def whole_space_value(index: np.ndarray) -> np.ndarray:
    return 50.0 + index / 1000.0


@pytest.fixture
def whole_space_store(tmp_path):
    """valid_acc, params and train_time for all 15,625 archs as simple functions of the official index."""
    builder = StoreBuilder()
    indices = np.arange(15625)
    builder.set_scalar("cifar10-valid", "valid_acc", indices, whole_space_value(indices))
    builder.set_scalar("cifar10-valid", "params", indices, 0.1 + indices / 1e6)
    builder.set_scalar("cifar10-valid", "train_time", indices, np.full(15625, 5.0))
    builder.add_provenance("unit-test", None)
    return builder.write(tmp_path / "store")


def test_random_search_on_the_benchmark(whole_space_store):
    space = NASBench201CellSearchSpace.get_configuration_space()
    optimizer = RandomSearchOptimizer(space, lambda c: NASBench201MacroGraph(c, N=1), seed=3)
    trajectory, incumbent = optimizer.search(n_iter=6, api=NB201BenchmarkAPI(whole_space_store, Dataset.CIFAR10))
    indices = [NB201Arch.from_config(c).index for c, _ in trajectory]
    assert len(set(indices)) == 6 and all(isinstance(c, ConfigSpace.Configuration) for c, _ in trajectory)
    for (_, result), index in zip(trajectory, indices):
        assert result["val_acc"] == whole_space_value(np.array(index))
        assert result["params"] == pytest.approx(0.1 + index / 1e6) and result["train_time"] == 5.0
        assert math.isnan(result["train_acc"]) and math.isnan(result["val_loss"])  # not in this benchmark
    assert incumbent[1]["val_acc"] == whole_space_value(np.array(max(indices)))
    with pytest.raises(ArchError, match="cannot look up a Linear"):
        optimizer.evaluate(nn.Linear(2, 2), NB201BenchmarkAPI(whole_space_store))


def test_random_search_lookup_reads_the_last_validation_epoch(seed_file):
    optimizer = RandomSearchOptimizer(NASBench201CellSearchSpace.get_configuration_space(), NASBench201MacroGraph)
    model = NASBench201MacroGraph(NB201Arch.from_index(NASLIB_ARCHS[2]), N=1)
    result = optimizer.evaluate(model, NB201BenchmarkAPI(seed_file))
    k = 2
    assert result == {
        "train_acc": naslib_value("train_acc1es", k, 199), "train_loss": naslib_value("train_losses", k, 199),
        "val_acc": naslib_value("eval_acc1es", k, 199), "val_loss": naslib_value("eval_losses", k, 199),
        "train_time": naslib_cost(k)["train_time"], "params": naslib_cost(k)["params"],
    }  # fmt: skip


# --- the example scripts --------------------------------------------------------------------------------------


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"nb201_exercise_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_run_optimizer_with_the_api(whole_space_store, tmp_path, capsys):
    plot = tmp_path / "scatter.png"
    argv = ["--use-api", "--n-iter", "4", "--benchmark", str(whole_space_store), "--cells", "1", "--plot", str(plot)]
    assert _script("run_optimizer")(argv) == 0
    out = capsys.readouterr().out
    vals = [float(line.split()[2]) for line in out.splitlines() if "val_acc" in line and line.strip()[0].isdigit()]
    assert len(vals) == 4 and f"'val_acc': {max(vals)}" in out
    assert "not recorded in this benchmark for some archs (NaN): train_acc, train_loss, val_loss" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_curves_on_a_seed_format_file(seed_file, tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert _script("plot_curves")(["--benchmark", str(seed_file), "--arch", "0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"valid acc {naslib_value('eval_acc1es', 0, 199):.2f} %" in printed
    assert "entry 201 of the eval list (NB201's ori-test value): 99.00 %" in printed
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_scripts_without_data_say_so_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("NASFORGE_DATA", raising=False)
    for name, argv in (("plot_curves", ["-o", str(tmp_path / "c.png")]), ("run_optimizer", ["--use-api"])):
        assert _script(name)(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"{name}.py: error: no data directory given: pass --data-dir DIR or set NASFORGE_DATA=DIR"]
    assert not list(tmp_path.iterdir())


@pytest.mark.realdata
def test_plot_curves_default_arch_on_the_real_data(real_data_dir, tmp_path, capsys):
    assert _script("plot_curves")(["--data-dir", str(real_data_dir), "-o", str(tmp_path / "c.png")]) == 0
    printed = capsys.readouterr().out
    assert "entry 201 of the eval list" in printed and (tmp_path / "c.png").is_file()


@pytest.mark.realdata
@pytest.mark.slow
def test_run_optimizer_trains_with_the_protocol_on_the_real_data(real_data_dir, tmp_path, capsys):
    # tiny: 100 training and 200 validation images, one epoch, one cell per stage
    argv = ["--n-iter", "1", "--epochs", "1", "--train-fraction", "0.002", "--valid-fraction", "0.02",
            "--cells", "1", "--data-dir", str(real_data_dir), "--plot", str(tmp_path / "s.png")]  # fmt: skip
    assert _script("run_optimizer")(argv) == 0
    out = capsys.readouterr().out
    config = ast.literal_eval(out.split("The best architecture configuration found is ")[1].splitlines()[0])
    result = ast.literal_eval(out.split("Results of the model are ")[1].splitlines()[0])
    assert set(result) == {"train_acc", "train_loss", "val_acc", "val_loss", "train_time", "params"}
    model = NASBench201MacroGraph(sheet_config(config), N=1)
    assert result["params"] == sum(p.numel() for p in model.parameters()) / 1e6
    # 200 validation images: the accuracy is a multiple of 0.5 %
    assert 0 <= result["val_acc"] <= 100 and result["val_acc"] * 2 == round(result["val_acc"] * 2)
    assert result["train_loss"] > 0 and result["val_loss"] > 0 and result["train_time"] > 0
