// Merging shard indexes into study.h5, without running anything: index files and traces written here.
#include "study/study_merge.hpp"

#include <hdf5.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_writer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

/// An empty study folder under the scratch folder.
study::StudyFolder freshFolder(const std::string& name) {
    const fs::path root = testing::scratchPath(name);
    fs::remove_all(root);
    fs::create_directories(root / "runs");
    return study::StudyFolder{root};
}

/// The config text of a study of `runs` runs "run0", "run1", ... (a grid over `seed`).
std::string studyConfig(int runs) {
    std::string seeds;
    for (int i = 0; i < runs; ++i) seeds += (i ? ", " : "") + std::to_string(i);
    return "sweep: {grid: {seed: [" + seeds + "]}, name: 'run{seed}'}\n";
}

/// The index of shard `number` of `count` of a study of `runs` runs "run0", "run1", ...: the shard's own runs,
/// with `status` and a final loss of 10 + index.
study::StudyIndex shardIndex(std::int64_t number, std::int64_t count, int runs, RunStatus status,
                             const std::string& createdAt = "2026-01-01T00:00:00Z") {
    study::StudyIndex index;
    index.config = studyConfig(runs);
    index.configFile = "study.yaml";
    index.keys = {"seed"};
    index.shardIndex = number;
    index.shardCount = count;
    index.runsTotal = runs;
    index.createdAt = createdAt;
    index.updatedAt = createdAt;
    for (int i = 0; i < runs; ++i) {
        if (i % count != number - 1) continue;
        study::StudyRow row;
        row.name = "run" + std::to_string(i);
        row.index = i;
        row.seed = i;
        row.trace = study::StudyFolder::relativeTrace(row.name).string();
        row.log = study::StudyFolder::relativeLog(row.name).string();
        row.parameters = {std::to_string(i)};
        row.status = status;
        row.finalLoss = 10 + i;
        row.verdict = "healthy";
        index.rows.push_back(row);
    }
    return index;
}

void writeShard(const study::StudyFolder& folder, const study::StudyIndex& index) {
    study::writeStudyIndex(folder.index(study::Shard{index.shardIndex, index.shardCount}).string(), index);
}

/// A trace with the given losses, finished with `status`.
void writeTrace(const fs::path& path, const std::vector<double>& losses, RunStatus status) {
    trace::TraceHeader header;
    header.precision = "float64";
    trace::TraceWriter writer(path.string(), header);
    trace::Table& table = writer.table("/trace");
    const trace::ColumnId loss = table.addColumn("loss");
    for (double value : losses) {
        table.set(loss, value);
        table.commit();
    }
    writer.finish(status, "done", "2026-01-01T00:05:00Z");
}

}  // namespace

TEST_CASE("shards merge into one index, each row from the shard that ran it", "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_all");
    writeShard(folder, shardIndex(1, 2, 5, RunStatus::completed, "2026-01-02T00:00:00Z"));
    writeShard(folder, shardIndex(2, 2, 5, RunStatus::diverged, "2026-01-01T00:00:00Z"));
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    CHECK(merged.shardsFound == 2);
    CHECK(merged.shardCount == 2);
    CHECK(merged.missing.empty());
    CHECK(merged.warnings.empty());
    CHECK(merged.index.shardIndex == 0);
    CHECK(merged.index.shardCount == 0);
    CHECK(merged.index.createdAt == "2026-01-01T00:00:00Z");  // the earliest shard's
    REQUIRE(merged.index.rows.size() == 5);
    for (const study::StudyRow& row : merged.index.rows) {
        CHECK(row.status == (row.index % 2 == 0 ? RunStatus::completed : RunStatus::diverged));
        CHECK(row.finalLoss == 10 + row.index);
    }
    CHECK_FALSE(fs::exists(folder.index(study::Shard{})));  // merging writes nothing
}

TEST_CASE("a missing shard leaves its runs pending unless their traces finished", "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_missing");
    writeShard(folder, shardIndex(1, 3, 5, RunStatus::completed));
    writeShard(folder, shardIndex(3, 3, 5, RunStatus::completed));
    // Shard 2 (runs 1 and 4) wrote no index, but run 4's trace is there and finished.
    writeTrace(folder.trace("run4"), {3.0, 2.5}, RunStatus::stopped);
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    CHECK(merged.shardsFound == 2);
    CHECK(merged.missing == std::vector<std::int64_t>{2});
    CHECK(merged.index.rows[1].status == RunStatus::pending);
    CHECK(std::isnan(merged.index.rows[1].finalLoss));
    CHECK(merged.index.rows[1].verdict == "unknown");
    CHECK(merged.index.rows[4].status == RunStatus::stopped);
    CHECK(merged.index.rows[4].finalLoss == 2.5);
    CHECK(merged.index.rows[0].status == RunStatus::completed);
}

