#include "trace/trace_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cstdlib>
#include <limits>
#include <utility>

#include "gradlab/error.hpp"
#include "util/safe_files.hpp"
#include "util/suggest.hpp"

namespace gradlab::trace {

namespace {

/// Half the entries of a node of a trace's chunk-index B-trees (H5Pset_istore_k; HDF5's default is 32).
constexpr unsigned traceChunkIndexRank = 4;
/// Half the entries of a node of a trace's group B-trees, and of a group's symbol-table leaf (H5Pset_sym_k;
/// HDF5's defaults are 16 and 4).
constexpr unsigned traceGroupIndexRank = 4;
constexpr unsigned traceGroupLeafRank = 4;

std::string inQuotes(const std::string& text) { return "'" + text + "'"; }

/// "/trace" from "trace" or "/trace"; nested groups ("/trace/timestep_grad_norm") are allowed; refuses empty
/// and reserved path segments.
std::string normaliseGroup(const std::string& group, const std::string& filePath) {
    std::string name = !group.empty() && group.front() == '/' ? group.substr(1) : group;
    bool valid = !name.empty() && name.back() != '/';
    for (std::size_t start = 0; valid && start <= name.size();) {
        const std::size_t end = std::min(name.find('/', start), name.size());
        const std::string segment = name.substr(start, end - start);
        valid = !segment.empty() && segment != "." && segment != "..";
        start = end + 1;
    }
    if (!valid)
        throw Error("trace file " + inQuotes(filePath) + ": invalid table group " + inQuotes(group) +
                    " (expected a path such as '/trace' or '/trace/timestep_grad_norm')");
    if (name == "meta" || name == "snapshots")
        throw Error("trace file " + inQuotes(filePath) + ": group '/" + name + "' is reserved and cannot be a table");
    return "/" + name;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// TraceWriter

TraceWriter::TraceWriter(const std::string& path, const TraceHeader& header, std::int64_t flushEveryRows)
    : path_(path), flushEveryRows_(flushEveryRows) {
    Hdf5ErrorSilencer silencer;
    if (flushEveryRows < 1)
        throw Error("trace file " + inQuotes(path) + ": flushEveryRows must be at least 1, got " +
                    std::to_string(flushEveryRows));
    if (header.precision != "float32" && header.precision != "float64")
        throw Error("trace file " + inQuotes(path) + ": precision must be 'float32' or 'float64', got " +
                    inQuotes(header.precision));
    if (header.layerKinds.size() != header.layerNames.size())
        throw Error("trace file " + inQuotes(path) + ": " + std::to_string(header.layerNames.size()) +
                    " layer names but " + std::to_string(header.layerKinds.size()) + " layer kinds");

    openFile(H5F_ACC_TRUNC);

    const std::string where = "trace file " + inQuotes(path);
    try {
        const hid_t root = file_.get();
        writeStringAttribute(root, "schema", traceSchemaName, where);
        writeIntegerAttribute(root, "schema_version", traceSchemaVersion, where);
        writeStringAttribute(root, "gradlab_version", header.gradlabVersion, where);
        writeStringAttribute(root, "config", header.config, where);
        const std::uint64_t seed = header.seed;
        writeScalarAttribute(root, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed, where);
        writeStringAttribute(root, "precision", header.precision, where);
        writeStringAttribute(root, "status", toString(RunStatus::running), where);
        writeStringAttribute(root, "status_message", "", where);
        writeStringAttribute(root, "started_at", header.startedAt, where);
        writeStringAttribute(root, "finished_at", "", where);
        writeMeta(header);
        checkHdf5Status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), where + ": cannot flush");
        std::error_code error;
        std::filesystem::rename(temporaryPath(), path_, error);
        if (error) throw Error("cannot create trace file " + inQuotes(path_) + ": cannot move it into place: " +
                               error.message());
    } catch (...) {
        closeFile();
        std::error_code ignored;
        std::filesystem::remove(temporaryPath(), ignored);
        throw;
    }
}

std::string TraceWriter::temporaryPath() const { return temporary_; }

TraceWriter::TraceWriter(const std::string& path, const ResumePoint& resume, std::int64_t flushEveryRows)
    : path_(path), flushEveryRows_(flushEveryRows) {
    Hdf5ErrorSilencer silencer;
    if (flushEveryRows < 1)
        throw Error("trace file " + inQuotes(path) + ": flushEveryRows must be at least 1, got " +
                    std::to_string(flushEveryRows));
    openFile(H5F_ACC_RDWR);
    cutBack(resume);
}

void TraceWriter::openFile(unsigned flags) {
    const std::string where = "trace file " + inQuotes(path_);
    // Default (earliest) format bounds, no SWMR: no superblock consistency flags, so a file whose writer was
    // killed still opens everywhere (HDF5 >= 1.10 refuses such files when written with the 1.10 format).
    Hdf5Handle access =
        Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_FILE_ACCESS), where + ": cannot make file access properties"));
