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


# --- /probes ---------------------------------------------------------------------------------------------------

SPECTRUM = gradlab.JacobianSpectrum


def test_probes_are_listed_and_their_tables_read_as_in_the_file(probe_trace):
    trace = gradlab.open_trace(probe_trace)
    with h5py.File(probe_trace, "r") as file:
        assert trace.probes == list(file["probes"]) == ["coarse", "jacobian_spectrum"]
        for name in trace.probes:
            probe = trace.probe(name)
            group = file[f"probes/{name}"]
            assert probe.name == name and probe.kind == "jacobian_spectrum" and probe.path == f"/probes/{name}"
            numpy.testing.assert_array_equal(probe.steps, group["step"][()])
            datasets = {key for key, item in group.items() if isinstance(item, h5py.Dataset)} - {"step"}
            assert set(probe.tables) == datasets
            for table, values in probe.tables.items():
                assert isinstance(values, numpy.ndarray) and len(values) == len(probe.steps)
                numpy.testing.assert_array_equal(values, group[table][()])
            assert probe.theory == {key: (value.decode() if isinstance(value, bytes) else value)
                                    for key, value in group["theory"].attrs.items()}
    spectrum = trace.probe("jacobian_spectrum")
    assert list(spectrum.steps) == [0, 10]  # at_init, at_end of 10 steps
    assert list(trace.probe("coarse").steps) == [0, 5, 10]  # every: 5
    assert spectrum.table(SPECTRUM.MEAN_SQ).shape == (2, 3)  # [S x examples]
    assert spectrum.table(SPECTRUM.SINGULAR_VALUES).shape == (2, 3, 32)
    assert spectrum.table(SPECTRUM.QUANTILES).shape == (2, 3, SPECTRUM.QUANTILE_COUNT)
    # max_values 8 < K = 32: no singular_values, only their summaries.
    assert SPECTRUM.SINGULAR_VALUES not in trace.probe("coarse").tables
    assert SPECTRUM.QUANTILES in trace.probe("coarse").tables


def test_partial_jacobians_are_subgroups_with_their_own_step_column(probe_trace):
    spectrum = gradlab.open_trace(probe_trace).probe("jacobian_spectrum")
    assert list(spectrum.groups) == ["from/layers.1.dense", "from/layers.2.dense"]
    assert "theory" not in spectrum.groups and "from" not in spectrum.groups
    with h5py.File(probe_trace, "r") as file:
        for path, tables in spectrum.groups.items():
            assert tables is spectrum.group(path) and tables.path == f"/probes/jacobian_spectrum/{path}"
            numpy.testing.assert_array_equal(tables.steps, file[f"probes/jacobian_spectrum/{path}/step"][()])
            for name, values in tables.tables.items():
                numpy.testing.assert_array_equal(values, file[f"probes/jacobian_spectrum/{path}/{name}"][()])
            assert tables.theory is None


def test_the_spectrum_of_a_linear_net_is_that_of_the_product_of_its_weights(probe_trace):
    """dy/dx of y = W_3 W_2 W_1 W_0 x at the end of training is the product of /model's final weights; from the
    output of layer 1 it is W_3 W_2. numpy's SVD of those products, not gradlab's, is the reference."""
    trace = gradlab.open_trace(probe_trace)
    spectrum = trace.probe("jacobian_spectrum")
    weights = [raw(probe_trace, f"model/parameters/layers.{layer}.dense.W") for layer in range(4)]
    expected = {"": numpy.linalg.svd(weights[3] @ weights[2] @ weights[1] @ weights[0], compute_uv=False),
                "from/layers.1.dense": numpy.linalg.svd(weights[3] @ weights[2], compute_uv=False),
                "from/layers.2.dense": numpy.linalg.svd(weights[3], compute_uv=False)}
    for path, singular_values in expected.items():
        tables = spectrum.group(path) if path else spectrum
        last = tables.at(10)  # at_end: the final model, as /model stores it
        for example in range(3):  # a linear net's Jacobian is the same for every input
            numpy.testing.assert_allclose(last[SPECTRUM.SINGULAR_VALUES][example], singular_values, rtol=0, atol=1e-12)
    # Orthogonal initialisation: at step 0 every singular value of the product is 1.
    numpy.testing.assert_allclose(spectrum.at(0)[SPECTRUM.SINGULAR_VALUES], 1.0, rtol=0, atol=1e-12)
    assert spectrum.theory[SPECTRUM.Theory.APPLIES] == 0 and "linear" in spectrum.theory[SPECTRUM.Theory.NOTE]


