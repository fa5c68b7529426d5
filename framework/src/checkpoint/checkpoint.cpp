#include "checkpoint/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "gradlab/error.hpp"
#include "util/safe_files.hpp"

namespace gradlab::checkpoint {
namespace {

namespace fs = std::filesystem;
using trace::Hdf5Handle;

std::string inQuotes(const std::string& text) { return "'" + text + "'"; }

/// fsync()s a file or folder, so that a rename after it cannot reach the disk before the data does.
void syncPath(const std::string& path, bool folder) {
    const int descriptor = ::open(path.c_str(), folder ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (descriptor < 0) throw Error("cannot open " + inQuotes(path) + " to sync it: " + std::strerror(errno));
    const int status = ::fsync(descriptor);
    const int error = errno;
    ::close(descriptor);
    if (status != 0) throw Error("cannot sync " + inQuotes(path) + " to disk: " + std::strerror(error));
}

/// FNV-1a over the run state's text (config, precision, trace path, events, trace tables), each text ended by a NUL.
/// HDF5 keeps variable-length strings in its global heap, which no filter checksums; this digest does.
std::int64_t textDigest(const RunState& state) {
    std::uint64_t hash = 1469598103934665603ull;
    auto add = [&](const std::string& text) {
        for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
        hash = (hash ^ 0u) * 1099511628211ull;
    };
    add(state.config);
    add(state.precision);
    add(state.trace);
    for (const Event& event : state.events) {
        add(event.kind);
        add(event.where);
        add(event.message);
    }
    for (const auto& [table, rows] : state.traceRows) add(table);
    std::int64_t digest = 0;
    std::memcpy(&digest, &hash, sizeof digest);
    return digest;
}

/// Whether a dataset is stored with the fletcher32 checksum filter.
bool hasChecksum(hid_t file, const std::string& path) {
    Hdf5Handle dataset = Hdf5Handle::dataset(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
    if (!dataset.valid()) return false;
    Hdf5Handle creation = Hdf5Handle::propertyList(H5Dget_create_plist(dataset.get()));
    if (!creation.valid()) return false;
    const int filters = H5Pget_nfilters(creation.get());
    for (int i = 0; i < filters; ++i) {
        unsigned flags = 0;
        std::size_t elements = 0;
        unsigned configuration = 0;
        if (H5Pget_filter2(creation.get(), static_cast<unsigned>(i), &flags, &elements, nullptr, 0, nullptr,
                           &configuration) == H5Z_FILTER_FLETCHER32)
            return true;
    }
    return false;
}

/// Reads every dataset of a checkpoint whole, so that damage anywhere (a flipped bit, a zeroed block) is refused
/// naming the dataset before anything is restored from it. Since schema version 2 every non-empty dataset carries
/// a fletcher32 checksum; one without it is refused too.
void verifyIntegrity(const std::string& path, std::int64_t version) {
    trace::Hdf5ErrorSilencer silencer;
    const std::string where = "checkpoint " + inQuotes(path) + " is damaged";
    const Hdf5Handle file = trace::openHdf5ReadOnly(path);
    for (const std::string& dataset : trace::hdf5AllDatasets(file.get(), where)) {
        try {
            trace::hdf5CheckDatasetReads(file.get(), dataset, false, where);
        } catch (const Error& error) {
            throw Error(std::string(error.what()) + " (its checksum or its storage does not match its data)");
        }
        if (version >= 2 && !hasChecksum(file.get(), dataset)) {
            // Text (variable-length strings, which no filter takes) is covered by the root's text_digest.
            Hdf5Handle handle = Hdf5Handle::dataset(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT));
            Hdf5Handle space = Hdf5Handle::dataspace(H5Dget_space(handle.get()));
            Hdf5Handle type = Hdf5Handle::datatype(H5Dget_type(handle.get()));
            if (space.valid() && type.valid() && H5Tget_class(type.get()) != H5T_STRING &&
                H5Sget_simple_extent_npoints(space.get()) > 0)
                throw Error(where + ": dataset " + inQuotes(dataset) + " has no checksum");
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// CheckpointWriter

CheckpointWriter::CheckpointWriter(std::string path) : path_(std::move(path)) {
    const fs::path target(path_);
    if (target.has_parent_path()) {
        std::error_code error;
        fs::create_directories(target.parent_path(), error);
        if (error)
            throw Error("cannot create the checkpoint folder " + inQuotes(target.parent_path().string()) + ": " +
                        error.message());
    }
    files::requireRegularOrMissing(path_, "checkpoint");
    // Created exclusively under a name nobody can guess, so two writers never share it and a link planted in the
    // folder cannot redirect the write.
    temporary_ = files::temporaryNameFor(path_);
    trace::Hdf5ErrorSilencer silencer;
    // The 1.8 file format: superblock, object headers (with their attributes) and link storage carry checksums, as
    // every dataset does (fletcher32), so that damage anywhere is refused on reading rather than resumed from.
    Hdf5Handle access = Hdf5Handle::propertyList(H5Pcreate(H5P_FILE_ACCESS));
    if (!access.valid() || H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_V18) < 0)
        throw Error("cannot write the checkpoint " + inQuotes(path_) + ": " + trace::hdf5ErrorReason());
    file_ = Hdf5Handle::file(H5Fcreate(temporary_.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, access.get()));
    if (!file_.valid())
        throw Error("cannot write the checkpoint " + inQuotes(path_) + ": cannot create " + inQuotes(temporary_) + ": " +
                    trace::hdf5ErrorReason());
}

CheckpointWriter::~CheckpointWriter() {
    if (committed_) return;
    file_.reset();
    std::error_code ignored;
    fs::remove(temporary_, ignored);
}

std::string CheckpointWriter::where() const { return "checkpoint " + inQuotes(path_); }

Hdf5Handle CheckpointWriter::group(const std::string& path) {
    return trace::openOrCreateGroup(file_.get(), path, where());
}

void CheckpointWriter::writeState(const RunState& state) {
    trace::Hdf5ErrorSilencer silencer;
    const hid_t root = file_.get();
    const std::string at = where();
    trace::writeStringAttribute(root, "schema", schemaName, at);
    trace::writeIntegerAttribute(root, "schema_version", schemaVersion, at);
    trace::writeStringAttribute(root, "gradlab_version", GRADLAB_VERSION, at);
    trace::writeIntegerAttribute(root, "step", state.step, at);
    trace::writeStringAttribute(root, "config", state.config, at);
    trace::writeStringAttribute(root, "precision", state.precision, at);
    trace::writeStringAttribute(root, "trace", state.trace, at);
    trace::writeIntegerAttribute(root, "text_digest", textDigest(state), at);

    Hdf5Handle run = group("/run");
    trace::writeIntegerAttribute(run.get(), "batcher_position", static_cast<std::int64_t>(state.batcherPosition), at);
    trace::writeIntegerAttribute(run.get(), "non_finite", state.nonFinite ? 1 : 0, at);
    trace::writeIntegerAttribute(run.get(), "diverged_at", state.divergedAt, at);
    trace::writeDoubleAttribute(run.get(), "first_loss", state.firstLoss, at);
    trace::writeDoubleAttribute(run.get(), "last_loss", state.lastLoss, at);
    trace::writeDoubleAttribute(run.get(), "first_grad_norm", state.firstGradNorm, at);
    trace::writeDoubleAttribute(run.get(), "last_grad_norm", state.lastGradNorm, at);

    Hdf5Handle detectors = group("/detectors");
    trace::writeDoubleDataset(detectors.get(), "grad_norms", state.detectors.gradNorms, at, true);
    trace::writeDoubleDataset(detectors.get(), "losses", state.detectors.losses, at, true);
    trace::writeIntegerAttribute(detectors.get(), "exploding_fired", state.detectors.explodingFired ? 1 : 0, at);
    trace::writeIntegerAttribute(detectors.get(), "vanishing_fired", state.detectors.vanishingFired ? 1 : 0, at);
    trace::writeIntegerAttribute(detectors.get(), "stalled_fired", state.detectors.stalledFired ? 1 : 0, at);
    std::vector<std::int64_t> saturated(state.detectors.saturatedFired.begin(), state.detectors.saturatedFired.end());
    trace::writeInt64Dataset(detectors.get(), "saturated_fired", saturated, at, true);

    Hdf5Handle events = group("/events");
    std::vector<std::int64_t> steps, timesteps;
    std::vector<std::string> kinds, wheres, messages;
    std::vector<double> values;
    for (const Event& event : state.events) {
        steps.push_back(event.step);
        kinds.push_back(event.kind);
        wheres.push_back(event.where);
        timesteps.push_back(event.timestep);
        values.push_back(event.value);
        messages.push_back(event.message);
    }
    trace::writeInt64Dataset(events.get(), "step", steps, at, true);
    trace::writeStringDataset(events.get(), "kind", kinds, at);
    trace::writeStringDataset(events.get(), "where", wheres, at);
    trace::writeInt64Dataset(events.get(), "timestep", timesteps, at, true);
    trace::writeDoubleDataset(events.get(), "value", values, at, true);
    trace::writeStringDataset(events.get(), "message", messages, at);

    Hdf5Handle rows = group("/trace_rows");
    std::vector<std::string> tables;
    std::vector<std::int64_t> counts;
    for (const auto& [table, count] : state.traceRows) {
        tables.push_back(table);
        counts.push_back(count);
    }
    trace::writeStringDataset(rows.get(), "tables", tables, at);
    trace::writeInt64Dataset(rows.get(), "rows", counts, at, true);
}

void CheckpointWriter::writeTensor(const std::string& groupPath, const std::string& name, const Eigen::MatrixXf& tensor) {
    trace::Hdf5ErrorSilencer silencer;
    trace::writeMatrixDataset(group(groupPath).get(), name, tensor, where() + ", group " + inQuotes(groupPath), true);
}

void CheckpointWriter::writeTensor(const std::string& groupPath, const std::string& name, const Eigen::MatrixXd& tensor) {
    trace::Hdf5ErrorSilencer silencer;
    trace::writeMatrixDataset(group(groupPath).get(), name, tensor, where() + ", group " + inQuotes(groupPath), true);
}

void CheckpointWriter::writeInteger(const std::string& groupPath, const std::string& name, std::int64_t value) {
    trace::Hdf5ErrorSilencer silencer;
    trace::writeIntegerAttribute(group(groupPath).get(), name, value, where() + ", group " + inQuotes(groupPath));
}

void CheckpointWriter::writeReal(const std::string& groupPath, const std::string& name, double value) {
    trace::Hdf5ErrorSilencer silencer;
    trace::writeDoubleAttribute(group(groupPath).get(), name, value, where() + ", group " + inQuotes(groupPath));
}

void CheckpointWriter::writeText(const std::string& groupPath, const std::string& name, const std::string& value) {
    trace::Hdf5ErrorSilencer silencer;
    trace::writeStringAttribute(group(groupPath).get(), name, value, where() + ", group " + inQuotes(groupPath));
}

void CheckpointWriter::commit() {
    {
        trace::Hdf5ErrorSilencer silencer;
        // The root attribute "complete" is written last: a reader refuses a file without it.
        trace::writeIntegerAttribute(file_.get(), "complete", 1, where());
        if (file_.close() < 0)
            throw Error("cannot write the checkpoint " + inQuotes(path_) + ": " + trace::hdf5ErrorReason());
    }
    syncPath(temporary_, false);
    std::error_code error;
    fs::rename(temporary_, path_, error);
    if (error) throw Error("cannot move the checkpoint into place as " + inQuotes(path_) + ": " + error.message());
    committed_ = true;
    const fs::path folder = fs::path(path_).has_parent_path() ? fs::path(path_).parent_path() : fs::path(".");
    syncPath(folder.string(), true);
}

// ---------------------------------------------------------------------------------------------------------
// CheckpointReader

CheckpointReader::CheckpointReader(const std::string& path) : reader_(path, "checkpoint", schemaName, schemaVersion) {
    verifyIntegrity(path, reader_.integerAttribute("schema_version"));
    const std::string what = inQuotes(path) + " is not a complete gradlab checkpoint";
    try {
        if (!reader_.hasAttribute("complete") || reader_.integerAttribute("complete") != 1)
            throw Error("it was not finished");
        state_.step = reader_.integerAttribute("step");
        if (state_.step < 0) throw Error("negative step " + std::to_string(state_.step));
        state_.config = reader_.stringAttribute("config");
        state_.precision = reader_.stringAttribute("precision");
        state_.trace = reader_.stringAttribute("trace");
        const std::int64_t position = reader_.integerAttribute("batcher_position", "/run");
        if (position < 0) throw Error("negative batcher_position");
        state_.batcherPosition = static_cast<std::uint64_t>(position);
        state_.nonFinite = reader_.integerAttribute("non_finite", "/run") != 0;
        state_.divergedAt = reader_.integerAttribute("diverged_at", "/run");
        state_.firstLoss = reader_.doubleAttribute("first_loss", "/run");
        state_.lastLoss = reader_.doubleAttribute("last_loss", "/run");
        state_.firstGradNorm = reader_.doubleAttribute("first_grad_norm", "/run");
        state_.lastGradNorm = reader_.doubleAttribute("last_grad_norm", "/run");

        const Eigen::VectorXd gradNorms = reader_.readVector("/detectors/grad_norms");
        const Eigen::VectorXd losses = reader_.readVector("/detectors/losses");
        state_.detectors.gradNorms.assign(gradNorms.data(), gradNorms.data() + gradNorms.size());
        state_.detectors.losses.assign(losses.data(), losses.data() + losses.size());
        state_.detectors.explodingFired = reader_.integerAttribute("exploding_fired", "/detectors") != 0;
        state_.detectors.vanishingFired = reader_.integerAttribute("vanishing_fired", "/detectors") != 0;
        state_.detectors.stalledFired = reader_.integerAttribute("stalled_fired", "/detectors") != 0;
        for (std::int64_t fired : reader_.readInt64Vector("/detectors/saturated_fired"))
            state_.detectors.saturatedFired.push_back(fired != 0);

        const auto steps = reader_.readInt64Vector("/events/step");
        const auto kinds = reader_.readStrings("/events/kind");
        const auto wheres = reader_.readStrings("/events/where");
        const auto timesteps = reader_.readInt64Vector("/events/timestep");
        const Eigen::VectorXd values = reader_.readVector("/events/value");
        const auto messages = reader_.readStrings("/events/message");
        const std::size_t count = steps.size();
        if (kinds.size() != count || wheres.size() != count || timesteps.size() != count ||
            static_cast<std::size_t>(values.size()) != count || messages.size() != count)
            throw Error("the /events columns differ in length");
        for (std::size_t i = 0; i < count; ++i)
            state_.events.push_back({steps[i], kinds[i], wheres[i], timesteps[i], values[static_cast<Index>(i)],
                                     messages[i]});

        const auto tables = reader_.readStrings("/trace_rows/tables");
        const auto rows = reader_.readInt64Vector("/trace_rows/rows");
        if (tables.size() != rows.size()) throw Error("/trace_rows/tables and /trace_rows/rows differ in length");
        for (std::size_t i = 0; i < tables.size(); ++i) {
            if (rows[i] < 0) throw Error("negative row count for " + inQuotes(tables[i]));
            state_.traceRows.emplace_back(tables[i], rows[i]);
        }
        if (reader_.integerAttribute("schema_version") >= 2 && reader_.integerAttribute("text_digest") != textDigest(state_))
            throw Error("it is damaged: its text (config, trace path, events) does not match the digest written with it");
    } catch (const Error& error) {
        throw Error(what + ": " + error.what());
    }
}

bool CheckpointReader::hasTensor(const std::string& group, const std::string& name) const {
    return reader_.hasDataset(group + "/" + name);
}

std::vector<std::string> CheckpointReader::tensorNames(const std::string& group) const {
    if (!reader_.hasGroup(group)) return {};
    std::vector<std::string> names;
    for (const std::string& name : reader_.listGroup(group))
        if (reader_.hasDataset(group + "/" + name)) names.push_back(name);
    return names;
}

template <typename Scalar>
void CheckpointReader::readInto(const std::string& group, const std::string& name,
                                Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& into) const {
    const std::string dataset = group + "/" + name;
    if (!reader_.hasDataset(dataset))
        throw Error("checkpoint " + inQuotes(path()) + " has no " + inQuotes(dataset) +
                    ": it was written for another model or optimizer");
    const std::vector<hsize_t> shape = reader_.datasetShape(dataset);
    const bool matches = shape.size() == 2 && shape[0] == static_cast<hsize_t>(into.rows()) &&
                         shape[1] == static_cast<hsize_t>(into.cols());
    if (!matches) {
        std::string found;
        for (hsize_t extent : shape) found += (found.empty() ? "" : " x ") + std::to_string(extent);
        throw Error("checkpoint " + inQuotes(path()) + ": " + inQuotes(dataset) + " is [" + found + "], the model's is [" +
                    std::to_string(into.rows()) + " x " + std::to_string(into.cols()) + "]");
    }
    // float32 values pass through float64 exactly.
    into = reader_.readMatrix(dataset).template cast<Scalar>();
}

void CheckpointReader::readTensor(const std::string& group, const std::string& name, Eigen::MatrixXf& into) const {
    readInto<float>(group, name, into);
}

void CheckpointReader::readTensor(const std::string& group, const std::string& name, Eigen::MatrixXd& into) const {
    readInto<double>(group, name, into);
}

bool CheckpointReader::hasAttribute(const std::string& group, const std::string& name) const {
    return reader_.hasGroup(group) && reader_.hasAttribute(name, group);
}

std::int64_t CheckpointReader::readInteger(const std::string& group, const std::string& name) const {
    return reader_.integerAttribute(name, group);
}

double CheckpointReader::readReal(const std::string& group, const std::string& name) const {
    return reader_.doubleAttribute(name, group);
}

std::string CheckpointReader::readText(const std::string& group, const std::string& name) const {
    return reader_.stringAttribute(name, group);
}

// ---------------------------------------------------------------------------------------------------------
// StateSaver, StateRestorer

template <typename Scalar>
void StateSaver<Scalar>::claim(const std::string& name) {
    if (name.empty() || name.find('/') != std::string::npos)
        throw Error("invalid state name " + inQuotes(name) + " (it must be non-empty and have no '/')");
    if (!seen_.insert(name).second) throw Error("state " + inQuotes(name) + " was shown twice: names must be unique");
}

template <typename Scalar>
void StateSaver<Scalar>::tensor(const std::string& name, Matrix<Scalar>& value) {
    claim(name);
    writer_.writeTensor(group_ + "/tensors", name, value);
}

template <typename Scalar>
void StateSaver<Scalar>::integer(const std::string& name, std::int64_t& value) {
    claim(name);
    writer_.writeInteger(group_ + "/integers", name, value);
}

template <typename Scalar>
void StateSaver<Scalar>::real(const std::string& name, double& value) {
    claim(name);
    writer_.writeReal(group_ + "/reals", name, value);
}

template <typename Scalar>
void StateSaver<Scalar>::random(const std::string& name, Random& value) {
    claim(name);
    writer_.writeText(group_ + "/randoms", name, value.state());
}

template <typename Scalar>
void StateRestorer<Scalar>::tensor(const std::string& name, Matrix<Scalar>& value) {
    reader_.readTensor(group_ + "/tensors", name, value);
    restored_.insert("tensors/" + name);
}

template <typename Scalar>
void StateRestorer<Scalar>::integer(const std::string& name, std::int64_t& value) {
    const std::string group = group_ + "/integers";
    if (!reader_.hasAttribute(group, name))
        throw Error("checkpoint " + inQuotes(reader_.path()) + " has no integer " + inQuotes(name) + " of " + owner_);
    value = reader_.readInteger(group, name);
    restored_.insert("integers/" + name);
}

template <typename Scalar>
void StateRestorer<Scalar>::real(const std::string& name, double& value) {
    const std::string group = group_ + "/reals";
    if (!reader_.hasAttribute(group, name))
        throw Error("checkpoint " + inQuotes(reader_.path()) + " has no real " + inQuotes(name) + " of " + owner_);
    value = reader_.readReal(group, name);
    restored_.insert("reals/" + name);
}

template <typename Scalar>
void StateRestorer<Scalar>::random(const std::string& name, Random& value) {
    const std::string group = group_ + "/randoms";
    if (!reader_.hasAttribute(group, name))
        throw Error("checkpoint " + inQuotes(reader_.path()) + " has no random stream " + inQuotes(name) + " of " + owner_);
    if (!value.setState(reader_.readText(group, name)))
        throw Error("checkpoint " + inQuotes(reader_.path()) + ": random stream " + inQuotes(name) + " of " + owner_ +
                    " is not a saved stream state");
    restored_.insert("randoms/" + name);
}

template <typename Scalar>
void StateRestorer<Scalar>::finish() const {
    // Tensors are datasets; integers, reals and random streams are attributes, which listGroup does not show,
    // so only tensors can be checked for leftovers here; a missing attribute is caught when asked for.
    for (const std::string& name : reader_.tensorNames(group_ + "/tensors"))
        if (!restored_.count("tensors/" + name))
            throw Error("checkpoint " + inQuotes(reader_.path()) + " holds state " + inQuotes(name) + " that " + owner_ +
                        " does not have: it was written with another configuration");
}

template class StateSaver<float>;
template class StateSaver<double>;
template class StateRestorer<float>;
template class StateRestorer<double>;

}  // namespace gradlab::checkpoint
