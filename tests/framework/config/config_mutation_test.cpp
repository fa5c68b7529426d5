// The config loader against thousands of seeded mutations of every shipped config: each input loads (and its
// resolved YAML reads back to itself) or is refused with gradlab's error type and a message naming the file.
// Deterministic: the same seeds give the same inputs on every machine. The libFuzzer target
// tests/fuzz/fuzz_config.cpp checks the same property on inputs it finds itself.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "config/run_config.hpp"
#include "fuzz/config_mutations.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

/// Mutated inputs per shipped config.
constexpr int mutationsPerConfig = 400;

std::string readText(const std::filesystem::path& file) {
    std::ifstream stream(file, std::ios::binary);
    std::stringstream text;
    text << stream.rdbuf();
    return text.str();
}

std::vector<std::filesystem::path> shippedConfigs() {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(GRADLAB_SOURCE_DIR) + "/configs"))
        if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<std::string> allPluginNames() {
    std::vector<std::string> names;
    for (const auto& plugin : testing::builtinPlugins().plugins()) names.push_back(plugin.descriptor.name);
    return names;
}

/// A stable seed from a config's name, so that adding a config does not change the others' inputs.
std::uint64_t seedOf(const std::string& name) {
    std::uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
    return hash;
}

std::string excerpt(const std::string& text, std::size_t limit = 3000) {
    return text.size() <= limit ? text : text.substr(0, limit) + "\n[... " + std::to_string(text.size() - limit) + " more bytes]";
}

std::string configError(const std::string& text, const std::vector<std::string>& overrides = {}) {
    const std::string path = testing::scratchPath("config-mutation-case.yaml");
    const fuzz::ConfigOutcome outcome = fuzz::checkConfigInput({text, overrides}, path, testing::builtinPlugins());
    INFO(outcome.violation);
    CHECK(outcome.violation.empty());
    return outcome.error;
}

const char* smallConfig = R"(name: small
data: {kind: random_regression, samples: 16, inputs: 5, outputs: 2}
model:
  layers:
    - {kind: dense, units: 8}
    - relu
    - {kind: dense, units: 2}
optimizer: {kind: sgd, lr: 0.01}
training: {steps: 10, batch_size: 4}
)";

}  // namespace

namespace {

/// The property over part `part` of `parts` of the shipped configs: two test cases, so that the sanitizer run
/// (.ci/sanitizers) can take them in its two shards at once. A config costs about as much as its model has layers
/// (each mutation builds the model: configs/fashion/rezero_1000.yaml, 1,000 blocks, takes half the time) and more
/// when it reads Fashion-MNIST; the configs are dealt, dearest first, to the part with the least cost so far.
void mutateShippedConfigs(std::size_t part, std::size_t parts) {
    const auto all = shippedConfigs();
    REQUIRE(all.size() >= 10);
    std::vector<std::pair<double, std::filesystem::path>> costs;
    const std::regex repeat("repeat: *([0-9]+)");
    for (const auto& file : all) {
        const std::string text = readText(file);
        double cost = 1 + (text.find("fashion_mnist") != std::string::npos ? 4 : 0);
        for (std::sregex_iterator match(text.begin(), text.end(), repeat), end; match != end; ++match)
            cost += std::stod((*match)[1].str());
        costs.emplace_back(cost, file);
    }
    std::stable_sort(costs.begin(), costs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<double> load(parts, 0.0);
    std::vector<std::filesystem::path> configs;
    for (const auto& [cost, file] : costs) {
        const std::size_t lightest =
            static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        load[lightest] += cost;
        if (lightest == part) configs.push_back(file);
    }
    std::sort(configs.begin(), configs.end());
    const std::vector<std::string> plugins = allPluginNames();
    const std::string path = testing::scratchPath("config-mutation.yaml");
    const auto start = std::chrono::steady_clock::now();
    std::size_t inputs = 0, loaded = 0, refused = 0;
    for (const auto& file : configs) {
        const std::string original = readText(file);
        const std::string name = file.lexically_relative(std::string(GRADLAB_SOURCE_DIR) + "/configs").string();
        // A study is a run config plus a sweep: block, which `gradlab sweep` strips before reading each run.
        const bool study = YAML::Load(original)["sweep"].IsDefined();
        const std::vector<std::string> base = study ? std::vector<std::string>{"sweep=null"} : std::vector<std::string>{};
        const fuzz::ConfigMutator mutator(plugins, fuzz::ConfigMutator::keyPathsOf(original));

        // The shipped config itself loads: the property can hold.
        const fuzz::ConfigOutcome unchanged = fuzz::checkConfigInput({original, base}, path, testing::builtinPlugins());
        INFO(name << ": " << unchanged.error << unchanged.violation);
        REQUIRE(unchanged.loaded);
        REQUIRE(unchanged.violation.empty());

        for (int index = 0; index < mutationsPerConfig; ++index) {
            fuzz::SeededRandom random(seedOf(name) + static_cast<std::uint64_t>(index));
            fuzz::ConfigInput input = mutator.mutate(original, random, 1 + static_cast<int>(random.below(3)));
            input.overrides.insert(input.overrides.begin(), base.begin(), base.end());
            const fuzz::ConfigOutcome outcome = fuzz::checkConfigInput(input, path, testing::builtinPlugins());
            ++inputs;
            (outcome.loaded ? loaded : refused)++;
            if (!outcome.violation.empty()) {
                std::string overrides;
                for (const auto& text : input.overrides) overrides += " --set '" + text + "'";
                FAIL("configs/" << name << ", mutation " << index << " (seed " << seedOf(name) + index
                                << "): " << outcome.violation << "\noverrides:" << overrides << "\ninput:\n"
                                << excerpt(input.text));
            }
        }
    }
    std::cout << "config mutations (part " << part + 1 << " of " << parts << "): " << inputs << " inputs from "
              << configs.size() << " shipped configs, " << loaded
              << " loaded, " << refused << " refused with a message naming the file, in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
    CHECK(inputs == configs.size() * mutationsPerConfig);
    // Both outcomes occur, or the mutations are not reaching the loader's checks.
    CHECK(loaded > inputs / 20);
    CHECK(refused > inputs / 4);
}

}  // namespace

TEST_CASE("Seeded mutations of the shipped configs (the first of each pair) load or are refused with a message naming the file",
          "[fuzz][config][configs_1]") {
    mutateShippedConfigs(0, 2);
}

TEST_CASE("Seeded mutations of the shipped configs (the second of each pair) load or are refused with a message naming the file",
          "[fuzz][config][configs_2]") {
    mutateShippedConfigs(1, 2);
}

TEST_CASE("The fuzz target's seed corpus, with the inputs it crashed on, loads or is refused with a message",
          "[fuzz][config]") {
    const std::string folder = std::string(GRADLAB_SOURCE_DIR) + "/tests/fuzz/corpus/config";
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() >= 8);
    const std::string path = testing::scratchPath("config-corpus.yaml");
    for (const auto& file : files) {
        const fuzz::ConfigInput input = fuzz::splitConfigInput(readText(file));
        const fuzz::ConfigOutcome outcome = fuzz::checkConfigInput(input, path, testing::builtinPlugins());
        INFO(file.filename().string() << ": " << outcome.violation);
        CHECK(outcome.violation.empty());
        // The inputs named *_crash, *_hang or *_ub once did that; now they are refused.
        const std::string stem = file.stem().string();
        if (stem.find("_crash") != std::string::npos || stem.find("_hang") != std::string::npos ||
            stem.find("_ub") != std::string::npos)
            CHECK_FALSE(outcome.loaded);
    }
}