def test_jacobian_spectrum_summaries_agree_with_its_singular_values(probe_trace):
    spectrum = gradlab.open_trace(probe_trace).probe("jacobian_spectrum")
    for tables in [spectrum, *spectrum.groups.values()]:
        values = tables.table(SPECTRUM.SINGULAR_VALUES)
        assert (numpy.diff(values, axis=-1) <= 0).all()  # descending
        squares = values ** 2
        numpy.testing.assert_allclose(tables.table(SPECTRUM.MEAN_SQ), squares.mean(axis=-1), rtol=1e-12)
        numpy.testing.assert_allclose(tables.table(SPECTRUM.VAR_SQ), squares.var(axis=-1), rtol=1e-9, atol=1e-15)
        numpy.testing.assert_array_equal(tables.table(SPECTRUM.MAX), values[..., 0])
        numpy.testing.assert_array_equal(tables.table(SPECTRUM.MIN), values[..., -1])
        numpy.testing.assert_allclose(tables.table(SPECTRUM.LOG_CONDITION), numpy.log(values[..., 0] / values[..., -1]),
                                      rtol=1e-12, atol=1e-15)
        quantiles = numpy.moveaxis(numpy.percentile(values, SPECTRUM.QUANTILE_PERCENTS, axis=-1), 0, -1)
        numpy.testing.assert_allclose(tables.table(SPECTRUM.QUANTILES), quantiles, rtol=1e-12)
        numpy.testing.assert_array_equal(tables.table(SPECTRUM.QUANTILES)[..., -1], tables.table(SPECTRUM.MAX))
        numpy.testing.assert_array_equal(tables.table(SPECTRUM.QUANTILES)[..., 0], tables.table(SPECTRUM.MIN))


def test_theory_attributes_are_a_dict_named_as_in_the_schema(spectrum_study):
    frame = gradlab.open_study(spectrum_study)
    gaussian = frame[(frame["W"] == "lecun_normal") & (frame["repeat"] == 4)].iloc[0]
    theory = gradlab.open_trace(gaussian.trace).probe().theory  # the run's only probe
    names = SPECTRUM.Theory
    assert theory[names.APPLIES] == 1 and theory[names.WEIGHTS] == "iid" and theory[names.ACTIVATION] == "tanh"
    assert theory[names.DEPTH] == 4 and theory[names.WIDTH] == 32
    # Free probability (docs/theory.md): mean chi^L, normalised variance L mu_2 / mu_1^2 for iid weights.
    assert theory[names.MEAN_SQ] == pytest.approx(theory[names.CHI] ** 4, rel=1e-12)
    assert theory[names.NORMALISED_VAR_SQ] == pytest.approx(4 * theory[names.MU2] / theory[names.MU1] ** 2, rel=1e-12)
    assert all(isinstance(theory[key], float) for key in (names.Q_STAR, names.MEAN_SQ, names.NORMALISED_VAR_SQ))


