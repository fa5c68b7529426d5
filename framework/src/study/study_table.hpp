#pragma once
/// @file study_table.hpp
/// A study index as a table for people and programs: `gradlab inspect STUDY/study.h5` (or the folder) prints
/// one row per run, its swept values beside status, verdict, eval metrics and gradient ratios.

#include <string>

#include "study/study_index.hpp"

namespace gradlab::study {

/// Rows sorted by `key` (ascending; a column name such as final_eval_loss, verdict or status, or a swept key,
/// full or its last part where that is unique), numbers as numbers with NaN last; "" keeps the index order.
/// Throws Error naming the key and the columns there are when the key is unknown or ambiguous.
StudyIndex sortedStudy(const StudyIndex& index, const std::string& key);

/// The study as an aligned text table; columns without a value in any row are left out.
std::string formatStudyText(const std::string& path, const StudyIndex& index);

/// The study as one JSON object: {"file", "config_file", "swept_keys", "runs": [{name, parameters, status,
/// verdict, message, trace, diverged_at, and every metric column}]}; NaN is null.
std::string formatStudyJson(const std::string& path, const StudyIndex& index);

}  // namespace gradlab::study