TEST_CASE("a missing shard's runs are named, valued and seeded from the study config the others keep",
          "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_missing_names");
    // Three learning rates, no seed setting: every run has the base config's seed, 42.
    study::StudyIndex index;
    index.config = "seed: 42\nsweep: {grid: {optimizer.lr: [0.1, 0.2, 0.3]}}\n";
    index.configFile = "lr.yaml";
    index.keys = {"optimizer.lr"};
    index.shardIndex = 1;
    index.shardCount = 2;
    index.runsTotal = 3;
    index.createdAt = index.updatedAt = "2026-01-01T00:00:00Z";
    for (int i : {0, 2}) {
        study::StudyRow row;
        row.name = i == 0 ? "lr=0.1" : "lr=0.3";
        row.index = i;
        row.seed = 42;
        row.trace = study::StudyFolder::relativeTrace(row.name).string();
        row.log = study::StudyFolder::relativeLog(row.name).string();
        row.parameters = {i == 0 ? "0.1" : "0.3"};
        row.status = RunStatus::completed;
        index.rows.push_back(row);
    }
    writeShard(folder, index);
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    CHECK(merged.missing == std::vector<std::int64_t>{2});
    REQUIRE(merged.index.rows.size() == 3);
    const study::StudyRow& missing = merged.index.rows[1];
    CHECK(missing.name == "lr=0.2");
    CHECK(missing.index == 1);
    CHECK(missing.parameters == std::vector<std::string>{"0.2"});
    CHECK(missing.seed == 42);
    CHECK(missing.trace == "runs/lr=0.2.h5");
    CHECK(missing.log == "logs/lr=0.2.log");
    CHECK(missing.status == RunStatus::pending);
    CHECK(merged.index.rows[2].status == RunStatus::completed);
    CHECK(merged.index.config == index.config);
    CHECK(merged.index.configFile == "lr.yaml");
}

TEST_CASE("shard indexes that list every run (as older ones did) still merge", "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_old_form");
    for (std::int64_t number : {1, 2}) {
        // Every run listed, the other shard's pending: written as a whole study, then marked as the shard.
        study::StudyIndex whole = shardIndex(1, 1, 5, RunStatus::completed);
        for (study::StudyRow& row : whole.rows)
            if (row.index % 2 != number - 1) study::resetRow(row);
        const std::string path = folder.index(study::Shard{number, 2}).string();
        study::writeStudyIndex(path, whole);
        const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(file >= 0);
        for (const auto& [name, value] : {std::pair<const char*, std::int64_t>{"shard_index", number},
                                          std::pair<const char*, std::int64_t>{"shard_count", 2}}) {
            const hid_t attribute = H5Aopen(file, name, H5P_DEFAULT);
            REQUIRE(attribute >= 0);
            CHECK(H5Awrite(attribute, H5T_NATIVE_INT64, &value) >= 0);
            H5Aclose(attribute);
        }
        H5Fclose(file);
    }
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    CHECK(merged.missing.empty());
    REQUIRE(merged.index.rows.size() == 5);
    for (const study::StudyRow& row : merged.index.rows) {
        CHECK(row.status == RunStatus::completed);
        CHECK(row.finalLoss == 10 + row.index);
    }
}

TEST_CASE("a trace that ended since its shard's index was written has the last word", "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_traces");
    writeShard(folder, shardIndex(1, 1, 3, RunStatus::pending));
    writeTrace(folder.trace("run0"), {1.0, 0.5}, RunStatus::completed);
    writeTrace(folder.trace("run1"), {1.0}, RunStatus::failed);
    writeTrace(folder.trace("run2"), {1.0}, RunStatus::interrupted);  // not finished: the index keeps its word
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    CHECK(merged.index.rows[0].status == RunStatus::completed);
    CHECK(merged.index.rows[0].finalLoss == 0.5);
    CHECK(merged.index.rows[1].status == RunStatus::failed);
    CHECK(merged.index.rows[2].status == RunStatus::pending);
}

