// The one data-set factory: every kind the config reader knows, and what it refuses.
#include "data/make_dataset.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

TEST_CASE("makeDataset makes the configured generator's data and leaves the test split empty", "[data]") {
    DataConfig config;
    config.kind = "random_regression";
    config.samples = 12;
    config.inputs = 3;
    config.outputs = 2;
    config.seed = 5;
    data::Dataset test;
    const data::Dataset made = data::makeDataset(config, test);
    const data::Dataset direct = data::makeRandomRegression(12, 3, 2, 5);
    CHECK(made.inputs == direct.inputs);
    CHECK(made.targets == direct.targets);
    CHECK(test.samples() == 0);

    config.kind = "adding_sum";
    config.timesteps = 7;
    CHECK(data::makeDataset(config, test).timesteps == 7);
}

TEST_CASE("makeDataset names the data section for an unknown kind and the file for non-finite data", "[data]") {
    DataConfig config;
    config.kind = "mnist";
    config.where = "configs/x.yaml:4:3";
    data::Dataset test;
    CHECK_THROWS_WITH(data::makeDataset(config, test), Contains("configs/x.yaml:4:3: unknown data kind 'mnist'"));

    const std::string csv = testing::scratchPath("make_dataset_inf.csv");
    std::ofstream(csv) << "a,b,y\n1,2,3\n4,inf,6\n";
    config.kind = "csv";
    config.file = csv;
    CHECK_THROWS_WITH(data::makeDataset(config, test), Contains(csv));
}
