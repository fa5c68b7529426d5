// The data keys of kind idx and fashion_mnist: defaults, resolved paths and the errors of bad combinations.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "config/run_config.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

std::string configWithData(const std::string& name, const std::string& data) {
    const std::string path = testing::scratchPath(name);
    std::ofstream(path) << "name: " << name << "\ndata: " << data
                        << "\nmodel:\n  layers:\n    - {kind: dense, units: 10}\nloss: softmax_cross_entropy\n"
                           "optimizer: {kind: sgd, lr: 0.1}\ntraining: {epochs: 2, batch_size: 100}\n";
    return path;
}

RunConfig load(const std::string& path) { return loadRunConfig(path, {}, testing::builtinPlugins()); }

}  // namespace

TEST_CASE("config: fashion_mnist defaults and counted epochs", "[config][images]") {
    const RunConfig config = load(configWithData("fashion_defaults.yaml", "{kind: fashion_mnist}"));
    CHECK(config.data.images.kind == "fashion_mnist");
    CHECK(config.data.images.folder == "/usr/share/datasets/fashion-mnist");
    CHECK(config.data.preparation.normalize == data::PixelScaling::unit);
    CHECK(config.data.preparation.view == data::ImageView::flat);
    CHECK(config.data.preparation.subset == 0);
    CHECK_FALSE(config.data.test);
    CHECK(config.data.classification);
    CHECK(config.training.steps == 1200);  // 2 epochs of 60,000 in batches of 100
    CHECK(config.resolvedYaml.find("view: flat") != std::string::npos);

    const RunConfig subset = load(configWithData(
        "fashion_subset.yaml", "{kind: fashion_mnist, subset: 1000, subset_balanced: true, view: permuted_pixels, "
                               "permutation_seed: 5, normalize: standard, test: true, test_every_eval: true, dir: data}"));
    CHECK(subset.training.steps == 20);
    CHECK(subset.data.preparation.balancedSubset);
    CHECK(subset.data.preparation.view == data::ImageView::permutedPixels);
    CHECK(subset.data.preparation.permutationSeed == 5);
    CHECK(subset.data.preparation.normalize == data::PixelScaling::standard);
    CHECK(subset.data.test);
    CHECK(subset.data.testEveryEval);
    // dir: is relative to the config's folder.
    CHECK(subset.data.images.folder ==
          (std::filesystem::path(testing::scratchPath("fashion_subset.yaml")).parent_path() / "data").string());
}

TEST_CASE("config: idx files, their test files, and the errors of bad combinations", "[config][images][errors]") {
    const RunConfig config = load(configWithData(
        "idx_paths.yaml", "{kind: idx, images: a/images.gz, labels: a/labels.gz, test_images: t/i, test_labels: t/l, "
                          "test: true, subset: 500}"));
    const std::filesystem::path folder = std::filesystem::path(testing::scratchPath("idx_paths.yaml")).parent_path();
    CHECK(config.data.images.images == (folder / "a/images.gz").string());
    CHECK(config.data.images.testLabels == (folder / "t/l").string());
    CHECK(config.training.steps == 10);  // epochs over the subset

    CHECK_THROWS_WITH(load(configWithData("idx_no_labels.yaml", "{kind: idx, images: i}")),
                      Contains("labels"));
    CHECK_THROWS_WITH(load(configWithData("idx_half_test.yaml", "{kind: idx, images: i, labels: l, test_images: t}")),
                      Contains("give both test_images and test_labels, or neither"));
    CHECK_THROWS_WITH(load(configWithData("idx_test_no_files.yaml", "{kind: idx, images: i, labels: l, test: true}")),
                      Contains("test: true needs the test files: give test_images and test_labels"));
    CHECK_THROWS_WITH(load(configWithData("fashion_every.yaml", "{kind: fashion_mnist, test_every_eval: true}")),
                      Contains("test_every_eval: true needs test: true"));
    CHECK_THROWS_WITH(load(configWithData("fashion_view.yaml", "{kind: fashion_mnist, view: columns}")),
                      Contains("view") && Contains("permuted_pixels"));
    CHECK_THROWS_WITH(load(configWithData("fashion_normalize.yaml", "{kind: fashion_mnist, normalize: zscore}")),
                      Contains("standard"));
    CHECK_THROWS_WITH(load(configWithData("spirals_test.yaml", "{kind: spirals, samples: 30, test: true}")),
                      Contains("spirals_test.yaml:") &&
                          Contains("the official test split exists for kind idx (with test_images and test_labels) "
                                   "and fashion_mnist only"));
}
