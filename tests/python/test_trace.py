"""gradlab.open_trace on real traces of shipped configs, every table checked against a raw h5py read."""

import h5py
import numpy
import pandas
import pytest

import gradlab


def raw(path, name):
    with h5py.File(path, "r") as file:
        return file[name][()]


def raw_strings(path, name):
    with h5py.File(path, "r") as file:
        return list(file[name].asstr()[()])


def test_scalars_are_the_one_dimensional_trace_columns_indexed_by_step(traces):
    trace = gradlab.open_trace(traces["deep"])
    scalars = trace.scalars
    assert list(scalars.index) == list(raw(traces["deep"], "trace/step"))
    assert scalars.index.name == "step"
    for column in ("loss", "reg_loss", "lr", "grad_norm"):
        numpy.testing.assert_array_equal(scalars[column].to_numpy(), raw(traces["deep"], f"trace/{column}"))
    assert "signal_grad_norm" not in scalars.columns  # 2-D columns are per_layer / per_param
    assert scalars.index[-1] == 29  # the last step is always traced


def test_clipping_columns_appear_in_scalars_when_the_run_clips(traces):
    scalars = gradlab.open_trace(traces["lstm"]).scalars
    numpy.testing.assert_array_equal(scalars["clipped"].to_numpy(), raw(traces["lstm"], "trace/clipped"))
    assert "grad_norm_clipped" in scalars.columns
    assert "forget_gate_mean/layers.0.lstm" in scalars.columns  # per-layer [S] statistics by group/layer


def test_per_layer_is_a_long_table_named_from_meta(traces):
    trace = gradlab.open_trace(traces["deep"])
    table = trace.per_layer("signal_grad_norm")
    values = raw(traces["deep"], "trace/signal_grad_norm")
    steps = raw(traces["deep"], "trace/step")
    layers = raw_strings(traces["deep"], "meta/layer_names")
    assert list(table.columns) == ["step", "layer", "value"]
    assert len(table) == values.size
    wide = table.pivot(index="step", columns="layer", values="value")[layers]
    numpy.testing.assert_array_equal(wide.to_numpy(), values)
    assert list(wide.index) == list(steps)
    assert isinstance(table["layer"].iloc[0], str)
    assert trace.layer_names == layers and layers[0] == "layers.0.dense"


def test_per_param_is_a_long_table_named_from_meta(traces):
    trace = gradlab.open_trace(traces["deep"])
    table = trace.per_param("update_norm")
    params = raw_strings(traces["deep"], "meta/param_names")
    first = table[table["step"] == table["step"].iloc[0]]
    assert list(first["param"]) == params
    numpy.testing.assert_array_equal(first["value"].to_numpy(), raw(traces["deep"], "trace/update_norm")[0])


def test_unknown_columns_are_refused_listing_what_exists(traces):
    trace = gradlab.open_trace(traces["deep"])
    with pytest.raises(KeyError, match="signal_grad_nrom.*available: .*signal_grad_norm"):
        trace.per_layer("signal_grad_nrom")
    with pytest.raises(KeyError, match="available: .*param_grad_norm"):
        trace.per_param("signal_grad_norm")  # a per-layer column is not a per-parameter one


def test_timesteps_show_truncated_bptt_as_exact_zeros(traces):
    trace = gradlab.open_trace(traces["lstm"])
    assert trace.recurrent_layers == ["layers.0.lstm"]
    table = trace.timesteps()  # the only recurrent layer
    values = raw(traces["lstm"], "trace/timestep_grad_norm/layers.0.lstm")
    numpy.testing.assert_array_equal(table.to_numpy(), values)
    assert list(table.columns) == list(range(1, 101)) and table.columns.name == "t"
    # truncate: 20 over T = 100: no gradient reaches h_1 .. h_80, the last chunk gets some.
    assert (table.loc[:, 1:80] == 0).all().all()
    assert (table.loc[:, 81:100] > 0).all().all()
    assert table.equals(trace.timesteps("layers.0.lstm"))


