// `gradlab sweep` as a user meets it: a tiny study run in parallel by the real binary, its index, resume,
// failures, shards and merging.
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "study/study_index.hpp"
#include "study/sweep_plan.hpp"
#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"
#include "support/trace_compare.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace fs = std::filesystem;

namespace {

using gradlab::testing::Outcome;
using gradlab::testing::runGradlab;

std::string readText(const std::string& path) {
    std::ifstream stream(path);
    return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

/// A 2 x 2 study over configs/two_layer.yaml: a learning rate that trains and one that diverges within 5 steps.
std::string writeTwoLayerStudy(const std::string& name) {
    const std::string path = testing::scratchPath(name);
    std::ofstream(path)
        << readText(std::string(GRADLAB_SOURCE_DIR) + "/configs/two_layer.yaml")
        << "\nsweep:\n  grid:\n    optimizer.lr: [1.0e-6, 1.0e-2]\n    model.layers.0.units: [50, 100]\n";
    return path;
}

/// A fresh, empty study folder.
std::string studyFolder(const std::string& name) {
    const std::string folder = testing::scratchPath(name);
    fs::remove_all(folder);
    return folder;
}

const std::vector<std::string> names{"lr=1.0e-6,units=50", "lr=1.0e-6,units=100", "lr=1.0e-2,units=50",
                                      "lr=1.0e-2,units=100"};

std::map<std::string, fs::file_time_type> traceTimes(const std::string& folder) {
    std::map<std::string, fs::file_time_type> times;
    for (const auto& name : names) times[name] = fs::last_write_time(fs::path(folder) / "runs" / (name + ".h5"));
    return times;
}

/// Makes a finished trace look like one whose run was killed: status "running".
void markRunning(const std::string& tracePath) {
    const hid_t file = H5Fopen(tracePath.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    REQUIRE(H5Adelete(file, "status") >= 0);
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attribute = H5Acreate2(file, "status", type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* running = "running";
    REQUIRE(H5Awrite(attribute, type, &running) >= 0);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(file);
}

bool sameLoss(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

TEST_CASE("gradlab sweep runs a study in parallel and indexes it, a diverged run stopping no other", "[cli][study]") {
    const std::string config = writeTwoLayerStudy("sweep_basic.yaml");
    const std::string folder = studyFolder("sweep_basic");
    const std::string command = "sweep " + config + " -j 2 -o " + folder + " --set training.steps=5";
    Outcome outcome = runGradlab(command);
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("4 runs, 4 to run, 2 at once"));
    CHECK_THAT(outcome.output, Contains("4 runs: 2 completed, 2 diverged"));
    CHECK_THAT(outcome.output, Contains("lr=1.0e-2,units=50: diverged at step"));

    const study::StudyIndex index = study::readStudyIndex(folder + "/study.h5");
    CHECK_THAT(index.config, Contains("optimizer.lr: [1.0e-6, 1.0e-2]"));
    CHECK(index.overrides == std::vector<std::string>{"training.steps=5"});
    CHECK(index.keys == std::vector<std::string>{"optimizer.lr", "model.layers.0.units"});
    REQUIRE(index.rows.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
        const study::StudyRow& row = index.rows[i];
        CHECK(row.name == names[i]);
        CHECK(row.index == static_cast<std::int64_t>(i));
        CHECK(row.trace == "runs/" + names[i] + ".h5");
        CHECK(row.parameters == std::vector<std::string>{i < 2 ? "1.0e-6" : "1.0e-2", i % 2 == 0 ? "50" : "100"});
        CHECK(fs::exists(fs::path(folder) / "configs" / (names[i] + ".yaml")));
        CHECK(fs::exists(fs::path(folder) / "logs" / (names[i] + ".log")));
        if (i < 2) {
            CHECK(row.status == RunStatus::completed);
            CHECK(row.verdict == "healthy");
            CHECK(row.divergedAt == -1);
            CHECK(std::isfinite(row.finalLoss));
        } else {
            CHECK(row.status == RunStatus::diverged);
            CHECK(row.verdict == "diverged");
            CHECK(row.divergedAt >= 0);
            CHECK(row.divergedAt < 5);
        }
    }

    // Each run's trace through the index's external link, with the plain C API.
    const hid_t file = H5Fopen((folder + "/study.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    for (const auto& name : names) {
        const hid_t loss = H5Dopen2(file, ("/links/" + name + "/trace/loss").c_str(), H5P_DEFAULT);
        REQUIRE(loss >= 0);
        const hid_t space = H5Dget_space(loss);
        hsize_t rows = 0;
        H5Sget_simple_extent_dims(space, &rows, nullptr);
        CHECK(rows >= 1);
        CHECK(rows <= 5);
        H5Sclose(space);
        H5Dclose(loss);
    }
    H5Fclose(file);

    SECTION("resume skips finished runs") {
        const auto before = traceTimes(folder);
        outcome = runGradlab(command);
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("4 runs, 4 already done, 0 to run"));
        CHECK(traceTimes(folder) == before);
    }
    SECTION("resume redoes missing and killed runs only") {
        const auto before = traceTimes(folder);
        fs::remove(fs::path(folder) / "runs" / (names[0] + ".h5"));
        markRunning(folder + "/runs/" + names[3] + ".h5");
        CHECK(study::readStudyIndex(folder + "/study.h5").rows[3].status == RunStatus::diverged);
        outcome = runGradlab(command);
        CHECK(outcome.exitCode == 0);
        // The killed run is resumed (from step 0: a finished run keeps no checkpoint), the missing one rerun.
        CHECK_THAT(outcome.output, Contains("4 runs, 2 already done, 1 to resume from their checkpoints, 2 to run"));
        CHECK_THAT(readText(folder + "/logs/" + names[3] + ".log"), Contains("--resume"));
        const auto after = traceTimes(folder);
        CHECK(after.at(names[1]) == before.at(names[1]));
        CHECK(after.at(names[2]) == before.at(names[2]));
        CHECK(after.at(names[3]) != before.at(names[3]));
        const study::StudyIndex redone = study::readStudyIndex(folder + "/study.h5");
        CHECK(redone.rows[0].status == RunStatus::completed);
        CHECK(redone.rows[3].status == RunStatus::diverged);
        CHECK(redone.createdAt == index.createdAt);
    }
    SECTION("a changed config reruns the runs it changes") {
        outcome = runGradlab("sweep " + config + " -j 2 -o " + folder + " --set training.steps=6");
        CHECK(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("rerunning lr=1.0e-6,units=50: its config changed"));
        CHECK_THAT(outcome.output, Contains("4 runs, 4 to run"));
    }
}

namespace {

/// A study of two runs in a fresh folder `base`: one on table.csv (it completes), one on missing.csv (it fails).
/// Returns the study config's path.
std::string writeStudyWithAFailingRun(const fs::path& base) {
    fs::remove_all(base);
    fs::create_directories(base);
    std::ofstream(base / "table.csv") << "x1,x2,y\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n";
    const std::string config = (base / "study.yaml").string();
    std::ofstream(config) << R"(data: {kind: csv, file: table.csv}
model:
  layers: [{kind: dense, units: 1}]
optimizer: {kind: sgd, lr: 0.001}
training: {steps: 3, batch_size: 2}
sweep:
  grid:
    data.file: [table.csv, missing.csv]
)";
    return config;
}

}  // namespace

TEST_CASE("gradlab sweep: a failed run is reported and redone on resume, the others finish", "[cli][study]") {
    const fs::path base = testing::scratchPath("sweep_failing");
    const std::string config = writeStudyWithAFailingRun(base);
    const std::string folder = (base / "study").string();
    Outcome outcome = runGradlab("sweep " + config + " -j 2 -o " + folder);
    INFO(outcome.output);
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("2 runs: 1 completed, 1 failed"));
    CHECK_THAT(outcome.output, Contains("failed file=missing.csv: "));
    CHECK_THAT(outcome.output, Contains("logs/file=missing.csv.log"));
    study::StudyIndex index = study::readStudyIndex(folder + "/study.h5");
    REQUIRE(index.rows.size() == 2);
    CHECK(index.rows[0].status == RunStatus::completed);
    CHECK(index.rows[1].status == RunStatus::failed);
    CHECK_THAT(index.rows[1].message, Contains("missing.csv"));
    CHECK(index.rows[1].verdict == "unknown");

    outcome = runGradlab("sweep " + config + " -j 2 -o " + folder);
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("2 runs, 1 already done, 1 to run"));
}

TEST_CASE("gradlab sweep: when no run can start, every row is failed and the summary still comes", "[cli][study]") {
    const std::string config = writeTwoLayerStudy("sweep_none_start.yaml");
    const std::string folder = studyFolder("sweep_none_start");
    // A folder where each run's config file goes: the config cannot be written, so no run starts.
    for (const auto& name : names) fs::create_directories(fs::path(folder) / "configs" / (name + ".yaml") / "x");
    const Outcome outcome = runGradlab("sweep " + config + " -j 2 -o " + folder + " --set training.steps=3");
    INFO(outcome.output);
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("4 runs: 0 completed, 4 failed"));
    CHECK_THAT(outcome.output, Contains("is a folder, not a regular file"));
    CHECK_THAT(outcome.output, !Contains("waiting for the runs failed"));
    const study::StudyIndex index = study::readStudyIndex(folder + "/study.h5");
    REQUIRE(index.rows.size() == 4);
    for (const auto& row : index.rows) CHECK(row.status == RunStatus::failed);
}

