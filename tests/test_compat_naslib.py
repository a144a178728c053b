"""NASLib encodings and zero-cost JSON: against the README's worked example, the NB201 table's own
``naslib_code`` column and NASLib's measured parameter counts."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path

import pytest

from nasforge.compat.naslib import (
    ZC_ACCURACY,
    convert_op_indices_to_str,
    convert_str_to_op_indices,
    from_naslib,
    parse_naslib_key,
    read_naslib_zc,
    to_naslib,
)
from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_readme_example_by_hand() -> None:
    # README: op code 333133 -> NASLib 220222 (edges 0-1, 0-2, 0-3, 1-2, 1-3, 2-3; 0=skip, 2=conv3x3)
    assert to_naslib(NB201Arch.parse(BEST)) == (2, 2, 0, 2, 2, 2)
    # one op per edge, hand-placed: NASLib position 2 is edge 0->3, position 3 is edge 1->2
    arch = from_naslib((1, 3, 4, 0, 1, 2))
    assert arch.op(0, 1) == "none" and arch.op(0, 2) == "nor_conv_1x1" and arch.op(0, 3) == "avg_pool_3x3"
    assert arch.op(1, 2) == "skip_connect" and arch.op(1, 3) == "none" and arch.op(2, 3) == "nor_conv_3x3"


def test_naslib_function_names_by_hand() -> None:
    # NASLib's convert_op_indices_to_str names edge (i, j) of nodes 1..4 "op~(i-1)" and orders by target node
    assert convert_op_indices_to_str((1, 0, 3, 4, 2, 0)) == (
        "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|skip_connect~2|"
    )
    assert convert_str_to_op_indices(BEST) == (2, 2, 0, 2, 2, 2)


def test_round_trip_over_the_whole_space() -> None:
    seen = set()
    for code in range(NUM_ARCHS):
        arch = NB201Arch.from_code(code)
        tup = to_naslib(arch)
        assert from_naslib(tup) == arch
        seen.add(tup)
    assert len(seen) == NUM_ARCHS


@pytest.mark.parametrize("bad", [(0, 1, 2), (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, "1"), (0, 1, 2, 3, 4, 1.5)])
def test_bad_tuples(bad: tuple) -> None:
    with pytest.raises(ArchError, match="op_indices"):
        from_naslib(bad)


@pytest.mark.parametrize("bad", ["2, 2, 0, 2, 2, 2", "(2, 2, x, 2, 2, 2)", "(2, 2, 0, 2, 2)"])
def test_bad_keys(bad: str) -> None:
    with pytest.raises(ArchError):
        parse_naslib_key(bad)


def _zc_file(tmp_path: Path, entries: dict) -> Path:
    path = tmp_path / "zc.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(entries, f)
    return path


def test_read_zc_tiny_file(tmp_path: Path) -> None:
    entry = {"idx": "7", "arch": "(2, 2, 0, 2, 2, 2)", "val_accuracy": 91.5,
             "synflow": {"score": 12.5, "time": 0.1}, "params": {"score": 1.5, "time": 0.2},
             "nwot": {"score": float("nan"), "time": 0.3}}  # fmt: skip
    zc = read_naslib_zc(_zc_file(tmp_path, {"cifar10": {"(2, 2, 0, 2, 2, 2)": entry}}))
    scores = zc["cifar10"][NB201Arch.parse(BEST)]
    assert scores["synflow"] == 12.5 and scores["params"] == 1.5 and scores[ZC_ACCURACY] == 91.5
    assert math.isnan(scores["nwot"]) and set(scores) == {"synflow", "params", "nwot", ZC_ACCURACY}


@pytest.mark.parametrize(
    "entries, match",
    [
        ({"cifar10": {"(9, 2, 0, 2, 2, 2)": {"val_accuracy": 1.0}}}, "op_indices"),
        ({"cifar10": {"(2, 2, 0, 2, 2, 2)": {"arch": "(0, 0, 0, 0, 0, 0)", "val_accuracy": 1.0}}}, "differs"),
        ({"cifar10": {"(2, 2, 0, 2, 2, 2)": {"synflow": {"score": 1.0}}}}, "lacks 'val_accuracy'"),
        ({"cifar10": {"(2, 2, 0, 2, 2, 2)": {"val_accuracy": 1.0, "snip": {"score": "x"}}}}, "not a number"),
        ({"cifar10": {"(2, 2, 0, 2, 2, 2)": {"val_accuracy": 1.0, "snip": {"time": 1}}}}, "no 'score'"),
        ([1, 2], "expected"),
    ],
)
def test_read_zc_refuses_bad_files(tmp_path: Path, entries: object, match: str) -> None:
    with pytest.raises(BenchmarkError, match=match):
        read_naslib_zc(_zc_file(tmp_path, entries))  # type: ignore[arg-type]


def test_read_zc_refuses_non_json(tmp_path: Path) -> None:
    path = tmp_path / "zc.json"
    path.write_text("{not json")
    with pytest.raises(BenchmarkError, match="not a JSON file"):
        read_naslib_zc(path)


@pytest.mark.realdata
def test_real_zc_file_against_the_nb201_table(real_data_dir: Path) -> None:
    nb201 = real_data_dir / "nb201"
    zc_path = nb201 / "raw" / "naslib-1bdbd960__zc_nasbench201_subset.json.gz"
    if not zc_path.is_file():
        pytest.skip(f"{zc_path} absent")
    rows = {r["arch_str"]: r for r in csv.DictReader(gzip.open(nb201 / "nb201_final.csv.gz", "rt"))}
    zc = read_naslib_zc(zc_path)
    assert {ds: len(t) for ds, t in zc.items()} == {"cifar10": 724, "cifar100": 725, "ImageNet16-120": 724}
    # NASLib's nwot is log|K| of a singular kernel: -inf for this cell, whose output is zero (node 3 sums
    # none(0), skip(node 1) and none(2), and node 1 = none(0)); kept as NASLib recorded it
    zero = from_naslib((1, 0, 1, 4, 0, 1))
    assert (zero.op(0, 1), zero.op(0, 3), zero.op(1, 3), zero.op(2, 3)) == ("none", "none", "skip_connect", "none")
    assert zc["cifar10"][zero]["nwot"] == -math.inf
    for dataset, prefix in (("cifar10", "c10"), ("cifar100", "c100"), ("ImageNet16-120", "in16")):
        for arch, scores in zc[dataset].items():
            row = rows[arch.to_string()]
            # the table's naslib_code column was made independently of this module
            assert "".join(map(str, to_naslib(arch))) == row["naslib_code"]
            # NASLib measured params on the network; they equal the exact count of the same cell (README check)
            assert scores["params"] == pytest.approx(float(row[f"{prefix}_params_M"]), abs=1e-6)
