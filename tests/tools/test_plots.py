"""The plotting tools (tools/plot-*) on real traces and studies of shipped configs: each writes a PNG, and the
properties the issue asks for (legend outside, shared colour scales, truncated-BPTT zeros, means over seeds)
are checked on the figure or on the numbers behind it. Every PNG made here was also looked at by eye."""

import importlib.machinery
import importlib.util
import os
import re
import struct
import subprocess
import sys

import numpy
import pytest

import gradlab

from conftest import SOURCE_DIR

TOOLS = os.path.join(SOURCE_DIR, "tools")


def tool(name, *arguments, expect_success=True):
    """Run tools/NAME with Debian's python; return the CompletedProcess."""
    process = subprocess.run([sys.executable, os.path.join(TOOLS, name), *map(str, arguments)],
                             capture_output=True, text=True, timeout=300)
    if expect_success:
        assert process.returncode == 0, process.stderr
    else:  # 1 for an error of the data, 2 for bad options (argparse)
        assert process.returncode in (1, 2), process.stdout + process.stderr
    return process


def load_tool(name):
    """Import tools/NAME (a script without .py) as a module, to test its functions."""
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), os.path.join(TOOLS, name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def png_size(path):
    """(width, height) of a PNG, after checking its signature."""
    with open(path, "rb") as file:
        header = file.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", path
    assert os.path.getsize(path) > 5000, path
    return struct.unpack(">II", header[16:24])


# --- plot-study-metric --------------------------------------------------------------------------------------------

def test_study_metric_means_over_seeds_by_hue(batchnorm_study, tmp_path):
    output = tmp_path / "metric.png"
    tool("plot-study-metric", batchnorm_study, "--x", "repeat", "--hue", "model.layers.0.layers.1",
         "--metric", "final_loss", "-o", output)
    assert png_size(output)[0] >= 600
    module = load_tool("plot-study-metric")
    values = numpy.array([0.1, 0.01, 0.001])
    centre, low, high = module.summarise(values, geometric=True)
    assert centre == pytest.approx(0.01) and (low, high) == (0.001, 0.1)
    assert module.summarise(values, geometric=False)[0] == pytest.approx(0.037)


def test_study_metric_log_axes_where_fitting():
    module = load_tool("plot-study-metric")
    assert module.wants_log([1e-6, 1e-3, 1.0], "auto")
    assert not module.wants_log([0.1, 0.2, 0.5], "auto")
    assert not module.wants_log([-1.0, 1e3], "auto")
    assert module.wants_log([0.1, 0.2], "on") and not module.wants_log([1e-9, 1], "off")


def test_study_metric_on_a_float_key_with_diverged_runs(large_study, tmp_path):
    output = tmp_path / "lr.png"
    process = tool("plot-study-metric", large_study, "--x", "lr", "--metric", "final_loss", "-o", output)
    png_size(output)
    assert "have no finite final_loss" in process.stderr  # diverged runs are counted, not drawn


def test_study_metric_errors_name_the_study_and_the_choices(batchnorm_study, tmp_path):
    bad = tmp_path / "bad.png"
    process = tool("plot-study-metric", batchnorm_study, "--x", "repeat", "--metric", "final_eval_lss", "-o", bad,
                   expect_success=False)
    assert "no numeric column 'final_eval_lss'" in process.stderr and "final_loss" in process.stderr
    process = tool("plot-study-metric", batchnorm_study, "--x", "repeat", "--metric", "final_loss", "-o", bad,
                   expect_success=False)
    assert "swept key model.layers.0.layers.1 takes 2 values" in process.stderr and "--hue" in process.stderr
    process = tool("plot-study-metric", batchnorm_study, "--x", "depth", "--metric", "final_loss", "-o", bad,
                   expect_success=False)
    assert "no column or swept key 'depth'" in process.stderr
    assert not bad.exists()


def test_study_metric_accepts_keys_zipped_with_the_plotted_ones():
    import pandas
    module = load_tool("plot-study-metric")
    frame = pandas.DataFrame({"label": ["plain", "rezero", "plain", "rezero"], "repeat": [10, 10, 100, 100],
                              "model.layers.1.layers": ["[dense]", "[residual]", "[dense]", "[residual]"],
                              "optimizer.lr": [0.1, 0.1, 0.1, 0.2]})
    frame.attrs["swept_keys"] = {"label": "label", "repeat": "repeat", "model.layers.1.layers": "layers",
                                 "optimizer.lr": "lr"}
    # The layers go with the label (zipped): one value at each point (repeat, label) of the plot.
    module.check_other_keys(frame, {"repeat", "label", "optimizer.lr"}, "study.h5", ("repeat", "label"))
    # The learning rate differs only between points (it is 0.2 at (100, rezero) alone): still one value per point.
    module.check_other_keys(frame, {"repeat", "label", "model.layers.1.layers", "seed"}, "study.h5",
                            ("repeat", "label"))
    # Without the label (and the layers that go with it), each depth would mix two variants.
    with pytest.raises(module.gradlab_tools.ToolError, match="swept key label takes 2 values"):
        module.check_other_keys(frame, {"repeat", "optimizer.lr", "seed", None}, "study.h5", ("repeat", None))
    # A learning rate that differs under one point (100 with the label averaged over) is refused too.
    with pytest.raises(module.gradlab_tools.ToolError, match="swept key optimizer.lr takes 2 values"):
        module.check_other_keys(frame, {"repeat", "label", "model.layers.1.layers", "seed"}, "study.h5",
                                ("repeat", None))


def test_study_metric_reads_metrics_a_newer_index_adds(batchnorm_study, copy_of, tmp_path):
    import h5py
    index = copy_of(os.path.join(batchnorm_study, "study.h5"))
    for name in os.listdir(batchnorm_study):  # the traces, relative to the index
        if name == "runs":
            os.symlink(os.path.join(batchnorm_study, name), tmp_path / name)
    frame = gradlab.open_study(index)
    ratio = numpy.where(frame["model.layers.0.layers.1"] == "batchnorm", 0.5, 1e-6) * frame["repeat"]
    with h5py.File(index, "a") as file:
        if "signal_ratio_init" in file["runs"]:
            del file["runs/signal_ratio_init"]
        file["runs/signal_ratio_init"] = ratio.to_numpy(dtype=float)
    output = tmp_path / "ratio.png"
    tool("plot-study-metric", index, "--x", "repeat", "--hue", "1", "--metric", "signal_ratio_init", "-o", output)
    png_size(output)


# --- plot-study-loss ----------------------------------------------------------------------------------------------

def legend_outside_axes(figure):
    """Whether every legend of the figure's first axes lies right of the axes, inside the figure."""
    figure.canvas.draw()
    axes = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    legend_box = axes.get_legend().get_window_extent(renderer)
    axes_box = axes.get_window_extent(renderer)
    figure_box = figure.bbox
    return legend_box.x0 >= axes_box.x1 and legend_box.x1 <= figure_box.x1 + 1


def loss_figure(study, hue):
    module = load_tool("plot-study-loss")
    frame = gradlab.open_study(study)
    curves = {row: module.read_loss_curve(frame.at[row, "trace"], False) for row in frame.index}
    hue_key = gradlab.resolve_key(frame, hue) if hue else None
    return module.draw(frame, curves, hue_key, True, False, "test"), frame


def test_study_loss_with_36_runs_keeps_the_legend_outside(large_study, tmp_path):
    figure, frame = loss_figure(large_study, None)
    assert len(frame) == 36
    assert legend_outside_axes(figure)
    assert len(figure.axes[0].get_legend().get_texts()) == 36
    title = figure.axes[0].title
    assert figure.bbox.contains(*title.get_window_extent().p0) and figure.bbox.contains(*title.get_window_extent().p1)
    output = tmp_path / "loss.png"
    tool("plot-study-loss", large_study, "--log", "-o", output)
    png_size(output)


def test_study_loss_hue_gives_one_colour_and_entry_per_value(large_study, tmp_path):
    figure, frame = loss_figure(large_study, "lr")
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert sorted(labels) == sorted(f"lr={value}" for value in set(frame["lr"])) and len(labels) == 6
    assert legend_outside_axes(figure)
    curves = [line for line in figure.axes[0].get_lines() if line.get_marker() != "X"]
    assert len(curves) == 36
    assert len({str(line.get_color()) for line in curves}) == 6  # one colour per learning rate
    output = tmp_path / "loss-hue.png"
    tool("plot-study-loss", large_study, "--log", "--hue", "lr", "-o", output)
    png_size(output)
    process = tool("plot-study-loss", large_study, "--hue", "momentum", "-o", tmp_path / "bad.png",
                   expect_success=False)
    assert "no column or swept key 'momentum'" in process.stderr


def test_study_loss_runs_filter_keeps_the_matching_runs(large_study, tmp_path):
    frame = gradlab.open_study(large_study)
    first = str(frame["name"].iloc[0])
    output = tmp_path / "one-run.png"
    process = tool("plot-study-loss", large_study, "--runs", "^" + re.escape(first) + "$", "-o", output)
    png_size(output)
    process = tool("plot-study-loss", large_study, "--runs", "^no such run$", "-o", tmp_path / "none.png",
                   expect_success=False)
    assert "no run's name matches --runs" in process.stderr
    process = tool("plot-study-loss", large_study, "--runs", "(", "-o", tmp_path / "bad.png", expect_success=False)
    assert "is not a regular expression" in process.stderr


# --- plot-gradient-flow -------------------------------------------------------------------------------------------

def test_gradient_flow_relative_to_output_and_fixed_scale(traces, tmp_path):
    module = load_tool("plot-gradient-flow")
    trace = gradlab.open_trace(traces["deep"])
    norms = trace.per_layer("signal_grad_norm").pivot(index="step", columns="layer", values="value")
    norms = norms[trace.layer_names].to_numpy()
    relative = module.relative_to_output(norms)
    numpy.testing.assert_allclose(relative[:, -1], 1.0)
    numpy.testing.assert_allclose(relative[:, 0], norms[:, 0] / norms[:, -1])
    output = tmp_path / "flow-relative.png"
    tool("plot-gradient-flow", traces["deep"], "--relative-to-output", "--vmin", "-14", "--vmax", "0", "-o", output)
    png_size(output)
    process = tool("plot-gradient-flow", traces["deep"], "--vmin", "1", "--vmax", "0", "-o", tmp_path / "bad.png",
                   expect_success=False)
    assert "--vmin 1.0 must be below --vmax 0.0" in process.stderr


def test_gradient_flow_vmin_vmax_set_the_colour_scale(traces, tmp_path):
    output = tmp_path / "flow-scale.png"
    process = tool("plot-gradient-flow", traces["deep"], "--vmin", "-3", "--vmax", "3", "-o", output)
    png_size(output)
    assert "outside the data's log10 range" in process.stderr  # the deep sigmoid's first layers are ~1e-13


# --- plot-layer-profile -------------------------------------------------------------------------------------------

def test_layer_profile_reads_one_step_of_each_trace(traces, tmp_path):
    module = load_tool("plot-layer-profile")
    trace = gradlab.open_trace(traces["deep"])
    norms = trace.per_layer("signal_grad_norm").pivot(index="step", columns="layer", values="value")
    norms = norms[trace.layer_names]
    step, names, values = module.profile(trace, "signal_grad_norm", None)
    assert step == int(trace.steps[0]) and names == trace.layer_names
    numpy.testing.assert_array_equal(values, norms.iloc[0].to_numpy())
    later = int(trace.steps[3])
    numpy.testing.assert_array_equal(module.profile(trace, "signal_grad_norm", later)[2], norms.loc[later].to_numpy())
    output = tmp_path / "profile.png"
    tool("plot-layer-profile", traces["deep"], traces["spirals"], "--relative-to-output", "-o", output)
    png_size(output)
    process = tool("plot-layer-profile", traces["deep"], "--step", "100000", "-o", tmp_path / "bad.png",
                   expect_success=False)
    assert "step 100000 is not a traced row of /trace/signal_grad_norm" in process.stderr
    assert traces["deep"] in process.stderr and not (tmp_path / "bad.png").exists()
    weights = [name for name in trace.param_names if name.endswith(".W")]
    step, names, values = module.profile(trace, "param_grad_norm", None, r"\.W$")
    assert names == weights and len(values) == len(weights) > 1
    table = trace.per_param("param_grad_norm")
    first = table[(table["step"] == step) & table["param"].isin(weights)]
    numpy.testing.assert_array_equal(values, first["value"].to_numpy())
    tool("plot-layer-profile", traces["deep"], "--params", r"\.W$", "-o", tmp_path / "weights.png")
    png_size(tmp_path / "weights.png")
    process = tool("plot-layer-profile", traces["deep"], "--params", "nothing-like-this", "-o", tmp_path / "bad.png",
                   expect_success=False)
    assert "no parameter matches --params 'nothing-like-this'" in process.stderr


# --- plot-timesteps -----------------------------------------------------------------------------------------------

def test_timesteps_show_truncated_bptt_zeros(traces, tmp_path):
    module = load_tool("plot-timesteps")
    table = gradlab.open_trace(traces["lstm"]).timesteps()
    logs, zeros, non_finite = module.split_norms(table.to_numpy())
    assert zeros[:, :80].all() and not zeros[:, 80:].any() and not non_finite.any()
    assert numpy.isnan(logs[:, :80]).all() and numpy.isfinite(logs[:, 80:]).all()
    config = gradlab.open_trace(traces["lstm"]).attrs["config"]
    assert module.truncation_of(config, "layers.0.lstm") == 20
    output = tmp_path / "timesteps.png"
    tool("plot-timesteps", traces["lstm"], "-o", output)
    png_size(output)


# --- plot-spectrum ------------------------------------------------------------------------------------------------

def raw_probe(path, table, probe="jacobian_spectrum"):
    import h5py
    with h5py.File(path, "r") as file:
        return file[f"probes/{probe}/{table}"][()]


def test_spectrum_figures_are_the_probe_row_of_each_run(spectrum_study):
    module = load_tool("plot-spectrum")
    frame = gradlab.open_study(spectrum_study)
    for row in frame.index:
        path = frame.at[row, "trace"]
        for step, position in ((0, 0), (10, 1)):  # at_init and at_end of 10 steps
            figures = module.run_figures(gradlab.open_trace(path), "jacobian_spectrum", step)
            values = raw_probe(path, "singular_values")[position]  # [examples x K]
            numpy.testing.assert_array_equal(figures["sigma_sq"], (values ** 2).ravel())
            numpy.testing.assert_array_equal(figures["max"], values.max(axis=1))
            # The spread from the probe's var_sq and mean_sq, and again from the singular values themselves.
            numpy.testing.assert_allclose(figures["normalised_var_sq"], raw_probe(path, "var_sq")[position]
                                          / raw_probe(path, "mean_sq")[position] ** 2, rtol=1e-15)
            squares = values ** 2
            numpy.testing.assert_allclose(figures["normalised_var_sq"], squares.var(axis=1) / squares.mean(axis=1) ** 2,
                                          rtol=1e-9)
            numpy.testing.assert_allclose(figures["mean_sq"], squares.mean(axis=1), rtol=1e-12)
        # The theory applies to the Gaussian weights at criticality only (q* = 0 is marginal for orthogonal ones).
        if frame.at[row, "W"] == "lecun_normal":
            assert figures["theory"]["applies"] == 1 and figures["theory"]["depth"] == frame.at[row, "repeat"]
        else:
            assert figures["theory"] is None


def test_spectrum_density_is_a_density_over_log10_sigma_sq():
    module = load_tool("plot-spectrum")
    generator = numpy.random.default_rng(5)
    sigma_sq = 10.0 ** generator.normal(-2.0, 0.5, size=4000)
    grid, density = module.log_density(numpy.concatenate([sigma_sq, [0.0, numpy.nan]]))  # 0 and NaN left out
    logs = numpy.log10(grid)
    assert numpy.sum(0.5 * (density[1:] + density[:-1]) * numpy.diff(logs)) == pytest.approx(1.0, abs=1e-3)
    assert logs[numpy.argmax(density)] == pytest.approx(-2.0, abs=0.1)
    # The peak of a normal density of standard deviation 0.5 (widened a little by the kernel).
    assert density.max() == pytest.approx(1 / (0.5 * numpy.sqrt(2 * numpy.pi)), rel=0.1)
    assert module.log_density(numpy.array([1.0, 0.0])) is None


def test_spectrum_points_pool_the_examples_of_one_depth_and_hue(spectrum_study):
    module = load_tool("plot-spectrum")
    frame = gradlab.open_study(spectrum_study)
    runs = [{"label": frame.at[row, "name"], "trace": frame.at[row, "trace"], "x": float(frame.at[row, "repeat"]),
             "hue": frame.at[row, "W"]} for row in frame.index]
    for run in runs:
        run["figures"] = module.run_figures(gradlab.open_trace(run["trace"]), "jacobian_spectrum", 0)
    points = module.group_figures(runs)
    assert sorted(points) == ["lecun_normal", "orthogonal"] and sorted(points["orthogonal"]) == [2.0, 4.0, 8.0]
    for run in runs:
        point = points[run["hue"]][run["x"]]
        largest = raw_probe(run["trace"], "max")[0]
        assert point["max"] == pytest.approx((largest.mean(), largest.min(), largest.max()), rel=1e-12)
        spread = raw_probe(run["trace"], "var_sq")[0] / raw_probe(run["trace"], "mean_sq")[0] ** 2
        assert point["normalised_var_sq"][0] == pytest.approx(spread.mean(), rel=1e-12)
        theory = gradlab.open_trace(run["trace"]).probe().theory
        if run["hue"] == "lecun_normal":
            assert point["theory_mean_sq"] == theory["mean_sq"]
            assert point["theory_normalised_var_sq"] == theory["normalised_var_sq"] == pytest.approx(run["x"], rel=1e-6)
        else:
            assert numpy.isnan(point["theory_mean_sq"]) and numpy.isnan(point["theory_normalised_var_sq"])
    # Figure: one density curve per run, the theory dashed for the Gaussian runs only, legends outside.
    figure = module.draw(runs, "repeat", "W", "jacobian_spectrum", 0, "test")
    density_axes, depth_axes = figure.axes
    assert len(density_axes.get_lines()) == len(runs) + 1  # + the line at sigma^2 = 1
    dashed = [line for line in depth_axes.get_lines() if line.get_linestyle() == "--" and len(line.get_xdata())]
    assert len(dashed) == 2 and all(len(line.get_xdata()) == 3 for line in dashed)  # mean and spread, 3 depths
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        assert axes.get_legend().get_window_extent(renderer).x0 >= axes.get_window_extent(renderer).x1
    assert density_axes.get_xscale() == "log"


def test_spectrum_of_a_study_and_of_traces(spectrum_study, tmp_path):
    output = tmp_path / "spectrum.png"
    tool("plot-spectrum", spectrum_study, "--hue", "W", "-o", output)
    assert png_size(output)[0] >= 700
    tool("plot-spectrum", spectrum_study, "--hue", "W", "--step", "10")  # default output in the study folder
    png_size(os.path.join(spectrum_study, "spectrum.png"))
    frame = gradlab.open_study(spectrum_study)
    gaussian = list(frame.loc[frame["W"] == "lecun_normal", "trace"])
    tool("plot-spectrum", *gaussian, "-o", tmp_path / "traces.png")  # x: the dense layers of each trace
    png_size(tmp_path / "traces.png")
    module = load_tool("plot-spectrum")
    depths = [module.trace_key(gradlab.open_trace(path), "depth") for path in gaussian]
    assert depths == list(frame.loc[frame["W"] == "lecun_normal", "repeat"])
    orthogonal = list(frame.loc[frame["W"] == "orthogonal", "trace"])
    tool("plot-spectrum", gaussian[0], orthogonal[0], "--hue", "model.layers.0.init.W.kind", "-o", tmp_path / "two.png")
    png_size(tmp_path / "two.png")


def test_spectrum_runs_filter_keeps_the_matching_runs(spectrum_study, tmp_path, monkeypatch):
    module = load_tool("plot-spectrum")
    frame = gradlab.open_study(spectrum_study)
    wanted = [name for name in frame["name"] if "orthogonal" in name]
    assert 0 < len(wanted) < len(frame)
    monkeypatch.setattr(sys, "argv", ["plot-spectrum", spectrum_study, "--runs", "orthogonal"])
    runs, _, _ = module.study_runs(module.parse_arguments())
    assert sorted(run["label"] for run in runs) == sorted(wanted)
    tool("plot-spectrum", spectrum_study, "--runs", "orthogonal", "-o", tmp_path / "orthogonal.png")
    png_size(tmp_path / "orthogonal.png")
    process = tool("plot-spectrum", spectrum_study, "--runs", "^nothing$", "-o", tmp_path / "none.png",
                   expect_success=False)
    assert "no run's name matches --runs" in process.stderr
    trace = frame["trace"].iloc[0]
    process = tool("plot-spectrum", trace, "--runs", "x", "-o", tmp_path / "t.png", expect_success=False)
    assert "--runs selects runs of a study" in process.stderr


def test_spectrum_errors_name_the_file_and_what_is_missing(spectrum_study, probe_trace, traces, tmp_path):
    bad = tmp_path / "bad.png"
    process = tool("plot-spectrum", traces["deep"], "-o", bad, expect_success=False)
    assert f"{traces['deep']}: no probe 'jacobian_spectrum' in /probes (the run has no probes" in process.stderr
    process = tool("plot-spectrum", probe_trace, "--probe", "spectrum", "-o", bad, expect_success=False)
    assert f"{probe_trace}: no probe 'spectrum' in /probes (its probes: coarse, jacobian_spectrum)" in process.stderr
    process = tool("plot-spectrum", probe_trace, "--step", "5", "-o", bad, expect_success=False)
    assert f"{probe_trace}: step 5 is not a probe step of /probes/jacobian_spectrum (probe steps: 0, 10" \
        in process.stderr
    process = tool("plot-spectrum", probe_trace, "--probe", "coarse", "-o", bad, expect_success=False)
    assert "no singular values at step 0" in process.stderr and "max_values" in process.stderr
    process = tool("plot-spectrum", spectrum_study, "-o", bad, expect_success=False)  # init varies under a depth
    assert "swept key model.layers.0.layers.0.init.W takes 2 values" in process.stderr
    frame = gradlab.open_study(spectrum_study)
    same_depth = list(frame.loc[frame["repeat"] == 4, "trace"])
    process = tool("plot-spectrum", *same_depth, "-o", bad, expect_success=False)
    assert "both at depth=4 but their configs differ in model.layers.0.init.W" in process.stderr
    process = tool("plot-spectrum", spectrum_study, traces["deep"], "-o", bad, expect_success=False)
    assert "a study; give one study alone, or traces" in process.stderr
    assert not bad.exists()


# --- plot-probe ---------------------------------------------------------------------------------------------------

def tiny_config(folder, name, layers, optimizer, training, probes=None, **extra):
    """Write a small float64 regression config (teacher data 8 -> 2, 128 samples) and return its path."""
    import yaml
    config = {"name": name, "seed": 3, "precision": "float64",
              "data": {"kind": "teacher", "samples": 128, "inputs": 8, "outputs": 2, "hidden": [8], "noise": 0.01},
              "model": {"layers": layers}, "loss": "mse", "optimizer": optimizer, "training": training,
              "trace": {"every": 1}}
    if probes is not None:
        config["probes"] = probes
    config.update(extra)
    path = os.path.join(folder, f"{name}.yaml")
    with open(path, "w", encoding="utf-8") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    return path


def tanh_layers(width=32):
    return [{"kind": "dense", "units": width, "activation": "tanh"},
            {"kind": "dense", "units": width, "activation": "tanh"}, {"kind": "dense", "units": 2}]


HESSIAN_PROBE = [{"kind": "hessian", "every": 5, "batch": "all", "top": 2, "trace_samples": 0}]


@pytest.fixture(scope="session")
def sharpness_study(tmp_path_factory):
    """Full-batch gradient descent on a tanh net 8-32-32-2 at lr 0.25, 0.5 and 1.0 (2/lr = 8, 4, 2), 100 steps, the
    hessian probe every 5 steps on the whole training set: at 0.5 the sharpness falls to 3.5 and climbs back to
    2/lr; at 1.0 the loss explodes."""
    from conftest import gradlab as run_gradlab
    folder = str(tmp_path_factory.mktemp("sharpness"))
    config = tiny_config(folder, "eos", tanh_layers(), {"kind": "sgd", "lr": 0.5},
                         {"steps": 100, "batch_size": "all"}, HESSIAN_PROBE,
                         sweep={"grid": {"optimizer.lr": [0.25, 0.5, 1.0]}})
    run_gradlab("sweep", config, "-j", "2", "-o", os.path.join(folder, "study"))
    return os.path.join(folder, "study")


@pytest.fixture(scope="session")
def scheduled_trace(tmp_path_factory):
    """The tanh net at lr 0.5 halved every 20 steps (training.schedule step) with momentum 0.5, the hessian probe
    every 5 steps."""
    from conftest import gradlab as run_gradlab
    folder = str(tmp_path_factory.mktemp("scheduled"))
    config = tiny_config(folder, "scheduled", tanh_layers(16), {"kind": "sgd", "lr": 0.5, "momentum": 0.5},
                         {"steps": 60, "batch_size": "all",
                          "schedule": {"kind": "step", "step_size": 20, "gamma": 0.5}},
                         HESSIAN_PROBE)
    output = os.path.join(folder, "scheduled.h5")
    run_gradlab("run", config, "-o", output, "-q")
    return output


def test_probe_sharpness_series_are_the_probe_columns(sharpness_study):
    module = load_tool("plot-probe")
    frame = gradlab.open_study(sharpness_study)
    for row in frame.index:
        path = frame.at[row, "trace"]
        series = module.sharpness_series(gradlab.open_trace(path), "hessian")
        numpy.testing.assert_array_equal(series["sharpness"], raw_probe(path, "eigenvalues", "hessian")[:, 0])
        numpy.testing.assert_array_equal(series["steps"], raw_probe(path, "step", "hessian"))
        # 2/lr against the study's learning rate: an independent path to the same number.
        numpy.testing.assert_allclose(series["two_over_lr"], 2.0 / frame.at[row, "lr"], rtol=1e-15)
        import h5py
        with h5py.File(path, "r") as file:
            numpy.testing.assert_array_equal(series["loss"], file["trace/loss"][()])
            numpy.testing.assert_array_equal(series["loss_steps"], file["trace/step"][()])
        assert series["note"] == ""


def test_probe_sharpness_figure_draws_each_run_with_its_two_over_lr(sharpness_study, tmp_path):
    module = load_tool("plot-probe")
    arguments = module.parse_arguments(["sharpness", sharpness_study])
    runs, title, output = module.read_runs(arguments)
    assert output == os.path.join(sharpness_study, "sharpness.png")
    assert sorted(run.label for run in runs) == ["lr=0.25", "lr=0.5", "lr=1.0"]  # by what differs: the swept lr
    for run in runs:
        run.data = module.sharpness_series(run.trace, "hessian")
    figure = module.draw_sharpness(runs, "hessian", title)
    sharp_axes, loss_axes = figure.axes
    lines = {line.get_label().split("\n")[0]: line for line in sharp_axes.get_lines()
             if not line.get_label().startswith("_") and len(line.get_xdata())}
    dashed = [line for line in sharp_axes.get_lines() if line.get_linestyle() == "--" and len(line.get_ydata())]
    for run in runs:
        line = lines[run.label]
        numpy.testing.assert_array_equal(line.get_ydata(), raw_probe(run.path, "eigenvalues", "hessian")[:, 0])
        lr = float(run.label.split("=")[1])
        # The run's 2/lr, dashed, in the run's colour.
        assert [other for other in dashed if other.get_color() == line.get_color()
                and numpy.allclose(other.get_ydata(), 2.0 / lr)]
        loss = [other for other in loss_axes.get_lines() if other.get_label() == run.label][0]
        numpy.testing.assert_array_equal(loss.get_ydata(), module.positive(run.trace.scalars["loss"].to_numpy()))
        assert loss.get_color() == line.get_color()
    labels = {run.label: line.get_label() for run, line in ((run, lines[run.label]) for run in runs)}
    # lr 0.5 ends at the edge of stability: the label's ratio is the last sharpness over 2/lr = 4.
    last = raw_probe([run.path for run in runs if run.label == "lr=0.5"][0], "eigenvalues", "hessian")[-1, 0]
    assert f"λ = {last / 4:.3g} × 2/lr at step 100" in labels["lr=0.5"]
    assert 0.9 < last / 4 < 1.1
    # lr 1.0 explodes: its peak is above the linear axis, which the others keep readable, and its label says so.
    assert "above the axis" in labels["lr=1.0"] and "above the axis" not in labels["lr=0.5"]
    assert sharp_axes.get_ylim()[1] < 100 and loss_axes.get_yscale() == "log"
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        assert axes.get_legend().get_window_extent(renderer).x0 >= axes.get_window_extent(renderer).x1
    tool("plot-probe", "sharpness", sharpness_study, "--out", tmp_path / "sharpness.png")
    png_size(tmp_path / "sharpness.png")
    tool("plot-probe", "sharpness", sharpness_study, "--runs", r"lr=0\.5$", "--log", "-o", tmp_path / "one.png")
    png_size(tmp_path / "one.png")


def test_probe_sharpness_follows_the_schedule_and_labels_traces(scheduled_trace, sharpness_study, tmp_path):
    module = load_tool("plot-probe")
    arguments = module.parse_arguments(["sharpness", scheduled_trace])
    runs, title, output = module.read_runs(arguments)
    assert output == scheduled_trace[:-3] + "-sharpness.png"
    runs[0].data = module.sharpness_series(runs[0].trace, "hessian")
    figure = module.draw_sharpness(runs, "hessian", title)
    steps = [line for line in figure.axes[0].get_lines() if line.get_drawstyle() == "steps-post"
             and line.get_linestyle() == "--"]
    dotted = [line for line in figure.axes[0].get_lines() if line.get_linestyle() == ":" and len(line.get_xdata())]
    assert len(steps) == 1 and len(dotted) == 1
    # 2/lr of the update after each probe step, against /trace/lr at those steps (the trainer's own record).
    trace = runs[0].trace
    lr = trace.scalars["lr"]
    probe_steps = raw_probe(scheduled_trace, "step", "hessian")
    traced = [step for step in probe_steps if step in lr.index]
    assert len(traced) >= 10
    drawn = dict(zip(steps[0].get_xdata(), steps[0].get_ydata()))
    numpy.testing.assert_allclose([drawn[step] for step in traced], 2.0 / lr.loc[traced].to_numpy(), rtol=1e-15)
    assert sorted(set(drawn.values()))[:3] == [4.0, 8.0, 16.0]
    # Momentum 0.5: the heavy ball's threshold (2 + 2 beta) / lr, dotted.
    numpy.testing.assert_allclose(dotted[0].get_ydata(), 1.5 * steps[0].get_ydata(), rtol=1e-15)
    # Traces given one by one are labelled by the config keys in which they differ.
    frame = gradlab.open_study(sharpness_study)
    arguments = module.parse_arguments(["sharpness", *frame["trace"][:2]])
    assert sorted(run.label for run in module.read_runs(arguments)[0]) == ["lr=0.25", "lr=0.5"]
    tool("plot-probe", "sharpness", scheduled_trace)
    png_size(scheduled_trace[:-3] + "-sharpness.png")


def test_probe_sharpness_errors_name_the_file_and_what_is_missing(sharpness_study, probe_trace, traces, tmp_path):
    bad = tmp_path / "bad.png"
    process = tool("plot-probe", "sharpness", traces["deep"], "-o", bad, expect_success=False)
    assert f"{traces['deep']}: no probe 'hessian' in /probes (the run has no probes" in process.stderr
    assert "training.batch_size is 32, not all" not in process.stderr  # the probe error comes first
    process = tool("plot-probe", "sharpness", probe_trace, "-o", bad, expect_success=False)
    assert f"{probe_trace}: no probe 'hessian' in /probes (its probes: coarse, jacobian_spectrum)" in process.stderr
    process = tool("plot-probe", "sharpness", probe_trace, "--probe", "jacobian_spectrum", "-o", bad,
                   expect_success=False)
    assert "/probes/jacobian_spectrum has no table eigenvalues, two_over_lr (is it a hessian probe? its kind: " \
        "jacobian_spectrum" in process.stderr
    process = tool("plot-probe", "sharpness", sharpness_study, "--runs", "^nothing$", "-o", bad, expect_success=False)
    assert "no run's name matches --runs" in process.stderr
    process = tool("plot-probe", "sharpness", sharpness_study, traces["deep"], "-o", bad, expect_success=False)
    assert "a study; give one study alone, or traces" in process.stderr
    process = tool("plot-probe", "sharpness", traces["deep"], "--runs", "x", "-o", bad, expect_success=False)
    assert process.returncode == 1 and "--runs selects runs of a study" in process.stderr
    process = tool("plot-probe", "curvature", traces["deep"], expect_success=False)
    assert process.returncode == 2 and "invalid choice: 'curvature'" in process.stderr
    process = tool("plot-probe", "gsnr", traces["deep"], "--step", "x", expect_success=False)
    assert process.returncode == 2
    assert not bad.exists()


@pytest.fixture(scope="session")
def gsnr_study(tmp_path_factory):
    """A real study of MLPs 8 -> depth x 16 -> 2, depth 2 and 4, sigmoid and relu, 10 steps, with the gradient_noise
    probe at steps 0, 5 and 10."""
    from conftest import gradlab as run_gradlab
    folder = str(tmp_path_factory.mktemp("gsnr"))
    layers = [{"repeat": 2, "layers": [{"kind": "dense", "units": 16, "activation": "sigmoid"}]},
              {"kind": "dense", "units": 2}]
    config = tiny_config(folder, "gsnr", layers, {"kind": "sgd", "lr": 0.1}, {"steps": 10, "batch_size": 32},
                         probes=[{"kind": "gradient_noise", "every": 5, "batch": 32}],
                         sweep={"grid": {"model.layers.0.repeat": [2, 4],
                                         "model.layers.0.layers.0.activation": ["sigmoid", "relu"]}})
    run_gradlab("sweep", config, "-j", "2", "-o", os.path.join(folder, "study"))
    return os.path.join(folder, "study")


@pytest.fixture(scope="session")
def batch_size_study(tmp_path_factory):
    """A real study of a sigmoid MLP at batch sizes 8, 32 and 128 for 10 steps, with the gradient_noise probe at
    steps 0, 5 and 10 on 64 training samples; and a batch-normed trace whose probe refuses (its note)."""
    from conftest import gradlab as run_gradlab
    folder = str(tmp_path_factory.mktemp("noise_scale"))
    layers = [{"kind": "dense", "units": 16, "activation": "sigmoid"}, {"kind": "dense", "units": 2}]
    config = tiny_config(folder, "noise", layers, {"kind": "sgd", "lr": 0.1}, {"steps": 10, "batch_size": 32},
                         probes=[{"kind": "gradient_noise", "every": 5, "batch": 64}],
                         sweep={"grid": {"training.batch_size": [8, 32, 128]}})
    run_gradlab("sweep", config, "-j", "2", "-o", os.path.join(folder, "study"))
    # Batch norm in the training phase couples the samples: the probe writes NaN rows and its note.
    normed = tiny_config(folder, "normed", [{"kind": "dense", "units": 16}, {"kind": "batchnorm"},
                                            {"kind": "activation", "activation": "sigmoid"},
                                            {"kind": "dense", "units": 2}],
                         {"kind": "sgd", "lr": 0.1}, {"steps": 10, "batch_size": 32},
                         probes=[{"kind": "gradient_noise", "every": 5, "batch": 32}])
    trace = os.path.join(folder, "normed.h5")
    run_gradlab("run", normed, "-o", trace, "-q")
    return os.path.join(folder, "study"), trace


def weight_columns(path):
    """The columns of the dense layers' weights in /meta/param_names, read with h5py (not through the tool)."""
    import h5py
    with h5py.File(path, "r") as file:
        names = file["meta/param_names"].asstr()[()]
    return [index for index, name in enumerate(names) if name.endswith(".dense.W")]


def test_probe_gsnr_profile_is_the_weights_columns_at_the_step(gsnr_study):
    module = load_tool("plot-probe")
    frame = gradlab.open_study(gsnr_study)
    for row in frame.index:
        path = frame.at[row, "trace"]
        columns = weight_columns(path)
        assert len(columns) == frame.at[row, "repeat"] + 1
        profile = module.gsnr_profile(gradlab.open_trace(path), "gradient_noise", None, module.WEIGHT_PARAMS)
        assert profile["step"] == 10 and profile["note"] == ""  # the last probe step
        numpy.testing.assert_array_equal(profile["gsnr"], raw_probe(path, "gsnr", "gradient_noise")[2, columns])
        assert profile["model_gsnr"] == raw_probe(path, "model_gsnr", "gradient_noise")[2]
        profile = module.gsnr_profile(gradlab.open_trace(path), "gradient_noise", 5, r"\.b$")
        assert profile["names"] == [name.replace(".W", ".b") for name in module.select_params(
            gradlab.open_trace(path), module.WEIGHT_PARAMS)[1]]
        numpy.testing.assert_array_equal(profile["gsnr"], raw_probe(path, "gsnr", "gradient_noise")[1,
                                         [column + 1 for column in columns]])


def test_probe_gsnr_figure_has_a_line_per_run_and_model_gsnr_against_depth(gsnr_study, tmp_path):
    module = load_tool("plot-probe")
    arguments = module.parse_arguments(["gsnr", gsnr_study, "--hue", "activation"])
    figure, output = module.gsnr(arguments)
    assert output == os.path.join(gsnr_study, "gsnr.png")
    layer_axes, depth_axes = figure.axes
    frame = gradlab.open_study(gsnr_study)
    lines = {line.get_label(): line for line in layer_axes.get_lines()}
    # Labelled by the swept keys, in the study's order.
    assert sorted(lines) == sorted(f"repeat={r}, activation={a}" for a in ("relu", "sigmoid") for r in (2, 4))
    for row in frame.index:
        path = frame.at[row, "trace"]
        line = lines[f"repeat={frame.at[row, 'repeat']}, activation={frame.at[row, 'activation']}"]
        expected = raw_probe(path, "gsnr", "gradient_noise")[2, weight_columns(path)]
        numpy.testing.assert_array_equal(line.get_ydata(), expected)
        numpy.testing.assert_array_equal(line.get_xdata(), numpy.arange(1, len(expected) + 1))
    # Real GSNRs: positive and finite for every weight (on a log axis).
    for line in lines.values():
        assert numpy.all(numpy.isfinite(line.get_ydata())) and numpy.all(line.get_ydata() > 0)
    assert layer_axes.get_yscale() == "log" and depth_axes.get_xlabel() == "repeat"
    by_hue = {line.get_label(): line for line in depth_axes.get_lines()}
    assert sorted(by_hue) == ["activation=relu", "activation=sigmoid"]
    for activation, line in by_hue.items():
        rows = frame[frame["activation"] == activation.split("=")[1]].sort_values("repeat")
        numpy.testing.assert_array_equal(line.get_xdata(), [2, 4])
        numpy.testing.assert_allclose(line.get_ydata(), [raw_probe(path, "model_gsnr", "gradient_noise")[2]
                                                          for path in rows["trace"]], rtol=1e-12)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        assert axes.get_legend().get_window_extent(renderer).x0 >= axes.get_window_extent(renderer).x1
    tool("plot-probe", "gsnr", gsnr_study, "--hue", "activation", "--step", "0", "-o", tmp_path / "gsnr.png")
    png_size(tmp_path / "gsnr.png")
    # One depth: no panel (b).
    figure, _ = module.gsnr(module.parse_arguments(["gsnr", gsnr_study, "--runs", "repeat=4", "--hue", "activation"]))
    assert len(figure.axes) == 1
    # Traces: x is their weight layers (3 and 5).
    two = list(frame.loc[frame["activation"] == "sigmoid", "trace"])
    runs, _, _ = module.read_runs(module.parse_arguments(["gsnr", *two]))
    assert sorted(run.number("depth") for run in runs) == [3.0, 5.0]
    # Their resolved configs differ in the layers a repeat expands to, more keys than a label lists: their names.
    assert sorted(run.label for run in runs) == ["repeat=2,activation=sigmoid", "repeat=4,activation=sigmoid"]
    tool("plot-probe", "gsnr", *two, "-o", tmp_path / "traces.png")
    png_size(tmp_path / "traces.png")


def test_probe_gsnr_says_which_runs_have_no_data(gsnr_study, batch_size_study, tmp_path):
    _, normed = batch_size_study
    frame = gradlab.open_study(gsnr_study)
    module = load_tool("plot-probe")
    output = tmp_path / "noted.png"
    process = tool("plot-probe", "gsnr", frame["trace"].iloc[0], normed, "-o", output)
    png_size(output)
    assert f"{normed}: /probes/gradient_noise measured nothing (layers.1.batchnorm couples" in process.stderr
    figure, _ = module.gsnr(module.parse_arguments(["gsnr", frame["trace"].iloc[0], normed]))
    title = figure._suptitle.get_text().replace("\n", " ")
    assert "no data (the probe's note): normed: layers.1.batchnorm couples the samples" in title
    process = tool("plot-probe", "gsnr", normed, "-o", tmp_path / "bad.png", expect_success=False)
    assert process.returncode == 1 and "no run has a finite gsnr" in process.stderr
    assert "couples the samples" in process.stderr
    process = tool("plot-probe", "gsnr", gsnr_study, "--step", "3", "-o", tmp_path / "bad.png", expect_success=False)
    assert "step 3 is not a probe step of /probes/gradient_noise (probe steps: 0, 5, 10" in process.stderr
    process = tool("plot-probe", "gsnr", gsnr_study, "--params", "nothing", "-o", tmp_path / "bad.png",
                   expect_success=False)
    assert "no parameter of /meta/param_names matches --params 'nothing'" in process.stderr
    process = tool("plot-probe", "gsnr", gsnr_study, "--x", "model.width", "-o", tmp_path / "bad.png",
                   expect_success=False)
    assert "no key model.width in the run's resolved config" in process.stderr
    assert not (tmp_path / "bad.png").exists()


def test_probe_noise_scale_points_are_the_probe_columns(batch_size_study, tmp_path):
    study, normed = batch_size_study
    module = load_tool("plot-probe")
    frame = gradlab.open_study(study)
    figure, output = module.noise_scale(module.parse_arguments(["noise-scale", study]))
    assert output == os.path.join(study, "noise-scale.png")
    scale_axes, gsnr_axes = figure.axes[:2]
    for axes, table in ((scale_axes, "noise_scale"), (gsnr_axes, "model_gsnr")):
        drawn = {tuple(point) for collection in axes.collections for point in collection.get_offsets()}
        expected = {(float(frame.at[row, "batch_size"]), value) for row in frame.index
                    for value in raw_probe(frame.at[row, "trace"], table, "gradient_noise")}
        assert expected == drawn and len(drawn) == 9  # 3 runs x 3 probe steps
        assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    reference = [line for line in scale_axes.get_lines() if line.get_linestyle() == "--"]
    assert len(reference) == 1 and numpy.array_equal(reference[0].get_xdata(), reference[0].get_ydata())
    # One colour per probe step: the points of step 10 share one.
    points = module.noise_points(gradlab.open_trace(frame["trace"].iloc[0]), "gradient_noise", 10)
    numpy.testing.assert_array_equal(points["steps"], [10])
    numpy.testing.assert_array_equal(points["noise_scale"], raw_probe(frame["trace"].iloc[0], "noise_scale",
                                                                      "gradient_noise")[2:])
    figure, _ = module.noise_scale(module.parse_arguments(["noise-scale", study, "--step", "10"]))
    assert sum(len(collection.get_offsets()) for collection in figure.axes[0].collections) == 3
    tool("plot-probe", "noise-scale", study, "-o", tmp_path / "noise.png")
    png_size(tmp_path / "noise.png")
    process = tool("plot-probe", "noise-scale", *frame["trace"], normed, "--hue", "model.layers.1.kind",
                   "-o", tmp_path / "hue.png")
    png_size(tmp_path / "hue.png")
    assert "measured nothing" in process.stderr
    # Full batch: batch_size 'all' is no number on the batch axis.
    from conftest import gradlab as run_gradlab
    config = tiny_config(str(tmp_path), "full", [{"kind": "dense", "units": 16, "activation": "relu"},
                                                 {"kind": "dense", "units": 2}],
                         {"kind": "sgd", "lr": 0.1}, {"steps": 5, "batch_size": "all"},
                         probes=[{"kind": "gradient_noise", "every": 5, "batch": "all"}])
    full = str(tmp_path / "full.h5")
    run_gradlab("run", config, "-o", full, "-q")
    process = tool("plot-probe", "noise-scale", full, "-o", tmp_path / "bad.png", expect_success=False)
    assert f"{full}: training.batch_size is 'all', not a number (full-batch training: give --x" in process.stderr
    process = tool("plot-probe", "noise-scale", full, "--x", "data.samples", "-o", tmp_path / "full.png")
    png_size(tmp_path / "full.png")


def test_probe_table_names_come_from_the_package_once_it_has_them(monkeypatch):
    module = load_tool("plot-probe")
    monkeypatch.delattr(gradlab.probes, "GradientNoise", raising=False)  # as on the branch that made the tool
    assert module.shared_names("GradientNoise", module._GradientNoise) is module._GradientNoise

    class GradientNoise(module._GradientNoise):
        pass

    monkeypatch.setattr(gradlab.probes, "GradientNoise", GradientNoise, raising=False)
    assert module.shared_names("GradientNoise", module._GradientNoise) is GradientNoise

    class Renamed(module._GradientNoise):
        GSNR = "signal_to_noise"

    monkeypatch.setattr(gradlab.probes, "GradientNoise", Renamed)
    assert module.shared_names("GradientNoise", module._GradientNoise) is module._GradientNoise