TEST_CASE("gradlab sweep --shard: disjoint shards cover the study, and --merge equals the unsharded index",
          "[cli][study]") {
    const std::string config = writeTwoLayerStudy("sweep_sharded.yaml");
    const std::string whole = studyFolder("sweep_whole");
    const std::string sharded = studyFolder("sweep_shards");
    REQUIRE(runGradlab("sweep " + config + " -j 2 -o " + whole + " --set training.steps=5").exitCode == 0);
    for (int shard = 1; shard <= 2; ++shard) {
        const Outcome outcome = runGradlab("sweep " + config + " -j 2 -o " + sharded +
                                           " --set training.steps=5 --shard " + std::to_string(shard) + "/2");
        INFO(outcome.output);
        REQUIRE(outcome.exitCode == 0);
        CHECK_THAT(outcome.output, Contains("2 runs (shard " + std::to_string(shard) + "/2 of 4)"));
        const study::StudyIndex index =
            study::readStudyIndex(sharded + "/study.shard-" + std::to_string(shard) + "-of-2.h5");
        CHECK(index.shardIndex == shard);
        CHECK(index.shardCount == 2);
        CHECK(index.runsTotal == 4);
        REQUIRE(index.rows.size() == 2);  // its own runs only
        for (const auto& row : index.rows) {
            CHECK(row.index % 2 == shard - 1);
            CHECK(study::isFinishedStatus(row.status));
        }
    }
    CHECK_FALSE(fs::exists(sharded + "/study.h5"));

    Outcome outcome = runGradlab("sweep --merge " + sharded);
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("merged 2 of 2 shard indexes"));
    const study::StudyIndex expected = study::readStudyIndex(whole + "/study.h5");
    const study::StudyIndex merged = study::readStudyIndex(sharded + "/study.h5");
    CHECK(merged.config == expected.config);
    CHECK(merged.keys == expected.keys);
    CHECK(merged.shardCount == 0);
    REQUIRE(merged.rows.size() == expected.rows.size());
    for (std::size_t i = 0; i < merged.rows.size(); ++i) {
        CHECK(merged.rows[i].name == expected.rows[i].name);
        CHECK(merged.rows[i].status == expected.rows[i].status);
        CHECK(merged.rows[i].verdict == expected.rows[i].verdict);
        CHECK(merged.rows[i].parameters == expected.rows[i].parameters);
        CHECK(merged.rows[i].divergedAt == expected.rows[i].divergedAt);
        CHECK(sameLoss(merged.rows[i].finalLoss, expected.rows[i].finalLoss));
    }
    const hid_t file = H5Fopen((sharded + "/study.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    CHECK(H5Lexists(file, ("/links/" + names[3]).c_str(), H5P_DEFAULT) > 0);
    H5Fclose(file);

    SECTION("shard indexes of different studies are refused") {
        const std::string mixed = studyFolder("sweep_mixed");
        REQUIRE(runGradlab("sweep " + config + " -o " + mixed + " --set training.steps=6 --shard 2/2").exitCode == 0);
        fs::copy_file(sharded + "/study.shard-1-of-2.h5", mixed + "/study.shard-1-of-2.h5");
        outcome = runGradlab("sweep --merge " + mixed);
        CHECK(outcome.exitCode == 1);
        CHECK_THAT(outcome.output, Contains("refusing to merge: 'study.shard-2-of-2.h5' belongs to a different study "
                                            "than 'study.shard-1-of-2.h5' (its --set overrides differ)"));
        CHECK_FALSE(fs::exists(mixed + "/study.h5"));
    }
}

TEST_CASE("gradlab sweep --plan lists the runs and runs nothing", "[cli][study]") {
    const std::string config = writeTwoLayerStudy("sweep_plan.yaml");
    const std::string folder = studyFolder("sweep_plan");
    Outcome outcome = runGradlab("sweep " + config + " --plan -o " + folder);
    INFO(outcome.output);
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("4 runs -> " + folder));
    CHECK_THAT(outcome.output, Contains("     2  lr=1.0e-2,units=50   optimizer.lr=1.0e-2 model.layers.0.units=50\n"));
    CHECK_FALSE(fs::exists(folder));
    outcome = runGradlab("sweep " + config + " --plan --shard 2/2");
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("shard 2/2: 2"));
    CHECK_THAT(outcome.output, Contains("lr=1.0e-6,units=100"));
    CHECK(outcome.output.find("lr=1.0e-6,units=50 ") == std::string::npos);
}

