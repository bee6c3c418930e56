"""Tests of planktonlm.stats.shift_tables: the shifts config (schema + cross-field checks) and the writer."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from planktonlm.config import build_config
from planktonlm.errors import PlanktonlmInputError
from planktonlm.stats.shift_tables import MODELS_NOT_KEPT, ShiftResults, ShiftsConfig, write_shift_outputs, write_shift_tables


def test_shifts_config_validation():
    cfg = build_config(ShiftsConfig, "shifts", models=["ridge", "pls"], transformations=["hellinger"])
    assert cfg.models == ("ridge", "pls") and isinstance(cfg.transformations, tuple)
    assert cfg.n_permutations == 999  # the schema's default
    with pytest.raises(PlanktonlmInputError) as err:
        build_config(ShiftsConfig, "shifts", models=["ridge", "svm"], alpha=1.5, n_splits=1)
    assert {p.column for p in err.value.problems} == {"shifts.models.1", "shifts.alpha", "shifts.n_splits"}
    with pytest.raises(TypeError):
        ShiftsConfig(models=("ridge",))  # no defaults in the dataclass: they live in the schema


def test_cv_scheme_and_sample_settings_are_validated():
    with pytest.raises(PlanktonlmInputError) as err:
        build_config(ShiftsConfig, "shifts", cv_schemes=["loo", "kfold"], profile_samples="some", primary_model="svm",
                     cv_grouping="month", permutation_mode="blocks_of_3")
    assert {p.column for p in err.value.problems} == {"shifts.cv_schemes.1", "shifts.profile_samples", "shifts.primary_model",
                                                      "shifts.cv_grouping", "shifts.permutation_mode"}


def test_settings_that_must_agree_with_each_other():
    # What the schema cannot say: the primary model among the models, lists without repeats.
    with pytest.raises(PlanktonlmInputError) as err:
        build_config(ShiftsConfig, "shifts", models=["pls", "rf"], primary_transformation="clr", predict_transformations=["hellinger"],
                     env_targets=["t", "t"], transformations=["hellinger", "hellinger"])
    assert {p.column for p in err.value.problems} == {"shifts.primary_model", "shifts.primary_transformation", "shifts.env_targets",
                                                      "shifts.transformations"}


def test_models_pickle_is_written_even_when_models_are_not_kept(tmp_path):
    results = ShiftResults({"vif": pd.DataFrame({"variable": ["t"], "vif": [1.25]})}, models={"ridge": [1, 2]})
    write_shift_tables(results, tmp_path / "kept")
    assert pickle.loads((tmp_path / "kept" / "models.pkl").read_bytes()) == {"ridge": [1, 2]}
    assert (tmp_path / "kept" / "vif.tsv").read_text() == "variable\tvif\nt\t1.25\n"
    write_shift_tables(results, tmp_path / "dropped", save_models=False)
    assert pickle.loads((tmp_path / "dropped" / "models.pkl").read_bytes()) == MODELS_NOT_KEPT
    with pytest.raises(KeyError, match="models"):
        write_shift_outputs(results, {"vif": tmp_path / "vif.tsv"}, save_models=True)
    assert not (tmp_path / "vif.tsv").exists()
