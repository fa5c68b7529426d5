#pragma once
/// @file study_merge.hpp
/// `gradlab sweep --merge STUDY`: the shard indexes of a study folder (study.shard-i-of-N.h5) made into one
/// study.h5, the traces having the last word (docs/studies.md, docs/cluster.md).

#include <cstdint>
#include <string>
#include <vector>

#include "study/study_folder.hpp"
#include "study/study_index.hpp"

namespace gradlab::study {

/// The merged index of a study folder's shards, and what the merge found.
struct MergedStudy {
    StudyIndex index;                    ///< the whole study (shard 0 of 0), every row
    std::size_t shardsFound = 0;         ///< shard indexes read
    std::int64_t shardCount = 0;         ///< N of the split the shards belong to
    std::vector<std::int64_t> missing;   ///< numbers of the shards without an index, in order
    std::vector<std::string> warnings;   ///< traces that exist but do not read (their rows keep the shard's word)
};

/// Reads every study.shard-i-of-N.h5 of `folder` and merges them: each row comes from the shard that ran it
/// (pending when that shard has no index), then from its trace when the trace has finished (or failed) since.
/// createdAt is the earliest of the shards'. Writes nothing. Throws Error when the folder has no shard indexes,
/// when they belong to different splits or different studies (config text, overrides, swept keys, run names), when a
/// shard's name and contents disagree, or when an existing study.h5 belongs to another study.
MergedStudy mergeShardIndexes(const StudyFolder& folder);

}  // namespace gradlab::study
