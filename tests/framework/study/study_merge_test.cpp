// Merging shard indexes into study.h5, without running anything: index files and traces written here.
#include "study/study_merge.hpp"

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

/// A study of `runs` runs "run0", "run1", ... indexed as shard `number` of `count`: the shard's own runs carry
/// `status` and a final loss of 10 + index, the others are pending.
study::StudyIndex shardIndex(std::int64_t number, std::int64_t count, int runs, RunStatus status,
                             const std::string& createdAt = "2026-01-01T00:00:00Z") {
    study::StudyIndex index;
    index.config = "sweep: {grid: {seed: [0, 1, 2, 3, 4]}}\n";
    index.configFile = "study.yaml";
    index.keys = {"seed"};
    index.shardIndex = number;
    index.shardCount = count;
    index.createdAt = createdAt;
    index.updatedAt = createdAt;
    for (int i = 0; i < runs; ++i) {
        study::StudyRow row;
        row.name = "run" + std::to_string(i);
        row.index = i;
        row.trace = study::StudyFolder::relativeTrace(row.name).string();
        row.log = study::StudyFolder::relativeLog(row.name).string();
        row.parameters = {std::to_string(i)};
        if (i % count == number - 1) {
            row.status = status;
            row.finalLoss = 10 + i;
            row.verdict = "healthy";
        }
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
    SECTION("an existing study.h5 of another study") {
        const study::StudyFolder folder = freshFolder("merge_existing");
        writeShard(folder, shardIndex(1, 1, 5, RunStatus::completed));
        study::StudyIndex other = shardIndex(1, 1, 4, RunStatus::completed);
        other.shardIndex = other.shardCount = 0;
        study::writeStudyIndex(folder.index(study::Shard{}).string(), other);
        CHECK_THROWS_WITH(study::mergeShardIndexes(folder),
                          Contains("'study.h5' belongs to a different study") && Contains("it has 4 runs, not 5"));
    }
}
