"""SearchSettings: one search's settings, checked once, named as settings in the library and as flags on the CLI."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from nasforge.cli.main import build_parser
from nasforge.errors import SettingError
from nasforge.optimizers import create_optimizer
from nasforge.search.settings import SearchSettings
from nasforge.search.study import Study


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [({"workers": 0}, "workers"), ({"time_budget": -5.0}, "time_budget"), ({"n_iter": 0}, "n_iter"),
     ({"max_retries": -1}, "max_retries"), ({"train_fraction": 1.5}, "train_fraction"), ({"seed": -1}, "seed"),
     ({"executor": "dask"}, "executor"), ({"optimizer": "bogus"}, "optimizer"), ({"benchmark": "mnist"}, "benchmark"),
     ({"address": "h:1"}, "address"), ({"train": True, "workers": 2, "executor": "local"}, "executor")],
)  # fmt: skip
def test_a_bad_setting_is_one_error_naming_the_setting_then_the_flag(kwargs, setting):
    with pytest.raises(SettingError) as caught:
        SearchSettings(**kwargs)
    error = caught.value
    assert error.setting == setting
    flag = "--" + setting.replace("_", "-")
    assert flag not in str(error)  # the library speaks of settings
    spelled = error.spelled(lambda name: "--" + name.replace("_", "-"))
    if error.whole:  # an unknown name: the message names it and the known ones, as the registry words it
        assert f"unknown {'benchmark dataset' if setting == 'benchmark' else setting} " in spelled
    else:
        assert spelled.startswith(flag)  # the CLI speaks of flags


def test_the_default_trial_count_depends_on_the_mode():
    # The seed exercise: 100 benchmark lookups, or 5 trained models; a budget alone sets no count.
    assert SearchSettings().limits.n_iter == 100
    assert SearchSettings(train=True).limits.n_iter == 5
    assert SearchSettings(time_budget=1000.0).limits.n_iter is None


def test_a_stored_study_gives_back_the_settings_it_was_run_with():
    settings = SearchSettings(optimizer="rea", seed=7, benchmark="cifar100", eval_cost_epochs=0.5, time_budget=4e4,
                              workers=4, store="/abs/store")  # fmt: skip
    evaluator_config = {"kind": "benchmark", "dataset": "cifar100", "eval_cost_epochs": 0.5,
                        "objective": {12: "valid_acc_12ep", 200: "valid_acc"}, "default_fidelity": 12}  # fmt: skip
    optimizer = create_optimizer("rea", 7)
    stored_config = Study.in_memory(settings.study_config(optimizer.config(), evaluator_config)).config  # as JSON
    again = SearchSettings(**SearchSettings.stored(stored_config))
    # The optimizer's recorded options come back as options (REA's population 10, sample size 3, ...).
    assert dict(again.optimizer_options) == {"population_size": 10, "sample_size": 3, "allow_repeats": True}
    assert replace(again, optimizer_options={}) == settings
    assert create_optimizer("rea", 7, **again.optimizer_options).config() == optimizer.config()


def test_a_search_leaves_its_parsed_arguments_unchanged(real_data_dir, tmp_path):
    argv = ["search", "--optimizer", "rea", "--n-iter", "12", "--out", str(tmp_path / "run"), "--no-plots",
            "--data-dir", str(real_data_dir)]  # fmt: skip
    args = build_parser().parse_args(argv)
    before = copy.deepcopy(vars(args))
    assert args.func(args) == 0
    assert vars(args) == before and args.seed is None and args.space is None  # defaults are the settings' own
