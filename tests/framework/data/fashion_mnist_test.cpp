// The real Fashion-MNIST files of Debian's dataset-fashion-mnist (tools/setup installs it): digests, known
// values, and a short training run well above chance.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>
#include <fstream>
#include <string>
#include <vector>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "data/fashion_mnist.hpp"
#include "data/image_data.hpp"
#include "data/idx.hpp"
#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"
#include "support/trace_compare.hpp"
#include "trace/trace_reader.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using namespace gradlab::data;
using Catch::Matchers::Contains;

namespace {

/// The installed data set; fails (does not skip) when the package is missing, since CI installs it.
FashionMnist installed(bool withTest) {
    INFO("Fashion-MNIST is read from Debian's dataset-fashion-mnist: run tools/setup (apt-get install "
         "dataset-fashion-mnist)");
    REQUIRE(std::filesystem::exists(std::string(fashionMnistFolder) + "/train-images-idx3-ubyte.gz"));
    return loadFashionMnist(fashionMnistFolder, withTest);
}

}  // namespace

TEST_CASE("fashion_mnist: the installed files pass their MD5 checks and hold the known values",
          "[data][fashion_mnist][real]") {
    const FashionMnist set = installed(true);
    REQUIRE(set.train->count == 60000);
    REQUIRE(set.test->count == 10000);
    CHECK(set.train->rows == 28);
    CHECK(set.train->cols == 28);
    CHECK(set.train->classes == 10);
    CHECK(set.test->classes == 10);
    CHECK(std::vector<std::uint8_t>(set.train->labels.begin(), set.train->labels.begin() + 8) ==
          std::vector<std::uint8_t>{9, 0, 0, 3, 0, 2, 7, 2});
    CHECK(std::vector<std::uint8_t>(set.test->labels.begin(), set.test->labels.begin() + 8) ==
          std::vector<std::uint8_t>{9, 2, 1, 1, 6, 1, 4, 6});
    std::vector<int> perClass(10, 0);
    for (std::uint8_t label : set.train->labels) ++perClass[label];
    CHECK(perClass == std::vector<int>(10, 6000));

    const PixelStatistics statistics = pixelStatistics(*set.train, subsetIndices(*set.train, 0, false, 0));
    CHECK(statistics.mean == Approx(0.2860).margin(5e-5));
    CHECK(statistics.std == Approx(0.3530).margin(5e-5));
    // A second load in the process shares the first one's bytes (the cache of loadIdxImageSet).
    CHECK(loadFashionMnist(fashionMnistFolder, true).train.get() == set.train.get());
}

TEST_CASE("fashion_mnist: a damaged copy fails its MD5 check, naming the file", "[data][fashion_mnist][real]") {
    const FashionMnist set = installed(false);
    const std::string folder = testing::scratchPath("fashion-damaged");
    std::filesystem::create_directories(folder);
    std::filesystem::copy_file(std::string(fashionMnistFolder) + "/train-images-idx3-ubyte.gz",
                               folder + "/train-images-idx3-ubyte.gz",
                               std::filesystem::copy_options::overwrite_existing);
    std::vector<std::uint8_t> labels = set.train->labels;
    labels[0] = 8;  // one label changed: a valid IDX file, but not the release
    writeIdx(folder + "/train-labels-idx1-ubyte", {60000}, labels, false);  // raw files are read too
    CHECK_THROWS_WITH(loadFashionMnist(folder, false),
                      Contains("'" + folder + "/train-labels-idx1-ubyte': MD5 of the uncompressed bytes is ") &&
                          Contains(", expected 9018921c3c673c538a1fc5bad174d6f9"));
    CHECK_THROWS_WITH(loadFashionMnist(folder, true), Contains("t10k-images-idx3-ubyte.gz' is missing"));
}

TEST_CASE("fashion_mnist: the views of the real images", "[data][fashion_mnist][real]") {
    const FashionMnist set = installed(true);
    ImageSource source;
    source.kind = "fashion_mnist";
    source.folder = fashionMnistFolder;
    ImagePreparation preparation;
    preparation.subset = 100;
    preparation.view = ImageView::rows;
    const ImageSplits rows = loadImages(source, preparation, true);
    CHECK(rows.train.samples() == 100);
    CHECK(rows.train.timesteps == 28);
    CHECK(rows.train.features() == 28);
    CHECK(rows.test.samples() == 10000);
    CHECK(rows.train.inputs(28 * 14 + 5, 3) == set.train->pixels[3 * 784 + 14 * 28 + 5] / 255.0);
    preparation.view = ImageView::pixels;
    preparation.normalize = PixelScaling::standard;
    const ImageSplits pixels = loadImages(source, preparation, false);
    CHECK(pixels.train.timesteps == 784);
    CHECK(pixels.train.features() == 1);
    CHECK(pixels.train.description.find("normalize standard (mean") != std::string::npos);
}

