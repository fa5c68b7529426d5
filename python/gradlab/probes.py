"""The tables of probe plugins under /probes (docs/hdf5-schema.md, "/probes: measurements of probe plugins").

The names below mirror framework/include/gradlab/probe_schema.hpp, the header the probes write through;
tests/python/test_probes.py reads that header and fails when a name here differs from it.
"""

import h5py
import numpy

from ._hdf5 import GradlabFileError, attribute_value, read_column

#: The group every probe's tables live under: /probes/<name>/ (probeSchema::group).
GROUP = "/probes"
#: The column beside a probe's tables: the probe step of each row, updates applied so far (probeSchema::stepColumn).
STEP_COLUMN = "step"
#: The subgroup of /probes/<name>/ whose attributes hold a probe's theoretical prediction (probeSchema::theoryGroup).
THEORY_GROUP = "theory"


class JacobianSpectrum:
    """Names of the jacobian_spectrum probe's tables (probeSchema::jacobianSpectrum): those of dy/dx in
    /probes/<name>/, those of the partial Jacobian from layer l in /probes/<name>/from/<layer name>/."""

    KIND = "jacobian_spectrum"
    SINGULAR_VALUES = "singular_values"  #: [S x n x K], descending
    QUANTILES = "quantiles"              #: [S x n x 7], at QUANTILE_PERCENTS
    MEAN_SQ = "mean_sq"                  #: [S x n], mean of sigma^2
    VAR_SQ = "var_sq"                    #: [S x n], variance of sigma^2
    MAX = "max"                          #: [S x n], largest sigma
    MIN = "min"                          #: [S x n], smallest sigma
    LOG_CONDITION = "log_condition"      #: [S x n], ln(max / min)
    FROM_GROUP = "from"                  #: parent of the partial Jacobians' groups
    TIMESTEPS_GROUP = "timesteps"        #: parent of the recurrent Jacobians' groups: timesteps/<layer>/<t>/
    #: The quantiles (percent) of each spectrum in QUANTILES.
    QUANTILE_PERCENTS = (0, 1, 10, 50, 90, 99, 100)
    QUANTILE_COUNT = 7

    class Theory:
        """Attributes of /probes/<name>/theory: the free-probability prediction (docs/theory.md)."""

        APPLIES = "applies"                      #: 1 or 0
        NOTE = "note"                            #: why not, or the assumptions
        WEIGHTS = "weights"                      #: iid or orthogonal
        ACTIVATION = "activation"                #: phi's plugin name
        DEPTH = "depth"                          #: L, the layers applying phi
        WIDTH = "width"                          #: N
        Q_STAR = "q_star"                        #: the fixed point q*
        CHI = "chi"                              #: sigma_w^2 mu_1
        MU1 = "mu1"                              #: E[phi'(h)^2], h ~ N(0, q*)
        MU2 = "mu2"                              #: E[phi'(h)^4]
        MEAN_SQ = "mean_sq"                      #: predicted mean of sigma^2: chi^L
        NORMALISED_VAR_SQ = "normalised_var_sq"  #: predicted var(sigma^2) / mean^2


class GradientNoise:
    """Names of the gradient_noise probe's tables (probeSchema::gradientNoise) in /probes/<name>/, one row per probe
    step: the per-parameter ones [S x P], P the parameters in the order of /meta/param_names; g_i is sample i's own
    loss gradient and G = (1/B) sum_i g_i."""

    KIND = "gradient_noise"
    GRAD_NORM = "grad_norm"                                #: [S x P], ||G_p||
    MEAN_SAMPLE_GRAD_NORM = "mean_sample_grad_norm"        #: [S x P], (1/B) sum_i ||g_i,p||
    SAMPLE_GRAD_SQ_SUM = "sample_grad_sq_sum"              #: [S x P], sum_i ||g_i,p||^2
    COV_TRACE = "cov_trace"                                #: [S x P], trace of the per-sample covariance
    GSNR = "gsnr"                                          #: [S x P], mean over elements of G_j^2 / Var_j
    MODEL_GRAD_NORM = "model_grad_norm"                    #: [S], ||G||
    MODEL_SAMPLE_GRAD_SQ_SUM = "model_sample_grad_sq_sum"  #: [S], sum_i ||g_i||^2
    MODEL_COV_TRACE = "model_cov_trace"                    #: [S], tr Sigma
    MODEL_GSNR = "model_gsnr"                              #: [S], over every element of every parameter
    NOISE_SCALE = "noise_scale"                            #: [S], B_simple = tr Sigma / ||G||^2
    CONFUSION = "confusion"                                #: [S], min over i != j of cos(g_i, g_j)
    SAMPLES = "samples"                                    #: [S], B
    FACTORED = "factored"                                  #: [S], 1: from the layers' factors, 0: batch-of-one
    SECONDS = "seconds"                                    #: [S], wall clock of the probe step
    NOTE = "note"                                          #: string attribute of /probes/<name>: why NaN, or ""


