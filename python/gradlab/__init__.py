"""gradlab: read gradlab traces and study indexes into pandas.

    import gradlab
    trace = gradlab.open_trace("runs/deep_sigmoid.h5")
    trace.scalars["loss"]                       # DataFrame indexed by step
    trace.per_layer("signal_grad_norm")         # long table: step, layer, value
    trace.probe("jacobian_spectrum").at(0)      # a probe's tables at one probe step, numpy arrays
    study = gradlab.open_study("runs/batchnorm")  # one row per run, swept keys as columns

Formats: docs/hdf5-schema.md (schema gradlab-trace) and docs/studies.md (schema gradlab-study). Pure Python
over h5py, numpy, pandas and PyYAML.
"""

from ._hdf5 import (STUDY_SCHEMA, SUPPORTED_SCHEMA_VERSION, TRACE_SCHEMA, GradlabFileError, study_index_path)
from .probes import JacobianSpectrum, Probe, ProbeTables
from .study import metric_columns, open_study, resolve_key, short_labels
from .trace import Trace, open_trace

__version__ = "0.1.0"

__all__ = ["open_trace", "open_study", "Trace", "Probe", "ProbeTables", "JacobianSpectrum", "GradlabFileError", "resolve_key", "metric_columns",
           "short_labels", "study_index_path", "TRACE_SCHEMA", "STUDY_SCHEMA", "SUPPORTED_SCHEMA_VERSION"]