#if H5_VERSION_GE(1, 10, 7)
    // No file lock: users may read the rows flushed so far (h5py, gradlab inspect) while the run goes on.
    checkHdf5Status(H5Pset_file_locking(access.get(), false, true), where + ": cannot turn off file locking");
#endif
    // Metadata reaches the file only when the writer flushes: with evictions on, the cache writes a dataset's
    // chunk index whenever it runs short of room, pointing at chunks past the end of the file that the superblock
    // on disk knows (it is written at flushes), and a process killed before the next flush leaves a file that no
    // longer opens ("addr overflow ... eoa"). The cache holds one flush interval's metadata, a few hundred KiB.
    {
        H5AC_cache_config_t cache;
        cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
        checkHdf5Status(H5Pget_mdc_config(access.get(), &cache), where + ": cannot read the metadata cache settings");
        cache.evictions_enabled = false;
        cache.incr_mode = H5C_incr__off;
        cache.flash_incr_mode = H5C_flash_incr__off;
        cache.decr_mode = H5C_decr__off;
        checkHdf5Status(H5Pset_mdc_config(access.get(), &cache), where + ": cannot set the metadata cache");
    }
    if (flags == H5F_ACC_TRUNC) {
        // File space is only ever taken from the end of the file, never reused: a compressed chunk that grows
        // moves, and its old bytes must stay intact until the metadata pointing at them is replaced, so that a
        // process killed in the middle of a flush leaves every earlier row readable.
        Hdf5Handle creation =
            Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_FILE_CREATE), where + ": cannot make file properties"));
        checkHdf5Status(H5Pset_file_space_strategy(creation.get(), H5F_FSPACE_STRATEGY_NONE, false, 1),
                        where + ": cannot set the file space strategy");
        // Small B-tree nodes for the chunk indexes and the groups: HDF5's defaults (64 chunks and 32 groups' entries
        // a node, about 2 KiB and 1 KiB) are most of a short run's trace, e.g. 33 of a one-step trace's 57 KiB
        // (docs/studies.md, "Disk"); a long run's B-trees just get a level or two deeper.
        checkHdf5Status(H5Pset_istore_k(creation.get(), traceChunkIndexRank), where + ": cannot set the chunk index");
        checkHdf5Status(H5Pset_sym_k(creation.get(), traceGroupIndexRank, traceGroupLeafRank),
                        where + ": cannot set the group index");
        // Created under a temporary name and renamed once its header is on disk (see the constructor), so that
        // a trace at `path` always has one, whenever its process is killed.
        // Exclusively, under a name nobody can guess: a link planted at it cannot redirect the write.
        files::requireRegularOrMissing(path_, "trace");
        temporary_ = files::temporaryNameFor(path_);
        file_ = Hdf5Handle::file(H5Fcreate(temporary_.c_str(), H5F_ACC_EXCL, creation.get(), access.get()));
        if (!file_.valid()) throw Error("cannot create trace file " + inQuotes(path_) + ": " + hdf5ErrorReason());
        return;
    }
    // A trace reopened in place is never written through a symbolic link (another user may have planted it).
    files::refuseSymbolicLink(path_, "trace");
    {
        // Check what the file is before writing to it, with the reader's messages (not HDF5, not a trace).
        Hdf5Handle probe = openHdf5ReadOnly(path_);
        const hid_t root = probe.get();
        std::string schema;
        if (H5Aexists(root, "schema") > 0) {
            Hdf5Handle attribute = Hdf5Handle::attribute(H5Aopen(root, "schema", H5P_DEFAULT));
            Hdf5Handle type = makeUtf8StringType();
            char* text = nullptr;
            if (attribute.valid() && H5Aread(attribute.get(), type.get(), &text) >= 0 && text != nullptr) {
                schema = text;
                H5free_memory(text);
            }
        }
        if (schema != traceSchemaName)
            throw Error("cannot resume the trace " + inQuotes(path_) + ": it is not a gradlab trace (schema " +
                        (schema.empty() ? "missing" : inQuotes(schema)) + ")");
    }
    file_ = Hdf5Handle::file(H5Fopen(path_.c_str(), H5F_ACC_RDWR, access.get()));
    if (!file_.valid()) throw Error("cannot open trace file " + inQuotes(path_) + " for writing: " + hdf5ErrorReason());
}

