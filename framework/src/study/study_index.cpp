#include "study/study_index.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <filesystem>
#include <system_error>

#include "gradlab/error.hpp"
#include "analysis/diagnosis.hpp"
#include "trace/hdf5_handle.hpp"
#include "trace/trace_reader.hpp"
#include "util/safe_files.hpp"

namespace gradlab::study {
namespace {

using trace::checkHdf5;
using trace::checkHdf5Status;
using trace::Hdf5Handle;
using trace::makeUtf8StringType;
using trace::writeIntegerAttribute;
using trace::writeStringAttribute;

std::string quoted(const std::string& text) { return "'" + text + "'"; }

Hdf5Handle createGroup(hid_t location, const std::string& name, const std::string& where) {
    return Hdf5Handle::group(checkHdf5(H5Gcreate2(location, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                       where + ": cannot create group " + quoted(name)));
}

/// The rows first, first + stride, ... of a column.
struct RowSelection {
    hsize_t first = 0;
    hsize_t stride = 1;

    static RowSelection all() { return {}; }
    /// How many of `rows` rows it selects.
    std::size_t count(std::size_t rows) const {
        return first >= rows ? 0 : static_cast<std::size_t>((rows - first + stride - 1) / stride);
    }
};

/// Reading a study index: the file, its attributes and its 1-D columns.
class IndexFile {
public:
    explicit IndexFile(const std::string& path) : path_(path), file_(trace::openHdf5ReadOnly(path)) {}

    bool hasAttribute(const std::string& name) const {
        return H5Aexists_by_name(file_.get(), "/", name.c_str(), H5P_DEFAULT) > 0;
    }

    std::string stringAttribute(const std::string& name) const {
        Hdf5Handle attribute = openAttribute(name);
        const std::string what = describe() + ": cannot read attribute " + quoted(name);
        Hdf5Handle fileType = Hdf5Handle::datatype(checkHdf5(H5Aget_type(attribute.get()), what));
        if (H5Tget_class(fileType.get()) != H5T_STRING || H5Tis_variable_str(fileType.get()) <= 0)
            throw Error(describe() + ": attribute " + quoted(name) + " is not a variable-length string");
        Hdf5Handle type = makeUtf8StringType();
        char* text = nullptr;
        checkHdf5Status(H5Aread(attribute.get(), type.get(), &text), what);
        std::string value = text ? text : "";
        H5free_memory(text);
        return value;
    }

    std::int64_t integerAttribute(const std::string& name) const {
        Hdf5Handle attribute = openAttribute(name);
        const std::string what = describe() + ": cannot read attribute " + quoted(name);
        Hdf5Handle fileType = Hdf5Handle::datatype(checkHdf5(H5Aget_type(attribute.get()), what));
        if (H5Tget_class(fileType.get()) != H5T_INTEGER)
            throw Error(describe() + ": attribute " + quoted(name) + " is not an integer");
        std::int64_t value = 0;
        checkHdf5Status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), what);
        return value;
    }

    bool hasLink(const std::string& path) const { return trace::hdf5LinkExists(file_.get(), path); }

    std::vector<std::string> strings(const std::string& path, std::size_t rows,
                                     const RowSelection& selection = RowSelection::all()) const {
        Hdf5Handle dataset = openColumn(path, H5T_STRING, rows);
        const std::string what = describe() + ": cannot read " + quoted(path);
        const std::size_t count = selection.count(rows);
        std::vector<char*> pointers(count, nullptr);
        Hdf5Handle type = makeUtf8StringType();
        if (count > 0) read(dataset, type.get(), rows, selection, pointers.data(), what);
        std::vector<std::string> values;
        values.reserve(count);
        for (char* pointer : pointers) {
            values.emplace_back(pointer ? pointer : "");
            H5free_memory(pointer);
        }
        return values;
    }

    std::vector<std::int64_t> integers(const std::string& path, std::size_t rows,
                                       const RowSelection& selection = RowSelection::all()) const {
        Hdf5Handle dataset = openColumn(path, H5T_INTEGER, rows);
        std::vector<std::int64_t> values(selection.count(rows));
        if (!values.empty())
            read(dataset, H5T_NATIVE_INT64, rows, selection, values.data(), describe() + ": cannot read " + quoted(path));
        return values;
    }

    std::vector<double> reals(const std::string& path, std::size_t rows,
                              const RowSelection& selection = RowSelection::all()) const {
        Hdf5Handle dataset = openColumn(path, H5T_FLOAT, rows);
        std::vector<double> values(selection.count(rows));
        if (!values.empty())
            read(dataset, H5T_NATIVE_DOUBLE, rows, selection, values.data(), describe() + ": cannot read " + quoted(path));
        return values;
    }

