// libFuzzer target: the config loader of `gradlab run` and `gradlab validate`, with the real plugins loaded so
// that plugin names and options are validated against their declarations. An input is YAML text, optionally
// followed by lines "--set key.path=value". The property (tests/fuzz/config_mutations.hpp): the input loads and
// its resolved YAML reads back to itself, or it is refused with gradlab::Error naming the file or the --set.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fuzz/config_mutations.hpp"
#include "fuzz/scratch_folder.hpp"
#include "plugin/plugin_host.hpp"

namespace {

gradlab::PluginHost* host = nullptr;
std::string* configPath = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    host = new gradlab::PluginHost();
    host->loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    configPath = new std::string((gradlab::fuzz::scratchFolder("gradlab-fuzz-config") / "config.yaml").string());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const gradlab::fuzz::ConfigInput input =
        gradlab::fuzz::splitConfigInput(std::string(reinterpret_cast<const char*>(data), size));
    const gradlab::fuzz::ConfigOutcome outcome = gradlab::fuzz::checkConfigInput(input, *configPath, *host);
    if (!outcome.violation.empty()) {
        std::fprintf(stderr, "fuzz_config: property violated: %s\n", outcome.violation.c_str());
        std::abort();
    }
    return 0;
}
