"""`open_study(path)`: a study index (HDF5 schema `gradlab-study`, docs/studies.md) as one pandas DataFrame."""

import os

import h5py
import numpy
import pandas

from ._hdf5 import STUDY_SCHEMA, as_text, attribute_value, open_checked, read_column, study_index_path

#: Columns of /runs put first, in this order, when the index has them; any other column (the metrics a newer
#: gradlab adds: final_eval_loss, signal_ratio_init, ...) follows in file order.
LEADING_COLUMNS = ("index", "name", "status", "verdict", "final_loss", "diverged_at", "seed", "message")


def short_labels(keys):
    """Short names of swept key paths: each key's last segment, more segments where two keys would share one
    (the labels `gradlab sweep` uses in run names: model.layers.0.repeat -> repeat)."""
    lengths = {key: 1 for key in keys}

    def label(key):
        segments = key.split(".")
        return ".".join(segments[len(segments) - min(lengths[key], len(segments)):])

    changed = True
    while changed:
        changed = False
        by_label = {}
        for key in keys:
            by_label.setdefault(label(key), []).append(key)
        for sharing in by_label.values():
            if len(sharing) < 2:
                continue
            for key in sharing:
                if lengths[key] < len(key.split(".")):
                    lengths[key] += 1
                    changed = True
    return {key: label(key) for key in keys}


#: How YAML writes null (yaml-cpp writes `~`); the reader shows each as "null".
YAML_NULLS = ("~", "null", "Null", "NULL", "")


def parse_values(texts):
    """A swept key's values (one line of YAML each) as numbers when every one is a number, else as str (a YAML
    null, `~`, as "null": the value that removes a key or a layer)."""
    texts = ["null" if text in YAML_NULLS else text for text in texts]
    numbers = pandas.to_numeric(pandas.Series(texts, dtype=object), errors="coerce")
    if len(texts) and not numbers.isna().any():
        if all(float(value).is_integer() and "." not in text and "e" not in text.lower()
               for value, text in zip(numbers, texts)):
            return numbers.astype("int64")
        return numbers.astype("float64")
    return pandas.Series(texts, dtype=object)


def open_study(path):
    """Read a study (its folder or its study.h5) as a DataFrame with one row per run, in run-index order.

    Columns: every /runs column (name, status, verdict, final_loss, diverged_at, seed, message, and whatever
    metrics the index holds), each swept key under its full path (`model.layers.0.repeat`) and its short name
    (`repeat`, unless that clashes with another column), values as numbers when they all are, and `trace`: the
    absolute path of the run's trace (open it with gradlab.open_trace). `frame.attrs` holds `path` (the index),
    `swept_keys` ({full: short}) and `study_attrs` (the index's root attributes).
    Raises GradlabFileError for a file that is not a study index or has a newer schema_version.
    """
    index_path = study_index_path(path)
    with open_checked(index_path, STUDY_SCHEMA, "gradlab study index (study.h5)") as study:
        root_attributes = {key: attribute_value(value) for key, value in study.attrs.items()}
        runs = study["runs"] if "runs" in study and isinstance(study["runs"], h5py.Group) else {}
        columns = {name: read_column(item) for name, item in runs.items()
                   if isinstance(item, h5py.Dataset) and item.ndim == 1}
        parameters = runs["param"] if "param" in runs else {}
        if "swept_keys" in study:
            keys = [as_text(key) for key in study["swept_keys"][()]]
        else:
            keys = list(parameters)
        swept = {key: [as_text(value) for value in parameters[key][()]] for key in keys if key in parameters}
    rows = min((len(values) for values in list(columns.values()) + list(swept.values())), default=0)
    ordered = [name for name in LEADING_COLUMNS if name in columns]
    ordered += [name for name in columns if name not in ordered and name not in ("trace", "log")]
    frame = pandas.DataFrame({name: columns[name][:rows] for name in ordered})
    labels = short_labels(list(swept))
    for key, texts in swept.items():
        values = parse_values(texts[:rows])
        if key not in frame.columns:
            frame[key] = values.values
        if labels[key] != key and labels[key] not in frame.columns and labels[key] not in swept:
            frame[labels[key]] = values.values
    folder = os.path.dirname(os.path.abspath(index_path))
    for name in ("trace", "log"):
        if name in columns:
            frame[name] = [os.path.join(folder, relative) if relative else "" for relative in columns[name][:rows]]
    frame.attrs["path"] = index_path
    frame.attrs["swept_keys"] = labels
    frame.attrs["study_attrs"] = root_attributes
    return frame


def resolve_key(frame, key):
    """The column of a study frame that `key` names: a swept key's full path for its full path, its short name or a
    unique suffix of its path (`repeat`, `layers.0.repeat` -> `model.layers.0.repeat`), else a column itself;
    raises KeyError listing the swept keys otherwise."""
    labels = frame.attrs.get("swept_keys", {})
    by_label = {label: full for full, label in labels.items()}
    if key in by_label and key not in labels:  # a short name: the swept key's full path
        return by_label[key]
    if key in frame.columns:
        return key
    swept = list(labels)
    matches = [full for full in swept if full == key or full.endswith("." + key)]
    if len(matches) == 1:
        return matches[0]
    where = frame.attrs.get("path", "study")
    if matches:
        raise KeyError(f"{where}: '{key}' matches {len(matches)} swept keys ({', '.join(matches)}): give more of the path")
    raise KeyError(f"{where}: no column or swept key '{key}' (swept keys: {', '.join(swept) or 'none'}; "
                   f"columns: {', '.join(map(str, frame.columns))})")


def metric_columns(frame):
    """The numeric, non-parameter columns of a study frame (final_loss, diverged_at, and any metric)."""
    swept = set(frame.attrs.get("swept_keys", {})) | set(frame.attrs.get("swept_keys", {}).values())
    return [name for name in frame.columns if name not in swept and name not in ("index", "seed")
            and numpy.issubdtype(frame[name].dtype, numpy.number)]
