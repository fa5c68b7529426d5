#pragma once
/// @file inspect.hpp
/// `gradlab inspect FILE [--json]`: reads a trace and prints a diagnosis of its gradients
/// (analysis/diagnosis.hpp): header, events, per-layer and per-timestep gradient-norm profiles, mean-field
/// theory beside the measured decay, and a verdict.

#include <string>
#include <vector>

namespace gradlab::cli {

/// `gradlab inspect FILE [--json]`; returns the exit code (0). A file that is missing, not HDF5 or not a
/// gradlab trace throws Error naming it (main turns that into exit code 1); bad options throw
/// boost::program_options::error (exit code 2).
int inspectCommand(const std::vector<std::string>& arguments);

}  // namespace gradlab::cli
