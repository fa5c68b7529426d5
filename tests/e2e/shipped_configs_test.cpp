// Every config shipped in configs/ validates and runs a few steps: what a new user tries first must work.
#include <catch2/catch.hpp>
#include <filesystem>
#include <yaml-cpp/yaml.h>

#include "config/run_config.hpp"
#include "study/sweep_plan.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/hdf5_handle.hpp"
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
        const YAML::Node text = YAML::LoadFile(file.string());
        if (text["sweep"].IsDefined()) {
            // A study: every run it expands to must validate (running it is the sweep tests' job).
            const study::SweepPlan plan = study::planSweep(file.string(), {}, testing::builtinPlugins());
            CHECK(plan.runs.size() >= 2);
            continue;
        }
        // Three steps, whether the config counts steps or epochs.
        const bool byEpochs = text["training"]["epochs"].IsDefined();
        std::vector<std::string> overrides{"trace.every=1"};
        if (!byEpochs) overrides.push_back("training.steps=3");
        RunConfig config = loadRunConfig(file.string(), overrides, testing::builtinPlugins());
        config.training.steps = 3;
        RunOptions options;
        options.output = testing::scratchPath("shipped_" + file.stem().string() + ".h5");
        const RunResult result = runTraining(config, testing::builtinPlugins(), options);
        // rnn_exploding.yaml is the baseline that blows up, on purpose.
        CHECK(result.status == (file.stem() == "rnn_exploding" ? RunStatus::diverged : RunStatus::completed));
        trace::TraceReader reader(options.output);
        if (result.status == RunStatus::completed) CHECK(reader.readVector("/trace/loss").size() == 3);
    }
}

TEST_CASE("the final model is saved with the trace, batch norm's running statistics included", "[e2e][model]") {
    const RunConfig config = loadRunConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/remedies/deep_sigmoid_batchnorm.yaml",
                                           {"training.steps=4"}, testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath("model_bn.h5");
    REQUIRE(runTraining(config, testing::builtinPlugins(), options).status == RunStatus::completed);
    trace::TraceReader reader(options.output);
    const Eigen::MatrixXd gamma = reader.readMatrix("/model/parameters/layers.1.batchnorm.gamma");
    CHECK(gamma.rows() == 64);
    const Eigen::MatrixXd mean = reader.readMatrix("/model/buffers/layers.1.batchnorm.running_mean");
    const Eigen::MatrixXd variance = reader.readMatrix("/model/buffers/layers.1.batchnorm.running_var");
    REQUIRE(mean.rows() == 64);
    CHECK(mean.cwiseAbs().maxCoeff() > 0);        // moved away from its initial 0 after 4 steps
    CHECK((variance.array() != 1.0).any());        // and from its initial 1
    CHECK(reader.listGroup("/model/parameters").size() == 20 * 3 + 2);
}

namespace {

/// x ~ N(0, 1) [samples x timesteps x features] and y ~ N(0, 1) [samples x outputs], float32, as benchmarks/run
/// writes them for the LSTM workloads.
void writeSequenceData(const std::string& path, hsize_t samples, hsize_t timesteps, hsize_t features, hsize_t outputs) {
    Random random(3);
    auto write = [&](hid_t file, const char* name, std::vector<hsize_t> dims) {
        hsize_t count = 1;
        for (hsize_t d : dims) count *= d;
        std::vector<float> values(count);
        for (float& v : values) v = static_cast<float>(random.normal());
        trace::Hdf5Handle space = trace::Hdf5Handle::dataspace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
        trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(
            H5Dcreate2(file, name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        REQUIRE(H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
    };
    trace::Hdf5Handle file = trace::Hdf5Handle::file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    write(file.get(), "inputs", {samples, timesteps, features});
    write(file.get(), "targets", {samples, outputs});
}

}  // namespace

TEST_CASE("every benchmark config validates and runs two traced steps", "[e2e][configs]") {
    const std::string sequences = testing::scratchPath("bench_sequences.h5");
    writeSequenceData(sequences, 32, 5, 32, 10);
    std::vector<std::filesystem::path> configs;
    for (const auto& entry : std::filesystem::directory_iterator(std::string(GRADLAB_SOURCE_DIR) + "/benchmarks/configs"))
        if (entry.path().extension() == ".yaml") configs.push_back(entry.path());
    std::sort(configs.begin(), configs.end());
    REQUIRE(configs.size() == 7);
    for (const auto& file : configs) {
        INFO(file.string());
        std::vector<std::string> overrides{"training.steps=2"};
        if (YAML::LoadFile(file.string())["sweep"]) overrides.push_back("sweep=null");  // study_tiny: its base run
        if (YAML::LoadFile(file.string())["data"]["kind"].as<std::string>() == "hdf5_sequences")
            overrides.push_back("data.file=" + sequences);
        const RunConfig config = loadRunConfig(file.string(), overrides, testing::builtinPlugins());
        RunOptions options;
        options.output = testing::scratchPath("bench_" + file.stem().string() + ".h5");
        CHECK(runTraining(config, testing::builtinPlugins(), options).status == RunStatus::completed);
        CHECK(trace::TraceReader(options.output).readVector("/trace/loss").size() == 2);
    }
}
