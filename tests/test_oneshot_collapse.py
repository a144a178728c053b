"""DARTS' drift toward parameter-free ops (nasforge.oneshot.collapse) against hand-computed values."""

from __future__ import annotations

import json

import pytest

from nasforge.cli.main import main
from nasforge.errors import StudyError
from nasforge.oneshot.collapse import PARAMETER_FREE_OPS, drift, trend
from nasforge.spaces.darts import MNIST_OPS
from nasforge.spaces.nb201 import OPS as NB201_OPS

# NB201 op order: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3 -> parameter-free columns 0, 1, 4.
ROWS = [
    [0.10, 0.40, 0.20, 0.20, 0.10],  # free 0.60, skip 0.40
    [0.20, 0.20, 0.20, 0.20, 0.20],  # free 0.60, skip 0.20
    [0.05, 0.15, 0.30, 0.45, 0.05],  # free 0.25, skip 0.15
    [0.00, 0.70, 0.10, 0.10, 0.10],  # free 0.80, skip 0.70
    [0.30, 0.10, 0.25, 0.25, 0.10],  # free 0.50, skip 0.10
    [0.25, 0.25, 0.25, 0.00, 0.25],  # free 0.75, skip 0.25
]


def _nb201_record(epoch: int, genotype: str, acc: float | None = None) -> dict:
    record = {"epoch": epoch, "alphas": {"alpha": ROWS}, "genotype": genotype}
    if acc is not None:
        record["benchmark"] = {"cifar10_test_acc": acc, "cifar10_rank_pct": 1.0}
    return record


def test_parameter_free_ops_are_the_weightless_ones_of_every_space():
    assert {op for op in NB201_OPS if op in PARAMETER_FREE_OPS} == {"none", "skip_connect", "avg_pool_3x3"}
    assert {op for op in MNIST_OPS if op in PARAMETER_FREE_OPS} == {"avg_pool_3x3", "max_pool_3x3", "skip_connect"}


def test_nb201_masses_and_counts_by_hand():
    cell = "|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    (point,) = drift([_nb201_record(7, cell, 91.25)], NB201_OPS)
    assert point.epoch == 7 and point.edges == 6 and point.derived_edges == 6
    assert point.free_mass == pytest.approx(0.60 + 0.60 + 0.25 + 0.80 + 0.50 + 0.75)  # 3.50
    assert point.skip_mass == pytest.approx(0.40 + 0.20 + 0.15 + 0.70 + 0.10 + 0.25)  # 1.80
    assert point.free_share == pytest.approx(3.50 / 6)
    assert (point.free_ops, point.skip_ops) == (4, 2)  # skip, skip, none, avg_pool
    assert point.test_acc == 91.25


def test_an_all_skip_cell_is_the_collapse_and_records_without_benchmark_give_none():
    collapsed = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    (point,) = drift([_nb201_record(1, collapsed)], NB201_OPS)
    assert (point.free_ops, point.skip_ops, point.test_acc) == (6, 6, None)


def test_darts_spaces_read_the_normal_cell():
    # darts-mnist: ops avg_pool_3x3, max_pool_3x3, skip_connect, conv_3x3; one input, two nodes -> 3 kept edges.
    genotype = (
        "Genotype(normal=[('conv_3x3', 0), ('skip_connect', 0), ('max_pool_3x3', 1)], normal_concat=range(1, 3), "
        "reduce=[('conv_3x3', 0), ('conv_3x3', 0), ('conv_3x3', 1)], reduce_concat=range(1, 3))"
    )
    normal = [[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.5, 0.5]]
    reduce = [[0.0, 0.0, 0.0, 1.0]] * 3
    record = {"epoch": 2, "alphas": {"alpha_normal": normal, "alpha_reduce": reduce}, "genotype": genotype}
    (point,) = drift([record], MNIST_OPS)
    assert point.free_mass == pytest.approx(0.6 + 0.75 + 0.5)
    assert point.skip_mass == pytest.approx(0.3 + 0.25 + 0.5)
    assert (point.free_ops, point.skip_ops, point.derived_edges) == (2, 1, 3)


