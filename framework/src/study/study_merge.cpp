#include "study/study_merge.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "gradlab/error.hpp"

namespace gradlab::study {
namespace {

namespace fs = std::filesystem;

/// The shard indexes of a folder by shard number, all of one split. Throws Error as mergeShardIndexes says.
std::map<std::int64_t, std::pair<fs::path, StudyIndex>> readShards(const StudyFolder& folder, std::int64_t& count) {
    std::map<std::int64_t, std::pair<fs::path, StudyIndex>> shards;
    count = 0;
    fs::path first;
    for (const auto& entry : fs::directory_iterator(folder.root)) {
        const std::string name = entry.path().filename().string();
        const std::optional<Shard> named = shardOfIndexName(name);
        if (!named) continue;
        StudyIndex index = readStudyIndex(entry.path().string());
        if (index.shardIndex != named->number || index.shardCount != named->count)
            throw Error("'" + entry.path().string() + "' says it is shard " + std::to_string(index.shardIndex) + "/" +
                        std::to_string(index.shardCount) + ", its name says " + std::to_string(named->number) + "/" +
                        std::to_string(named->count));
        if (count == 0) count = named->count, first = entry.path();
        if (named->count != count)
            throw Error("cannot merge shards of different splits: '" + first.filename().string() + "' is one of " +
                        std::to_string(count) + ", '" + name + "' one of " + std::to_string(named->count) +
                        "; remove the stale shard indexes");
        shards.emplace(named->number, std::make_pair(entry.path(), std::move(index)));
    }
    return shards;
}

/// Throws Error unless `other` is the same study as `reference`: config text, overrides, swept keys, run names.
void requireSameStudy(const StudyIndex& reference, const std::string& referenceName, const StudyIndex& other,
                      const std::string& otherName) {
    std::string difference;
    if (other.config != reference.config)
        difference = "its study config text differs";
    else if (other.overrides != reference.overrides)
        difference = "its --set overrides differ";
    else if (other.keys != reference.keys)
        difference = "its swept keys differ";
    else if (other.rows.size() != reference.rows.size())
        difference =
            "it has " + std::to_string(other.rows.size()) + " runs, not " + std::to_string(reference.rows.size());
    else
        for (std::size_t row = 0; row < other.rows.size() && difference.empty(); ++row)
            if (other.rows[row].name != reference.rows[row].name || other.rows[row].index != reference.rows[row].index)
                difference = "its run " + std::to_string(row) + " is '" + other.rows[row].name + "', not '" +
                             reference.rows[row].name + "'";
    if (!difference.empty())
        throw Error("refusing to merge: '" + otherName + "' belongs to a different study than '" + referenceName +
                    "' (" + difference + ")");
}

}  // namespace

MergedStudy mergeShardIndexes(const StudyFolder& folder) {
    MergedStudy result;
    const auto shards = readShards(folder, result.shardCount);
    if (shards.empty())
        throw Error("no shard indexes (study.shard-I-of-N.h5) in '" + folder.root.string() +
                    "'; run 'gradlab sweep CONFIG --shard I/N -o " + folder.root.string() + "' for each shard first");
    result.shardsFound = shards.size();

    const StudyIndex& reference = shards.begin()->second.second;
    const std::string referenceName = shards.begin()->second.first.filename().string();
    for (const auto& [number, shard] : shards)
        requireSameStudy(reference, referenceName, shard.second, shard.first.filename().string());
    const fs::path target = folder.index(Shard{});
    if (fs::exists(target))
        requireSameStudy(reference, referenceName, readStudyIndex(target.string()), target.filename().string());

    StudyIndex& merged = result.index;
    merged = reference;
    merged.shardIndex = 0;
    merged.shardCount = 0;
    for (std::int64_t number = 1; number <= result.shardCount; ++number)
        if (!shards.count(number)) result.missing.push_back(number);
    for (const auto& [number, shard] : shards) merged.createdAt = std::min(merged.createdAt, shard.second.createdAt);
    for (std::size_t row = 0; row < merged.rows.size(); ++row) {
        StudyRow& mergedRow = merged.rows[row];
        const auto found = shards.find(mergedRow.index % result.shardCount + 1);
        if (found != shards.end())
            mergedRow = found->second.second.rows[row];
        else
            resetRow(mergedRow);
        // The traces are the ground truth: a trace that ended since its shard wrote its index wins.
        const fs::path trace = folder.root / mergedRow.trace;
        if (!mergedRow.trace.empty() && fs::is_regular_file(trace)) {
            try {
                const RunOutcome outcome = readRunOutcome(trace.string());
                if (isFinishedStatus(outcome.status) || outcome.status == RunStatus::failed)
                    applyOutcome(mergedRow, outcome);
            } catch (const Error& error) {
                result.warnings.push_back(error.what());
            }
        }
    }
    return result;
}

}  // namespace gradlab::study
