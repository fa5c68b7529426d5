#pragma once
/// @file plugin_fixture.hpp
/// Test access to the real plugins, loaded through the real loader from the build tree.

#include <string>

#include "gradlab/random.hpp"
#include "plugin/plugin_host.hpp"

namespace gradlab::testing {

/// The host with every built-in plugin loaded from the build tree (once per test process).
PluginHost& builtinPlugins();

/// A validated plugin spec from YAML text: spec(PluginKind::activation, "relu") or
/// spec(PluginKind::layer, "{kind: dense, units: 3}").
PluginSpec spec(PluginKind kind, const std::string& yaml);

/// A validated initializer spec from a typed one (a parameter's declared default).
PluginSpec initializerSpec(const InitializerSpec& typed);

/// Initialises every parameter of a module (and its children) from its declared default initializer.
template <typename Scalar>
void initializeParameters(Module<Scalar>& module, Random& random);

/// A path for a test's scratch file, unique per process: <tmp>/gradlab-tests-<pid>/<name>.
std::string scratchPath(const std::string& name);

}  // namespace gradlab::testing
