"""Opening gradlab HDF5 files: the schema check every reader does first, and string decoding."""

import os

import h5py
import numpy

TRACE_SCHEMA = "gradlab-trace"
STUDY_SCHEMA = "gradlab-study"
#: The newest schema_version of either schema this package understands (docs/hdf5-schema.md, docs/studies.md).
SUPPORTED_SCHEMA_VERSION = 1
STUDY_INDEX_NAME = "study.h5"


class GradlabFileError(Exception):
    """A file that is missing, not HDF5, not the gradlab schema expected, or written by a newer gradlab."""


def as_text(value):
    """Return value as str: h5py returns variable-length strings as bytes in datasets, str in attributes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def attribute_value(value):
    """Return an HDF5 attribute as a plain Python value: str, int, float (numpy scalars unwrapped)."""
    if isinstance(value, (bytes, str)):
        return as_text(value)
    if isinstance(value, numpy.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, numpy.generic):
        return value.item()
    return value


def read_column(dataset):
    """Return a dataset as a numpy array, variable-length strings decoded to an array of str (dtype object)."""
    values = dataset[()]
    if dataset.dtype.kind in ("O", "S"):
        return numpy.array([as_text(value) for value in numpy.ravel(values)], dtype=object).reshape(values.shape)
    return values


def open_checked(path, expected_schema, what):
    """Open path read-only and check its root attributes `schema` and `schema_version`; the caller closes it.

    Raises GradlabFileError naming the file and what was expected: a missing file, a folder, a file that is not
    HDF5, a file of another schema (a study index given for a trace, say), or a schema_version newer than
    SUPPORTED_SCHEMA_VERSION.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GradlabFileError(f"{path}: no such file (expected a {what})")
    if os.path.isdir(path) or not h5py.is_hdf5(path):
        raise GradlabFileError(f"{path}: not an HDF5 file (expected a {what}, schema '{expected_schema}')")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise GradlabFileError(f"{path}: cannot open as HDF5 ({error})") from error
    schema = as_text(file.attrs.get("schema", ""))
    version = attribute_value(file.attrs.get("schema_version"))
    if schema != expected_schema:
        file.close()
        found = f"'{schema}'" if schema else "missing"
        raise GradlabFileError(f"{path}: not a {what}: root attribute schema is {found}, expected '{expected_schema}'")
    if not isinstance(version, int) or version < 1:
        file.close()
        raise GradlabFileError(f"{path}: root attribute schema_version is {version!r}, expected an integer >= 1")
    if version > SUPPORTED_SCHEMA_VERSION:
        file.close()
        raise GradlabFileError(f"{path}: written by a newer gradlab: {expected_schema} schema_version {version}, "
                               f"this reader knows {SUPPORTED_SCHEMA_VERSION} (update python/gradlab)")
    return file


def study_index_path(path):
    """Return the index of a study folder (FOLDER/study.h5), or path itself when it is a file."""
    path = os.fspath(path)
    return os.path.join(path, STUDY_INDEX_NAME) if os.path.isdir(path) else path