def test_timesteps_of_a_model_without_recurrent_layers_is_an_error(traces):
    with pytest.raises(KeyError, match="no recurrent layer"):
        gradlab.open_trace(traces["deep"]).timesteps()
    with pytest.raises(KeyError, match="available: layers.0.lstm"):
        gradlab.open_trace(traces["lstm"]).timesteps("layers.3.lstm")


def test_events_have_decoded_strings(traces):
    events = gradlab.open_trace(traces["deep"]).events
    assert list(events.columns)[:6] == ["step", "kind", "where", "timestep", "value", "message"]
    assert list(events["kind"]) == raw_strings(traces["deep"], "events/kind")
    assert "vanishing" in set(events["kind"])
    assert all(isinstance(message, str) for message in events["message"])


def test_eval_is_indexed_by_step_with_accuracy_for_classification(traces):
    evaluations = gradlab.open_trace(traces["spirals"]).eval
    assert list(evaluations.index) == list(raw(traces["spirals"], "eval/step"))
    numpy.testing.assert_array_equal(evaluations["accuracy"].to_numpy(), raw(traces["spirals"], "eval/accuracy"))
    assert "accuracy" not in gradlab.open_trace(traces["deep"]).eval.columns


def test_config_theory_status(traces):
    trace = gradlab.open_trace(traces["deep"])
    assert trace.status == "completed" and trace.status_message == "30 steps"
    assert trace.config["name"] == "deep_sigmoid" and trace.config["training"]["steps"] == 30
    assert trace.name == "deep_sigmoid"
    assert trace.config["detectors"]["vanishing"]["ratio"] == 1e-5  # written 1e-05: a float, not a string
    assert trace.theory["activation"] == "sigmoid"
    with h5py.File(traces["deep"], "r") as file:
        assert trace.theory["chi_1"] == file["theory"].attrs["chi_1"]
        assert trace.attrs["seed"] == file.attrs["seed"]
    assert isinstance(trace.attrs["schema_version"], int)


def test_a_killed_trace_is_read_up_to_its_shortest_column(traces, copy_of):
    path = copy_of(traces["deep"])
    rows = len(raw(path, "trace/step"))
    with h5py.File(path, "a") as file:  # as a kill mid-flush leaves it: one column a row longer
        file["trace/loss"].resize((rows + 1,))
    trace = gradlab.open_trace(path)
    assert len(trace.scalars) == rows
    assert len(trace.per_layer("signal_grad_norm")) == rows * len(trace.layer_names)


def test_files_that_are_not_traces_are_refused_by_name(traces, batchnorm_study, tmp_path):
    text = tmp_path / "text.h5"
    text.write_text("not HDF5")
    with pytest.raises(gradlab.GradlabFileError, match=f"{text}: not an HDF5 file"):
        gradlab.open_trace(text)
    with pytest.raises(gradlab.GradlabFileError, match="no such file"):
        gradlab.open_trace(tmp_path / "missing.h5")
    with pytest.raises(gradlab.GradlabFileError, match="schema is 'gradlab-study', expected 'gradlab-trace'"):
        gradlab.open_trace(f"{batchnorm_study}/study.h5")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as file:
        file["x"] = [1, 2]
    with pytest.raises(gradlab.GradlabFileError, match="schema is missing"):
        gradlab.open_trace(plain)


def test_a_newer_schema_version_is_refused(traces, copy_of):
    path = copy_of(traces["deep"])
    with h5py.File(path, "a") as file:
        file.attrs["schema_version"] = numpy.int64(2)
    with pytest.raises(gradlab.GradlabFileError, match="newer gradlab: gradlab-trace schema_version 2, this reader knows 1"):
        gradlab.open_trace(path)


def test_column_reads_any_trace_dataset(traces):
    trace = gradlab.open_trace(traces["lstm"])
    spectral = trace.column("recurrent_spectral_norm/layers.0.lstm")
    assert isinstance(spectral, pandas.DataFrame) and spectral.shape[1] == 4  # i, f, g, o
    numpy.testing.assert_array_equal(spectral.to_numpy(),
                                     raw(traces["lstm"], "trace/recurrent_spectral_norm/layers.0.lstm"))
    with pytest.raises(KeyError, match="no dataset /trace/nothing"):
        trace.column("nothing")
