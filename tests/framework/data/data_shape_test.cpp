#include "data/data_shape.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "data/dataset.hpp"

using gradlab::DataConfig;
using gradlab::DataShape;

namespace {

/// The data section of a config for generator `kind`, small.
DataConfig generator(const std::string& kind) {
    DataConfig config;
    config.kind = kind;
    config.samples = 6;
    config.inputs = 5;
    config.outputs = 3;
    config.hidden = {4};
    config.classes = 3;
    config.timesteps = 7;
    config.noise = 0.1;
    config.seed = 1;
    return config;
}

/// What the generator really makes.
gradlab::data::Dataset generate(const DataConfig& config) {
    namespace data = gradlab::data;
    const auto samples = static_cast<gradlab::Index>(config.samples);
    const auto timesteps = static_cast<gradlab::Index>(config.timesteps);
    if (config.kind == "random_regression")
        return data::makeRandomRegression(samples, config.inputs, config.outputs, config.seed);
    if (config.kind == "teacher")
        return data::makeTeacher(samples, config.inputs, config.outputs, {4}, config.noise, config.seed);
    if (config.kind == "spirals") return data::makeSpirals(samples, config.classes, config.noise, config.seed);
    if (config.kind == "adding_sum") return data::makeAddingSum(samples, timesteps, config.seed);
    if (config.kind == "adding_mean") return data::makeAddingMean(samples, timesteps, config.seed);
    if (config.kind == "copy_memory") return data::makeCopyMemory(samples, timesteps, config.seed);
    if (config.kind == "temporal_order") return data::makeTemporalOrder(samples, timesteps, config.seed);
    return data::makeNoisySine(samples, timesteps, config.noise, config.seed);
}

}  // namespace

TEST_CASE("a generator's data shape, read from its config, is the shape of what it generates", "[data]") {
    const std::string kind = GENERATE(as<std::string>{}, "random_regression", "teacher", "spirals", "adding_sum",
                                      "adding_mean", "copy_memory", "temporal_order", "noisy_sine");
    CAPTURE(kind);
    const DataConfig config = generator(kind);
    const DataShape fromConfig = gradlab::dataShape(config);
    const DataShape generated = gradlab::dataShape(generate(config));
    CHECK(fromConfig.input == generated.input);
    CHECK(fromConfig.outputs == generated.outputs);
    CHECK(fromConfig.targetTimesteps == generated.targetTimesteps);
    CHECK(fromConfig.classes == generated.classes);
}

TEST_CASE("an unknown data kind has no shape", "[data]") {
    DataConfig config = generator("mnist");
    config.where = "configs/x.yaml:3:3";
    CHECK_THROWS_WITH(gradlab::dataShape(config), Catch::Contains("configs/x.yaml:3:3: unknown data kind 'mnist'"));
}
