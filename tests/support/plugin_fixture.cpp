#include "support/plugin_fixture.hpp"

#include <unistd.h>

#include <filesystem>

#include "config/plugin_spec_reader.hpp"

namespace gradlab::testing {

PluginHost& builtinPlugins() {
    static PluginHost* host = [] {
        auto* created = new PluginHost();
        created->loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
        return created;
    }();
    return *host;
}

PluginSpec spec(PluginKind kind, const std::string& yaml) {
    return readPluginSpecText(yaml, kind, builtinPlugins(), "test spec");
}

PluginSpec initializerSpec(const InitializerSpec& typed) { return readPluginSpec(typed, builtinPlugins(), "test"); }

template <typename Scalar>
void initializeParameters(Module<Scalar>& module, Random& random) {
    std::vector<NamedParameter<Scalar>> parameters;
    module.collectParameters("", parameters);
    for (auto& parameter : parameters) {
        const PluginSpec initializer = initializerSpec(parameter.parameter->init.initializer);
        builtinPlugins().makeInitializer<Scalar>(initializer)->initialize(parameter.parameter->value,
                                                                          parameter.parameter->init, random);
    }
}

template void initializeParameters<float>(Module<float>&, Random&);
template void initializeParameters<double>(Module<double>&, Random&);

std::string scratchPath(const std::string& name) {
    const auto folder = std::filesystem::temp_directory_path() / ("gradlab-tests-" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder);
    return (folder / name).string();
}

}  // namespace gradlab::testing
