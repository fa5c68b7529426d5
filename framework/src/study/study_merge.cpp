#include "study/study_merge.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "gradlab/error.hpp"

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

/// Throws Error unless `other` describes the same study as `reference`: config text, overrides, swept keys, the
/// number of runs, and the name and index of each of its rows (`other` may hold some rows only).
void requireSameStudy(const StudyIndex& reference, const std::string& referenceName, const StudyIndexPart& other,
                      const std::string& otherName) {
    std::string difference;
    if (other.index.config != reference.config)
        difference = "its study config text differs";
    else if (other.index.overrides != reference.overrides)
        difference = "its --set overrides differ";
    else if (other.index.keys != reference.keys)
        difference = "its swept keys differ";
    else if (other.runsTotal != reference.rows.size())
        difference =
            "it has " + std::to_string(other.runsTotal) + " runs, not " + std::to_string(reference.rows.size());
    else
        for (std::size_t part = 0; part < other.index.rows.size() && difference.empty(); ++part) {
            const std::size_t row = other.firstRow + part * other.rowStride;
            const StudyRow& theirs = other.index.rows[part];
            if (theirs.name != reference.rows[row].name || theirs.index != reference.rows[row].index)
                difference =
                    "its run " + std::to_string(row) + " is '" + theirs.name + "', not '" + reference.rows[row].name + "'";
        }
    if (!difference.empty())
        throw Error("refusing to merge: '" + otherName + "' belongs to a different study than '" + referenceName +
                    "' (" + difference + ")");
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

    // The first shard is read whole (every run's name, seed, swept values); each shard then only for its own rows,
    // so that S shards of R runs cost O(R + S), not O(R * S).
    const fs::path& referencePath = shards.begin()->second;
    const std::string referenceName = referencePath.filename().string();
    StudyIndex& merged = result.index;
    merged = readStudyIndex(referencePath.string());
    const StudyIndex& reference = merged;
    const std::size_t runs = merged.rows.size();
    for (std::int64_t number = 1; number <= result.shardCount; ++number)
        if (!shards.count(number)) result.missing.push_back(number);

    // When each row's shard index was written: a trace modified since then may have ended since.
    std::vector<std::optional<struct timespec>> rowWritten(runs);
    std::vector<StudyRow> ownRows(runs);
    std::vector<bool> owned(runs, false);
    std::string createdAt = merged.createdAt;
    for (const auto& [number, path] : shards) {
        const std::string name = path.filename().string();
        StudyIndexPart part = readStudyIndexRows(path.string(), Shard{number, result.shardCount});
        if (part.index.shardIndex != number || part.index.shardCount != result.shardCount)
            throw Error("'" + path.string() + "' says it is shard " + std::to_string(part.index.shardIndex) + "/" +
                        std::to_string(part.index.shardCount) + ", its name says " + std::to_string(number) + "/" +
                        std::to_string(result.shardCount));
        requireSameStudy(reference, referenceName, part, name);
        createdAt = std::min(createdAt, part.index.createdAt);
        const std::optional<struct timespec> written = modificationTime(path);
        for (std::size_t i = 0; i < part.index.rows.size(); ++i) {
            const std::size_t row = part.firstRow + i * part.rowStride;
            ownRows[row] = std::move(part.index.rows[i]);
            owned[row] = true;
            rowWritten[row] = written;
        }
    }
    const fs::path target = folder.index(Shard{});
    if (fs::exists(target))
        requireSameStudy(reference, referenceName, readStudyIndexRows(target.string(), Shard{}),
                         target.filename().string());

    merged.shardIndex = 0;
    merged.shardCount = 0;
    merged.createdAt = createdAt;
    for (std::size_t row = 0; row < runs; ++row) {
        StudyRow& mergedRow = merged.rows[row];
        if (owned[row])
            mergedRow = std::move(ownRows[row]);
        else
            resetRow(mergedRow);
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
