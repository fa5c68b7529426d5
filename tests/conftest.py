"""pytest fixtures shared by tests/python (the gradlab package) and tests/tools (the plotting tools): real traces
and studies made by the build's gradlab binary from the shipped configs, shortened with --set.

ctest runs pytest with GRADLAB_BINARY (the binary) and GRADLAB_SOURCE_DIR set (tests/CMakeLists.txt).
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

SOURCE_DIR = os.environ.get("GRADLAB_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("GRADLAB_BINARY", os.path.join(SOURCE_DIR, "build", "bin", "gradlab"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "python"))  # the package from the source tree, not installed


def pytest_configure(config):
    """Plots without a display."""
    os.environ.setdefault("MPLBACKEND", "Agg")


def gradlab(*arguments, check=True):
    """Run the gradlab binary; return the CompletedProcess (stdout and stderr as text)."""
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no gradlab binary at {BINARY} (set GRADLAB_BINARY)")
    process = subprocess.run([BINARY, *arguments], capture_output=True, text=True, timeout=300)
    if check and process.returncode != 0:
        pytest.fail(f"gradlab {' '.join(arguments)} exited {process.returncode}:\n{process.stdout}\n{process.stderr}")
    return process


def shipped(relative):
    """The path of a shipped config."""
    return os.path.join(SOURCE_DIR, "configs", relative)


def run_shipped(folder, relative, *sets):
    """Run a shipped config with --set overrides into folder/<stem>.h5 and return the trace's path."""
    output = os.path.join(folder, os.path.splitext(os.path.basename(relative))[0] + ".h5")
    gradlab("run", shipped(relative), *[part for value in sets for part in ("--set", value)], "-o", output, "-q")
    return output


def study_config(folder, relative, change):
    """Write a copy of a shipped study config, changed by change(config dict), and return its path."""
    with open(shipped(relative), encoding="utf-8") as stream:
        config = yaml.safe_load(stream)
    change(config)
    path = os.path.join(folder, os.path.basename(relative))
    with open(path, "w", encoding="utf-8") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    return path


@pytest.fixture(scope="session")
def traces(tmp_path_factory):
    """Real traces of shipped configs, short: deep_sigmoid (MLP, theory, a vanishing event), spirals
    (classification: /eval/accuracy) and adding_lstm_truncated (recurrent, truncated BPTT)."""
    folder = str(tmp_path_factory.mktemp("traces"))
    return {
        "deep": run_shipped(folder, "deep_sigmoid.yaml", "training.steps=30"),
        "spirals": run_shipped(folder, "spirals.yaml", "training.epochs=null", "training.steps=40",
                               "training.eval_every=20"),
        "lstm": run_shipped(folder, "recurrent/adding_lstm_truncated.yaml", "training.steps=20",
                            "data.samples=256", "training.eval_every=10"),
    }


def _shorten_batchnorm(config, depths, seeds, null_layer):
    config["training"] = {"steps": 20, "batch_size": 32, "eval_every": 10}
    config["data"]["samples"] = 256
    config["trace"] = {"every": 5}
    config["sweep"]["grid"]["model.layers.0.repeat"] = depths
    if null_layer:  # item 5 of issue 17: no placeholder layer, a null value removes it
        config["sweep"]["grid"]["model.layers.0.layers.1"] = [None, "batchnorm"]
    config["sweep"]["seeds"] = seeds


@pytest.fixture(scope="session")
def batchnorm_study(tmp_path_factory):
    """configs/studies/batchnorm.yaml, short: depth 2 and 4, without (null) and with batch norm, 3 seeds."""
    folder = str(tmp_path_factory.mktemp("batchnorm"))
    config = study_config(folder, "studies/batchnorm.yaml", lambda c: _shorten_batchnorm(c, [2, 4], 3, True))
    gradlab("sweep", config, "-j", "2", "-o", os.path.join(folder, "study"))
    return os.path.join(folder, "study")


@pytest.fixture(scope="session")
def large_study(tmp_path_factory):
    """configs/studies/two_layer_lr.yaml, short, with 6 seeds: 36 runs, some of which diverge."""
    folder = str(tmp_path_factory.mktemp("two_layer_lr"))

    def change(config):
        config["training"]["steps"] = 8
        config["sweep"]["seeds"] = 6

    config = study_config(folder, "studies/two_layer_lr.yaml", change)
    gradlab("sweep", config, "-j", "2", "-o", os.path.join(folder, "study"))
    return os.path.join(folder, "study")


@pytest.fixture
def copy_of(tmp_path):
    """copy_of(path): a copy of a file in this test's folder, to change."""
    def copy(path):
        target = tmp_path / os.path.basename(path)
        shutil.copy(path, target)
        return str(target)
    return copy


def square_config(folder, name, depth, activation, init, probes, **extra):
    """Write a deep square net (random_regression 32 -> 32, `depth` dense layers of 32 units without bias, each
    followed by `activation`, weights from `init`), float64, 10 steps, with `probes`; return the config's path."""
    config = {
        "name": name, "seed": 2, "precision": "float64",
        "data": {"kind": "random_regression", "samples": 128, "inputs": 32, "outputs": 32},
        "model": {"layers": [{"repeat": depth, "layers": [
            {"kind": "dense", "units": 32, "bias": False, "activation": activation, "init": {"W": init}}]}]},
        "loss": "mse", "optimizer": {"kind": "sgd", "lr": 0.01},
        "training": {"steps": 10, "batch_size": 32}, "trace": {"every": 5}, "probes": probes,
    }
    config.update(extra)
    path = os.path.join(folder, f"{name}.yaml")
    with open(path, "w", encoding="utf-8") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    return path


@pytest.fixture(scope="session")
def probe_trace(tmp_path_factory):
    """A trace with two probes: a linear net of 4 square layers (so that dy/dx is the product of the weights),
    `jacobian_spectrum` at steps 0 and 10 with partial Jacobians from layers 1 and 2, and `coarse` (the same
    kind, every 5 steps, max_values 8: its 32 singular values are not written, only their quantiles)."""
    folder = str(tmp_path_factory.mktemp("probes"))
    probes = [{"kind": "jacobian_spectrum", "at_init": True, "at_end": True, "examples": 3,
               "from": ["layers.1.dense", "layers.2.dense"]},
              {"kind": "jacobian_spectrum", "name": "coarse", "every": 5, "examples": 2, "max_values": 8}]
    config = square_config(folder, "linear", 4, "identity", "orthogonal", probes)
    output = os.path.join(folder, "linear.h5")
    gradlab("run", config, "-o", output, "-q")
    return output


@pytest.fixture(scope="session")
def spectrum_study(tmp_path_factory):
    """A study of tanh nets of width 32 without biases, depth 2, 4 and 8, with Gaussian weights at criticality
    (lecun_normal: sigma_w^2 = 1, where the free-probability theory applies) and orthogonal ones (where gradlab
    says it does not: q* = 0 is marginal), jacobian_spectrum at steps 0 and 10 on 4 examples."""
    folder = str(tmp_path_factory.mktemp("spectrum"))
    probes = [{"kind": "jacobian_spectrum", "at_init": True, "at_end": True, "examples": 4}]
    config = square_config(folder, "tanh_spectrum", 2, "tanh", "lecun_normal", probes,
                           sweep={"grid": {"model.layers.0.repeat": [2, 4, 8],
                                           "model.layers.0.layers.0.init.W": ["lecun_normal", "orthogonal"]}})
    gradlab("sweep", config, "-j", "2", "-o", os.path.join(folder, "study"))
    return os.path.join(folder, "study")
