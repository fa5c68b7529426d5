// The study index file: round trip, schema checks, external links, and run outcomes read from traces.
#include "study/study_index.hpp"

#include <hdf5.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <optional>
#include <filesystem>
#include <fstream>

#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/hdf5_handle.hpp"
#include "trace/trace_writer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

/// Writes a small trace: the given losses in /trace/loss, events (step, kind) in /events, and a final status
/// (none: the run looks killed, status "running").
void writeTrace(const std::string& path, const std::vector<double>& losses,
                const std::vector<std::pair<std::int64_t, std::string>>& events, std::optional<RunStatus> status) {
    trace::TraceHeader header;
    header.gradlabVersion = "test";
    header.config = "name: test\n";
    header.precision = "float32";
    header.startedAt = "2026-01-01T00:00:00Z";
    trace::TraceWriter writer(path, header);
    trace::Table& table = writer.table("/trace");
    const trace::ColumnId loss = table.addColumn("loss");
    trace::Table& eventTable = writer.table("/events");
    const trace::ColumnId step = eventTable.addColumn("step", 0, trace::ColumnType::int64);
    const trace::ColumnId kind = eventTable.addColumn("kind", 0, trace::ColumnType::string);
    for (double value : losses) {
        table.set(loss, value);
        table.commit();
    }
    for (const auto& [eventStep, eventKind] : events) {
        eventTable.setInteger(step, eventStep);
        eventTable.setString(kind, eventKind);
        eventTable.commit();
    }
    if (!status)
        writer.flush();
    else
        writer.finish(*status, *status == RunStatus::completed ? "3 steps" : std::string("it ") + toString(*status),
                      "2026-01-01T00:01:00Z");
}

study::StudyIndex sampleIndex() {
    study::StudyIndex index;
    index.config = "sweep: {grid: {optimizer.lr: [0.1, 1]}}\n";
    index.configFile = "configs/x.yaml";
    index.overrides = {"training.steps=5", "seed=3"};
    index.createdAt = "2026-01-01T00:00:00Z";
    index.updatedAt = "2026-01-01T00:02:00Z";
    index.keys = {"optimizer.lr", "model.layers.0.units"};
    for (int i = 0; i < 3; ++i) {
        study::StudyRow row;
        row.name = "run" + std::to_string(i);
        row.index = i;
        row.trace = "runs/run" + std::to_string(i) + ".h5";
        row.log = "logs/run" + std::to_string(i) + ".log";
        row.seed = 10 + i;
        row.parameters = {"0." + std::to_string(i), "{kind: dense}"};
        index.rows.push_back(row);
    }
    index.rows[0].status = RunStatus::completed;
    index.rows[0].finalLoss = 0.25;
    index.rows[0].verdict = "healthy";
    index.rows[0].metrics.finalTrainLoss = 0.25;
    index.rows[0].metrics.finalEvalLoss = 0.3;
    index.rows[0].metrics.bestEvalLoss = 0.28;
    index.rows[0].metrics.signalRatioInit = 1e-13;
    index.rows[0].metrics.signalRatioFinal = 2e-12;
    index.rows[0].metrics.timestepRatioInit = 6e-4;
    index.rows[0].metrics.timestepRatioFinal = 2.5e-9;
    index.rows[0].message = "3 steps";
    index.rows[1].status = RunStatus::diverged;
    index.rows[1].finalLoss = INFINITY;
    index.rows[1].divergedAt = 2;
    index.rows[1].verdict = "diverged";
    return index;
}

}  // namespace

