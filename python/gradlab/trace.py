"""`open_trace(path)`: a gradlab trace (HDF5 schema `gradlab-trace`, docs/hdf5-schema.md) as pandas tables."""

import functools
import os
import re

import h5py
import numpy
import pandas
import yaml

from ._hdf5 import TRACE_SCHEMA, GradlabFileError, as_text, attribute_value, open_checked, read_column
from .probes import GROUP as PROBE_GROUP, Probe, probe_names, read_tables

#: [S x L] columns of /trace: column l belongs to /meta/layer_names[l].
LAYER_COLUMNS = ("signal_grad_norm", "activation_mean", "activation_std", "saturation")
#: [S x P] columns of /trace: column p belongs to /meta/param_names[p].
PARAM_COLUMNS = ("param_grad_norm", "param_norm", "update_norm", "param_clipped")
#: The group of per-timestep gradient norms of recurrent layers, one [S x T] dataset per layer.
TIMESTEP_GROUP = "timestep_grad_norm"
#: The columns of /events, in the schema's order.
EVENT_COLUMNS = ("step", "kind", "where", "timestep", "value", "message")


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading `1e-06` as a float as gradlab does (YAML 1.2; PyYAML's 1.1 wants a dot)."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load_config(text):
    """A config's YAML text as Python values, numbers written like 1e-06 as floats."""
    return yaml.load(text, Loader=_ConfigLoader)


class Trace:
    """One run's trace, read lazily: each table is read from the file the first time it is asked for.

    The file is opened only while a table is read, so a trace can be read while its run is still writing it
    (then `status` is "running"); a killed run's trace is read up to its shortest /trace column.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        with open_checked(self.path, TRACE_SCHEMA, "gradlab trace") as file:
            #: Every root attribute as a plain value (schema, config, status, seed, precision, ...).
            self.attrs = {key: attribute_value(value) for key, value in file.attrs.items()}
            #: /meta/layer_names, /meta/layer_kinds and /meta/param_names as lists of str.
            self.layer_names = self._meta(file, "layer_names")
            self.layer_kinds = self._meta(file, "layer_kinds")
            self.param_names = self._meta(file, "param_names")

    def __repr__(self):
        return f"<gradlab trace {self.path!r}: {self.name}, {self.status}>"

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        return False

    @staticmethod
    def _meta(file, name):
        return [as_text(value) for value in file[f"meta/{name}"][()]] if f"meta/{name}" in file else []

    def _open(self):
        return h5py.File(self.path, "r")

    # --- root attributes -----------------------------------------------------------------------------------

    @property
    def status(self):
        """The run's status: running, completed, diverged, failed, stopped or interrupted."""
        return self.attrs.get("status", "")

    @property
    def status_message(self):
        """Why the run ended ("" when it completed normally or still runs)."""
        return self.attrs.get("status_message", "")

    @functools.cached_property
    def config(self):
        """The run's fully resolved config (root attribute `config`) as a dict."""
        text = self.attrs.get("config", "")
        try:
            config = load_config(text) if text else {}
        except yaml.YAMLError as error:
            raise GradlabFileError(f"{self.path}: root attribute config is not valid YAML ({error})") from error
        return config if isinstance(config, dict) else {}

    @property
    def name(self):
        """The run's name (`name` of its config)."""
        return str(self.config.get("name", ""))

    @functools.cached_property
    def theory(self):
        """The /theory attributes (mean-field predictions at initialisation) as a dict, or None without /theory."""
        with self._open() as file:
            if "theory" not in file:
                return None
            return {key: attribute_value(value) for key, value in file["theory"].attrs.items()}

    # --- /trace -----------------------------------------------------------------------------------------------

    @functools.cached_property
    def _trace_columns(self):
        """{name: array} of every dataset under /trace (nested groups as 'group/layer'), cut to /trace/step."""
        columns = {}
        with self._open() as file:
            if "trace" not in file:
                return columns

            def visit(name, item):
                if isinstance(item, h5py.Dataset):
                    columns[name] = read_column(item)

            file["trace"].visititems(visit)
        rows = min((len(values) for values in columns.values()), default=0)
        return {name: values[:rows] for name, values in columns.items()}

    @property
    def steps(self):
        """/trace/step: the training step of each traced row."""
        return self._trace_columns.get("step", numpy.zeros(0, dtype=numpy.int64))

    def _step_index(self):
        return pandas.Index(self.steps, name="step")

    @functools.cached_property
    def scalars(self):
        """One row per traced step, indexed by step: every [S] column of /trace (loss, reg_loss, lr, grad_norm,
        grad_norm_clipped, clipped, ...), and per-layer single values as '<statistic>/<layer>'
        (forget_gate_mean/layers.0.lstm)."""
        data = {name: values for name, values in self._trace_columns.items()
                if name != "step" and values.ndim == 1}
        return pandas.DataFrame(data, index=self._step_index())

    def _long_table(self, name, names, kind, known):
        columns = self._trace_columns
        available = [column for column in columns if column in known or self._width_matches(column, len(names))]
        if name not in columns or name not in available:
            raise KeyError(f"{self.path}: no per-{kind} column /trace/{name} (available: {', '.join(available)})")
        values = columns[name]
        if values.ndim != 2 or values.shape[1] != len(names):
            raise GradlabFileError(f"{self.path}: /trace/{name} has shape {values.shape}, "
                                   f"expected [steps x {len(names)}] ({len(names)} names in /meta)")
        return pandas.DataFrame({
            "step": numpy.repeat(self.steps, len(names)),
            kind: numpy.tile(numpy.array(names, dtype=object), len(self.steps)),
            "value": values.reshape(-1),
        })

    def column(self, name):
        """Any /trace dataset by its path under /trace ('loss', 'recurrent_spectral_norm/layers.0.lstm'), indexed
        by step: a Series for [S], a DataFrame with columns 0..n-1 for [S x n]."""
        if name not in self._trace_columns:
            raise KeyError(f"{self.path}: no dataset /trace/{name} (available: {', '.join(self._trace_columns)})")
        values = self._trace_columns[name]
        if values.ndim == 1:
            return pandas.Series(values, index=self._step_index(), name=name)
        return pandas.DataFrame(values.reshape(len(values), -1), index=self._step_index())

    def _width_matches(self, column, width):
        values = self._trace_columns[column]
        return ("/" not in column and values.ndim == 2 and values.shape[1] == width and width > 0
                and column not in LAYER_COLUMNS + PARAM_COLUMNS)

    def per_layer(self, name="signal_grad_norm"):
        """A [S x L] column of /trace as a long table: step, layer (from /meta/layer_names), value."""
        return self._long_table(name, self.layer_names, "layer", LAYER_COLUMNS)

    def per_param(self, name="param_grad_norm"):
        """A [S x P] column of /trace as a long table: step, param (from /meta/param_names), value."""
        return self._long_table(name, self.param_names, "param", PARAM_COLUMNS)

    @property
    def recurrent_layers(self):
        """The layers with a /trace/timestep_grad_norm/<layer> dataset, in file order."""
        prefix = TIMESTEP_GROUP + "/"
        return [name[len(prefix):] for name in self._trace_columns if name.startswith(prefix)]

    def timesteps(self, layer=None):
        """||dL/dh_t|| of a recurrent layer: one row per traced step (index step), one column per timestep
        t = 1..T (t = 1 the first input). `layer` may be omitted when the model has one recurrent layer."""
        layers = self.recurrent_layers
        if not layers:
            raise KeyError(f"{self.path}: no /trace/{TIMESTEP_GROUP}/<layer> (the model has no recurrent layer)")
        if layer is None:
            if len(layers) > 1:
                raise KeyError(f"{self.path}: {len(layers)} recurrent layers, name one: {', '.join(layers)}")
            layer = layers[0]
        if layer not in layers:
            raise KeyError(f"{self.path}: no recurrent layer '{layer}' in /trace/{TIMESTEP_GROUP} "
                           f"(available: {', '.join(layers)})")
        values = self._trace_columns[f"{TIMESTEP_GROUP}/{layer}"]
        if values.ndim != 2:
            raise GradlabFileError(f"{self.path}: /trace/{TIMESTEP_GROUP}/{layer} has shape {values.shape}, "
                                   "expected [steps x timesteps]")
        return pandas.DataFrame(values, index=self._step_index(),
                                columns=pandas.RangeIndex(1, values.shape[1] + 1, name="t"))

    # --- /probes ---------------------------------------------------------------------------------------------

    @functools.cached_property
    def probes(self):
        """The names of the run's probes (the groups under /probes), sorted as HDF5 lists them; [] without probes."""
        with self._open() as file:
            return probe_names(file)

    def probe(self, name=None):
        """A probe's tables, /probes/<name>/, as a Probe: `.steps`, `.tables` ({name: numpy array [S x ...]}),
        `.groups` (subgroups with their own step column, 'from/layers.2.dense'), `.theory` (a dict, or None), and
        `.at(step)`. `name` may be omitted when the run has one probe."""
        names = self.probes
        if not names:
            raise KeyError(f"{self.path}: no {PROBE_GROUP}/<name> (the run has no probes: config key 'probes')")
        if name is None:
            if len(names) > 1:
                raise KeyError(f"{self.path}: {len(names)} probes, name one: {', '.join(names)}")
            name = names[0]
        if name not in names:
            raise KeyError(f"{self.path}: no probe '{name}' in {PROBE_GROUP} (available: {', '.join(names)})")
        entries = self.config.get("probes") or []
        kinds = [entry.get("kind", "") for entry in entries if isinstance(entry, dict)
                 and entry.get("name", entry.get("kind")) == name]
        with self._open() as file:
            tables = read_tables(self.path, file[f"{PROBE_GROUP}/{name}"])
        return Probe(self.path, name, str(kinds[0]) if kinds else "", tables)

    # --- /eval, /events -----------------------------------------------------------------------------------------

    def _group_table(self, group):
        with self._open() as file:
            if group not in file or not isinstance(file[group], h5py.Group):
                return None
            columns = {name: read_column(item) for name, item in file[group].items() if isinstance(item, h5py.Dataset)}
        rows = min((len(values) for values in columns.values()), default=0)
        return {name: values[:rows] for name, values in columns.items() if values.ndim == 1}

    @functools.cached_property
    def eval(self):
        """One row per evaluation, indexed by step: loss (validation set), accuracy (classification)."""
        columns = self._group_table("eval") or {"step": numpy.zeros(0, dtype=numpy.int64)}
        steps = columns.pop("step", numpy.zeros(0, dtype=numpy.int64))
        return pandas.DataFrame(columns, index=pandas.Index(steps, name="step"))

    @functools.cached_property
    def events(self):
        """One row per detector firing: step, kind, where, timestep, value, message (empty without /events)."""
        columns = self._group_table("events") or {}
        rows = len(next(iter(columns.values()))) if columns else 0
        data = {name: columns.get(name, numpy.full(rows, numpy.nan)) for name in EVENT_COLUMNS}
        data.update({name: values for name, values in columns.items() if name not in data})
        return pandas.DataFrame(data)


def open_trace(path):
    """Open a gradlab trace: `.scalars`, `.per_layer(name)`, `.per_param(name)`, `.timesteps(layer)`, `.eval`,
    `.events`, `.probes` and `.probe(name)`, `.config`, `.theory`, `.status`. Raises GradlabFileError for a file that is not a trace."""
    return Trace(path)
