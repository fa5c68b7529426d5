#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.hpp"
#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::checkpoint::CheckpointReader;
using gradlab::checkpoint::CheckpointWriter;
using gradlab::checkpoint::StateRestorer;
using gradlab::checkpoint::StateSaver;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

/// Two slots of different shapes, each fed its own pseudo-random gradients step after step.
struct Trainee {
    std::shared_ptr<gradlab::Optimizer<float>> optimizer;
    std::vector<Matrix<float>> values{Matrix<float>::Zero(3, 2), Matrix<float>::Zero(1, 4)};
    std::vector<Matrix<float>> deltas{2};

    explicit Trainee(const std::string& yaml) : optimizer(builtinPlugins().makeOptimizer<float>(
                                                    spec(PluginKind::optimizer, yaml))) {
        optimizer->attach({{"layers.0.dense.W", 3, 2}, {"layers.1.prelu.slope", 1, 4}});
    }

    /// Step `step` (from 1) with gradients that depend on the step, the slot and the current value.
    void step(std::int64_t step) {
        for (std::size_t slot = 0; slot < values.size(); ++slot) {
            Matrix<float> grad = values[slot];
            for (gradlab::Index i = 0; i < grad.size(); ++i)
                grad.data()[i] = 0.5f * grad.data()[i] + std::sin(static_cast<float>(step * 7 + i + 3 * slot));
            optimizer->update(slot, values[slot], grad, 0.05, step, deltas[slot]);
            values[slot] += deltas[slot];
        }
    }
};

bool sameBits(const Matrix<float>& a, const Matrix<float>& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

}  // namespace

TEST_CASE("every optimizer's visitState saves and restores all it carries: the next updates agree bit for bit",
          "[plugins][optimizers][checkpoint]") {
    const std::string yaml = GENERATE(as<std::string>{}, "{kind: sgd, lr: 0.1}", "{kind: sgd, lr: 0.1, momentum: 0.9}",
                                      "{kind: sgd, lr: 0.1, momentum: 0.9, nesterov: true}", "{kind: adam, lr: 0.1}",
                                      "{kind: adamw, lr: 0.1, weight_decay: 0.1}", "{kind: adagrad, lr: 0.1}",
                                      "{kind: rmsprop, lr: 0.01}",
                                      "{kind: rmsprop, lr: 0.01, momentum: 0.9, centered: true}");
    INFO(yaml);
    const std::string path = gradlab::testing::scratchPath("optimizer-state.ckpt.h5");
    Trainee original(yaml);
    for (std::int64_t step = 1; step <= 4; ++step) original.step(step);
    {
        CheckpointWriter writer(path);
        writer.writeState({});
        StateSaver<float> saver(writer, "/optimizer");
        original.optimizer->visitState(saver);
        writer.commit();
    }
    Trainee restored(yaml), fresh(yaml);
    restored.values = fresh.values = original.values;
    {
        const CheckpointReader reader(path);
        StateRestorer<float> restorer(reader, "/optimizer", "the optimizer");
        restored.optimizer->visitState(restorer);
        restorer.finish();
    }
    bool freshDiffers = false;
    for (std::int64_t step = 5; step <= 7; ++step) {
        original.step(step);
        restored.step(step);
        fresh.step(step);
        for (std::size_t slot = 0; slot < 2; ++slot) {
            CHECK(sameBits(original.deltas[slot], restored.deltas[slot]));
            freshDiffers = freshDiffers || !sameBits(original.deltas[slot], fresh.deltas[slot]);
        }
    }
    // Plain SGD carries nothing, so a fresh one agrees too; every other optimizer must have had state to restore.
    if (yaml != "{kind: sgd, lr: 0.1}") CHECK(freshDiffers);
}

TEST_CASE("restoring an optimizer's state from a checkpoint of another optimizer is refused by name",
          "[plugins][optimizers][checkpoint]") {
    const std::string path = gradlab::testing::scratchPath("optimizer-other.ckpt.h5");
    Trainee adam("{kind: adam, lr: 0.1}");
    adam.step(1);
    {
        CheckpointWriter writer(path);
        writer.writeState({});
        StateSaver<float> saver(writer, "/optimizer");
        adam.optimizer->visitState(saver);
        writer.commit();
    }
    const CheckpointReader reader(path);
    SECTION("momentum SGD asks for a velocity the checkpoint does not have") {
        Trainee sgd("{kind: sgd, lr: 0.1, momentum: 0.9}");
        StateRestorer<float> restorer(reader, "/optimizer", "optimizer 'sgd'");
        CHECK_THROWS_WITH(sgd.optimizer->visitState(restorer),
                          Catch::Contains("layers.0.dense.W.velocity") && Catch::Contains(path));
    }
    SECTION("plain SGD asks for nothing, and finish() names the state left over") {
        Trainee sgd("{kind: sgd, lr: 0.1}");
        StateRestorer<float> restorer(reader, "/optimizer", "optimizer 'sgd'");
        sgd.optimizer->visitState(restorer);
        CHECK_THROWS_WITH(restorer.finish(), Catch::Contains("exp_avg") && Catch::Contains("optimizer 'sgd'"));
    }
}