    /// The number of rows of a 1-D dataset.
    std::size_t rows(const std::string& path) const {
        Hdf5Handle dataset = openDataset(path);
        Hdf5Handle space =
            Hdf5Handle::dataspace(checkHdf5(H5Dget_space(dataset.get()), describe() + ": cannot read " + quoted(path)));
        hsize_t dimensions[1] = {0};
        if (H5Sget_simple_extent_ndims(space.get()) != 1)
            throw Error(describe() + ": dataset " + quoted(path) + " is not 1-D");
        H5Sget_simple_extent_dims(space.get(), dimensions, nullptr);
        return static_cast<std::size_t>(dimensions[0]);
    }

    std::string describe() const { return "study index " + quoted(path_); }

private:
    /// Reads the selected rows of a 1-D dataset of `rows` rows into `buffer` (at least one row is selected).
    void read(const Hdf5Handle& dataset, hid_t memoryType, std::size_t rows, const RowSelection& selection,
              void* buffer, const std::string& what) const {
        if (selection.first == 0 && selection.stride == 1) {
            checkHdf5Status(H5Dread(dataset.get(), memoryType, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer), what);
            return;
        }
        const hsize_t start[1] = {selection.first}, stride[1] = {selection.stride},
                      count[1] = {static_cast<hsize_t>(selection.count(rows))}, block[1] = {1};
        Hdf5Handle fileSpace = Hdf5Handle::dataspace(checkHdf5(H5Dget_space(dataset.get()), what));
        checkHdf5Status(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start, stride, count, block), what);
        Hdf5Handle memorySpace = Hdf5Handle::dataspace(checkHdf5(H5Screate_simple(1, count, nullptr), what));
        checkHdf5Status(H5Dread(dataset.get(), memoryType, memorySpace.get(), fileSpace.get(), H5P_DEFAULT, buffer),
                        what);
    }

    Hdf5Handle openAttribute(const std::string& name) const {
        if (!hasAttribute(name)) throw Error(describe() + ": no root attribute " + quoted(name));
        return Hdf5Handle::attribute(
            checkHdf5(H5Aopen_by_name(file_.get(), "/", name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                      describe() + ": cannot open attribute " + quoted(name)));
    }

    Hdf5Handle openDataset(const std::string& path) const {
        if (!hasLink(path)) throw Error(describe() + ": no dataset " + quoted(path));
        return Hdf5Handle::dataset(
            checkHdf5(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT), describe() + ": cannot open " + quoted(path)));
    }

    Hdf5Handle openColumn(const std::string& path, H5T_class_t typeClass, std::size_t expectedRows) const {
        if (rows(path) != expectedRows)
            throw Error(describe() + ": column " + quoted(path) + " has " + std::to_string(rows(path)) +
                        " rows, expected " + std::to_string(expectedRows));
        Hdf5Handle dataset = openDataset(path);
        Hdf5Handle type =
            Hdf5Handle::datatype(checkHdf5(H5Dget_type(dataset.get()), describe() + ": cannot read " + quoted(path)));
        if (H5Tget_class(type.get()) != typeClass)
            throw Error(describe() + ": column " + quoted(path) + " is " + trace::hdf5TypeClassName(type.get()));
        return dataset;
    }

    std::string path_;
    Hdf5Handle file_;
};

std::string joinLines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += (text.empty() ? "" : "\n") + line;
    return text;
}

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    if (text.empty()) return lines;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return lines;
}

}  // namespace

const std::vector<MetricColumn>& metricColumns() {
    using analysis::RunMetrics;
    static const std::vector<MetricColumn> columns = {
        {"final_train_loss", &RunMetrics::finalTrainLoss},       {"final_eval_loss", &RunMetrics::finalEvalLoss},
        {"best_eval_loss", &RunMetrics::bestEvalLoss},           {"final_eval_accuracy", &RunMetrics::finalEvalAccuracy},
        {"test_accuracy", &RunMetrics::testAccuracy},
        {"signal_ratio_init", &RunMetrics::signalRatioInit},     {"signal_ratio_final", &RunMetrics::signalRatioFinal},
        {"timestep_ratio_init", &RunMetrics::timestepRatioInit}, {"timestep_ratio_final", &RunMetrics::timestepRatioFinal},
    };
    return columns;
}

