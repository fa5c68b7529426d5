#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.hpp"
#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_writer.hpp"

using Catch::Contains;
using gradlab::checkpoint::CheckpointReader;
using gradlab::checkpoint::CheckpointWriter;
using gradlab::checkpoint::RunState;
using gradlab::checkpoint::StateRestorer;
using gradlab::checkpoint::StateSaver;
using gradlab::testing::scratchPath;

namespace fs = std::filesystem;

namespace {

RunState sampleState() {
    RunState state;
    state.step = 1234;
    state.config = "name: x\nseed: 3\n";
    state.precision = "float32";
    state.trace = "runs/x.h5";
    state.batcherPosition = 98765;
    state.nonFinite = true;
    state.divergedAt = 1200;
    state.firstLoss = 3.5;
    state.lastLoss = std::numeric_limits<double>::quiet_NaN();
    state.firstGradNorm = 7.25;
    state.lastGradNorm = std::numeric_limits<double>::infinity();
    state.events = {{10, "vanishing", "layers.0.dense", -1, 1e-9, "the first layer's gradient fell"},
                    {1200, "non_finite", "forward layers.2.lstm", 31, NAN, "loss became NaN at step 1200"}};
    state.detectors.gradNorms = {1.0, 2.0, 4.0};
    state.detectors.losses = {0.5, 0.25};
    state.detectors.vanishingFired = true;
    state.detectors.saturatedFired = {false, true, false};
    state.traceRows = {{"/trace", 1234}, {"/events", 2}, {"/eval", 13}, {"/trace/timestep_grad_norm", 1234}};
    return state;
}

/// Every file in `folder` whose name starts with `stem`.
std::vector<std::string> filesStartingWith(const fs::path& folder, const std::string& stem) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder))
        if (entry.path().filename().string().rfind(stem, 0) == 0) names.push_back(entry.path().filename().string());
    return names;
}

}  // namespace

TEST_CASE("a checkpoint reads back the run state and tensors it was given, bit for bit", "[checkpoint]") {
    const std::string path = scratchPath("roundtrip.ckpt.h5");
    const RunState state = sampleState();
    Eigen::MatrixXf weights = Eigen::MatrixXf::Random(3, 5);
    Eigen::MatrixXd running = Eigen::MatrixXd::Random(4, 1);
    {
        CheckpointWriter writer(path);
        writer.writeState(state);
        writer.writeTensor("/parameters", "layers.0.dense.W", weights);
        writer.writeTensor("/buffers", "layers.1.batchnorm.running_mean", running);
        writer.commit();
    }
    const CheckpointReader reader(path);
    const RunState& read = reader.state();
    CHECK(read.step == 1234);
    CHECK(read.config == state.config);
    CHECK(read.precision == "float32");
    CHECK(read.trace == "runs/x.h5");
    CHECK(read.batcherPosition == 98765u);
    CHECK(read.nonFinite);
    CHECK(read.divergedAt == 1200);
    CHECK(read.firstLoss == 3.5);
    CHECK(std::isnan(read.lastLoss));
    CHECK(read.lastGradNorm == std::numeric_limits<double>::infinity());
    REQUIRE(read.events.size() == 2);
    CHECK(read.events[1].kind == "non_finite");
    CHECK(read.events[1].where == "forward layers.2.lstm");
    CHECK(read.events[1].timestep == 31);
    CHECK(read.events[0].message == "the first layer's gradient fell");
    CHECK(read.detectors.gradNorms == state.detectors.gradNorms);
    CHECK(read.detectors.losses == state.detectors.losses);
    CHECK(read.detectors.vanishingFired);
    CHECK_FALSE(read.detectors.explodingFired);
    CHECK(read.detectors.saturatedFired == state.detectors.saturatedFired);
    CHECK(read.traceRows == state.traceRows);

    Eigen::MatrixXf weightsBack(3, 5);
    reader.readTensor("/parameters", "layers.0.dense.W", weightsBack);
    CHECK(weightsBack == weights);
    Eigen::MatrixXd runningBack(4, 1);
    reader.readTensor("/buffers", "layers.1.batchnorm.running_mean", runningBack);
    CHECK(runningBack == running);
    Eigen::MatrixXf wrongShape(5, 3);
    CHECK_THROWS_WITH(reader.readTensor("/parameters", "layers.0.dense.W", wrongShape),
                      Contains("is [3 x 5], the model's is [5 x 3]"));
    CHECK_THROWS_WITH(reader.readTensor("/parameters", "layers.9.dense.W", weightsBack),
                      Contains("no '/parameters/layers.9.dense.W'") && Contains(path));
}

