"""``nasforge space show|sample|verify``, run in-process through the real entry point."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from nasforge.cli.main import main
from nasforge.spaces.nb201 import NB201Arch


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_show_by_index_json_has_nb201_costs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "space", "show", "0", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["index"] == 0
    assert info["arch"] == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    # NB201's cost_info for arch 0 (quoted in NASLib's test fixture): 0.129306 M params, 15.64737 MFLOPs
    assert info["costs"]["cifar10"]["params"] == 129306
    assert info["costs"]["cifar10"]["flops_M"] == pytest.approx(15.64737, abs=1e-5)
    assert [e["op"] for e in info["edges"]] == ["avg_pool_3x3", "nor_conv_1x1", "skip_connect"] + [
        "nor_conv_1x1",
        "skip_connect",
        "skip_connect",
    ]
    assert set(info["canonical"]) == {"nb201", "functional"}
    for form in info["canonical"].values():
        assert NB201Arch.parse(form["representative"]["arch"]).canonical() == NB201Arch.from_index(0).canonical()


def test_show_accepts_string_index_and_op_code(capsys: pytest.CaptureFixture[str]) -> None:
    arch = NB201Arch.from_index(6111)
    shown = []
    for spec in (str(arch), "6111", f"op:{arch.op_code}"):
        code, out, _ = run(capsys, "space", "show", spec, "--json")
        assert code == 0
        shown.append(json.loads(out)["index"])
    assert shown == [6111, 6111, 6111]
    code, out, _ = run(capsys, "space", "show", "6111")
    assert code == 0 and "nor_conv_3x3" in out and "ImageNet16-120" in out and "representative" in out


def test_show_representative_of_a_duplicate(capsys: pytest.CaptureFixture[str]) -> None:
    # a dead branch: node 1 feeds nothing (1->2, 1->3 none), so 0->1's op does not matter functionally
    a, b = NB201Arch.from_op_code("304300"), NB201Arch.from_op_code("204300")
    reps = []
    for arch in (a, b):
        _, out, _ = run(capsys, "space", "show", f"op:{arch.op_code}", "--json")
        reps.append(json.loads(out)["canonical"]["functional"]["representative"]["index"])
    assert reps[0] == reps[1] <= min(a.index, b.index)


@pytest.mark.parametrize("bad", ["|foo~0|+|none~0|none~1|+|none~0|none~1|none~2|", "15625", "op:12", "|none~0|"])
def test_bad_arch_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = run(capsys, "space", "show", bad)
    assert code == 2 and out == ""
    assert err.startswith("nasforge: error:") and err.count("\n") == 1


def test_sample_is_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "space", "sample", "--n", "5", "--seed", "0", "--json")
    _, again, _ = run(capsys, "space", "sample", "--n", "5", "--seed", "0", "--json")
    _, other, _ = run(capsys, "space", "sample", "--n", "5", "--seed", "1", "--json")
    archs = json.loads(first)["archs"]
    assert first == again and first != other and len(archs) == 5
    for a in archs:
        assert NB201Arch.from_index(a["index"]).to_string() == a["arch"]
    code, text, _ = run(capsys, "space", "sample", "--n", "2")
    assert code == 0 and len(text.strip().splitlines()) == 2
    code, _, err = run(capsys, "space", "sample", "--n", "0")
    assert code == 2 and err.count("\n") == 1


# --- verify ---------------------------------------------------------------------------------------------------

COLUMNS = ["index", "arch_str"] + [
    f"{p}_{c}" for p in ("c10", "c100", "in16") for c in ("params_M_nb201", "params_M", "flops_M")
]
# Hand-computed NB201 numbers of the all-none arch (index 1651): 73,306 params on CIFAR-10, 7.78305 MFLOPs.
NONE_ROW = {
    "index": "1651",
    "arch_str": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "c10_params_M_nb201": "0.073306",
    "c10_params_M": "0.073306",
    "c10_flops_M": "7.78305",
    "c100_params_M_nb201": "0.079156",
    "c100_params_M": "0.079156",
    "c100_flops_M": "7.78890",
    "in16_params_M_nb201": "0.080456",
    "in16_params_M": "0.080456",
    "in16_flops_M": "1.95340",
}


def _write_csv(folder: Path, rows: list[dict[str, str]]) -> Path:
    (folder / "nb201").mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "nb201" / "nb201_final.csv.gz", "wt", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_verify_tiny_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Row 2: the all-none arch with one 3x3 conv on 0->3 (index from the official table).
    one_conv = NB201Arch.from_op_code("000300")
    extra = 5 * sum(9 * c * c + 2 * c for c in (16, 32, 64))
    conv_row = {k: v for k, v in NONE_ROW.items()}
    conv_row["index"], conv_row["arch_str"] = str(one_conv.index), str(one_conv)
    for p, base in (("c10", 73306), ("c100", 79156), ("in16", 80456)):
        conv_row[f"{p}_params_M"] = f"{(base + extra) / 1e6:.6f}"
        conv_row[f"{p}_params_M_nb201"] = NONE_ROW[f"{p}_params_M"]  # quirk: stored entry of a one-edge neighbour
    conv_row["c10_flops_M"] = f"{7.78305 + 5 * 9 * (16 * 16 * 1024 + 32 * 32 * 256 + 64 * 64 * 64) / 1e6:.5f}"
    conv_row["c100_flops_M"] = f"{7.78890 + 5 * 9 * (16 * 16 * 1024 + 32 * 32 * 256 + 64 * 64 * 64) / 1e6:.5f}"
    conv_row["in16_flops_M"] = f"{1.95340 + 5 * 9 * (16 * 16 * 256 + 32 * 32 * 64 + 64 * 64 * 16) / 1e6:.5f}"
    data = _write_csv(tmp_path, [NONE_ROW, conv_row])
    code, out, _ = run(capsys, "space", "verify", "--data-dir", str(data), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["networks"] == 6
    assert report["datasets"]["cifar10"] == {"params_ok": 1, "quirks": 1}

    bad = dict(NONE_ROW, c100_params_M_nb201="0.079157", c100_params_M="0.079157", in16_flops_M="1.99999")
    data = _write_csv(tmp_path / "bad", [bad])
    code, out, _ = run(capsys, "space", "verify", "--data-dir", str(data))
    assert code == 1 and "2 MISMATCHES" in out


def test_verify_bad_data_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "space", "verify", "--data-dir", str(tmp_path))
    assert code == 2 and "nb201_final.csv.gz" in err and err.count("\n") == 1
    (tmp_path / "nb201").mkdir()
    with gzip.open(tmp_path / "nb201" / "nb201_final.csv.gz", "wt") as f:
        f.write("index,arch_str\n0,x\n")
    code, _, err = run(capsys, "space", "verify", "--data-dir", str(tmp_path))
    assert code == 2 and "lacks columns" in err and err.count("\n") == 1


@pytest.mark.realdata
def test_verify_real_table_head(real_data_dir: Path, nb201_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "space", "verify", "--data-dir", str(real_data_dir), "--limit", "150", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["archs"] == 150
    assert all(c["params_ok"] + c["quirks"] == 150 for c in report["datasets"].values())