TEST_CASE("fashion_mnist: a short MLP run is well above chance on the official test split",
          "[data][fashion_mnist][real][e2e]") {
    installed(true);
    const std::string file = testing::scratchPath("fashion_short.yaml");
    std::ofstream(file) << "name: fashion_short\nseed: 3\n"
                           "data: {kind: fashion_mnist, subset: 6000, subset_balanced: true, test: true,\n"
                           "       validation: 0.1}\n"
                           "model:\n  layers:\n    - {kind: dense, units: 64, activation: relu}\n"
                           "    - {kind: dense, units: 10}\n"
                           "loss: softmax_cross_entropy\noptimizer: {kind: adam, lr: 1.0e-3}\n"
                           "training: {steps: 300, batch_size: 64, eval_every: 100}\n"
                           "trace: {every: 50}\ncheckpoint: {enabled: false}\n";
    const RunConfig config = loadRunConfig(file, {}, testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath("fashion_short.h5");
    const RunResult result = runTraining(config, testing::builtinPlugins(), options);
    REQUIRE(result.status == RunStatus::completed);
    // Chance is 0.1; 300 steps of 64 on 5400 images reach about 0.8.
    CHECK(result.testAccuracy > 0.7);
    trace::TraceReader reader(options.output);
    const Eigen::VectorXd accuracy = reader.readVector("/test/accuracy");
    REQUIRE(accuracy.size() == 1);  // at the end only: test_every_eval is false
    CHECK(accuracy(0) == result.testAccuracy);
    CHECK(reader.readInt64Vector("/test/step").back() == 299);
    CHECK(reader.readVector("/test/loss")(0) == result.testLoss);
    CHECK(reader.readVector("/eval/accuracy").size() == 4);  // steps 0, 100, 200 and the last, 299
    // `gradlab inspect` reads the same row back.
    const analysis::Diagnosis diagnosis = analysis::diagnose(options.output);
    CHECK(diagnosis.testStep == 299);
    CHECK(diagnosis.testAccuracy == result.testAccuracy);
    CHECK_THAT(analysis::formatText(diagnosis), Contains("  test        loss "));
    CHECK_THAT(analysis::formatJson(diagnosis), Contains("\"test\": {\"step\": 299, \"loss\": "));

    SECTION("test_every_eval: a /test row at every evaluation, at the steps of /eval") {
        const RunConfig every = loadRunConfig(file, {"data.test_every_eval=true", "training.steps=30",
                                                     "training.eval_every=10"},
                                              testing::builtinPlugins());
        options.output = testing::scratchPath("fashion_every.h5");
        REQUIRE(runTraining(every, testing::builtinPlugins(), options).status == RunStatus::completed);
        trace::TraceReader everyReader(options.output);
        CHECK(everyReader.readInt64Vector("/test/step") == std::vector<std::int64_t>{0, 10, 20, 29});
        CHECK(everyReader.readInt64Vector("/test/step") == everyReader.readInt64Vector("/eval/step"));
        CHECK(everyReader.readVector("/test/accuracy").size() == 4);
    }
}

TEST_CASE("fashion_mnist: float64 and the sequence views train through the real trainer",
          "[data][fashion_mnist][real][e2e]") {
    installed(false);
    const std::string file = testing::scratchPath("fashion_views.yaml");
    std::ofstream(file) << "name: fashion_views\nseed: 2\n"
                           "data: {kind: fashion_mnist, subset: 200, view: rows}\n"
                           "model:\n  layers:\n    - {kind: gru, units: 8, return_sequences: false}\n"
                           "    - {kind: dense, units: 10}\n"
                           "loss: softmax_cross_entropy\noptimizer: {kind: adam, lr: 1.0e-2}\n"
                           "training: {steps: 5, batch_size: 20}\ncheckpoint: {enabled: false}\n";
    const std::string view = GENERATE(as<std::string>{}, "rows", "pixels", "permuted_pixels");
    const std::string precision = GENERATE(as<std::string>{}, "float32", "float64");
    CAPTURE(view, precision);
    const RunConfig config = loadRunConfig(file, {"data.view=" + view, "precision=" + precision,
                                                  "data.normalize=standard"},
                                           testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath("fashion_views.h5");
    const RunResult result = runTraining(config, testing::builtinPlugins(), options);
    REQUIRE(result.status == RunStatus::completed);
    trace::TraceReader reader(options.output);
    CHECK(reader.readMatrix("/trace/timestep_grad_norm/layers.0.gru").cols() == (view == "rows" ? 28 : 784));
}

TEST_CASE("fashion_mnist: a run with /test interrupted after a checkpoint resumes to the same trace bit for bit",
          "[data][fashion_mnist][real][e2e][checkpoint]") {
    installed(true);
    const std::string file = testing::scratchPath("fashion_resume.yaml");
    std::ofstream(file) << "name: fashion_resume\nseed: 3\n"
                           "data: {kind: fashion_mnist, subset: 2000, test: true, test_every_eval: true, "
                           "validation: 0.1}\n"
                           "model:\n  layers:\n    - {kind: dense, units: 64, activation: relu}\n"
                           "    - {kind: dense, units: 10}\n"
                           "loss: softmax_cross_entropy\noptimizer: {kind: adam, lr: 1.0e-3}\n"
                           "training: {steps: 400, batch_size: 32, eval_every: 20}\ncheckpoint: {every: 25}\n";
    const RunConfig config = loadRunConfig(file, {}, testing::builtinPlugins());
    RunOptions options;
    options.output = testing::scratchPath("fashion_resume-full.h5");
    REQUIRE(runTraining(config, testing::builtinPlugins(), options).status == RunStatus::completed);

    // Interrupted (as by SIGTERM) as soon as its first checkpoint exists, wherever that falls in the run.
    options.output = testing::scratchPath("fashion_resume-cut.h5");
    const std::string checkpoint = checkpointPath(config, options.output);
    volatile std::sig_atomic_t interrupted = 0;
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done && !std::filesystem::exists(checkpoint)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        interrupted = SIGTERM;
    });
    options.interrupted = &interrupted;
    const RunResult cut = runTraining(config, testing::builtinPlugins(), options);
    done = true;
    watcher.join();
    REQUIRE(cut.status == RunStatus::interrupted);
    CHECK(cut.steps < 400);
    options.interrupted = nullptr;
    options.resume = true;
    const RunResult resumed = runTraining(config, testing::builtinPlugins(), options);
    REQUIRE(resumed.status == RunStatus::completed);
    CHECK(resumed.firstStep == cut.steps);
    testing::checkSameTrace(testing::scratchPath("fashion_resume-full.h5"), options.output);
}
