#include "config/run_config.hpp"

#include <catch2/catch.hpp>
#include <fstream>

#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

/// A small valid config; tests replace one line to break it.
const char* validConfig = R"(name: small
seed: 4
data:
  kind: random_regression
  samples: 16
  inputs: 5
  outputs: 2
model:
  layers:
    - {kind: dense, units: 8, activation: tanh}
    - repeat: 3
      layers:
        - {kind: dense, units: 8}
        - relu
    - {kind: dense, units: 2}
loss: mse
optimizer: {kind: sgd, lr: 0.01}
training:
  steps: 10
  batch_size: 4
)";

std::string writeConfig(const std::string& name, const std::string& text) {
    const std::string path = testing::scratchPath(name);
    std::ofstream(path) << text;
    return path;
}

std::string replaceLine(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

/// The message a config fails with ("" if it loads).
std::string configError(const std::string& text, const std::vector<std::string>& overrides = {}) {
    const std::string path = writeConfig("config.yaml", text);
    try {
        loadRunConfig(path, overrides, testing::builtinPlugins());
    } catch (const Error& error) {
        return error.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a valid config loads, with repeats expanded and defaults resolved", "[config]") {
    const std::string path = writeConfig("valid.yaml", validConfig);
    const RunConfig config = loadRunConfig(path, {}, testing::builtinPlugins());
    CHECK(config.name == "small");
    CHECK(config.seed == 4);
    CHECK(config.precision == "float32");
    REQUIRE(config.layers.size() == 8);
    CHECK(config.layers[0].name == "dense");
    CHECK(config.layers[2].name == "activation");  // `relu` as a layer
    CHECK(config.layers[2].options->plugin("activation").name == "relu");
    CHECK(config.training.steps == 10);
    CHECK(config.trace.every == 1);
    CHECK(config.output == "runs/small.h5");
    // The resolved YAML holds the defaults too, and reads back as a valid config.
    CHECK_THAT(config.resolvedYaml, Contains("precision: float32"));
    CHECK_THAT(config.resolvedYaml, Contains("bias: true"));
    const std::string again = writeConfig("resolved.yaml", config.resolvedYaml);
    const RunConfig reread = loadRunConfig(again, {}, testing::builtinPlugins());
    CHECK(reread.layers.size() == 8);
    CHECK(reread.resolvedYaml == config.resolvedYaml);

    // A config given in epochs resolves to the steps they mean, and that too reads back.
    const RunConfig byEpochs = loadRunConfig(path, {"training.steps=null", "training.epochs=2"}, testing::builtinPlugins());
    CHECK(byEpochs.training.steps == 8);  // 2 epochs of 16 samples in batches of 4
    CHECK_THAT(byEpochs.resolvedYaml, !Contains("epochs"));
    const RunConfig rereadEpochs =
        loadRunConfig(writeConfig("resolved_epochs.yaml", byEpochs.resolvedYaml), {}, testing::builtinPlugins());
    CHECK(rereadEpochs.training.steps == 8);
}

TEST_CASE("config errors name the file, line, column and key", "[config][errors]") {
    SECTION("unknown key, with did-you-mean") {
        const std::string message = configError(replaceLine(validConfig, "  steps: 10", "  stpes: 10"));
        CHECK_THAT(message, Contains("config.yaml:19:3: training.stpes: unknown key (did you mean 'steps'?"));
    }
    SECTION("wrong type") {
        const std::string message = configError(replaceLine(validConfig, "  batch_size: 4", "  batch_size: four"));
        CHECK_THAT(message, Contains("config.yaml:20:15: training.batch_size: expected a sample count or 'all'"));
        CHECK_THAT(message, Contains("got 'four'"));
    }
    SECTION("out of range") {
        const std::string message = configError(replaceLine(validConfig, "  batch_size: 4", "  batch_size: 0"));
        CHECK_THAT(message, Contains("config.yaml:20:15: training.batch_size: expected an integer in [1,"));
    }
    SECTION("unknown plugin name, with did-you-mean") {
        const std::string message = configError(replaceLine(validConfig, "        - relu", "        - rleu"));
        CHECK_THAT(message, Contains("config.yaml:14:11: model.layers.1.layers.1: unknown layer 'rleu' (did you mean 'relu'?"));
    }
    SECTION("plugin option out of range") {
        const std::string message =
            configError(replaceLine(validConfig, "{kind: sgd, lr: 0.01}", "{kind: sgd, lr: -0.01}"));
        CHECK_THAT(message, Contains("config.yaml:17:28: optimizer.lr: option 'lr' must be > 0, got -0.01"));
    }
    SECTION("unknown plugin option") {
        const std::string message =
            configError(replaceLine(validConfig, "{kind: dense, units: 2}", "{kind: dense, unit: 2}"));
        CHECK_THAT(message, Contains("config.yaml:15:7: model.layers.2: layer 'dense' needs option 'units'"));
        const std::string extra =
            configError(replaceLine(validConfig, "{kind: dense, units: 2}", "{kind: dense, units: 2, biass: false}"));
        CHECK_THAT(extra, Contains("config.yaml:15:31: model.layers.2.biass: unknown key (did you mean 'bias'?"));
    }
    SECTION("missing section") {
        const std::string message = configError(replaceLine(validConfig, "optimizer: {kind: sgd, lr: 0.01}\n", ""));
        CHECK_THAT(message, Contains("missing required key 'optimizer'"));
    }
    SECTION("unknown choice") {
        const std::string message = configError(replaceLine(validConfig, "loss: mse", "loss: msee"));
        CHECK_THAT(message, Contains("config.yaml:16:7: loss: unknown value 'msee' (did you mean 'mse'?"));
    }
    SECTION("invalid YAML") {
        const std::string message = configError(replaceLine(validConfig, "  steps: 10", "  steps: [10"));
        CHECK_THAT(message, Contains("config.yaml:"));
        CHECK_THAT(message, Contains("invalid YAML"));
    }
    SECTION("steps and epochs together") {
        const std::string message = configError(replaceLine(validConfig, "  steps: 10", "  steps: 10\n  epochs: 2"));
        CHECK_THAT(message, Contains("training: give exactly one of 'steps' and 'epochs'"));
    }
    SECTION("a missing file") {
        CHECK_THROWS_WITH(loadRunConfig("/no/such/config.yaml", {}, testing::builtinPlugins()),
                          Contains("/no/such/config.yaml: cannot open config file"));
    }
}

TEST_CASE("overrides with --set reach any key, and errors in them name the override", "[config][set]") {
    const std::string path = writeConfig("set.yaml", validConfig);
    auto& host = testing::builtinPlugins();
    const RunConfig config = loadRunConfig(
        path, {"training.steps=77", "optimizer.lr=1e-3", "model.layers.0.units=9", "precision=float64"}, host);
    CHECK(config.training.steps == 77);
    CHECK(config.layers[0].options->integer("units") == 9);
    CHECK(config.precision == "float64");
    const RunConfig removed = loadRunConfig(path, {"model.layers.0.activation=null"}, host);
    CHECK(removed.layers[0].options->plugin("activation").name == "identity");
    CHECK_THAT(config.resolvedYaml, Contains("lr: 0.001"));

    CHECK_THROWS_WITH(loadRunConfig(path, {"training.steps=abc"}, host),
                      Contains("--set training.steps=abc: training.steps: expected an integer, got 'abc'"));
    CHECK_THROWS_WITH(loadRunConfig(path, {"training.stesp=5"}, host),
                      Contains("training.stesp: unknown key (did you mean 'steps'?"));
    CHECK_THROWS_WITH(loadRunConfig(path, {"training.steps"}, host), Contains("expected key.path=value"));
    CHECK_THROWS_WITH(loadRunConfig(path, {"model.layers.9.units=3"}, host), Contains("past the end of a list"));
}

TEST_CASE("a misspelt required key says which key it was meant to be", "[config][errors]") {
    const std::string message =
        configError(replaceLine(validConfig, "optimizer: {kind: sgd, lr: 0.01}", "optimiser: {kind: sgd, lr: 0.01}"));
    CHECK_THAT(message, Contains("config.yaml:17:1: optimiser: unknown key, did you mean 'optimizer'? (the required "
                                 "key 'optimizer' is missing)"));
    const std::string far = configError(replaceLine(validConfig, "optimizer: {kind: sgd, lr: 0.01}", "solver: {kind: sgd}"));
    CHECK_THAT(far, Contains("missing required key 'optimizer'"));
    CHECK_THAT(far, !Contains("did you mean"));
}

TEST_CASE("errors of a key that --set made name the --set", "[config][set][errors]") {
    const std::string path = writeConfig("set_errors.yaml", validConfig);
    CHECK_THROWS_WITH(loadRunConfig(path, {"foo.bar=1"}, testing::builtinPlugins()),
                      Contains("--set foo.bar=1: foo: unknown key"));
    CHECK_THROWS_WITH(loadRunConfig(path, {"training.clip.treshold=1"}, testing::builtinPlugins()),
                      Contains("--set training.clip.treshold=1: training.clip.treshold: unknown key (did you mean "
                               "'threshold'?"));
}

TEST_CASE("an unknown plugin name hints how to load one's own plugins", "[config][errors]") {
    const std::string message = configError(replaceLine(validConfig, "        - relu", "        - myswish"));
    CHECK_THAT(message, Contains("unknown layer 'myswish'"));
    CHECK_THAT(message, Contains("--plugin-path DIR or GRADLAB_PLUGIN_PATH"));
}

TEST_CASE("a null or none layer is removed, so a sweep key can drop a layer", "[config][layers]") {
    const std::string path = writeConfig("null_layer.yaml", validConfig);
    auto& host = testing::builtinPlugins();
    const RunConfig full = loadRunConfig(path, {}, host);
    REQUIRE(full.layers.size() == 8);  // dense, 3 x (dense, relu), dense
    for (const std::string value : {"null", "~", "none"}) {
        const RunConfig removed = loadRunConfig(path, {"model.layers.1.layers.1=" + value}, host);
        REQUIRE(removed.layers.size() == 5);  // the relu of every repeat is gone
        for (const auto& layer : removed.layers) CHECK(layer.name == "dense");
        CHECK_THAT(removed.resolvedYaml, !Contains("relu"));
    }
    const RunConfig last = loadRunConfig(path, {"model.layers.2=null"}, host);
    CHECK(last.layers.size() == 7);
    CHECK(last.layers.back().name == "activation");
    const std::string all = configError(
        "name: x\ndata: {kind: random_regression, samples: 8, inputs: 2, outputs: 1}\nmodel:\n  layers: [null, none]\n"
        "optimizer: sgd\ntraining: {steps: 1}\n");
    CHECK_THAT(all, Contains("model.layers: every layer is null or none (removed): the model has no layers"));
    const std::string residual = configError(replaceLine(validConfig, "    - {kind: dense, units: 2}",
                                                         "    - {kind: residual, layers: [null]}\n    - {kind: dense, units: 2}"));
    CHECK_THAT(residual, Contains("option 'layers': every layer of the list is null or none (removed)"));
}

TEST_CASE("a CSV whose first row is all numbers needs header: false or an explicit header: true", "[config][data]") {
    const std::string csv = testing::scratchPath("numbers.csv");
    std::ofstream(csv) << "0.5,1.25,3\n1,2,3\n4,5,6\n";
    const std::string named = testing::scratchPath("named.csv");
    std::ofstream(named) << "x1,x2,y\n1,2,3\n4,5,6\n";
    auto csvConfig = [](const std::string& file, const std::string& header) {
        return "name: csv\ndata: {kind: csv, file: " + file + header +
               "}\nmodel:\n  layers: [{kind: dense, units: 1}]\noptimizer: sgd\ntraining: {steps: 1}\n";
    };
    const std::string message = configError(csvConfig(csv, ""));
    CHECK_THAT(message, Contains("data.file: " + csv + ": the first row (0.5,1.25,3) is all numbers"));
    CHECK_THAT(message, Contains("'header: false'"));
    CHECK(configError(csvConfig(csv, ", header: false")).empty());
    CHECK(configError(csvConfig(csv, ", header: true")).empty());
    CHECK(configError(csvConfig(named, "")).empty());
}

TEST_CASE("resolved configs write reals in their shortest exact form", "[config]") {
    const std::string path = writeConfig("reals.yaml", replaceLine(validConfig, "lr: 0.01", "lr: 1e-6"));
    const RunConfig config = loadRunConfig(path, {"data.validation=0.1"}, testing::builtinPlugins());
    CHECK_THAT(config.resolvedYaml, Contains("lr: 1e-06"));
    CHECK_THAT(config.resolvedYaml, Contains("validation: 0.1\n"));
    CHECK_THAT(config.resolvedYaml, Contains("ratio: 1e-05"));  // a detector default
    CHECK_THAT(config.resolvedYaml, !Contains("99999"));
    CHECK_THAT(config.resolvedYaml, !Contains("00000001"));
    // Read back, the resolved config is the same run: the same reals to the last bit.
    const std::string again = writeConfig("reals_again.yaml", config.resolvedYaml);
    const RunConfig reread = loadRunConfig(again, {}, testing::builtinPlugins());
    CHECK(reread.resolvedYaml == config.resolvedYaml);
    CHECK(reread.optimizer.options->real("lr") == 1e-6);
    CHECK(reread.data.validation == 0.1);
}
