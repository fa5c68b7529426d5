#pragma once
/// @file trace_writer.hpp
/// Writes a training run's trace, an HDF5 file of schema "gradlab-trace" version 1 (docs/hdf5-schema.md).

#include <Eigen/Core>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "gradlab/tensor.hpp"
#include "trace/hdf5_handle.hpp"
#include "trace/trace_schema.hpp"
#include "trace/trace_table.hpp"

namespace gradlab::trace {

/// The schema tag every trace carries in its root attribute "schema".
inline constexpr const char* traceSchemaName = "gradlab-trace";

/// The schema version this writer produces and the newest the reader understands.
inline constexpr std::int64_t traceSchemaVersion = 1;

/// What the file says about the run at its root.
struct TraceHeader {
    /// gradlab's version, e.g. "0.1.0".
    std::string gradlabVersion;
    /// The fully resolved YAML configuration text.
    std::string config;
    /// The run's master seed.
    std::uint64_t seed = 0;
    /// "float32" or "float64": the precision the model was trained in (norms are float64 regardless).
    std::string precision;
    /// ISO 8601 UTC start time, e.g. "2026-11-27T03:10:00Z".
    std::string startedAt;
    /// One name per layer, "layers.<index>.<kind>"; written to /meta/layer_names.
    std::vector<std::string> layerNames;
    /// One kind per layer, e.g. "dense"; written to /meta/layer_kinds.
    std::vector<std::string> layerKinds;
    /// One name per parameter, "layers.<index>.<kind>.<param>"; written to /meta/param_names.
    std::vector<std::string> paramNames;
};

/// Where a resumed run continues its trace: the step it resumes at and, per table group ("/trace", "/events",
/// ...), the rows the trace held when that step began (a checkpoint records them).
struct ResumePoint {
    std::int64_t step = 0;
    std::vector<std::pair<std::string, std::int64_t>> tableRows;
};

/// Creates and fills one trace file. Not copyable or movable (tables are handed out by reference).
/// Every failure throws Error naming the file and the HDF5 object.
class TraceWriter {
public:
    /// Creates the file (truncating), writes the root attributes (status running) and /meta.
    /// Throws Error "cannot create trace file 'PATH': <reason>" when the file cannot be created.
    TraceWriter(const std::string& path, const TraceHeader& header, std::int64_t flushEveryRows = 100);

    /// Reopens the trace of a run that stopped before it finished, to continue it at `resume.step`: every table
    /// listed is cut back to its rows (later rows came from steps the resumed run repeats), snapshots from that
    /// step on and /model are removed, status is "running" again and the root attribute "resumes" counts up.
    /// The run then declares its tables and columns as it did at first; they must match the file's (Error
    /// otherwise), and their rows continue after the kept ones. Throws Error naming the file if it is not a
    /// gradlab trace or holds fewer rows than `resume` needs.
    TraceWriter(const std::string& path, const ResumePoint& resume, std::int64_t flushEveryRows = 100);

    /// If finish() was not called: writes the buffered rows and closes, leaving status "running". Never throws.
    ~TraceWriter();

    TraceWriter(const TraceWriter&) = delete;
    TraceWriter& operator=(const TraceWriter&) = delete;

    /// The table of a group, "/trace" or "/eval" (a leading '/' is optional); created on first call.
    Table& table(const std::string& group);

    /// Stores full tensors as /snapshots/<step>/<paramName>/grad and /value, each [rows x cols] as in Eigen,
    /// in float32. Throws Error if that snapshot exists already.
    void writeSnapshot(std::int64_t step, const std::string& paramName, const Eigen::MatrixXf& grad,
                       const Eigen::MatrixXf& value);

    /// Same as above for a float64 run; stored in float64.
    void writeSnapshot(std::int64_t step, const std::string& paramName, const Eigen::MatrixXd& grad,
                       const Eigen::MatrixXd& value);

    /// Writes one tensor as dataset `group/name` [rows x cols] in Eigen's orientation (e.g. the final model:
    /// /model/parameters/<param_name>); `group` is created with its parents when missing.
    void writeTensor(const std::string& group, const std::string& name, const Eigen::MatrixXf& tensor);

    /// Same as above in float64.
    void writeTensor(const std::string& group, const std::string& name, const Eigen::MatrixXd& tensor);

    /// Writes every table's buffered rows (one H5Dset_extent + H5Dwrite per column), then H5Fflush, so that
    /// a process killed afterwards leaves a readable file holding these rows. When the disk or the file size limit
    /// has no room for them, throws files::NoSpaceError before writing anything (a flush cut short would leave
    /// the whole file unreadable); writeSnapshot and writeTensor check the same way.
    void flush();

