#include "support/run_fixture.hpp"

#include <catch2/catch.hpp>

#include <fstream>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "training/trainer.hpp"

namespace gradlab::testing {

std::string runConfig(const std::string& name, const std::string& yaml, const std::vector<std::string>& overrides) {
    const std::string config = scratchPath(name + ".yaml");
    std::ofstream(config) << yaml;
    const std::string output = scratchPath(name + ".h5");
    std::vector<std::string> all = overrides;
    all.push_back("output=" + output);
    const RunConfig loaded = loadRunConfig(config, all, builtinPlugins());
    const RunResult result = runTraining(loaded, builtinPlugins(), RunOptions{});
    REQUIRE(result.status == RunStatus::completed);
    return output;
}

}  // namespace gradlab::testing