TEST_CASE("a finished row is read again from its trace only when the trace changed since its shard's index",
          "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_times");
    writeTrace(folder.trace("run0"), {1.0, 0.5}, RunStatus::completed);
    writeTrace(folder.trace("run1"), {1.0, 0.25}, RunStatus::completed);
    writeShard(folder, shardIndex(1, 1, 2, RunStatus::completed));  // final losses 10 and 11
    const auto indexTime = fs::last_write_time(folder.index(study::Shard{1, 1}));
    fs::last_write_time(folder.trace("run0"), indexTime - std::chrono::hours(1));  // read before the index
    fs::last_write_time(folder.trace("run1"), indexTime + std::chrono::hours(1));  // rerun since
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    CHECK(merged.index.rows[0].finalLoss == 10);   // the shard's word: a merge of 10^5 runs reads no trace twice
    CHECK(merged.index.rows[1].finalLoss == 0.25);  // the trace's
}

TEST_CASE("a trace that does not read is a warning, its row keeps its shard's word", "[study][merge]") {
    const study::StudyFolder folder = freshFolder("merge_damaged");
    writeShard(folder, shardIndex(1, 1, 2, RunStatus::completed));
    std::ofstream(folder.trace("run1")) << "not an HDF5 file";
    const study::MergedStudy merged = study::mergeShardIndexes(folder);
    REQUIRE(merged.warnings.size() == 1);
    CHECK_THAT(merged.warnings.front(), Contains("run1.h5"));
    CHECK(merged.index.rows[1].status == RunStatus::completed);
}

TEST_CASE("the merge refuses shards of different splits and different studies", "[study][merge][errors]") {
    SECTION("no shard indexes") {
        const study::StudyFolder folder = freshFolder("merge_none");
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder),
                          Contains("no shard indexes (study.shard-I-of-N.h5) in '" + folder.root.string() + "'"));
    }
    SECTION("two splits") {
        const study::StudyFolder folder = freshFolder("merge_splits");
        writeShard(folder, shardIndex(1, 2, 5, RunStatus::completed));
        writeShard(folder, shardIndex(1, 3, 5, RunStatus::completed));
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder), Contains("cannot merge shards of different splits"));
    }
    SECTION("a name that disagrees with the contents") {
        const study::StudyFolder folder = freshFolder("merge_renamed");
        study::writeStudyIndex(folder.index(study::Shard{2, 2}).string(), shardIndex(1, 2, 5, RunStatus::completed));
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder), Contains("says it is shard 1/2, its name says 2/2"));
    }
    SECTION("another study's shard") {
        const study::StudyFolder folder = freshFolder("merge_other");
        writeShard(folder, shardIndex(1, 2, 5, RunStatus::completed));
        study::StudyIndex other = shardIndex(2, 2, 5, RunStatus::completed);
        other.config = "sweep: {grid: {seed: [9]}}\n";
        writeShard(folder, other);
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder),
                          Contains("belongs to a different study") && Contains("its study config text differs"));
    }
    SECTION("a shard whose runs are not the ones its study config names") {
        const study::StudyFolder folder = freshFolder("merge_misnamed");
        study::StudyIndex renamed = shardIndex(1, 2, 5, RunStatus::completed);
        renamed.rows[1].name = "run9";
        writeShard(folder, renamed);
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder),
                          Contains("belongs to a different study") && Contains("its run 2 is 'run9', not 'run2'"));
    }
    SECTION("a kept study config that does not expand") {
        const study::StudyFolder folder = freshFolder("merge_unexpandable");
        study::StudyIndex broken = shardIndex(1, 1, 2, RunStatus::completed);
        broken.config = "seed: 3\n";
        writeShard(folder, broken);
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder),
                          Contains("cannot list the runs of the study from 'study.shard-1-of-1.h5'") &&
                              Contains("no 'sweep:' block"));
    }
    SECTION("an existing study.h5 of another study") {
        const study::StudyFolder folder = freshFolder("merge_existing");
        writeShard(folder, shardIndex(1, 1, 5, RunStatus::completed));
        study::StudyIndex other = shardIndex(1, 1, 4, RunStatus::completed);
        other.config = studyConfig(5);
        other.shardIndex = other.shardCount = 0;
        other.runsTotal = 0;
        study::writeStudyIndex(folder.index(study::Shard{}).string(), other);
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder),
                          Contains("'study.h5' belongs to a different study") && Contains("it has 4 runs, not 5"));
    }
}