    /// Calls flush() when some table holds flushEveryRows buffered rows; returns whether it did.
    /// Meant to be called once per step, after the step's rows were committed.
    bool flushIfDue();

    /// Sets (or replaces) a root string attribute.
    void setAttribute(const std::string& name, const std::string& value);

    /// Sets (or replaces) a root string attribute (keeps string literals from becoming integers).
    void setAttribute(const std::string& name, const char* value) { setAttribute(name, std::string(value)); }

    /// Sets (or replaces) a root float64 attribute.
    void setAttribute(const std::string& name, double value);

    /// Sets (or replaces) a root int64 attribute, for any integer argument.
    template <typename Integer, typename = std::enable_if_t<std::is_integral_v<Integer>>>
    void setAttribute(const std::string& name, Integer value) {
        setIntegerAttribute(name, static_cast<std::int64_t>(value));
    }

    /// Sets (or replaces) a root int64 attribute.
    void setIntegerAttribute(const std::string& name, std::int64_t value);

    /// Sets (or replaces) a string attribute of a group, e.g. setGroupAttribute("/theory", "activation", "tanh");
    /// creates the group (and its parents) when missing. "/" is the root. Throws Error if `group` names a
    /// dataset or lies under a reserved group ("/meta", "/snapshots").
    void setGroupAttribute(const std::string& group, const std::string& name, const std::string& value);

    /// Same as above for a string literal (keeps it from becoming an integer).
    void setGroupAttribute(const std::string& group, const std::string& name, const char* value) {
        setGroupAttribute(group, name, std::string(value));
    }

    /// Sets (or replaces) a float64 attribute of a group, created when missing.
    void setGroupAttribute(const std::string& group, const std::string& name, double value);

    /// Sets (or replaces) an int64 attribute of a group, created when missing, for any integer argument.
    template <typename Integer, typename = std::enable_if_t<std::is_integral_v<Integer>>>
    void setGroupAttribute(const std::string& group, const std::string& name, Integer value) {
        setGroupIntegerAttribute(group, name, static_cast<std::int64_t>(value));
    }

    /// Sets (or replaces) an int64 attribute of a group, created when missing.
    void setGroupIntegerAttribute(const std::string& group, const std::string& name, std::int64_t value);

    /// Records the final status (completed, diverged, stopped, interrupted or failed; running and pending are
    /// refused), its message and the ISO 8601 UTC finish time, writes the buffered rows and closes the file. Tables
    /// stay valid objects, but nothing more reaches the file: flush, snapshots and attributes then throw Error. When
    /// the buffered rows do not fit on the disk, the status is recorded as failed with the reason and, if `status`
    /// was not already failed, files::NoSpaceError is thrown once the file is closed.
    void finish(RunStatus status, const std::string& message, const std::string& finishedAt);

    /// True once finish() has closed the file.
    bool finished() const { return !file_.valid(); }

    /// The file's path as given.
    const std::string& path() const { return path_; }

    /// Per table group, the rows committed so far (written or buffered), in group order: what a checkpoint keeps
    /// to resume this trace.
    std::vector<std::pair<std::string, std::int64_t>> tableRows() const;

    /// Rows a table buffers before flushIfDue() writes them.
    std::int64_t flushEveryRows() const { return flushEveryRows_; }

private:
    template <typename Scalar>
    void writeSnapshotImpl(std::int64_t step, const std::string& paramName,
                           const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& grad,
                           const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& value);
    template <typename Scalar>
    void writeTensorImpl(const std::string& group, const std::string& name,
                         const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& tensor);
    void requireOpen(const std::string& action) const;
    /// Throws files::NoSpaceError when the disk or the file size limit has no room for the buffered rows.
    void requireSpaceForRows() const;
    /// Throws files::NoSpaceError "trace file 'X': cannot <action>: <shortage>" when `bytes` do not fit.
    void requireSpace(double bytes, const std::string& action) const;
    void openFile(unsigned flags);
    std::string temporaryPath() const;
    void cutBack(const ResumePoint& resume);
    Hdf5Handle openAttributeGroup(const std::string& group);
    void writeMeta(const TraceHeader& header);
    void closeFile() noexcept;

    std::string path_;
    std::string temporary_;  // the unpredictable name a new trace is created under before its rename
    std::int64_t flushEveryRows_ = 100;
    Hdf5Handle file_;
    std::map<std::string, Hdf5Handle> groups_;
    std::map<std::string, std::unique_ptr<Table>> tables_;
    std::map<std::string, std::int64_t> keptRows_;  // a resumed trace's tables and the rows they keep
};

}  // namespace gradlab::trace
