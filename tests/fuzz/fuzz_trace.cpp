// libFuzzer target: the trace reader of `gradlab inspect` (trace/trace_reader, analysis/diagnosis) on structural
// mutations of real traces. At start it runs five short trainings of shipped configs (tests/fuzz/
// trace_mutations.hpp, makeSeedTraces); an input is then a program of mutations: its first byte picks the seed
// trace, the next how many HDF5-level mutations to make, the rest drive each mutation (which object, which
// type, shape and values), and a final choice may truncate the file. The property: the trace is diagnosed (text
// and JSON), or refused with gradlab::Error naming the file.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fuzz/byte_chooser.hpp"
#include "fuzz/scratch_folder.hpp"
#include "fuzz/trace_mutations.hpp"
#include "plugin/plugin_host.hpp"

namespace {

gradlab::PluginHost* host = nullptr;  // kept (reachable) for the whole run, like the plugins it loaded
std::vector<std::string>* seeds = nullptr;
std::string* tracePath = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    host = new gradlab::PluginHost();
    host->loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    const auto folder = gradlab::fuzz::scratchFolder("gradlab-fuzz-trace");
    seeds = new std::vector<std::string>(
        gradlab::fuzz::makeSeedTraces(std::string(GRADLAB_SOURCE_DIR) + "/configs", (folder / "seeds").string(), *host));
    tracePath = new std::string((folder / "trace.h5").string());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gradlab::fuzz::ByteChooser choose(data, size);
    const std::string& seed = (*seeds)[choose.below(seeds->size())];
    std::filesystem::copy_file(seed, *tracePath, std::filesystem::copy_options::overwrite_existing);
    gradlab::fuzz::TraceMutator<gradlab::fuzz::ByteChooser> mutator(choose);
    std::string log = mutator.mutate(*tracePath, 1 + static_cast<int>(choose.below(6)));
    if (choose.chance(10)) log += mutator.truncate(*tracePath);
    const gradlab::fuzz::TraceOutcome outcome = gradlab::fuzz::checkTraceInput(*tracePath);
    if (!outcome.violation.empty()) {
        std::fprintf(stderr, "fuzz_trace: property violated after %s\n%s\n", log.c_str(), outcome.violation.c_str());
        std::abort();
    }
    return 0;
}
