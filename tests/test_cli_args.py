"""Every numeric and device option of every subcommand: a bad value is one stderr line and exit 2, before any work."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from nasforge.cli import _argtypes as argtypes
from nasforge.cli.main import build_parser, main
from nasforge.errors import ConfigError
from nasforge.train import available_devices, select_device

# Options where a large finite value is allowed: the command bounds it by the data (refuses or clamps), or, for a
# learning rate, the run stops at the first non-finite loss with its own one-line message.
LARGE_IS_FINE = {
    ("space", "verify", "--limit"), ("train", "--eval-size"), ("bench", "query", "--epoch"),
    ("train", "--lr"), ("train-genotype", "--lr"),
}  # fmt: skip


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse rejects the value itself
        code = exc.code
    return code, capsys.readouterr().err


def _one_line(code: int, err: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(subcommand path, minimal valid argv for it, action) for every option that takes a typed value."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _walk(child, (*path, name))
    if subs:
        return
    base = list(path)
    for action in parser._actions:  # positionals and required options get a value the parser accepts
        if not action.option_strings and action.nargs not in ("*", "?"):
            base.append(action.choices[0] if action.choices else "0")
        elif action.option_strings and action.required:
            base += [action.option_strings[-1], "x"]
    for action in parser._actions:
        if action.option_strings and action.type is not None:
            yield path, base, action


PARSER = build_parser()
TYPED = list(_walk(PARSER))
NUMERIC = [(p, b, a) for p, b, a in TYPED if a.dest != "device" and a.type is not argtypes.names]


def _id(case) -> str:
    path, _, action = case
    return " ".join((*path, action.option_strings[-1]))


def test_the_walk_finds_every_subcommands_numbers():
    names = {_id(case) for case in NUMERIC}
    expected = (
        "train --seed", "darts --seed", "train-genotype --seed", "search --seed", "space sample --seed",
        "bench query --seed", "search --eval-cost-epochs", "compare --eval-cost-epochs", "space sample --n",
        "train --lr", "darts --layers", "compare --workers", "search --gpus-per-trial",
    )  # fmt: skip
    for name in expected:
        assert name in names
    assert len(names) >= 45


@pytest.mark.parametrize("case", TYPED, ids=_id)
def test_every_typed_option_uses_a_nasforge_type(case):
    # int/float would accept -1, nan, inf and 1e308; --order is int but limited to its two choices.
    _, _, action = case
    assert action.type.__module__ == "nasforge.cli._argtypes" or action.choices, _id(case)


@pytest.mark.parametrize("case", NUMERIC, ids=_id)
@pytest.mark.parametrize(
    "value", ["-1", "nan", "inf", "1e308", "99999999999", "9" * 400], ids=["-1", "nan", "inf", "1e308", "1e11", "9x400"]
)
def test_every_numeric_option_refuses_absurd_values_in_one_line(case, value, capsys):
    path, base, action = case
    if value in ("99999999999", "9" * 400) and (*path, action.option_strings[-1]) in LARGE_IS_FINE:
        if value == "99999999999" or action.dest != "lr":  # 9x400 as a float is inf: refused even for --lr
            pytest.skip("a large value is fine here (see LARGE_IS_FINE)")
    with pytest.raises(SystemExit) as exit_:  # refused while parsing: before any command code runs
        PARSER.parse_args([*base, action.option_strings[-1], value])
    line = _one_line(exit_.value.code, capsys.readouterr().err, f"argument {'/'.join(action.option_strings)}:")
    if action.type.__module__ == "nasforge.cli._argtypes":
        assert len(line) < 300  # a 400-digit value is shortened in the message


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["space", "sample", "--n", "99999999999"], "--n: '99999999999' is outside 1..100000"),
        (["search", "--out", "R", "--eval-cost-epochs", "1e308"], "--eval-cost-epochs: '1e308' is outside [0, 1000]"),
        (["search", "--out", "R", "--seed", "-1"], "--seed: '-1' is outside 0..4294967295"),
        (["train", "0", "--seed", "4294967296"], "--seed: '4294967296' is outside 0..4294967295"),
        (["compare", "--out", "C", "--time-budget", "2000,1e308"], "--time-budget: '1e308' is outside (0, 1e+09]"),
        (["compare", "--out", "C", "--workers", "1,,4"], "--workers: '1,,4' has an empty item"),
        (["train", "0", "--lr", "1e39"], "--lr: '1e39' is outside (0, 3.40282e+38]"),
        (["darts", "--threads", str((os.cpu_count() or 1) + 1)], "this machine has"),
    ],
)
def test_the_reported_inputs_are_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line(*_run(argv, capsys), needle)
    assert list(tmp_path.iterdir()) == []


def test_types_accept_their_whole_range():
    assert argtypes.seed("0") == 0 and argtypes.seed("4294967295") == 2**32 - 1
    assert argtypes.eval_cost_epochs("0") == 0.0 and argtypes.gpus("0") == 0.0
    assert argtypes.learning_rate("1e30") == 1e30
    assert argtypes.comma_list(argtypes.workers)(" 1, 4,16") == [1, 4, 16]
    assert argtypes.cpu_threads(str(os.cpu_count() or 1)) == (os.cpu_count() or 1)
    for bad in ("0", "-0.0", "nan", "1e10"):
        with pytest.raises(argparse.ArgumentTypeError):
            argtypes.seconds(bad)


# --- devices --------------------------------------------------------------------------------------------------


def _absent_devices() -> list[str]:
    """Device names this torch build and machine do not have (facts asked of torch itself, not of nasforge)."""
    beyond_last_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 7
    absent = ["foo", "meta", "cpu:1", "cuda:-1", f"cuda:{beyond_last_gpu}"]
    if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        absent.append("mps")
    if not (hasattr(torch, "xpu") and torch.xpu.is_available()):
        absent.append("xpu")
    if not torch.cuda.is_available():
        absent.append("cuda")
    return absent


@pytest.mark.parametrize("name", _absent_devices())
def test_a_device_this_build_lacks_is_a_config_error(name):
    with pytest.raises(ConfigError, match="use auto or one of: cpu"):
        select_device(name)


def test_devices_this_machine_has_are_accepted():
    assert available_devices()[0] == "cpu"
    assert select_device("cpu:0") == torch.device("cpu", 0)
    for name in available_devices():
        assert select_device(name).type == name.split(":")[0]
    if torch.cuda.is_available():
        assert f"cuda:{torch.cuda.device_count() - 1}" in available_devices()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "0", "--dataset", "mnist", "--out", "T"],
        ["darts", "--out", "D"],
        ["train-genotype", "G", "--out", "G/retrain"],
        ["search", "--train", "--n-iter", "1", "--out", "S"],
    ],
    ids=lambda argv: argv[0],
)
@pytest.mark.parametrize("device", [d for d in _absent_devices() if d in ("mps", "xpu", "foo", "cuda:7", "cuda")])
def test_every_training_command_refuses_a_missing_device_before_any_work(argv, device, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _run([*argv, "--device", device], capsys)
    _one_line(code, err, f"'{device}'", "use auto or one of: cpu")
    assert list(tmp_path.iterdir()) == []