@pytest.mark.parametrize(
    "record",
    [
        {"epoch": 1, "alphas": {"alpha": [[0.5, 0.5]]}, "genotype": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"},
        {"epoch": 1, "alphas": {"beta": ROWS}, "genotype": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"},
        {"epoch": 1, "alphas": {"alpha": ROWS}, "genotype": "|conv~0|"},
        {"epoch": 1, "alphas": {"alpha": ROWS}},
    ],
)
def test_unreadable_records_are_a_study_error(record):
    with pytest.raises(StudyError, match="search record 1"):
        drift([record], NB201_OPS)


def test_trend_by_hand():
    # epochs 1..4, values 1, 3, 2, 4: slope = Σ(x-2.5)(y-2.5) / Σ(x-2.5)² = 4 / 5.
    t = trend([1, 2, 3, 4], [1.0, 3.0, 2.0, 4.0])
    assert t.slope == pytest.approx(0.8)
    assert (t.rising, t.falling) == pytest.approx((2 / 3, 1 / 3))
    assert (t.longest_rise, t.first, t.last, t.argmax_epoch) == (1, 1.0, 4.0, 4)
    flat = trend([1, 2, 3, 4, 5], [2.0, 2.0, 3.0, 4.0, 5.0])
    assert (flat.rising, flat.falling, flat.longest_rise) == pytest.approx((0.75, 0.0, 3))
    with pytest.raises(ValueError, match="two or more"):
        trend([1], [1.0])


def test_viz_alphas_writes_the_drift_and_reports_it(tmp_path, capsys):
    # A two-epoch NB201 log written by hand: skip_connect gains 0.3 of mass on one edge between the epochs.
    logs = tmp_path / "logs"
    logs.mkdir()
    rest = "|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    cells = ("|nor_conv_3x3~0" + rest, "|skip_connect~0" + rest)
    uniform = [[0.2] * 5 for _ in range(6)]
    later = [[0.1, 0.5, 0.1, 0.2, 0.1]] + uniform[1:]
    records = [
        {"epoch": 1, "alphas": {"alpha": uniform}, "genotype": cells[0], "valid_acc": 30.0,
         "benchmark": {"cifar10_test_acc": 94.0, "cifar10_rank_pct": 0.1}},
        {"epoch": 2, "alphas": {"alpha": later}, "genotype": cells[1], "valid_acc": 35.0,
         "benchmark": {"cifar10_test_acc": 93.5, "cifar10_rank_pct": 0.5}},
    ]  # fmt: skip
    (logs / "search.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (logs / "genotype.json").write_text(json.dumps({"space": "nb201", "arch": cells[1]}))
    assert main(["viz", "alphas", str(logs), "-o", str(tmp_path / "figs"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (tmp_path / "figs" / "drift.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p["skip_ops"] for p in doc["drift"]] == [0, 1]
    assert [p["skip_mass"] for p in doc["drift"]] == pytest.approx([1.2, 1.5])
    assert doc["trend"]["skip_mass"]["slope"] == pytest.approx(0.3)
    assert doc["trend"]["free_mass"]["slope"] == pytest.approx(0.1)  # 3.6 -> 3.7


def test_the_drift_drawing_without_benchmark_numbers(tmp_path):
    # A DARTS-space search has no NB201 lookups: two panels, no accuracy; both files are written.
    from nasforge.viz.genotype import plot_drift

    cell = "|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    points = drift([_nb201_record(1, cell), _nb201_record(2, cell)], NB201_OPS)
    paths = plot_drift(points, tmp_path / "drift")
    assert [p.name for p in paths] == ["drift.pdf", "drift.png"]
    assert paths[1].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_collapse_table_script_refuses_bad_input_in_one_line(tmp_path, capsys, monkeypatch):
    import runpy
    from pathlib import Path

    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "collapse_table.py"), run_name="script")

    def run(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["collapse_table.py", *argv])
        try:
            code = script["main"]()
        except SystemExit as exc:  # argparse's refusals
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    logs = tmp_path / "logs"
    logs.mkdir()
    genotype = "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    records = [{"epoch": e, "alphas": {"alpha": ROWS}, "genotype": genotype} for e in (1, 2, 3)]
    (logs / "search.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for argv, message in [
        ((str(tmp_path / "missing"),), "search.jsonl not found"),
        ((str(logs),), "genotype.json"),  # no genotype.json and no run record to name the space
        ((str(logs), "--every", "0"), "--every"),
        ((str(logs), "--every", "-3"), "--every"),
    ]:
        code, out, err = run(*argv)
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err and "Traceback" not in err
    (logs / "nasforge-run.json").write_text(json.dumps({"run": "one-shot search", "settings": {"--space": "nb201"}}))
    code, out, err = run(str(logs), "--every", "2")  # the space from the run record: genotype.json not needed
    assert code == 0 and err == ""
    assert [line.split(" | ")[0] for line in out.splitlines()[2:5]] == ["| 1", "| 2", "| 3"]
