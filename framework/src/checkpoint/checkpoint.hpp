#pragma once
/// @file checkpoint.hpp
/// Checkpoints: everything a run needs to continue exactly where it was, in an HDF5 file of schema
/// "gradlab-checkpoint" version 1 (docs/hdf5-schema.md), written atomically.

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/detectors_state.hpp"
#include "gradlab/state.hpp"
#include "trace/hdf5_handle.hpp"
#include "trace/trace_schema.hpp"
#include "trace/trace_reader.hpp"

namespace gradlab::checkpoint {

/// The schema tag every checkpoint carries in its root attribute "schema".
inline constexpr const char* schemaName = "gradlab-checkpoint";

/// The schema version this code writes and the newest it reads. Version 2: every non-empty numeric dataset carries a
/// fletcher32 checksum and the file uses the 1.8 format (checksummed metadata); version 1 files are still read.
inline constexpr std::int64_t schemaVersion = 2;

/// A run's state beside its tensors: where it is, what it has seen, and how far its trace got.
struct RunState {
    std::int64_t step = 0;               ///< steps completed; the resumed run starts with this step
    std::string config;                  ///< the resolved YAML of the run, which a resume must match
    std::string precision;               ///< "float32" or "float64"
    std::string trace;                   ///< the trace file the run writes ("" when tracing is off)
    std::uint64_t batcherPosition = 0;   ///< samples served by the batcher
    bool nonFinite = false;              ///< a non-finite value was found (and reported)
    std::int64_t divergedAt = -1;
    double firstLoss = 0, lastLoss = 0, firstGradNorm = 0, lastGradNorm = 0;
    std::vector<Event> events;           ///< every detector firing so far
    DetectorsState detectors;
    /// Per trace table group, the rows it held after `step` steps.
    std::vector<std::pair<std::string, std::int64_t>> traceRows;
};

/// Writes one checkpoint to a temporary file beside `path`; commit() makes it `path` in one rename, so a crash
/// at any moment leaves either the previous checkpoint or the new one, never a mix. Destroyed without commit(),
/// the temporary file is removed and `path` is untouched.
class CheckpointWriter {
public:
    /// Creates the temporary file; throws Error naming `path` when its folder is not writable.
    explicit CheckpointWriter(std::string path);
    ~CheckpointWriter();
    CheckpointWriter(const CheckpointWriter&) = delete;
    CheckpointWriter& operator=(const CheckpointWriter&) = delete;

    /// Writes the root attributes and the run's state.
    void writeState(const RunState& state);

    /// Writes `tensor` as `group/name`, e.g. ("/parameters", "layers.0.dense.W"), in its precision.
    void writeTensor(const std::string& group, const std::string& name, const Eigen::MatrixXf& tensor);
    void writeTensor(const std::string& group, const std::string& name, const Eigen::MatrixXd& tensor);

    /// Writes an int64, float64 or string attribute `name` of `group` (created when missing).
    void writeInteger(const std::string& group, const std::string& name, std::int64_t value);
    void writeReal(const std::string& group, const std::string& name, double value);
    void writeText(const std::string& group, const std::string& name, const std::string& value);

    /// Closes the file, syncs it to disk and renames it over `path`, then syncs the folder.
    void commit();

    /// The checkpoint's final path.
    const std::string& path() const { return path_; }

private:
    trace::Hdf5Handle group(const std::string& path);
    std::string where() const;

    std::string path_, temporary_;
    trace::Hdf5Handle file_;
    bool committed_ = false;
};

/// Reads a checkpoint, refusing files of another schema, a newer version, or ones cut short.
class CheckpointReader {
public:
    /// Throws Error naming the file: missing, not HDF5, not a checkpoint, newer schema, incomplete, or damaged (a
    /// dataset that fails its checksum or does not read, named).
    explicit CheckpointReader(const std::string& path);

    /// The run's state.
    const RunState& state() const { return state_; }

    /// Whether `group/name` exists.
    bool hasTensor(const std::string& group, const std::string& name) const;

    /// Overwrites `into` with tensor `group/name`; throws Error if it is missing or its shape differs from
    /// `into`'s (the model in the config must be the model in the checkpoint).
    void readTensor(const std::string& group, const std::string& name, Eigen::MatrixXf& into) const;
    void readTensor(const std::string& group, const std::string& name, Eigen::MatrixXd& into) const;

    /// The names of the datasets of a group ("" when it does not exist).
    std::vector<std::string> tensorNames(const std::string& group) const;

    /// Attributes of a group; throw Error if missing.
    std::int64_t readInteger(const std::string& group, const std::string& name) const;
    double readReal(const std::string& group, const std::string& name) const;
    std::string readText(const std::string& group, const std::string& name) const;

    /// Whether `group` has attribute `name`.
    bool hasAttribute(const std::string& group, const std::string& name) const;

    const std::string& path() const { return reader_.path(); }

private:
    template <typename Scalar>
    void readInto(const std::string& group, const std::string& name,
                  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& into) const;

    trace::TraceReader reader_;
    RunState state_;
};

/// Saves what a plugin object shows through visitState() into `group` of a checkpoint: tensors as datasets
/// `group/tensors/<name>`, integers, reals and random streams as attributes of `group/integers`, `group/reals`,
/// `group/randoms`. Throws Error on a name shown twice.
template <typename Scalar>
class StateSaver : public StateVisitor<Scalar> {
public:
    StateSaver(CheckpointWriter& writer, std::string group) : writer_(writer), group_(std::move(group)) {}
    void tensor(const std::string& name, Matrix<Scalar>& value) override;
    void integer(const std::string& name, std::int64_t& value) override;
    void real(const std::string& name, double& value) override;
    void random(const std::string& name, Random& value) override;

private:
    void claim(const std::string& name);
    CheckpointWriter& writer_;
    std::string group_;
    std::set<std::string> seen_;
};

/// Restores what StateSaver saved, through the same visitState() call. finish() throws Error if the checkpoint
/// holds state the object did not ask for (a different optimizer or configuration).
template <typename Scalar>
class StateRestorer : public StateVisitor<Scalar> {
public:
    StateRestorer(const CheckpointReader& reader, std::string group, std::string owner)
        : reader_(reader), group_(std::move(group)), owner_(std::move(owner)) {}
    void tensor(const std::string& name, Matrix<Scalar>& value) override;
    void integer(const std::string& name, std::int64_t& value) override;
    void real(const std::string& name, double& value) override;
    void random(const std::string& name, Random& value) override;
    void finish() const;

private:
    const CheckpointReader& reader_;
    std::string group_, owner_;
    std::set<std::string> restored_;
};

extern template class StateSaver<float>;
extern template class StateSaver<double>;
extern template class StateRestorer<float>;
extern template class StateRestorer<double>;

}  // namespace gradlab::checkpoint