TEST_CASE("Inputs the fuzzers found are refused with a message, not a crash or a foreign exception",
          "[fuzz][config]") {
    SECTION("a YAML alias to a layer list that contains it") {
        std::string text = smallConfig;
        text.replace(text.find("  layers:\n"), 10, "  layers: &a\n    - {kind: residual, layers: *a}\n");
        CHECK_THAT(configError(text), Contains("nested more than 64 deep"));
    }
    SECTION("a key that is a list, a map or empty") {
        CHECK_THAT(configError(std::string(smallConfig) + "[x, y]: 1\n"), Contains("a list as a key"));
        CHECK_THAT(configError(std::string(smallConfig) + "? {a: 1}\n: 1\n"), Contains("a map as a key"));
        CHECK_THAT(configError(std::string(smallConfig) + "~: 1\n"), Contains("an empty key"));
        std::string text = smallConfig;
        text.replace(text.find("{kind: dense, units: 8}"), 23, "{kind: dense, units: 8, init: {[W]: normal}}");
        CHECK_THAT(configError(text), Contains("a list as a key"));
    }
    SECTION("a key given twice (the second was silently ignored)") {
        const std::string error = configError(std::string(smallConfig) + "name: other\n");
        CHECK_THAT(error, Contains(":10:1: name: duplicate key (also at "));
        CHECK_THAT(error, Contains(":1:1)"));
        std::string text = smallConfig;
        text.replace(text.find("units: 8}"), 9, "units: 8, units: 9}");
        CHECK_THAT(configError(text), Contains("model.layers.0.units: duplicate key"));
    }
    SECTION("a --set index with more digits than any list") {
        const std::string error = configError(smallConfig, {"model.layers.99999999999999999999.units=3"});
        CHECK_THAT(error, Contains("--set model.layers.99999999999999999999.units=3"));
        CHECK_THAT(error, Contains("past the end of a list of 3"));
    }
    SECTION("a --set key path of 60000 keys (it overflowed the stack)") {
        std::string path;
        for (int key = 0; key < 60000; ++key) path += "a.";
        CHECK_THAT(configError(smallConfig, {path + "b=1"}), Contains("the key path has more than 256 keys"));
    }
    SECTION("repeats that multiply beyond any model") {
        std::string text = smallConfig;
        text.replace(text.find("    - relu\n"), 11,
                     "    - repeat: 100000\n      layers:\n        - repeat: 100000\n          layers: [relu]\n");
        CHECK_THAT(configError(text), Contains("more than 100000 layers"));
        text = smallConfig;
        text.replace(text.find("    - relu\n"), 11, "    - repeat: 60000\n      layers: [relu, tanh]\n");
        CHECK_THAT(configError(text), Contains("more than 100000 layers"));
    }
    SECTION("epochs that make more steps than an integer holds") {
        std::string text = smallConfig;
        text.replace(text.find("samples: 16"), 11, "samples: 9000000000000000000");
        text.replace(text.find("steps: 10"), 9, "epochs: 1e9");
        CHECK_THAT(configError(text), Contains("more steps than can be counted"));
    }
    SECTION("invalid YAML without a position still names the file") {
        CHECK_THAT(configError(std::string(smallConfig) + "bad: \"\\xZZ\"\n"), Contains("invalid YAML"));
    }
}