TEST_CASE("readRunOutcome reads status, final loss, divergence step and verdict from a trace", "[study]") {
    const std::string path = testing::scratchPath("outcome.h5");
    writeTrace(path, {3.0, 2.0, INFINITY}, {{1, "exploding"}, {2, "non_finite"}}, RunStatus::diverged);
    study::RunOutcome outcome = study::readRunOutcome(path);
    CHECK(outcome.status == RunStatus::diverged);
    CHECK(outcome.message == "it diverged");
    CHECK(std::isinf(outcome.finalLoss));
    CHECK(outcome.divergedAt == 2);
    CHECK(outcome.verdict == "diverged");

    // The verdict ranks events (inspect's rules), it does not take the first in time.
    writeTrace(path, {3.0, 2.0, 1.5}, {{1, "saturated"}, {2, "vanishing"}}, RunStatus::completed);
    outcome = study::readRunOutcome(path);
    CHECK(outcome.finalLoss == 1.5);
    CHECK(outcome.divergedAt == -1);
    CHECK(outcome.verdict == "vanishing");

    writeTrace(path, {3.0}, {}, std::nullopt);
    outcome = study::readRunOutcome(path);
    CHECK(outcome.status == RunStatus::running);
    CHECK(outcome.verdict == "unknown");  // no /trace/step rows and no events: nothing to judge

    CHECK_THROWS_WITH(study::readRunOutcome(testing::scratchPath("no_such_trace.h5")), Contains("no such file"));
}

