#pragma once
/// @file trace_reader.hpp
/// Reads a gradlab trace file, refusing files of another schema or a newer schema version.

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "trace/hdf5_handle.hpp"

namespace gradlab::trace {

/// A trace file opened read-only. Dataset and group paths are absolute, e.g. "/trace/grad_norm".
/// Every failure throws Error naming the file and the object.
class TraceReader {
public:
    /// Opens and checks the file. Throws Error when it is missing, not HDF5 ("'x' is not an HDF5 file"),
    /// not a trace ("'x' is not a gradlab trace (schema attribute: ...)"), or of a newer schema_version.
    explicit TraceReader(const std::string& path);

    /// Opens another gradlab HDF5 file the same way: `kind` ("checkpoint") names it in messages, `schema` is its
    /// schema attribute ("gradlab-checkpoint") and `newestVersion` the newest schema_version understood.
    TraceReader(const std::string& path, const std::string& kind, const std::string& schema,
                std::int64_t newestVersion);

    /// The file's path as given.
    const std::string& path() const { return path_; }

    /// True when the object (default: the root) has this attribute.
    bool hasAttribute(const std::string& name, const std::string& objectPath = "/") const;

    /// A string attribute (variable- or fixed-length); throws Error if missing or not a string.
    std::string stringAttribute(const std::string& name, const std::string& objectPath = "/") const;

    /// An integer attribute converted to int64; throws Error if missing, not an integer or out of range.
    std::int64_t integerAttribute(const std::string& name, const std::string& objectPath = "/") const;

    /// An unsigned integer attribute (e.g. "seed"); throws Error if missing, negative or not an integer.
    std::uint64_t unsignedAttribute(const std::string& name, const std::string& objectPath = "/") const;

    /// A numeric attribute converted to float64; throws Error if missing or not numeric.
    double doubleAttribute(const std::string& name, const std::string& objectPath = "/") const;

    /// True when `path` names a dataset.
    bool hasDataset(const std::string& path) const;

    /// True when `path` names a group.
    bool hasGroup(const std::string& path) const;

    /// Names of the members (groups and datasets) of a group, in name order.
    std::vector<std::string> listGroup(const std::string& path) const;

    /// The dataset's dimensions, e.g. {S, P} for /trace/param_grad_norm.
    std::vector<hsize_t> datasetShape(const std::string& path) const;

    /// A 1-D string dataset, e.g. /meta/param_names.
    std::vector<std::string> readStrings(const std::string& path) const;

    /// A 1-D numeric dataset (or one of shape [S x 1]) converted to float64.
    Eigen::VectorXd readVector(const std::string& path) const;

    /// A 1-D integer dataset, e.g. /trace/step.
    std::vector<std::int64_t> readInt64Vector(const std::string& path) const;

    /// A 2-D numeric dataset [S x W] as a matrix with S rows (one per step) and W columns; 1-D gives [S x 1].
    Eigen::MatrixXd readMatrix(const std::string& path) const;

    /// A numeric dataset of any rank [S x d1 x d2 ...] as a matrix with S rows, each the row-major cell
    /// (d1 d2 ... values; a probe table [S x n x K] gives row s = example 0's K values, then example 1's ...).
    Eigen::MatrixXd readFlattened(const std::string& path) const;

private:
    Eigen::MatrixXd readRows(const std::string& path, bool anyRank) const;
    Hdf5Handle openDataset(const std::string& path) const;
    Hdf5Handle openAttribute(const std::string& name, const std::string& objectPath) const;
    std::string describe(const std::string& objectPath) const;
    /// Throws Error unless the attribute holds exactly one value (H5Aread would write them all).
    void requireOneValue(hid_t attribute, const std::string& name, const std::string& objectPath) const;

    std::string path_;
    Hdf5Handle file_;
};

}  // namespace gradlab::trace
