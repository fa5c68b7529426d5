"""gradlab.open_study on real studies (shipped study configs, shortened), checked against a raw h5py read."""

import os

import h5py
import numpy
import pytest

import gradlab


def raw_runs(index):
    with h5py.File(index, "r") as file:
        runs = file["runs"]
        columns = {key: runs[key].asstr()[()] if runs[key].dtype.kind == "O" else runs[key][()]
                   for key in runs if key != "param"}
        for key in file["swept_keys"].asstr()[()]:
            columns[f"param/{key}"] = runs["param"][key].asstr()[()]
    return columns


def test_one_row_per_run_with_the_index_columns(batchnorm_study):
    study = gradlab.open_study(batchnorm_study)
    columns = raw_runs(f"{batchnorm_study}/study.h5")
    assert len(study) == 2 * 2 * 3
    assert list(study.columns[:5]) == ["index", "name", "status", "verdict", "final_loss"]
    for name in ("index", "name", "status", "verdict", "final_loss", "diverged_at", "seed", "message"):
        assert list(study[name]) == list(columns[name]), name
    assert set(study["status"]) == {"completed"}
    assert gradlab.open_study(f"{batchnorm_study}/study.h5").equals(study)


def test_swept_keys_under_full_and_short_names_as_numbers_where_they_are(batchnorm_study):
    study = gradlab.open_study(batchnorm_study)
    columns = raw_runs(f"{batchnorm_study}/study.h5")
    assert study.attrs["swept_keys"] == {"model.layers.0.repeat": "repeat", "model.layers.0.layers.1": "1"}
    assert study["model.layers.0.repeat"].dtype == numpy.int64
    assert list(study["repeat"]) == [int(value) for value in columns["param/model.layers.0.repeat"]]
    # A null (removed layer) is written by yaml-cpp as "~" and shown as "null".
    assert list(study["model.layers.0.layers.1"]) == [
        "null" if value == "~" else value for value in columns["param/model.layers.0.layers.1"]]
    assert set(study["model.layers.0.layers.1"]) == {"null", "batchnorm"}


def test_trace_column_opens_each_run(batchnorm_study):
    study = gradlab.open_study(batchnorm_study)
    for row in study.itertuples():
        assert os.path.isabs(row.trace) and os.path.exists(row.trace)
        trace = gradlab.open_trace(row.trace)
        assert trace.name == row.name
        assert trace.scalars["loss"].iloc[-1] == row.final_loss
        # The removed (null) layer is gone: without batch norm, repeat x (dense, sigmoid) + the output dense.
        with_norm = study.loc[row.Index, "model.layers.0.layers.1"] == "batchnorm"
        assert len(trace.layer_names) == row.repeat * (3 if with_norm else 2) + 1
        assert ("batchnorm" in " ".join(trace.layer_names)) == with_norm


def test_metric_columns_a_newer_index_adds_appear_without_a_change(batchnorm_study, copy_of):
    index = copy_of(f"{batchnorm_study}/study.h5")
    rows = len(gradlab.open_study(batchnorm_study))
    added = numpy.linspace(0.1, 0.2, rows)
    # This gradlab writes these columns itself; replaced here by known values, plus one no gradlab writes yet.
    assert {"final_eval_loss", "signal_ratio_init", "timestep_ratio_final"} <= set(gradlab.open_study(index).columns)
    with h5py.File(index, "a") as file:
        for name in ("final_eval_loss", "signal_ratio_init", "timestep_ratio_final", "future_metric"):
            if name in file["runs"]:
                del file["runs"][name]
            file["runs"][name] = added
    study = gradlab.open_study(index)
    numpy.testing.assert_array_equal(study["final_eval_loss"].to_numpy(), added)
    numpy.testing.assert_array_equal(study["future_metric"].to_numpy(), added)
    assert {"final_eval_loss", "signal_ratio_init", "timestep_ratio_final", "final_loss"} <= set(
        gradlab.metric_columns(study))
    assert "repeat" not in gradlab.metric_columns(study)


def test_resolve_key_accepts_unique_short_keys(batchnorm_study):
    study = gradlab.open_study(batchnorm_study)
    assert gradlab.resolve_key(study, "repeat") == "model.layers.0.repeat"
    assert gradlab.resolve_key(study, "1") == "model.layers.0.layers.1"
    assert gradlab.resolve_key(study, "layers.0.repeat") == "model.layers.0.repeat"
    assert gradlab.resolve_key(study, "final_loss") == "final_loss"
    with pytest.raises(KeyError, match="no column or swept key 'depth'.*swept keys: model.layers.0.repeat"):
        gradlab.resolve_key(study, "depth")


def test_short_labels_match_the_sweep_run_names():
    assert gradlab.short_labels(["model.layers.0.units", "model.layers.2.units", "optimizer.lr"]) == {
        "model.layers.0.units": "0.units", "model.layers.2.units": "2.units", "optimizer.lr": "lr"}


def test_diverged_runs_and_float_keys(large_study):
    study = gradlab.open_study(large_study)
    assert len(study) == 36
    assert study["lr"].dtype == numpy.float64 and sorted(set(study["lr"]))[0] == 1e-6
    diverged = study[study["status"] == "diverged"]
    assert len(diverged) > 0 and (diverged["verdict"] == "diverged").all()
    assert (diverged["diverged_at"] >= 0).all()


def test_files_that_are_not_studies_are_refused(traces, batchnorm_study, copy_of, tmp_path):
    with pytest.raises(gradlab.GradlabFileError, match="schema is 'gradlab-trace', expected 'gradlab-study'"):
        gradlab.open_study(traces["deep"])
    with pytest.raises(gradlab.GradlabFileError, match="no such file"):
        gradlab.open_study(tmp_path)  # a folder without study.h5
    index = copy_of(f"{batchnorm_study}/study.h5")
    with h5py.File(index, "a") as file:
        file.attrs["schema_version"] = numpy.int64(3)
    with pytest.raises(gradlab.GradlabFileError, match="schema_version 3, this reader knows 1"):
        gradlab.open_study(index)
