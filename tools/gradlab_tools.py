"""Shared reading code for the gradlab plotting tools in tools/.

Reads gradlab traces (docs/hdf5-schema.md, schema `gradlab-trace`) and study indexes (docs/studies.md,
schema `gradlab-study`), refusing files that are not one, and saves matplotlib figures as PNG without a
display. Every error is a ToolError whose message names the file and says what was expected.
"""

import os
import re
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as pyplot  # noqa: E402  (after choosing the Agg backend)

# The gradlab Python package (python/gradlab) from this source tree, so that the tools need no installation.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "python"))
import gradlab  # noqa: E402
from gradlab._hdf5 import as_text, open_checked  # noqa: E402,F401  (as_text is used by the tools)

TRACE_SCHEMA = gradlab.TRACE_SCHEMA
STUDY_SCHEMA = gradlab.STUDY_SCHEMA
SUPPORTED_SCHEMA_VERSION = gradlab.SUPPORTED_SCHEMA_VERSION
STUDY_INDEX_NAME = "study.h5"


class ToolError(Exception):
    """An error to report to the user as one line, without a traceback."""


def read_strings(dataset):
    """Return a 1-D string dataset as a list of str."""
    return [as_text(value) for value in dataset[()]]


def _open_checked(path, expected_schema, what):
    """Open path read-only as HDF5 after checking its `schema` / `schema_version` (gradlab.GradlabFileError)."""
    return open_checked(path, expected_schema, what)


def open_trace(path):
    """Open a gradlab trace read-only after checking its schema; the caller closes it."""
    return _open_checked(path, TRACE_SCHEMA, "gradlab trace")


def trace_dataset(trace, name):
    """Return the trace's dataset `name` as a numpy array, or fail naming the file and the missing dataset."""
    if name not in trace or not isinstance(trace[name], h5py.Dataset):
        raise ToolError(f"{trace.filename}: no dataset /{name} in this gradlab trace")
    return trace[name][()]


def config_name(trace):
    """Return the run's name from the trace's resolved `config` attribute ('?' when it has none)."""
    match = re.search(r"^name:\s*(.+?)\s*$", as_text(trace.attrs.get("config", "")), re.MULTILINE)
    return match.group(1).strip("'\"") if match else "?"


def run_title(trace):
    """Return 'name (status)' for a figure title."""
    return f"{config_name(trace)} ({as_text(trace.attrs.get('status', '?'))})"


def study_index_path(path):
    """Return the study index of a study folder, or path itself when it is a file."""
    return gradlab.study_index_path(path)


def open_study(path):
    """Open a study index (a study folder or its study.h5) read-only after checking its schema."""
    return _open_checked(study_index_path(path), STUDY_SCHEMA, "gradlab study index (study.h5)")


def study_columns(study):
    """Return the /runs table as {column: list}, swept parameters as 'param/<key.path>', in a stable order."""
    runs = study["runs"]
    columns = {}
    for key in runs:
        if isinstance(runs[key], h5py.Dataset):
            values = runs[key][()]
            columns[key] = [as_text(value) for value in values] if runs[key].dtype.kind == "O" else list(values)
    swept_keys = read_strings(study["swept_keys"]) if "swept_keys" in study else list(runs.get("param", {}))
    for key in swept_keys:
        columns[f"param/{key}"] = read_strings(runs["param"][key])
    return columns


def study_column(study, columns, key):
    """Return column `key` of the study table, or fail listing the columns that exist."""
    if key not in columns:
        available = ", ".join(columns)
        raise ToolError(f"{study.filename}: no column '{key}' in /runs (available: {available})")
    return columns[key]


def resolve_trace_path(study, relative_trace):
    """Return the path of a run's trace, given relative to the study index's folder."""
    return os.path.join(os.path.dirname(os.path.abspath(study.filename)), relative_trace)


def study_name(frame):
    """The study's name for a title: `name` of the study config (study.h5's `config`), else its folder's name."""
    match = re.search(r"^name:\s*(.+?)\s*$", as_text(frame.attrs.get("study_attrs", {}).get("config", "")), re.MULTILINE)
    if match:
        return match.group(1).strip("'\"")
    return os.path.basename(os.path.dirname(os.path.abspath(frame.attrs.get("path", "."))))


def check_other_keys(frame, used_keys, where, plotted_keys=()):
    """Fail when a swept key that is not plotted or averaged over (`used_keys`) takes more than one value at one
    point of the plot, a value of the `plotted_keys` (--x, --hue): keys zipped with those, such as the layers that
    go with a `label`, vary with them and are fine; a key that varies under one point would be mixed by the mean."""
    group_keys = [key for key in plotted_keys if key is not None]
    for key in frame.attrs["swept_keys"]:
        if key in used_keys:
            continue
        text = frame[key].astype(str)
        if group_keys:
            varies = bool((text.groupby([frame[k].astype(str) for k in group_keys]).nunique() > 1).any())
        else:
            varies = text.nunique() > 1
        if varies:
            values = text.unique()
            short = frame.attrs["swept_keys"][key]
            raise ToolError(
                f"{where}: swept key {key} takes {len(values)} values ({', '.join(values[:6])}); give it as --hue "
                f"{short} or --mean-over {short} (or --mean-over none to plot every run)")


def runs_matching(frame, pattern, where):
    """The rows of a study frame whose run name matches the regular expression `pattern` (re.search; None: all),
    for the tools' --runs option."""
    if pattern is None:
        return frame
    try:
        expression = re.compile(pattern)
    except re.error as error:
        raise ToolError(f"--runs {pattern!r} is not a regular expression: {error}")
    kept = frame[[bool(expression.search(str(name))) for name in frame["name"]]]
    if kept.empty:
        raise ToolError(f"{where}: no run's name matches --runs {pattern!r}")
    return kept


def save_figure(figure, output_path):
    """Save a figure as PNG at output_path (creating its folder), close it and print where it went."""
    folder = os.path.dirname(output_path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure.savefig(output_path, format="png")
    pyplot.close(figure)
    print(output_path)


def new_figure(width_inches=8.0, height_inches=5.0, dpi=80):
    """Return (figure, axes) of a small figure with a constrained layout (640x400 pixels by default)."""
    return pyplot.subplots(figsize=(width_inches, height_inches), dpi=dpi, layout="constrained")


def run_main(main):
    """Run main() and turn a ToolError or OSError into one line on stderr and exit code 1."""
    program = os.path.basename(sys.argv[0])
    try:
        main()
    except (ToolError, gradlab.GradlabFileError, OSError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{program}: error: {message}", file=sys.stderr)
        sys.exit(1)
