#include "study/study_merge.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "gradlab/error.hpp"
#include "study/sweep_plan.hpp"

namespace gradlab::study {
namespace {

namespace fs = std::filesystem;

/// The shard indexes of a folder by shard number, all of one split (only their names are read). Throws Error
/// when two belong to different splits.
std::map<std::int64_t, fs::path> findShards(const StudyFolder& folder, std::int64_t& count) {
    std::map<std::int64_t, fs::path> shards;
    count = 0;
    fs::path first;
    for (const auto& entry : fs::directory_iterator(folder.root)) {
        const std::string name = entry.path().filename().string();
        const std::optional<Shard> named = shardOfIndexName(name);
        if (!named) continue;
        if (count == 0) count = named->count, first = entry.path();
        if (named->count != count)
            throw Error("cannot merge shards of different splits: '" + first.filename().string() + "' is one of " +
                        std::to_string(count) + ", '" + name + "' one of " + std::to_string(named->count) +
                        "; remove the stale shard indexes");
        shards.emplace(named->number, entry.path());
    }
    return shards;
}

/// Throws Error unless `other` describes the same study as `reference`, the whole study: config text, overrides,
/// swept keys, the number of runs, and the name of each of its rows (`other` may hold some rows only).
void requireSameStudy(const StudyIndex& reference, const std::string& referenceName, const StudyIndex& other,
                      const std::string& otherName) {
    std::string difference;
    if (other.config != reference.config)
        difference = "its study config text differs";
    else if (other.overrides != reference.overrides)
        difference = "its --set overrides differ";
    else if (other.keys != reference.keys)
        difference = "its swept keys differ";
    else if (other.studyRuns() != reference.rows.size())
        difference =
            "it has " + std::to_string(other.studyRuns()) + " runs, not " + std::to_string(reference.rows.size());
    else
        for (const StudyRow& theirs : other.rows) {
            if (theirs.index < 0 || static_cast<std::size_t>(theirs.index) >= reference.rows.size()) {
                difference = "its run '" + theirs.name + "' has index " + std::to_string(theirs.index) + ", not one of 0-" +
                             std::to_string(reference.rows.size() - 1);
                break;
            }
            const StudyRow& ours = reference.rows[static_cast<std::size_t>(theirs.index)];
            if (theirs.name != ours.name) {
                difference = "its run " + std::to_string(theirs.index) + " is '" + theirs.name + "', not '" + ours.name + "'";
                break;
            }
        }
    if (!difference.empty())
        throw Error("refusing to merge: '" + otherName + "' belongs to a different study than '" + referenceName +
                    "' (" + difference + ")");
}

/// The runs of the study a shard index belongs to, expanded from the study config it keeps as the sweep expands
/// it, so that a shard that wrote no index still has its rows. Throws Error.
SweepPlan studyPlanOf(const StudyIndex& shard, const std::string& shardName) {
    try {
        return expandSweep(shard.configFile, shard.config, shard.overrides);
    } catch (const Error& error) {
        throw Error("cannot list the runs of the study from '" + shardName + "': its study config does not expand (" +
                    error.what() + ")");
    }
}

/// A file's modification time, or nothing when it is not a regular file.
std::optional<struct timespec> modificationTime(const fs::path& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) return std::nullopt;
    return status.st_mtim;
}

bool notBefore(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec >= b.tv_nsec);
}

}  // namespace

MergedStudy mergeShardIndexes(const StudyFolder& folder) {
    MergedStudy result;
    const std::map<std::int64_t, fs::path> shards = findShards(folder, result.shardCount);
    if (shards.empty())
        throw Error("no shard indexes (study.shard-I-of-N.h5) in '" + folder.root.string() +
                    "'; run 'gradlab sweep CONFIG --shard I/N -o " + folder.root.string() + "' for each shard first");
    result.shardsFound = shards.size();
    for (std::int64_t number = 1; number <= result.shardCount; ++number)
        if (!shards.count(number)) result.missing.push_back(number);

    // Each shard index holds its own runs: S shards of R runs are R rows in all. The study's runs (names, swept
    // values) come from the config text the first one keeps, so that a shard without an index has its rows too.
    StudyIndex& merged = result.index;
    SweepPlan plan;
    std::string referenceName;
    std::size_t runs = 0;
    // When each row's shard index was written: a trace modified since then may have ended since.
    std::vector<std::optional<struct timespec>> rowWritten;
    std::vector<bool> owned;
    std::optional<std::int64_t> baseSeed;  // the seed of the runs without a seed setting, from one that ran
    for (const auto& [number, path] : shards) {
        const std::string name = path.filename().string();
        StudyIndex part = readStudyIndexRows(path.string(), Shard{number, result.shardCount});
        if (part.shardIndex != number || part.shardCount != result.shardCount)
            throw Error("'" + path.string() + "' says it is shard " + std::to_string(part.shardIndex) + "/" +
                        std::to_string(part.shardCount) + ", its name says " + std::to_string(number) + "/" +
                        std::to_string(result.shardCount));
        if (referenceName.empty()) {
            referenceName = name;
            plan = studyPlanOf(part, name);
            merged = newStudyIndex(plan, Shard{});
            merged.createdAt = part.createdAt;
            runs = merged.rows.size();
            rowWritten.assign(runs, std::nullopt);
            owned.assign(runs, false);
        }
        requireSameStudy(merged, referenceName, part, name);
        merged.createdAt = std::min(merged.createdAt, part.createdAt);
        const std::optional<struct timespec> written = modificationTime(path);
        for (StudyRow& row : part.rows) {
            const auto at = static_cast<std::size_t>(row.index);
            if (!baseSeed && plan.runs[at].valueOf("seed").empty()) baseSeed = row.seed;
            merged.rows[at] = std::move(row);
            owned[at] = true;
            rowWritten[at] = written;
        }
    }
    const fs::path target = folder.index(Shard{});
    if (fs::exists(target))
        requireSameStudy(merged, referenceName, readStudyIndexRows(target.string(), Shard{}), target.filename().string());

    merged.shardIndex = 0;
    merged.shardCount = 0;
    merged.runsTotal = static_cast<std::int64_t>(runs);
    for (std::size_t row = 0; row < runs; ++row) {
        StudyRow& mergedRow = merged.rows[row];
        // A run of a missing shard without a seed setting has the base config's seed, which every run that ran
        // without one had.
        if (!owned[row] && plan.runs[row].valueOf("seed").empty() && baseSeed) mergedRow.seed = *baseSeed;
        // The traces are the ground truth: a trace that ended since its shard wrote its index wins. A finished row
        // whose trace is older than its shard index was read from that trace: it is not read again.
        if (mergedRow.trace.empty()) continue;
        const fs::path trace = folder.root / mergedRow.trace;
        const std::optional<struct timespec> traceTime = modificationTime(trace);
        if (!traceTime) continue;
        if (isFinishedStatus(mergedRow.status) && rowWritten[row] && !notBefore(*traceTime, *rowWritten[row]))
            continue;
        try {
            const RunOutcome outcome = readRunOutcome(trace.string());
            if (isFinishedStatus(outcome.status) || outcome.status == RunStatus::failed) applyOutcome(mergedRow, outcome);
        } catch (const Error& error) {
            result.warnings.push_back(error.what());
        }
    }
    return result;
}

}  // namespace gradlab::study