TEST_CASE("A study index round-trips and links the traces that exist", "[study]") {
    const std::filesystem::path folder = testing::scratchPath("index_round_trip");
    std::filesystem::create_directories(folder / "runs");
    writeTrace((folder / "runs" / "run0.h5").string(), {1.0, 0.25}, {}, RunStatus::completed);
    writeTrace((folder / "runs" / "run2.h5").string(), {1.0}, {}, RunStatus::completed);  // pending in the index
    const study::StudyIndex written = sampleIndex();
    const std::string path = (folder / "study.h5").string();
    study::writeStudyIndex(path, written);
    study::writeStudyIndex(path, written);  // replacing an existing index works too

    const study::StudyIndex read = study::readStudyIndex(path);
    CHECK(read.config == written.config);
    CHECK(read.configFile == written.configFile);
    CHECK(read.overrides == written.overrides);
    CHECK(read.createdAt == written.createdAt);
    CHECK(read.shardIndex == 0);
    CHECK(read.shardCount == 0);
    CHECK(read.runsTotal == 3);
    CHECK(read.keys == written.keys);
    REQUIRE(read.rows.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(read.rows[i].name == written.rows[i].name);
        CHECK(read.rows[i].index == written.rows[i].index);
        CHECK(read.rows[i].status == written.rows[i].status);
        CHECK(read.rows[i].message == written.rows[i].message);
        CHECK(read.rows[i].divergedAt == written.rows[i].divergedAt);
        CHECK(read.rows[i].verdict == written.rows[i].verdict);
        CHECK(read.rows[i].trace == written.rows[i].trace);
        CHECK(read.rows[i].log == written.rows[i].log);
        CHECK(read.rows[i].seed == written.rows[i].seed);
        CHECK(read.rows[i].parameters == written.rows[i].parameters);
        for (const study::MetricColumn& column : study::metricColumns()) {
            CAPTURE(column.name);
            const double got = read.rows[i].metrics.*column.field, expected = written.rows[i].metrics.*column.field;
            CHECK((got == expected || (std::isnan(got) && std::isnan(expected))));
        }
    }
    CHECK(read.rows[0].finalLoss == 0.25);
    CHECK(std::isinf(read.rows[1].finalLoss));
    CHECK(std::isnan(read.rows[2].finalLoss));
    CHECK(read.rows[2].status == RunStatus::pending);

    // Through the plain C API, as any HDF5 reader sees it.
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    CHECK(H5Aexists(file, "runs_total") > 0);
    CHECK(H5Lexists(file, "/runs/param", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/runs/param/model.layers.0.units", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/links/run0", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/links/run1", H5P_DEFAULT) == 0);  // no trace file, no link
    CHECK(H5Lexists(file, "/links/run2", H5P_DEFAULT) > 0);
    const hid_t loss = H5Dopen2(file, "/links/run0/trace/loss", H5P_DEFAULT);
    REQUIRE(loss >= 0);
    double values[2] = {0, 0};
    CHECK(H5Dread(loss, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    CHECK(values[1] == 0.25);
    H5Dclose(loss);
    H5Fclose(file);

    // Written atomically: no temporary file is left behind.
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("readStudyIndex refuses other files and newer schema versions", "[study][errors]") {
    const std::string tracePath = testing::scratchPath("not_an_index.h5");
    writeTrace(tracePath, {1.0}, {}, RunStatus::completed);
    CHECK_THROWS_WITH(study::readStudyIndex(tracePath),
                      Contains("is not a gradlab study index (schema attribute: 'gradlab-trace', expected "
                               "'gradlab-study')"));

    const std::string path = testing::scratchPath("newer_index.h5");
    study::writeStudyIndex(path, sampleIndex());
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const hid_t attribute = H5Aopen(file, "schema_version", H5P_DEFAULT);
    const std::int64_t newer = 2;
    H5Awrite(attribute, H5T_NATIVE_INT64, &newer);
    H5Aclose(attribute);
    H5Fclose(file);
    CHECK_THROWS_WITH(study::readStudyIndex(path),
                      Contains("was written by a newer gradlab: schema_version 2, this reader knows 1"));
}

TEST_CASE("isStudyIndex tells a study index from traces, other files and odd schema attributes", "[study]") {
    const std::string index = testing::scratchPath("is_index.h5");
    study::writeStudyIndex(index, sampleIndex());
    CHECK(study::isStudyIndex(index));

    const std::string tracePath = testing::scratchPath("is_index_trace.h5");
    writeTrace(tracePath, {1.0}, {}, RunStatus::completed);
    CHECK_FALSE(study::isStudyIndex(tracePath));

    const std::string text = testing::scratchPath("is_index.txt");
    std::ofstream(text) << "schema: gradlab-study\n";
    CHECK_FALSE(study::isStudyIndex(text));
    CHECK_FALSE(study::isStudyIndex(testing::scratchPath("is_index_missing.h5")));
    CHECK_FALSE(study::isStudyIndex(testing::scratchPath("")));

    // A schema attribute that is an integer, not the string: not an index, and no exception.
    const std::string odd = testing::scratchPath("is_index_odd.h5");
    study::writeStudyIndex(odd, sampleIndex());
    {
        const trace::Hdf5Handle file = trace::Hdf5Handle::file(H5Fopen(odd.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
        REQUIRE(file.valid());
        REQUIRE(H5Adelete(file.get(), "schema") >= 0);
        trace::writeIntegerAttribute(file.get(), "schema", 1, odd);
    }
    CHECK_FALSE(study::isStudyIndex(odd));
}

TEST_CASE("a status this gradlab does not know is refused, in a trace and in an index", "[study][errors]") {
    const std::string tracePath = testing::scratchPath("unknown_status_trace.h5");
    writeTrace(tracePath, {1.0}, {}, RunStatus::completed);
    {
        const trace::Hdf5Handle file = trace::Hdf5Handle::file(H5Fopen(tracePath.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
        REQUIRE(file.valid());
        trace::writeStringAttribute(file.get(), "status", "complete", tracePath);
    }
    CHECK_THROWS_WITH(study::readRunOutcome(tracePath),
                      Contains("trace '" + tracePath + "', root attribute 'status': unknown status 'complete'") &&
                          Contains("did you mean 'completed'?"));

    const std::string indexPath = testing::scratchPath("unknown_status_index.h5");
    study::writeStudyIndex(indexPath, sampleIndex());
    {
        const trace::Hdf5Handle file = trace::Hdf5Handle::file(H5Fopen(indexPath.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
        REQUIRE(file.valid());
        REQUIRE(H5Ldelete(file.get(), "/runs/status", H5P_DEFAULT) >= 0);
        const trace::Hdf5Handle runs = trace::Hdf5Handle::group(H5Gopen2(file.get(), "/runs", H5P_DEFAULT));
        trace::writeStringDataset(runs.get(), "status", {"completed", "done", "pending"}, indexPath);
    }
    CHECK_THROWS_WITH(study::readStudyIndex(indexPath),
                      Contains("/runs/status of run 'run1': unknown status 'done'"));
}

TEST_CASE("readRunOutcome carries the metrics of the diagnosis inspect prints", "[study][metrics]") {
    const std::string path = testing::scratchPath("outcome_metrics.h5");
    writeTrace(path, {3.0, 2.0, 1.5}, {}, RunStatus::completed);
    const study::RunOutcome outcome = study::readRunOutcome(path);
    const analysis::RunMetrics expected = analysis::diagnose(path).metrics;
    CHECK(outcome.metrics.finalTrainLoss == expected.finalTrainLoss);
    CHECK(outcome.metrics.finalTrainLoss == 1.5);
    CHECK(std::isnan(outcome.metrics.finalEvalLoss));  // no /eval in this trace
}

TEST_CASE("readStudyIndexRows reads the rows of one shard, equal to the same rows of the whole index",
          "[study][merge]") {
    const std::string path = testing::scratchPath("index_rows.h5");
    study::StudyIndex written = sampleIndex();
    for (int i = 3; i < 7; ++i) {
        study::StudyRow row = written.rows[2];
        row.name = "run" + std::to_string(i);
        row.index = i;
        row.seed = 10 + i;
        row.parameters = {"0." + std::to_string(i), "{units: " + std::to_string(i) + "}"};
        row.finalLoss = i;
        row.status = i % 2 ? RunStatus::completed : RunStatus::failed;
        written.rows.push_back(row);
    }
    study::writeStudyIndex(path, written);
    const study::StudyIndex whole = study::readStudyIndex(path);
    REQUIRE(whole.rows.size() == 7);
    for (std::int64_t count : {1, 2, 3, 7, 10}) {
        for (std::int64_t number = 1; number <= count; ++number) {
            CAPTURE(number, count);
            const study::StudyIndex part = study::readStudyIndexRows(path, study::Shard{number, count});
            CHECK(part.runsTotal == 7);
            CHECK(part.config == whole.config);
            CHECK(part.keys == whole.keys);
            std::vector<std::int64_t> expected;
            for (std::int64_t row = number - 1; row < 7; row += count) expected.push_back(row);
            REQUIRE(part.rows.size() == expected.size());
            for (std::size_t i = 0; i < expected.size(); ++i) {
                const study::StudyRow& got = part.rows[i];
                const study::StudyRow& reference = whole.rows[static_cast<std::size_t>(expected[i])];
                CHECK(got.index == expected[i]);
                CHECK(got.name == reference.name);
                CHECK(got.status == reference.status);
                CHECK(got.message == reference.message);
                CHECK((got.finalLoss == reference.finalLoss ||
                       (std::isnan(got.finalLoss) && std::isnan(reference.finalLoss))));
                CHECK(got.seed == reference.seed);
                CHECK(got.parameters == reference.parameters);
                CHECK(got.verdict == reference.verdict);
                CHECK(got.trace == reference.trace);
            }
        }
    }
}

namespace {

/// Sets an integer root attribute of an HDF5 file, as another tool (or an older gradlab) might have written it.
void setIntegerAttribute(const std::string& path, const char* name, std::int64_t value) {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const hid_t attribute = H5Aopen(file, name, H5P_DEFAULT);
    REQUIRE(attribute >= 0);
    CHECK(H5Awrite(attribute, H5T_NATIVE_INT64, &value) >= 0);
    H5Aclose(attribute);
    H5Fclose(file);
}

/// sampleIndex() grown to `runs` runs run0, run1, ...
study::StudyIndex sampleStudy(int runs) {
    study::StudyIndex index = sampleIndex();
    for (int i = 3; i < runs; ++i) {
        study::StudyRow row = index.rows[2];
        row.name = "run" + std::to_string(i);
        row.index = i;
        row.seed = 10 + i;
        index.rows.push_back(row);
    }
    return index;
}

}  // namespace

TEST_CASE("A shard index holds its own runs only, and says how many the study has", "[study][shard]") {
    const std::string path = testing::scratchPath("index_shard_own.h5");
    const study::StudyIndex whole = sampleStudy(7);
    study::StudyIndex shard = whole;
    shard.shardIndex = 2;
    shard.shardCount = 3;
    shard.runsTotal = 7;
    shard.rows = {whole.rows[1], whole.rows[4]};
    study::writeStudyIndex(path, shard);
    const study::StudyIndex read = study::readStudyIndex(path);
    CHECK(read.runsTotal == 7);
    CHECK(read.studyRuns() == 7);
    REQUIRE(read.rows.size() == 2);
    CHECK(read.rows[0].name == "run1");
    CHECK(read.rows[1].name == "run4");
    CHECK(read.rowOf(4) == 1);
    const study::StudyIndex selected = study::readStudyIndexRows(path, study::Shard{2, 3});
    REQUIRE(selected.rows.size() == 2);
    CHECK(selected.rows[1].index == 4);
    CHECK(study::readStudyIndexRows(path, study::Shard{1, 3}).rows.empty());
    {
        trace::Hdf5Handle file = trace::openHdf5ReadOnly(path);
        std::int64_t total = 0;
        const hid_t attribute = H5Aopen(file.get(), "runs_total", H5P_DEFAULT);
        REQUIRE(attribute >= 0);
        CHECK(H5Aread(attribute, H5T_NATIVE_INT64, &total) >= 0);
        H5Aclose(attribute);
        CHECK(total == 7);
    }

    // Another shard's run, or rows that are not the shard's share of the study, are refused.
    study::StudyIndex wrong = shard;
    wrong.rows[1] = whole.rows[5];
    CHECK_THROWS_WITH(study::writeStudyIndex(path, wrong), Contains("run 'run5' (index 5) is not one of shard 2/3's"));
    wrong.rows = {whole.rows[1]};
    CHECK_THROWS_WITH(study::writeStudyIndex(path, wrong),
                      Contains("shard 2/3 of a study of 7 runs has 2 runs, not 1 rows"));
    CHECK(study::readStudyIndex(path).rows.size() == 2);  // the refused writes left the index as it was

    // A rows count that fits neither form is a damaged index, and so is a shard number outside 1..count.
    setIntegerAttribute(path, "runs_total", 9);
    CHECK_THROWS_WITH(study::readStudyIndex(path), Contains("it has 2 rows for runs_total 9 (shard 2/3)"));
    setIntegerAttribute(path, "shard_index", 5);
    CHECK_THROWS_WITH(study::readStudyIndex(path),
                      Contains("says it is shard 5/3 (expected 1 <= shard_index <= shard_count)"));
}

TEST_CASE("A shard index that lists every run of the study (as older ones did) reads as its own runs",
          "[study][shard]") {
    const std::string path = testing::scratchPath("index_shard_old.h5");
    study::writeStudyIndex(path, sampleStudy(7));
    setIntegerAttribute(path, "shard_index", 3);
    setIntegerAttribute(path, "shard_count", 3);
    const study::StudyIndex read = study::readStudyIndex(path);
    CHECK(read.runsTotal == 7);
    REQUIRE(read.rows.size() == 2);  // runs 2 and 5
    CHECK(read.rows[0].name == "run2");
    CHECK(read.rows[1].name == "run5");
    CHECK(read.rows[1].seed == 15);
    const study::StudyIndex selected = study::readStudyIndexRows(path, study::Shard{3, 3});
    REQUIRE(selected.rows.size() == 2);
    CHECK(selected.rows[0].index == 2);
}
