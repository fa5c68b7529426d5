// A layer that passes its input through unchanged until a chosen call, then plants a NaN: in its forward
// output or in the gradient it passes back, at a chosen timestep. For the non-finite detector's tests.
#include <limits>

#include "gradlab/sdk.hpp"

namespace {

template <typename Scalar>
class Fault : public gradlab::Layer<Scalar> {
public:
    explicit Fault(const gradlab::Options& options)
        : phase_(options.string("phase")), call_(options.integer("call")), timestep_(options.integer("timestep")) {}

    gradlab::Shape build(const gradlab::Shape& input) override {
        timesteps_ = input.timesteps;
        return input;
    }

    void forward(const gradlab::Matrix<Scalar>& x, gradlab::Matrix<Scalar>& y, gradlab::Phase phase) override {
        y = x;
        if (phase != gradlab::Phase::train) return;
        ++forwardCalls_;
        if (phase_ == "forward" && forwardCalls_ == call_) plant(y);
    }

    void backward(const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>& dy,
                  gradlab::Matrix<Scalar>* dx) override {
        if (!dx) return;
        *dx = dy;
        if (phase_ == "backward" && forwardCalls_ == call_) plant(*dx);
    }

private:
    void plant(gradlab::Matrix<Scalar>& values) const {
        const gradlab::Index batch = values.cols() / timesteps_;
        values(0, timestep_ * batch) = std::numeric_limits<Scalar>::quiet_NaN();
    }

    std::string phase_;
    std::int64_t call_, timestep_;
    gradlab::Index timesteps_ = 1;
    std::int64_t forwardCalls_ = 0;
};

/// Plain SGD that plants a NaN in the update of its first parameter at one step.
template <typename Scalar>
class FaultSgd : public gradlab::Optimizer<Scalar> {
public:
    explicit FaultSgd(const gradlab::Options& options) : step_(options.integer("step")) {}
    double learningRate() const override { return 0.01; }
    void attach(const std::vector<gradlab::ParameterSlot>&) override {}
    void update(std::size_t slot, const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>& grad,
                double learningRate, std::int64_t step, gradlab::Matrix<Scalar>& delta) override {
        delta = -static_cast<Scalar>(learningRate) * grad;
        if (slot == 0 && step == step_ + 1) delta(0, 0) = std::numeric_limits<Scalar>::quiet_NaN();
    }
    void visitState(gradlab::StateVisitor<Scalar>&) override {}

private:
    std::int64_t step_;
};

}  // namespace

GRADLAB_PLUGIN("fault_injection", "1.0.0", registry) {
    registry.addOptimizer<FaultSgd>("fault_sgd", "sgd with lr 0.01 that plants a NaN in the first update at a step")
        .option(gradlab::OptionSpec::integer("step", 2, "the training step (0-based) whose update gets the NaN"));
    registry.addLayer<Fault>("fault", "identity that plants a NaN at the given training call and timestep")
        .option(gradlab::OptionSpec::choice("phase", "forward", {"forward", "backward"}, "where to plant it"))
        .option(gradlab::OptionSpec::integer("call", 3, "the training forward call (1-based) that plants it"))
        .option(gradlab::OptionSpec::integer("timestep", 0, "the timestep whose first column gets the NaN"));
}