void TraceWriter::cutBack(const ResumePoint& resume) {
    const std::string where = "trace file " + inQuotes(path_);
    const hid_t file = file_.get();
    for (const auto& [group, rows] : resume.tableRows) {
        const std::string name = normaliseGroup(group, path_);
        keptRows_[name] = rows;
        if (!hdf5LinkExists(file, name)) {
            if (rows > 0)
                throw Error("cannot resume the trace " + inQuotes(path_) + ": table " + inQuotes(name) +
                            " is missing, the checkpoint needs " + std::to_string(rows) + " rows of it");
            continue;
        }
        for (const std::string& column : hdf5GroupDatasets(file, name)) {
            const std::string dataset = name + "/" + column;
            Hdf5Handle handle =
                Hdf5Handle::dataset(checkHdf5(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), where + ": cannot open " + inQuotes(dataset)));
            Hdf5Handle space = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(handle.get()), where));
            const int rank = H5Sget_simple_extent_ndims(space.get());
            if (rank < 1 || rank > 8) throw Error(where + ": " + inQuotes(dataset) + " is not a table column");
            std::vector<hsize_t> dims(static_cast<std::size_t>(rank), 0);
            H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
            if (dims[0] < static_cast<hsize_t>(rows))
                throw Error("cannot resume the trace " + inQuotes(path_) + ": " + inQuotes(dataset) + " holds " +
                            std::to_string(dims[0]) + " rows, the checkpoint needs " + std::to_string(rows) +
                            " (the trace is older than the checkpoint)");
            dims[0] = static_cast<hsize_t>(rows);
            checkHdf5Status(H5Dset_extent(handle.get(), dims.data()), where + ": cannot cut back " + inQuotes(dataset));
        }
    }
    if (hdf5LinkExists(file, "/snapshots"))
        for (const std::string& step : hdf5GroupMembers(file, "/snapshots")) {
            char* end = nullptr;
            const long long value = std::strtoll(step.c_str(), &end, 10);
            if (end != step.c_str() && *end == '\0' && value >= resume.step)
                checkHdf5Status(H5Ldelete(file, ("/snapshots/" + step).c_str(), H5P_DEFAULT),
                                where + ": cannot remove snapshot " + inQuotes(step));
        }
    if (hdf5LinkExists(file, "/model"))
        checkHdf5Status(H5Ldelete(file, "/model", H5P_DEFAULT), where + ": cannot remove '/model'");
    std::int64_t resumes = 0;
    if (H5Aexists(file, "resumes") > 0) {
        Hdf5Handle attribute = Hdf5Handle::attribute(H5Aopen(file, "resumes", H5P_DEFAULT));
        if (attribute.valid()) H5Aread(attribute.get(), H5T_NATIVE_INT64, &resumes);
    }
    writeIntegerAttribute(file, "resumes", resumes + 1, where);
    writeStringAttribute(file, "status", toString(RunStatus::running), where);
    writeStringAttribute(file, "status_message", "", where);
    writeStringAttribute(file, "finished_at", "", where);
    checkHdf5Status(H5Fflush(file, H5F_SCOPE_GLOBAL), where + ": cannot flush");
}

std::vector<std::pair<std::string, std::int64_t>> TraceWriter::tableRows() const {
    std::vector<std::pair<std::string, std::int64_t>> rows;
    for (const auto& [name, table] : tables_) rows.emplace_back(name, table->rows());
    return rows;
}

TraceWriter::~TraceWriter() {
    if (!file_.valid()) return;
    try {
        flush();
    } catch (...) {
        // Destructors never throw; the rows flushed before stay readable.
    }
    closeFile();
}