def test_probe_lookups_that_fail_name_the_file_and_what_exists(probe_trace, traces):
    trace = gradlab.open_trace(probe_trace)
    with pytest.raises(KeyError, match="2 probes, name one: coarse, jacobian_spectrum"):
        trace.probe()
    with pytest.raises(KeyError, match=f"{probe_trace}: no probe 'jacobian' in /probes .available: coarse, jacobian_"):
        trace.probe("jacobian")
    spectrum = trace.probe("jacobian_spectrum")
    with pytest.raises(KeyError, match=r"step 5 is not a probe step of /probes/jacobian_spectrum \(probe steps: 0, 10\)"):
        spectrum.at(5)
    with pytest.raises(KeyError, match="no table /probes/coarse/singular_values .available: .*quantiles"):
        trace.probe("coarse").table(SPECTRUM.SINGULAR_VALUES)
    with pytest.raises(KeyError, match="no group of tables /probes/jacobian_spectrum/from/layers.3.dense .available: "
                                       "from/layers.1.dense, from/layers.2.dense"):
        spectrum.group("from/layers.3.dense")
    plain = gradlab.open_trace(traces["deep"])
    assert plain.probes == []
    with pytest.raises(KeyError, match="the run has no probes"):
        plain.probe()


def test_a_killed_trace_is_read_up_to_the_shortest_probe_column(probe_trace, copy_of):
    path = copy_of(probe_trace)
    with h5py.File(path, "a") as file:  # as a kill mid-flush leaves it: one table a row longer than step
        file["probes/coarse/max"].resize((4, 2))
        file["probes/coarse/step"].resize((2,))
    coarse = gradlab.open_trace(path).probe("coarse")
    assert list(coarse.steps) == [0, 5]
    assert all(len(values) == 2 for values in coarse.tables.values())


def test_a_group_of_tables_without_a_step_column_is_refused(probe_trace, copy_of):
    path = copy_of(probe_trace)
    with h5py.File(path, "a") as file:
        del file["probes/jacobian_spectrum/from/layers.2.dense/step"]
    with pytest.raises(gradlab.GradlabFileError,
                       match="/probes/jacobian_spectrum/from/layers.2.dense holds tables .* but no 'step' column"):
        gradlab.open_trace(path).probe("jacobian_spectrum")


def test_the_probe_names_mirror_probe_schema_hpp():
    """Every constant of framework/include/gradlab/probe_schema.hpp has its twin in gradlab.probes (namespace
    jacobianSpectrum::theory -> JacobianSpectrum.Theory, meanSq -> MEAN_SQ) with the same value, and back."""
    import re
    from conftest import SOURCE_DIR
    import gradlab.probes as probes
    with open(f"{SOURCE_DIR}/framework/include/gradlab/probe_schema.hpp", encoding="utf-8") as stream:
        header = stream.read()
    found, scope = {}, []
    for line in header.splitlines():
        opened = re.match(r"namespace (\w+(?:::\w+)*) \{", line)
        if opened:
            scope.append(opened.group(1))
        elif line.startswith("}  // namespace"):
            scope.pop()
        constant = re.match(r"inline constexpr (?:const char\*|double|int) (\w+)(\[\])? = (.+);", line.split("//")[0]
                            .strip())
        if constant:
            text = constant.group(3)
            value = text.strip('"') if text.startswith('"') else \
                tuple(float(part) for part in text.strip("{}").split(",")) if constant.group(2) else int(text)
            found[(*scope[1:], constant.group(1))] = value
    assert len(found) > 20 and scope == []

    def python_name(path):
        *classes, name = path
        return [part[0].upper() + part[1:] for part in classes], re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()

    mirrored = set()
    for path, value in found.items():
        classes, name = python_name(path)
        holder = probes
        for part in classes:
            holder = getattr(holder, part)
        mirrored.add((holder, name))
        assert getattr(holder, name, None) == value, f"probe_schema.hpp {'::'.join(path)} = {value!r}"
    python = {(holder, name)
              for holder in (probes, probes.JacobianSpectrum, probes.JacobianSpectrum.Theory, probes.GradientNoise)
              for name in vars(holder) if name.isupper() and name not in ("JacobianSpectrum", "Theory", "GradientNoise")}
    assert python == mirrored  # no name in Python that the header lacks
