#pragma once
/// @file init_overrides.hpp
/// Host side: a config's per-parameter `init:` overrides, applied to a built module.

#include <map>
#include <string>
#include <vector>

#include "gradlab/module.hpp"

namespace gradlab {

/// Replaces the default initializer of each parameter named in `overrides` (local name, own or a child's:
/// "W", "activation.slope" -> validated initializer spec) by the override; the host then initialises every
/// parameter from its init.initializer. Throws Error naming an override that matches no parameter.
template <typename Scalar>
void applyInitOverrides(Module<Scalar>& module, const std::map<std::string, PluginSpec>& overrides) {
    if (overrides.empty()) return;
    std::vector<NamedParameter<Scalar>> parameters;
    module.collectParameters("", parameters);
    for (const auto& [name, initializer] : overrides) {
        bool found = false;
        for (auto& parameter : parameters)
            if (parameter.name == name) {
                parameter.parameter->init.initializer = InitializerSpec(initializer.name, initializer.options->values());
                found = true;
            }
        if (!found) {
            std::string known;
            for (auto& parameter : parameters) known += (known.empty() ? "" : ", ") + parameter.name;
            throw Error("init: no parameter '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
        }
    }
}

}  // namespace gradlab
