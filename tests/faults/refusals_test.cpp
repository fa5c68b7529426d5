// Item 9 of issue 16: refusals found by the config mutation run that named no file, line or key now name the
// config file and the key (or the data file and row).
#include <catch2/catch.hpp>
#include <string>

#include "faults/fault_support.hpp"

using namespace gradlab::faults;

namespace {

const std::string base =
    "data: {kind: teacher, samples: 64, inputs: 4, outputs: 1, hidden: [4]}\n"
    "model:\n  layers: [{kind: dense, units: 8}, tanh, {kind: dense, units: 1}]\n"
    "optimizer: {kind: sgd, lr: 0.01}\n";

/// Runs `gradlab COMMAND CONFIG` on `text` and returns what it said; the refusal must be exit code 1.
std::string refusal(const std::string& name, const std::string& text, const std::string& command = "run") {
    const std::string folder = scratchFolder("refusal-" + name);
    const std::string config = folder + "/" + name + ".yaml";
    writeFile(config, text + "output: " + folder + "/run.h5\n");
    const Ran ran = runGradlab(command + " " + shellQuote(config) + (command == "sweep" ? " --plan" : " -q"), 60);
    INFO(ran.output);
    CHECK(ran.exitCode == 1);
    CHECK(ran.output.find(config) != std::string::npos);
    return ran.output;
}

}  // namespace

TEST_CASE("a batch larger than the data set names the config file and training.batch_size", "[faults][refusals]") {
    const std::string said = refusal("batch", base + "loss: mse\ntraining: {steps: 5, batch_size: 100}\n");
    CHECK(said.find("training.batch_size: batch size 100 is larger than the data set") != std::string::npos);
}

TEST_CASE("null, list and map keys under sweep.grid and sweep.zip name the file, line and section",
          "[faults][refusals]") {
    const std::string study = base + "loss: mse\ntraining: {steps: 5, batch_size: 8}\n";
    for (const std::string& section : {std::string("grid"), std::string("zip")})
        for (const std::string& key : {std::string("~"), std::string("null"), std::string("[a, b]"),
                                       std::string("{a: 1}")}) {
            const std::string said =
                refusal("sweep-" + section, study + "sweep:\n  " + section + ":\n    ? " + key + "\n    : [1, 2]\n",
                        "sweep");
            CHECK(said.find("sweep." + section) != std::string::npos);
            CHECK(said.find("expected a config key path") != std::string::npos);
            CHECK(said.find("invalid node") == std::string::npos);
        }
}

TEST_CASE("softmax cross-entropy on numeric targets is refused naming the file and loss, not at step 0",
          "[faults][refusals]") {
    const std::string said =
        refusal("softmax", base + "loss: softmax_cross_entropy\ntraining: {steps: 5, batch_size: 8}\n");
    CHECK(said.find(": loss: softmax_cross_entropy needs class labels") != std::string::npos);
    CHECK(said.find("outside [0, 1)") == std::string::npos);
}

TEST_CASE("a non-finite generated target names the config file and its data section", "[faults][refusals]") {
    const std::string said = refusal(
        "teacher-inf",
        "data: {kind: teacher, samples: 64, inputs: 4, outputs: 1, hidden: [4], noise: 1.0e308}\n"
        "model:\n  layers: [{kind: dense, units: 1}]\noptimizer: {kind: sgd, lr: 0.01}\nloss: mse\n"
        "training: {steps: 5, batch_size: 8}\n");
    CHECK(said.find("teacher: targets sample") != std::string::npos);
    CHECK(said.find(" data: teacher: targets sample") != std::string::npos);
}
