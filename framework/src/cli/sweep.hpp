#pragma once
/// @file sweep.hpp
/// `gradlab sweep`: runs a study (a run config with a `sweep:` block) as parallel child processes, resumable
/// and shardable, and indexes the outcomes in `<study>/study.h5` (docs/studies.md).

#include <string>
#include <vector>

namespace gradlab::cli {

/// `gradlab sweep CONFIG [-j N] [--plan] [-o STUDY_DIR] [--shard i/N] [--set k=v]... [--plugin-path DIR]...`
/// or `gradlab sweep --merge STUDY_DIR`. Returns 0 when every run finished (completed, diverged or stopped),
/// 1 when some failed (after all ran) or the config is invalid (nothing runs then), 130 when interrupted;
/// bad options throw boost::program_options::error (exit code 2).
int sweepCommand(const std::vector<std::string>& arguments);

}  // namespace gradlab::cli
