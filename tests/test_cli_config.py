"""``--config FILE.toml``: keys are a command's long options, command-line flags win, bad keys are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nasforge.cli.main import main


def _search(tmp_path: Path, data_dir: Path, toml: str, *flags: str) -> tuple[int, str, str]:
    config = tmp_path / "search.toml"
    config.write_text(toml)
    return main(["search", "--config", str(config), "--data-dir", str(data_dir), "--no-plots", *flags])


def test_config_keys_are_options_and_flags_override(tmp_path: Path, data_dir: Path, capsys) -> None:
    # --out is required: the file may give it.
    toml = f'optimizer = "rea"\nn_iter = 3\nseed = 4\njson = true\nout = "{tmp_path / "run"}"\n'
    code = _search(tmp_path, data_dir, toml, "--seed", "5")
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (summary["optimizer"], summary["trials"], summary["seed"]) == ("rea", 3, 5)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [("bogus = 1\n", "unknown key 'bogus' for 'nasforge search'"),
     ("json = 3\n", "json is a switch; give true or false"),
     ("n-iter = [\n", "is not valid TOML")],
)  # fmt: skip
def test_bad_config_is_one_line_exit_2(tmp_path: Path, data_dir: Path, capsys, toml: str, expected: str) -> None:
    out = tmp_path / "run"
    code = _search(tmp_path, data_dir, toml, "--out", str(out))
    err = capsys.readouterr().err.strip()
    assert code == 2 and expected in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_every_command_accepts_config(capsys) -> None:
    for command in (["train"], ["darts"], ["bench", "query"], ["space", "sample"], ["search"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "--config FILE.toml" in capsys.readouterr().out


def test_optimizer_args_are_checked_recorded_and_kept_on_resume(tmp_path: Path, data_dir: Path, capsys) -> None:
    from nasforge.search.study import Study

    out = tmp_path / "run"
    base = ["search", "--optimizer", "rea", "--data-dir", str(data_dir), "--no-plots", "--out", str(out)]
    assert main([*base, "--optimizer-args", "population_size=4,sample_size=2", "--n-iter", "6"]) == 0
    with Study.open(out) as study:
        recorded = study.config["optimizer"]
    assert (recorded["population_size"], recorded["sample_size"]) == (4, 2)
    capsys.readouterr()
    assert main([*base, "--optimizer-args", "population_size=5", "--resume", "--n-iter", "6"]) == 2
    assert "population_size=5 given, 4 stored" in capsys.readouterr().err
    cases = (("pop=3", "rea has no setting 'pop'; its settings: population_size"),
             ("population_size=0", "outside its range"), ("allow_repeats=maybe", "true or false"))  # fmt: skip
    for bad, expected in cases:
        assert main([*base[:-1], str(tmp_path / "other"), "--optimizer-args", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "other").exists()


def test_a_value_starting_with_a_dash_reaches_its_option(tmp_path: Path, capsys) -> None:
    # Passed as two tokens, argparse would read "-5,14" as an unknown option and say "expected one argument".
    config = tmp_path / "pareto.toml"
    config.write_text('objectives = "test_acc:max,latency_gold_6226:min"\nbudgets = [-5, 14]\n')
    with pytest.raises(SystemExit) as exc:
        main(["pareto", "--config", str(config)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert "argument --budgets: '-5' is outside (0, 1e+09]" in err