void TraceWriter::writeMeta(const TraceHeader& header) {
    const std::string where = "trace file " + inQuotes(path_);
    Hdf5Handle meta = Hdf5Handle::group(checkHdf5(
        H5Gcreate2(file_.get(), "/meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where + ": cannot create '/meta'"));
    writeStringDataset(meta.get(), "layer_names", header.layerNames, where + ", group '/meta'");
    writeStringDataset(meta.get(), "layer_kinds", header.layerKinds, where + ", group '/meta'");
    writeStringDataset(meta.get(), "param_names", header.paramNames, where + ", group '/meta'");
}

void TraceWriter::requireOpen(const std::string& action) const {
    if (!file_.valid()) throw Error("trace file " + inQuotes(path_) + ": cannot " + action + " after finish()");
}

Table& TraceWriter::table(const std::string& group) {
    // Fast path for the per-step lookup with the canonical name: no allocation.
    auto existing = tables_.find(group);
    if (existing != tables_.end()) return *existing->second;
    const std::string name = normaliseGroup(group, path_);
    auto found = tables_.find(name);
    if (found != tables_.end()) return *found->second;
    requireOpen("create table " + inQuotes(name));
    Hdf5ErrorSilencer silencer;
    bool inFile = hdf5LinkExists(file_.get(), name);
    const auto kept = keptRows_.find(name);
    if (inFile && kept == keptRows_.end() && !keptRows_.empty()) {
        // A resumed trace: a table the checkpoint does not know was begun after it, by steps this run repeats.
        checkHdf5Status(H5Ldelete(file_.get(), name.c_str(), H5P_DEFAULT),
                        "trace file " + inQuotes(path_) + ": cannot remove " + inQuotes(name) +
                            ", begun after the checkpoint");
        inFile = false;
    }
    if (inFile && kept == keptRows_.end())
        throw Error("trace file " + inQuotes(path_) + ": table " + inQuotes(name) + " exists already");
    groups_[name] = openOrCreateGroup(file_.get(), name, "trace file " + inQuotes(path_));
    // One extra row: the buffers hold flushEveryRows committed rows plus the row being filled.
    std::unique_ptr<Table> created(
        new Table(name, path_, flushEveryRows_ + 1, kept == keptRows_.end() ? 0 : kept->second));
    created->existing_ = inFile;
    Table& result = *created;
    tables_.emplace(name, std::move(created));
    return result;
}

void TraceWriter::requireSpaceForRows() const {
    // A flush cut short by a full disk leaves HDF5's metadata pointing past the end of the file, and the whole
    // trace unreadable: it is refused before it starts instead, while the file still holds every earlier row.
    double bytes = 256.0 * 1024;  // metadata: chunk index nodes, object headers, the global heap
    std::int64_t rows = 0;
    for (const auto& [name, table] : tables_) {
        rows += table->bufferedRows_;
        for (const auto& column : table->columns_) {
            double cell = 8.0 * static_cast<double>(column.slots());
            if (column.type == ColumnType::string) {
                cell = 0;
                for (std::int64_t row = 0; row < table->bufferedRows_; ++row)
                    cell += 32.0 + static_cast<double>(column.strings[static_cast<std::size_t>(row)].size());
                bytes += cell;
                continue;
            }
            bytes += 1.1 * cell * static_cast<double>(table->bufferedRows_);
        }
    }
    if (rows == 0) return;
    requireSpace(bytes, "write " + std::to_string(rows) + " buffered rows");
}

void TraceWriter::requireSpace(double bytes, const std::string& action) const {
    const std::string shortage = files::spaceShortage(path_, bytes);
    if (!shortage.empty())
        throw files::NoSpaceError("trace file " + inQuotes(path_) + ": cannot " + action + ": " + shortage +
                                  "; the trace keeps the rows of its last flush");
}

void TraceWriter::flush() {
    requireOpen("flush");
    Hdf5ErrorSilencer silencer;
    requireSpaceForRows();
    for (auto& [name, table] : tables_) table->flush(groups_.at(name).get());
    checkHdf5Status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "trace file " + inQuotes(path_) + ": cannot flush");
}

bool TraceWriter::flushIfDue() {
    for (const auto& entry : tables_) {
        if (entry.second->bufferedRows() >= flushEveryRows_) {
            flush();
            return true;
        }
    }
    return false;
}

template <typename Scalar>
void TraceWriter::writeSnapshotImpl(std::int64_t step, const std::string& paramName,
                                    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& grad,
                                    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& value) {
    requireOpen("write a snapshot");
    Hdf5ErrorSilencer silencer;
    if (paramName.empty() || paramName.find('/') != std::string::npos || paramName == "." || paramName == "..")
        throw Error("trace file " + inQuotes(path_) + ": invalid parameter name " + inQuotes(paramName) +
                    " for a snapshot");
    if (step < 0) throw Error("trace file " + inQuotes(path_) + ": negative snapshot step " + std::to_string(step));
    requireSpace(64.0 * 1024 + static_cast<double>(sizeof(Scalar)) * static_cast<double>(grad.size() + value.size()),
                 "write the snapshot of step " + std::to_string(step));
    const std::string groupPath = "/snapshots/" + std::to_string(step) + "/" + paramName;
    const std::string where = "trace file " + inQuotes(path_);
    if (hdf5LinkExists(file_.get(), groupPath))
        throw Error(where + ": snapshot " + inQuotes(groupPath) + " was written already");

    Hdf5Handle group = openOrCreateGroup(file_.get(), groupPath, where);
    writeMatrixDataset(group.get(), "grad", grad, where + ", group " + inQuotes(groupPath));
    writeMatrixDataset(group.get(), "value", value, where + ", group " + inQuotes(groupPath));
}

template <typename Scalar>
void TraceWriter::writeTensorImpl(const std::string& group, const std::string& name,
                                  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& tensor) {
    requireOpen("write a tensor");
    Hdf5ErrorSilencer silencer;
    const std::string where = "trace file " + inQuotes(path_);
    if (name.empty() || name.find('/') != std::string::npos)
        throw Error(where + ": invalid tensor name " + inQuotes(name));
    requireSpace(64.0 * 1024 + static_cast<double>(sizeof(Scalar)) * static_cast<double>(tensor.size()),
                 "write " + inQuotes(group + "/" + name));
    Hdf5Handle handle = openOrCreateGroup(file_.get(), group, where);
    writeMatrixDataset(handle.get(), name, tensor, where + ", group " + inQuotes(group));
}

void TraceWriter::writeTensor(const std::string& group, const std::string& name, const Eigen::MatrixXf& tensor) {
    writeTensorImpl<float>(group, name, tensor);
}

void TraceWriter::writeTensor(const std::string& group, const std::string& name, const Eigen::MatrixXd& tensor) {
    writeTensorImpl<double>(group, name, tensor);
}

void TraceWriter::writeSnapshot(std::int64_t step, const std::string& paramName, const Eigen::MatrixXf& grad,
                                const Eigen::MatrixXf& value) {
    writeSnapshotImpl<float>(step, paramName, grad, value);
}

void TraceWriter::writeSnapshot(std::int64_t step, const std::string& paramName, const Eigen::MatrixXd& grad,
                                const Eigen::MatrixXd& value) {
    writeSnapshotImpl<double>(step, paramName, grad, value);
}

void TraceWriter::setAttribute(const std::string& name, const std::string& value) {
    requireOpen("set attribute " + inQuotes(name));
    Hdf5ErrorSilencer silencer;
    writeStringAttribute(file_.get(), name, value, "trace file " + inQuotes(path_));
}

void TraceWriter::setAttribute(const std::string& name, double value) {
    requireOpen("set attribute " + inQuotes(name));
    Hdf5ErrorSilencer silencer;
    writeScalarAttribute(file_.get(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, "trace file " + inQuotes(path_));
}

void TraceWriter::setIntegerAttribute(const std::string& name, std::int64_t value) {
    requireOpen("set attribute " + inQuotes(name));
    Hdf5ErrorSilencer silencer;
    writeScalarAttribute(file_.get(), name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, "trace file " + inQuotes(path_));
}

Hdf5Handle TraceWriter::openAttributeGroup(const std::string& group) {
    const std::string where = "trace file " + inQuotes(path_);
    if (group.empty() || group.front() != '/')
        throw Error(where + ": group " + inQuotes(group) + " must be an absolute path such as '/theory'");
    if (group == "/") return Hdf5Handle::group(checkHdf5(H5Gopen2(file_.get(), "/", H5P_DEFAULT), where));
    for (const char* reserved : {"/meta", "/snapshots"}) {
        const std::string prefix = reserved;
        if (group == prefix || group.compare(0, prefix.size() + 1, prefix + "/") == 0)
            throw Error(where + ": group " + inQuotes(reserved) + " is reserved and takes no attributes");
    }
    if (hdf5LinkExists(file_.get(), group)) {
        Hdf5Handle object = Hdf5Handle::group(
            H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT));
        if (!object.valid()) throw Error(where + ": " + inQuotes(group) + " exists and is not a group");
        return object;
    }
    Hdf5Handle linkProperties = Hdf5Handle::propertyList(checkHdf5(H5Pcreate(H5P_LINK_CREATE), where));
    checkHdf5Status(H5Pset_create_intermediate_group(linkProperties.get(), 1), where);
    return Hdf5Handle::group(
        checkHdf5(H5Gcreate2(file_.get(), group.c_str(), linkProperties.get(), H5P_DEFAULT, H5P_DEFAULT),
                  where + ": cannot create group " + inQuotes(group)));
}

void TraceWriter::setGroupAttribute(const std::string& group, const std::string& name, const std::string& value) {
    requireOpen("set attribute " + inQuotes(name) + " of " + inQuotes(group));
    Hdf5ErrorSilencer silencer;
    Hdf5Handle object = openAttributeGroup(group);
    writeStringAttribute(object.get(), name, value, "trace file " + inQuotes(path_) + ", group " + inQuotes(group));
}

void TraceWriter::setGroupAttribute(const std::string& group, const std::string& name, double value) {
    requireOpen("set attribute " + inQuotes(name) + " of " + inQuotes(group));
    Hdf5ErrorSilencer silencer;
    Hdf5Handle object = openAttributeGroup(group);
    writeScalarAttribute(object.get(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value,
                         "trace file " + inQuotes(path_) + ", group " + inQuotes(group));
}

void TraceWriter::setGroupIntegerAttribute(const std::string& group, const std::string& name, std::int64_t value) {
    requireOpen("set attribute " + inQuotes(name) + " of " + inQuotes(group));
    Hdf5ErrorSilencer silencer;
    Hdf5Handle object = openAttributeGroup(group);
    writeScalarAttribute(object.get(), name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value,
                         "trace file " + inQuotes(path_) + ", group " + inQuotes(group));
}

void TraceWriter::finish(RunStatus status, const std::string& message, const std::string& finishedAt) {
    requireOpen("finish");
    if (status == RunStatus::running || status == RunStatus::pending)
        throw Error("trace file " + inQuotes(path_) + ": " + inQuotes(toString(status)) +
                    " is not a final status (completed, diverged, stopped, interrupted or failed)");
    Hdf5ErrorSilencer silencer;
    const std::string where = "trace file " + inQuotes(path_);
    std::string unwritten;
    try {
        requireSpaceForRows();
        for (auto& [name, table] : tables_) table->flush(groups_.at(name).get());
    } catch (const files::NoSpaceError& error) {
        // The status is still recorded (a few bytes); the rows after the last flush are lost, as a killed run's.
        unwritten = std::string("; ") + error.what();
    }
    writeStringAttribute(file_.get(), "status", toString(unwritten.empty() ? status : RunStatus::failed), where);
    if (!unwritten.empty() && message.find("the disk is full") != std::string::npos) unwritten.clear();
    writeStringAttribute(file_.get(), "status_message", message + unwritten, where);
    writeStringAttribute(file_.get(), "finished_at", finishedAt, where);
    checkHdf5Status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), where + ": cannot flush");
    for (auto& entry : tables_) entry.second->closeDatasets();
    groups_.clear();
    if (file_.close() < 0) throw Error(where + ": cannot close: " + hdf5ErrorReason());
    // A run that ended well but could not write its last rows did not end well: its caller must know.
    if (!unwritten.empty() && status != RunStatus::failed) throw files::NoSpaceError(unwritten.substr(2));
}

void TraceWriter::closeFile() noexcept {
    for (auto& entry : tables_) entry.second->closeDatasets();
    groups_.clear();
    file_.reset();
}

}  // namespace gradlab::trace
