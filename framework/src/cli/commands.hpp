#pragma once
/// @file commands.hpp
/// The subcommands of the `gradlab` binary; each returns the process exit code.

#include <string>
#include <vector>

namespace gradlab::cli {

/// `gradlab run CONFIG [--set k=v]... [-o OUT] [--plugin-path DIR]... [--quiet]`
int runCommand(const std::vector<std::string>& arguments);

/// `gradlab validate CONFIG [--set k=v]... [--plugin-path DIR]...`
int validateCommand(const std::vector<std::string>& arguments);

/// `gradlab plugins [--describe NAME] [--kind KIND] [--plugin-path DIR]...`
int pluginsCommand(const std::vector<std::string>& arguments);

}  // namespace gradlab::cli