TEST_CASE("gradlab sweep refuses bad options with exit code 2, and gradlab run refuses a study",
          "[cli][study][errors]") {
    const std::string config = writeTwoLayerStudy("sweep_usage.yaml");
    Outcome outcome = runGradlab("sweep " + config + " --plan --shard 0/2");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--shard expects i/N with 1 <= i <= N (shards are numbered from 1"));
    outcome = runGradlab("sweep " + config + " --plan --shard 3/2");
    CHECK(outcome.exitCode == 2);
    outcome = runGradlab("sweep " + config + " --plan -j 0");
    CHECK(outcome.exitCode == 2);
    outcome = runGradlab("sweep --merge somewhere " + config);
    CHECK(outcome.exitCode == 2);
    outcome = runGradlab("sweep");
    CHECK(outcome.exitCode == 2);
    outcome = runGradlab("run " + config + " --set training.steps=2 -o " + testing::scratchPath("never.h5"));
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("sweep: this is a study config (it has a sweep: block): run it with 'gradlab "
                                        "sweep " +
                                        config + "'"));
}

TEST_CASE("gradlab sweep: runs killed with the whole sweep continue from their checkpoints to the same end",
          "[cli][study][checkpoint]") {
    const std::string config = testing::scratchPath("sweep_killed.yaml");
    std::ofstream(config) << R"(data: {kind: teacher, samples: 256, inputs: 8, outputs: 2, hidden: [8]}
model:
  layers: [{kind: dense, units: 32}, tanh, {kind: dense, units: 2}]
optimizer: {kind: sgd, lr: 0.01, momentum: 0.9}
training: {steps: 6000, batch_size: 16}
checkpoint: {every: 100}
sweep:
  seeds: [1, 2]
)";
    const std::string folder = studyFolder("sweep_killed_study");
    const pid_t sweep = ::fork();
    REQUIRE(sweep >= 0);
    if (sweep == 0) {
        ::setpgid(0, 0);  // its own process group, so that the test can kill the sweep and its runs at once
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        ::execl(GRADLAB_BINARY, GRADLAB_BINARY, "sweep", config.c_str(), "-j", "2", "-o", folder.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::setpgid(sweep, sweep);
    // Wait until both runs have written a checkpoint, then kill everything, as a lost machine would.
    const auto checkpoints = [&] {
        std::size_t count = 0;
        if (fs::is_directory(folder + "/runs"))
            for (const auto& entry : fs::directory_iterator(folder + "/runs"))
                count += entry.path().extension() == ".h5" && entry.path().stem().extension() == ".ckpt" ? 1 : 0;
        return count;
    };
    for (int wait = 0; wait < 600 && checkpoints() < 2; ++wait) ::usleep(20 * 1000);
    REQUIRE(checkpoints() == 2);
    ::kill(-sweep, SIGKILL);
    int status = 0;
    ::waitpid(sweep, &status, 0);

    const Outcome outcome = runGradlab("sweep " + config + " -j 2 -o " + folder);
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("2 runs, 2 to resume from their checkpoints, 2 to run"));
    for (const auto& entry : fs::directory_iterator(folder + "/configs")) {
        const std::string name = entry.path().stem().string();
        INFO(name);
        CHECK_THAT(readText(folder + "/logs/" + name + ".log"), Contains("resumed at step"));
        const std::string fresh = testing::scratchPath("sweep_killed_" + name + ".h5");
        REQUIRE(runGradlab("run " + entry.path().string() + " -q -o " + fresh).exitCode == 0);
        testing::checkSameTrace(fresh, folder + "/runs/" + name + ".h5");
    }
}