std::string utcTimestamp() {
    const std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

RunOutcome readRunOutcome(const std::string& tracePath) {
    RunOutcome outcome;
    // The status attribute is required: a trace without one is damaged (diagnose() would call it "unknown").
    const trace::TraceReader reader(tracePath);  // opened once: status and diagnosis (a share of a sweep's own time)
    outcome.status =
        requireRunStatus(reader.stringAttribute("status"), "trace " + quoted(tracePath) + ", root attribute 'status'");
    const analysis::Diagnosis diagnosis = analysis::diagnose(reader, tracePath);
    outcome.message = diagnosis.statusMessage;
    outcome.finalLoss = diagnosis.finalLoss;
    for (const analysis::TraceEvent& event : diagnosis.events)
        if (event.kind == schema::eventKind::nonFinite) {
            outcome.divergedAt = event.step;
            break;
        }
    outcome.verdict = analysis::verdictName(diagnosis.verdict);
    outcome.metrics = diagnosis.metrics;
    return outcome;
}

void applyOutcome(StudyRow& row, const RunOutcome& outcome) {
    row.status = isFinishedStatus(outcome.status) ? outcome.status : RunStatus::failed;
    row.message = outcome.message;
    row.finalLoss = outcome.finalLoss;
    row.divergedAt = outcome.divergedAt;
    row.verdict = outcome.verdict;
    row.metrics = outcome.metrics;
}

void resetRow(StudyRow& row) {
    row.status = RunStatus::pending;
    row.message.clear();
    row.finalLoss = std::numeric_limits<double>::quiet_NaN();
    row.divergedAt = -1;
    row.verdict = analysis::verdictName(analysis::Verdict::unknown);
    row.metrics = analysis::RunMetrics();
}

void writeStudyIndex(const std::string& path, const StudyIndex& index) {
    trace::Hdf5ErrorSilencer silencer;
    const std::filesystem::path target(path);
    const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const std::string where = "study index " + quoted(path);
    files::requireRegularOrMissing(path, "study index");
    // Created exclusively under a name nobody can guess; the rename replaces a link at `path`, never follows it.
    const std::string temporary = files::temporaryNameFor(path);
    try {
        Hdf5Handle file =
            Hdf5Handle::file(checkHdf5(H5Fcreate(temporary.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT),
                                       "cannot create study index " + quoted(temporary)));
        {
            const hid_t root = file.get();
            writeStringAttribute(root, "schema", studySchemaName, where);
            writeIntegerAttribute(root, "schema_version", studySchemaVersion, where);
            writeStringAttribute(root, "gradlab_version", GRADLAB_VERSION, where);
            writeStringAttribute(root, "config", index.config, where);
            writeStringAttribute(root, "config_file", index.configFile, where);
            writeStringAttribute(root, "overrides", joinLines(index.overrides), where);
            writeStringAttribute(root, "created_at", index.createdAt, where);
            writeStringAttribute(root, "updated_at", index.updatedAt, where);
            const Shard shard = index.shard();
            if (shard.count > 0) {
                if (index.rows.size() != shard.runsOf(index.studyRuns()))
                    throw Error(where + ": shard " + shard.label() + " of a study of " +
                                std::to_string(index.studyRuns()) + " runs has " +
                                std::to_string(shard.runsOf(index.studyRuns())) + " runs, not " +
                                std::to_string(index.rows.size()) + " rows");
                for (const StudyRow& row : index.rows)
                    if (!shard.selects(row.index))
                        throw Error(where + ": run " + quoted(row.name) + " (index " + std::to_string(row.index) +
                                    ") is not one of shard " + shard.label() + "'s");
            }
            writeIntegerAttribute(root, "runs_total", static_cast<std::int64_t>(index.studyRuns()), where);
            for (const RunStatus status : studyRowStatuses) {
                const auto count = std::count_if(index.rows.begin(), index.rows.end(),
                                                 [&](const StudyRow& row) { return row.status == status; });
                writeIntegerAttribute(root, std::string("runs_") + toString(status), count, where);
            }
            writeIntegerAttribute(root, "shard_index", index.shardIndex, where);
            writeIntegerAttribute(root, "shard_count", index.shardCount, where);

            trace::writeStringDataset(root, "swept_keys", index.keys, where);
            Hdf5Handle runs = createGroup(root, "runs", where);
            const std::string runsWhere = where + ", group '/runs'";
            std::vector<std::string> names, statusColumn, messages, verdicts, traces, logs;
            std::vector<std::int64_t> indices, divergedAt, seeds;
            std::vector<double> finalLosses;
            for (const StudyRow& row : index.rows) {
                if (row.parameters.size() != index.keys.size())
                    throw Error(where + ": run " + quoted(row.name) + " has " + std::to_string(row.parameters.size()) +
                                " swept values for " + std::to_string(index.keys.size()) + " swept keys");
                names.push_back(row.name);
                indices.push_back(row.index);
                statusColumn.push_back(toString(row.status));
                messages.push_back(row.message);
                finalLosses.push_back(row.finalLoss);
                divergedAt.push_back(row.divergedAt);
                verdicts.push_back(row.verdict);
                traces.push_back(row.trace);
                logs.push_back(row.log);
                seeds.push_back(row.seed);
            }
            trace::writeStringDataset(runs.get(), "name", names, runsWhere);
            trace::writeInt64Dataset(runs.get(), "index", indices, runsWhere);
            trace::writeStringDataset(runs.get(), "status", statusColumn, runsWhere);
            trace::writeStringDataset(runs.get(), "message", messages, runsWhere);
            trace::writeDoubleDataset(runs.get(), "final_loss", finalLosses, runsWhere);
            trace::writeInt64Dataset(runs.get(), "diverged_at", divergedAt, runsWhere);
            trace::writeStringDataset(runs.get(), "verdict", verdicts, runsWhere);
            for (const MetricColumn& column : metricColumns()) {
                std::vector<double> values;
                for (const StudyRow& row : index.rows) values.push_back(row.metrics.*column.field);
                trace::writeDoubleDataset(runs.get(), column.name, values, runsWhere);
            }
            trace::writeStringDataset(runs.get(), "trace", traces, runsWhere);
            trace::writeStringDataset(runs.get(), "log", logs, runsWhere);
            trace::writeInt64Dataset(runs.get(), "seed", seeds, runsWhere);
            Hdf5Handle parameters = createGroup(runs.get(), "param", runsWhere);
            for (std::size_t key = 0; key < index.keys.size(); ++key) {
                std::vector<std::string> values;
                for (const StudyRow& row : index.rows) values.push_back(row.parameters[key]);
                trace::writeStringDataset(parameters.get(), index.keys[key], values, where + ", group '/runs/param'");
            }

            Hdf5Handle links = createGroup(root, "links", where);
            for (const StudyRow& row : index.rows) {
                std::error_code error;
                if (row.trace.empty() || !std::filesystem::is_regular_file(folder / row.trace, error)) continue;
                checkHdf5Status(
                    H5Lcreate_external(row.trace.c_str(), "/", links.get(), row.name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                    where + ": cannot link " + quoted("/links/" + row.name) + " to " + quoted(row.trace));
            }
        }
        checkHdf5Status(file.close(), where + ": cannot close " + quoted(temporary));
        std::filesystem::rename(temporary, target);
    } catch (const std::filesystem::filesystem_error& error) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw Error(where + ": cannot replace it: " + error.code().message());
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
}

bool isStudyIndex(const std::string& path) {
    trace::Hdf5ErrorSilencer silencer;
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) return false;
    if (H5Fis_hdf5(path.c_str()) <= 0) return false;
    try {
        const IndexFile file(path);
        return file.hasAttribute("schema") && file.stringAttribute("schema") == studySchemaName;
    } catch (const std::exception&) {
        return false;  // not readable as an index: not one
    }
}

StudyIndex readStudyIndex(const std::string& path) { return readStudyIndexRows(path, Shard{}); }

StudyIndex readStudyIndexRows(const std::string& path, const Shard& selected) {
    trace::Hdf5ErrorSilencer silencer;
    const IndexFile file(path);
    if (!file.hasAttribute("schema"))
        throw Error(quoted(path) + " is not a gradlab study index (schema attribute: missing, expected '" +
                    std::string(studySchemaName) + "')");
    const std::string schema = file.stringAttribute("schema");
    if (schema != studySchemaName)
        throw Error(quoted(path) + " is not a gradlab study index (schema attribute: " + quoted(schema) +
                    ", expected '" + std::string(studySchemaName) + "')");
    const std::int64_t version = file.integerAttribute("schema_version");
    if (version > studySchemaVersion)
        throw Error(quoted(path) + " was written by a newer gradlab: schema_version " + std::to_string(version) +
                    ", this reader knows " + std::to_string(studySchemaVersion));
    if (version < 1) throw Error(quoted(path) + " has an invalid schema_version " + std::to_string(version));

    StudyIndex index;
    index.config = file.stringAttribute("config");
    index.configFile = file.stringAttribute("config_file");
    index.overrides = splitLines(file.stringAttribute("overrides"));
    index.createdAt = file.stringAttribute("created_at");
    index.updatedAt = file.stringAttribute("updated_at");
    index.shardIndex = file.integerAttribute("shard_index");
    index.shardCount = file.integerAttribute("shard_count");
    index.keys = file.strings("/swept_keys", file.rows("/swept_keys"));

    const std::size_t totalRows = file.rows("/runs/name");
    const std::int64_t runsTotal =
        file.hasAttribute("runs_total") ? file.integerAttribute("runs_total") : static_cast<std::int64_t>(totalRows);
    const Shard own = index.shard();
    if (own.count < 0 || (own.count > 0 && (own.number < 1 || own.number > own.count)))
        throw Error(quoted(path) + " says it is shard " + own.label() + " (expected 1 <= shard_index <= shard_count)");
    if (runsTotal < 0 || (static_cast<std::size_t>(runsTotal) != totalRows &&
                          (own.count == 0 || own.runsOf(static_cast<std::size_t>(runsTotal)) != totalRows)))
        throw Error(file.describe() + ": it has " + std::to_string(totalRows) + " rows for runs_total " +
                    std::to_string(runsTotal) + (own.count > 0 ? " (shard " + own.label() + ")" : std::string()));
    index.runsTotal = runsTotal;
    // Row r of an index that lists every run of the study is run r (a whole study, or a shard index written
    // before shard indexes held their own runs only): the selected rows are read by hyperslab. A shard index's rows
    // are its own runs, read whole and then filtered.
    const bool listsEveryRun = static_cast<std::size_t>(runsTotal) == totalRows;
    const Shard stride = selected.count > 0 ? selected : listsEveryRun ? own : Shard{};
    RowSelection selection;
    if (listsEveryRun && stride.count > 0) {
        selection.first = static_cast<hsize_t>(stride.number - 1);
        selection.stride = static_cast<hsize_t>(stride.count);
    }
    const std::size_t rows = selection.count(totalRows);
    const std::vector<std::string> names = file.strings("/runs/name", totalRows, selection);
    const std::vector<std::int64_t> indices = file.integers("/runs/index", totalRows, selection);
    const std::vector<std::string> statuses = file.strings("/runs/status", totalRows, selection);
    const std::vector<std::string> messages = file.strings("/runs/message", totalRows, selection);
    const std::vector<double> finalLosses = file.reals("/runs/final_loss", totalRows, selection);
    const std::vector<std::int64_t> divergedAt = file.integers("/runs/diverged_at", totalRows, selection);
    const std::vector<std::string> verdicts = file.strings("/runs/verdict", totalRows, selection);
    const std::vector<std::string> traces = file.strings("/runs/trace", totalRows, selection);
    const std::vector<std::string> logs = file.strings("/runs/log", totalRows, selection);
    const std::vector<std::int64_t> seeds = file.integers("/runs/seed", totalRows, selection);
    std::vector<std::vector<double>> metrics;  // columns added in later versions: NaN when an index lacks them
    for (const MetricColumn& column : metricColumns()) {
        const std::string path = std::string("/runs/") + column.name;
        metrics.push_back(file.hasLink(path) ? file.reals(path, totalRows, selection)
                                             : std::vector<double>(rows, std::numeric_limits<double>::quiet_NaN()));
    }
    std::vector<std::vector<std::string>> parameters;
    for (const std::string& key : index.keys)
        parameters.push_back(file.strings("/runs/param/" + key, totalRows, selection));
    index.rows.reserve(rows);
    for (std::size_t row = 0; row < rows; ++row) {
        if (!selected.selects(indices[row]) || !own.selects(indices[row])) continue;
        StudyRow entry;
        entry.name = names[row];
        entry.index = indices[row];
        entry.status = requireRunStatus(statuses[row], file.describe() + ", /runs/status of run " + quoted(names[row]));
        entry.message = messages[row];
        entry.finalLoss = finalLosses[row];
        entry.divergedAt = divergedAt[row];
        entry.verdict = verdicts[row];
        entry.metrics.divergedAt = divergedAt[row];
        for (std::size_t column = 0; column < metricColumns().size(); ++column)
            entry.metrics.*metricColumns()[column].field = metrics[column][row];
        entry.trace = traces[row];
        entry.log = logs[row];
        entry.seed = seeds[row];
        for (const auto& column : parameters) entry.parameters.push_back(column[row]);
        index.rows.push_back(std::move(entry));
    }
    return index;
}

}  // namespace gradlab::study