TEST_CASE("a checkpoint is replaced atomically: one that is never committed leaves the previous one intact",
          "[checkpoint]") {
    const std::string path = scratchPath("atomic.ckpt.h5");
    RunState first = sampleState();
    first.step = 100;
    {
        CheckpointWriter writer(path);
        writer.writeState(first);
        writer.commit();
    }
    try {
        CheckpointWriter writer(path);
        RunState second = sampleState();
        second.step = 200;
        writer.writeState(second);
        throw gradlab::Error("the disk filled up while writing");  // as a failure half-way would
    } catch (const gradlab::Error&) {
    }
    CHECK(CheckpointReader(path).state().step == 100);
    // Nothing is left behind but the checkpoint itself.
    CHECK(filesStartingWith(fs::path(path).parent_path(), "atomic.ckpt.h5") ==
          std::vector<std::string>{"atomic.ckpt.h5"});
}

TEST_CASE("files that are not complete checkpoints are refused with the file and the problem", "[checkpoint][errors]") {
    SECTION("missing") {
        CHECK_THROWS_WITH(CheckpointReader(scratchPath("no-such.ckpt.h5")), Contains("no-such.ckpt.h5"));
    }
    SECTION("not HDF5") {
        const std::string path = scratchPath("text.ckpt.h5");
        std::ofstream(path) << "step: 12\n";
        CHECK_THROWS_WITH(CheckpointReader(path), Contains(path) && Contains("not an HDF5 file"));
    }
    SECTION("a trace is not a checkpoint") {
        const std::string path = scratchPath("trace-not-checkpoint.h5");
        gradlab::trace::TraceHeader header;
        header.precision = "float32";
        gradlab::trace::TraceWriter(path, header).finish(gradlab::RunStatus::completed, "", "now");
        CHECK_THROWS_WITH(CheckpointReader(path),
                          Contains(path) && Contains("not a gradlab checkpoint") && Contains("gradlab-trace"));
    }
    SECTION("cut short at any length") {
        const std::string path = scratchPath("whole.ckpt.h5");
        {
            CheckpointWriter writer(path);
            writer.writeState(sampleState());
            writer.writeTensor("/parameters", "W", Eigen::MatrixXf(Eigen::MatrixXf::Ones(64, 64)));
            writer.commit();
        }
        std::ifstream in(path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string cut = scratchPath("cut.ckpt.h5");
        for (std::size_t length : {std::size_t{0}, std::size_t{7}, std::size_t{512}, bytes.size() / 2,
                                   bytes.size() - 100}) {
            INFO("cut at " << length << " of " << bytes.size() << " bytes");
            std::ofstream(cut, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(length));
            CHECK_THROWS_WITH(CheckpointReader(cut), Contains(cut));
        }
    }
    SECTION("a file written but never committed (no 'complete' mark)") {
        const std::string path = scratchPath("uncommitted.ckpt.h5");
        {
            CheckpointWriter writer(path);
            writer.writeState(sampleState());
            writer.commit();
        }
        // Copy a fresh temporary file before its commit by hand: the writer's temporary name is private, so make
        // the same state with the attribute removed through HDF5.
        const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(file >= 0);
        H5Adelete(file, "complete");
        H5Fclose(file);
        CHECK_THROWS_WITH(CheckpointReader(path), Contains(path) && Contains("not finished"));
    }
}

TEST_CASE("state names must be unique and free of '/'", "[checkpoint][errors]") {
    CheckpointWriter writer(scratchPath("names.ckpt.h5"));
    StateSaver<float> saver(writer, "/optimizer");
    gradlab::Matrix<float> momentum = gradlab::Matrix<float>::Zero(2, 2);
    saver.tensor("W.velocity", momentum);
    CHECK_THROWS_WITH(saver.tensor("W.velocity", momentum), Contains("'W.velocity' was shown twice"));
    CHECK_THROWS_WITH(saver.tensor("a/b", momentum), Contains("invalid state name 'a/b'"));
}

TEST_CASE("integers, reals and random streams round-trip through a checkpoint", "[checkpoint]") {
    const std::string path = scratchPath("scalars.ckpt.h5");
    gradlab::Random random(42);
    for (int i = 0; i < 5; ++i) random.normal();  // leaves a spare normal draw pending
    std::int64_t counter = 17;
    double scale = 0.1 + 0.2;
    {
        CheckpointWriter writer(path);
        writer.writeState({});
        StateSaver<double> saver(writer, "/optimizer");
        saver.integer("counter", counter);
        saver.real("scale", scale);
        saver.random("noise", random);
        writer.commit();
    }
    gradlab::Random restoredRandom(7);
    std::int64_t restoredCounter = 0;
    double restoredScale = 0;
    const CheckpointReader reader(path);
    StateRestorer<double> restorer(reader, "/optimizer", "the test");
    restorer.integer("counter", restoredCounter);
    restorer.real("scale", restoredScale);
    restorer.random("noise", restoredRandom);
    restorer.finish();
    CHECK(restoredCounter == 17);
    CHECK(restoredScale == scale);
    for (int i = 0; i < 7; ++i) CHECK(restoredRandom.normal() == random.normal());
    CHECK_THROWS_WITH(restorer.integer("missing", restoredCounter), Contains("no integer 'missing' of the test"));
}