namespace {

/// Every field of two rows is the same (NaN equal to NaN).
void checkSameRow(const study::StudyRow& got, const study::StudyRow& expected) {
    CAPTURE(expected.name);
    CHECK(got.name == expected.name);
    CHECK(got.index == expected.index);
    CHECK(got.status == expected.status);
    CHECK(got.message == expected.message);
    CHECK(sameLoss(got.finalLoss, expected.finalLoss));
    CHECK(got.divergedAt == expected.divergedAt);
    CHECK(got.verdict == expected.verdict);
    for (const study::MetricColumn& column : study::metricColumns()) {
        CAPTURE(column.name);
        CHECK(sameLoss(got.metrics.*column.field, expected.metrics.*column.field));
    }
    CHECK(got.trace == expected.trace);
    CHECK(got.log == expected.log);
    CHECK(got.seed == expected.seed);
    CHECK(got.parameters == expected.parameters);
}

}  // namespace

TEST_CASE("gradlab sweep: the index it leaves equals a whole rewrite from the traces, and a truncated index is "
          "rebuilt from them",
          "[cli][study][index]") {
    const std::string config = writeTwoLayerStudy("sweep_index_content.yaml");
    const std::string folder = studyFolder("sweep_index_content");
    const std::vector<std::string> overrides{"training.steps=3", "sweep.seeds=3"};
    std::string command = "sweep " + config + " -j 2 -o " + folder;
    for (const std::string& entry : overrides) command += " --set " + entry;
    Outcome outcome = runGradlab(command);
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);

    // What the index held when it was rewritten after every run: every row read from its trace.
    const study::SweepPlan plan = study::planSweep(config, overrides, testing::builtinPlugins());
    study::StudyIndex expected = study::newStudyIndex(plan, study::Shard{});
    for (study::StudyRow& row : expected.rows) study::applyOutcome(row, study::readRunOutcome(folder + "/" + row.trace));
    const auto checkIndex = [&] {
        const study::StudyIndex index = study::readStudyIndex(folder + "/study.h5");
        CHECK(index.config == expected.config);
        CHECK(index.overrides == expected.overrides);
        CHECK(index.keys == expected.keys);
        REQUIRE(index.rows.size() == 12);
        for (std::size_t row = 0; row < index.rows.size(); ++row) checkSameRow(index.rows[row], expected.rows[row]);
        const hid_t file = H5Fopen((folder + "/study.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
        REQUIRE(file >= 0);
        for (const study::StudyRow& row : expected.rows)
            CHECK(H5Lexists(file, ("/links/" + row.name).c_str(), H5P_DEFAULT) > 0);
        H5Fclose(file);
    };
    checkIndex();

    // An index cut short (a disk that lost its tail, a copy killed halfway) is rebuilt from the traces.
    const fs::path index = fs::path(folder) / "study.h5";
    fs::resize_file(index, fs::file_size(index) / 2);
    outcome = runGradlab(command);
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("12 already done, 0 to run"));
    checkIndex();
}

