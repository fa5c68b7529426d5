/// @file activation.cpp
/// The activation layer: an activation plugin applied element-wise as a layer of its own. A config's `- relu`
/// (an activation's name where a layer is expected) is read as `{kind: activation, activation: relu}`.

#include <memory>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

/// y = f(x) element-wise, output shape = input shape. The activation is a child module named "activation",
/// after its option (the same name as in dense), so a prelu slope in layer N is
/// `layers.N.activation.activation.slope`.
template <typename Scalar>
class ActivationLayer : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Builds the `activation` child.
    explicit ActivationLayer(const gradlab::Options& options)
        : activation_(gradlab::makeActivation<Scalar>(options, "activation")) {
        this->addChild("activation", *activation_);
    }

    gradlab::Shape build(const gradlab::Shape& input) override {
        if (input.features < 1)
            throw gradlab::Error("activation layer needs at least one input feature, got " +
                                 std::to_string(input.features));
        activation_->build(input.features);
        return input;
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        activation_->forward(x, y);
        if (this->tracing() && phase == gradlab::Phase::train)
            activation_->unitMaxSlope(x, y, slopeScratch_, unitMaxSlope_);
    }

    /// While tracing: "unit_max_slope" [units], the largest |f'(x)| of each unit over the batch.
    void statistics(gradlab::StatisticsSink& sink) const override {
        if (this->tracing() && !unitMaxSlope_.empty())
            sink.add("unit_max_slope", unitMaxSlope_.data(), static_cast<gradlab::Index>(unitMaxSlope_.size()));
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        // With dx null, the activation still accumulates its own parameters' gradients (prelu's slope).
        activation_->backward(x, y, dy, dx);
    }

private:
    std::shared_ptr<gradlab::Activation<Scalar>> activation_;
    MatrixType slopeScratch_;     ///< f'(x) while tracing
    std::vector<double> unitMaxSlope_;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_activation", "1.0.0", registry) {
    registry.addLayer<ActivationLayer>("activation", "y = f(x) element-wise; `- relu` in a model is short for this")
        .option(gradlab::OptionSpec::activation("activation", "", "the activation f, e.g. relu or "
                                                                  "{kind: elu, alpha: 0.5}")
                    .requiredValue());
}