class ProbeTables:
    """One group of a probe's tables, each row a probe step: /probes/<name>/ or a subgroup of it with its own
    step column (/probes/<name>/from/<layer>/). Read whole when the trace's `probe(name)` is asked for.

    `steps` is the group's step column; `tables` maps each other dataset's name to its [S x cell shape...] array,
    rows cut to the shortest of them and the step column (as a killed run leaves them); `groups` maps the path
    of each subgroup with a step column, relative to this group ('from/layers.2.dense'), to its ProbeTables;
    `attributes` maps the path of each subgroup without one ('theory') to its attributes as a dict.
    """

    def __init__(self, trace_path, path, steps, tables, groups, attributes):
        self.trace_path = trace_path
        #: The group's path in the file, /probes/<name> or /probes/<name>/from/<layer>.
        self.path = path
        self.steps = steps
        self.tables = tables
        self.groups = groups
        self.attributes = attributes

    def __repr__(self):
        return f"<gradlab probe tables {self.path} of {self.trace_path!r}: {len(self.steps)} steps, " \
               f"{', '.join(self.tables)}>"

    @property
    def theory(self):
        """The attributes of the `theory` subgroup as a dict (jacobian_spectrum: JacobianSpectrum.Theory), or None
        when the probe wrote none."""
        return self.attributes.get(THEORY_GROUP)

    def table(self, name):
        """The table `name` as an array [S x cell shape...]; KeyError listing the tables there are otherwise."""
        if name not in self.tables:
            raise KeyError(f"{self.trace_path}: no table {self.path}/{name} "
                           f"(available: {', '.join(self.tables) or 'none'})")
        return self.tables[name]

    def group(self, path):
        """The subgroup at `path` relative to this group ('from/layers.2.dense'); KeyError listing them otherwise."""
        if path not in self.groups:
            raise KeyError(f"{self.trace_path}: no group of tables {self.path}/{path} "
                           f"(available: {', '.join(self.groups) or 'none'})")
        return self.groups[path]

    def at(self, step):
        """{table: its cell at probe step `step`} (for jacobian_spectrum, `mean_sq` is then [n]); KeyError naming
        the file and the probe steps there are when `step` is not one of them."""
        rows = numpy.flatnonzero(self.steps == step)
        if len(rows) == 0:
            shown = ", ".join(str(value) for value in self.steps[:12]) + (", ..." if len(self.steps) > 12 else "")
            raise KeyError(f"{self.trace_path}: step {step} is not a probe step of {self.path} "
                           f"(probe steps: {shown or 'none'})")
        return {name: values[rows[-1]] for name, values in self.tables.items()}


class Probe(ProbeTables):
    """A probe's tables, /probes/<name>/ (see ProbeTables), with its name and its plugin's kind."""

    def __init__(self, trace_path, name, kind, tables):
        super().__init__(trace_path, tables.path, tables.steps, tables.tables, tables.groups, tables.attributes)
        #: The probe's name: its config entry's `name`, by default its kind.
        self.name = name
        #: The probe plugin (`kind` of its entry in the run's resolved config; "" when the config does not say).
        self.kind = kind

    def __repr__(self):
        return f"<gradlab probe {self.name!r} ({self.kind or '?'}) of {self.trace_path!r}: {len(self.steps)} steps>"


def probe_names(file):
    """The names of the groups under /probes of an open trace, sorted as HDF5 lists them ([] without /probes)."""
    group = GROUP.strip("/")
    if group not in file or not isinstance(file[group], h5py.Group):
        return []
    return [name for name, item in file[group].items() if isinstance(item, h5py.Group)]


def read_tables(trace_path, group):
    """Read an open HDF5 group of probe tables (see ProbeTables); GradlabFileError for a group of tables without a
    step column."""
    tables, groups, attributes = {}, {}, {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset) and name != STEP_COLUMN:
            tables[name] = read_column(item)
    if STEP_COLUMN not in group:
        if tables:
            raise GradlabFileError(f"{trace_path}: {group.name} holds tables ({', '.join(tables)}) but no "
                                   f"'{STEP_COLUMN}' column (docs/hdf5-schema.md, /probes)")
        steps = numpy.zeros(0, dtype=numpy.int64)
    else:
        steps = read_column(group[STEP_COLUMN])
    rows = min([len(steps)] + [len(values) for values in tables.values()])
    tables = {name: values[:rows] for name, values in tables.items()}

    def visit(subgroup, relative):
        for name, item in subgroup.items():
            if not isinstance(item, h5py.Group):
                continue
            path = f"{relative}/{name}" if relative else name
            if STEP_COLUMN in item or any(isinstance(inner, h5py.Dataset) for inner in item.values()):
                groups[path] = read_tables(trace_path, item)
                groups.update({f"{path}/{inner}": tables_of for inner, tables_of in groups[path].groups.items()})
                continue
            if item.attrs:
                attributes[path] = {key: attribute_value(value) for key, value in item.attrs.items()}
            visit(item, path)

    visit(group, "")
    return ProbeTables(trace_path, group.name, steps[:rows], tables, groups, attributes)