TEST_CASE("gradlab sweep --keep-logs failed removes the logs of the runs that finished, keeps the failed ones'",
          "[cli][study]") {
    const fs::path base = testing::scratchPath("sweep_keep_logs");
    const std::string config = writeStudyWithAFailingRun(base);
    const std::string folder = (base / "study").string();
    Outcome outcome = runGradlab("sweep " + config + " -j 2 -o " + folder + " --keep-logs failed");
    INFO(outcome.output);
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("2 runs: 1 completed, 1 failed"));
    CHECK_FALSE(fs::exists(folder + "/logs/file=table.csv.log"));
    CHECK(fs::exists(folder + "/runs/file=table.csv.h5"));
    CHECK_THAT(readText(folder + "/logs/file=missing.csv.log"), Contains("missing.csv"));
    // The completed run stays done: a resume does not need its log.
    outcome = runGradlab("sweep " + config + " -j 2 -o " + folder + " --keep-logs failed");
    CHECK_THAT(outcome.output, Contains("2 runs, 1 already done, 1 to run"));

    outcome = runGradlab("sweep " + config + " -o " + folder + " --keep-logs some");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("--keep-logs expects 'all' or 'failed', got 'some'"));
    outcome = runGradlab("sweep --merge " + folder + " --keep-logs failed");
    CHECK(outcome.exitCode == 2);
}
