// Every config shipped in configs/ validates and runs a few steps: what a new user tries first must work.
#include <catch2/catch.hpp>
#include <filesystem>
#include <yaml-cpp/yaml.h>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;

TEST_CASE("every shipped config validates and runs three steps", "[e2e][configs]") {
    std::vector<std::filesystem::path> configs;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(GRADLAB_SOURCE_DIR) + "/configs"))
        if (entry.path().extension() == ".yaml") configs.push_back(entry.path());
    std::sort(configs.begin(), configs.end());
    REQUIRE(configs.size() >= 4);
    for (const auto& file : configs) {
        INFO(file.string());
        // Three steps, whether the config counts steps or epochs.
        const bool byEpochs = YAML::LoadFile(file.string())["training"]["epochs"].IsDefined();
        std::vector<std::string> overrides{"trace.every=1"};
        if (!byEpochs) overrides.push_back("training.steps=3");
        RunConfig config = loadRunConfig(file.string(), overrides, testing::builtinPlugins());
        config.training.steps = 3;
        RunOptions options;
        options.output = testing::scratchPath("shipped_" + file.stem().string() + ".h5");
        const RunResult result = runTraining(config, testing::builtinPlugins(), options);
        // rnn_exploding.yaml is the baseline that blows up, on purpose.
        CHECK(result.status == (file.stem() == "rnn_exploding" ? "diverged" : "completed"));
        trace::TraceReader reader(options.output);
        if (result.status == "completed") CHECK(reader.readVector("/trace/loss").size() == 3);
    }
}
