/// @file rnn.cpp
/// The Elman recurrent layer (Elman 1990), trained by backpropagation through time, full or truncated.

#include <memory>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;

/// Elman RNN: h_t = f(W_x x_t + W_h h_{t-1} + b), h_{-1} = 0, for t = 0..T-1.
///
/// Shapes: input Shape{F, T}, x [F x (T B)] timestep-major (the columns of step t are [t B, (t+1) B));
/// W_x [units x F] (glorot_uniform), W_h [units x units] ("orthogonal", Saxe et al. 2014), b [units x 1] (zeros);
/// f is the `activation` option (tanh by default), a child module named "activation" (so a prelu slope is
/// `layers.N.rnn.activation.slope`). Output: return_sequences false gives Shape{units, 1}, y = h_{T-1}
/// [units x B]; true gives Shape{units, T}, y = every h_t [units x (T B)].
///
/// Forward: z = W_x x + b for all timesteps at once (one product), then z_t += W_h h_{t-1} (one product per
/// step) and h_t = f(z_t). Kept for backward, in buffers allocated once per shape: z [units x T B] and the
/// h_t [units x T B] (with return_sequences those are y itself, which the contract hands back to backward).
///
/// Backward (BPTT): dh_t = dy_t + W_h^T dz_{t+1} (the layer above's gradient at step t, if any, plus the
/// recurrent path), dz_t = dh_t f'(z_t); then with the dz of every step: dW_x += dz x^T, dW_h += sum_{t>=1}
/// dz_t h_{t-1}^T, db += sum of dz's columns, dx = W_x^T dz (one product each).
///
/// Truncated BPTT, `truncate: k > 0` (Williams & Peng 1990's BPTT(k, k), as frameworks do it with
/// detach()): the steps are cut into consecutive chunks [0, k), [k, 2k), ... (the last may be shorter). The
/// hidden state flows forward across chunk boundaries unchanged, but it enters the next chunk as a constant:
/// dL/dh at a chunk's last step gets no recurrent contribution from the next chunk (dh_{t-1} gets no
/// W_h^T dz_t term when t is a multiple of k). The W_h gradient still contains dz_t h_{t-1}^T at a chunk's
/// first step, since W_h multiplies the carried-in constant. One gradient per sequence (the host's step).
/// truncate: 0 (default), or k >= T, is full BPTT.
///
/// Statistics, computed only while the host traces (Module::tracing()):
///  - "timestep_grad_norm" [T]: ||dL/dh_t|| (L2 over units and batch) of the total gradient reaching h_t as
///    defined above (so with truncation, at chunk ends only the layer above's part);
///  - "recurrent_spectral_norm" [1]: the largest singular value of W_h, by 30 warm-started power iterations
///    on W_h^T W_h in each traced forward.
template <typename Scalar>
class Rnn : public gradlab::RecurrentLayer<Scalar> {
public:
    using Base = gradlab::RecurrentLayer<Scalar>;
    using MatrixType = gradlab::Matrix<Scalar>;

    /// Reads `units`, `return_sequences`, `truncate` and builds the `activation` child.
    explicit Rnn(const gradlab::Options& options)
        : Base("rnn", options),
          isIdentity_(options.plugin("activation").name == "identity"),
          activation_(gradlab::makeActivation<Scalar>(options, "activation")) {
        this->addChild("activation", *activation_);
    }

    gradlab::Shape build(const gradlab::Shape& input) override {
        this->readSequenceShape(input);
        this->addInputWeight(1);
        recurrentWeight_ = &this->addRecurrentWeight("W_h");
        bias_ = &this->addBias("b");

        activation_->build(units_);
        std::vector<gradlab::NamedParameter<Scalar>> activationParameters;
        activation_->collectParameters("", activationParameters);
        activationHasParameters_ = !activationParameters.empty();
        return this->finishBuild();
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        (void)phase;
        const Index batch = this->checkInput(x);
        const Index columns = x.cols();
        MatrixType& hidden = this->hiddenStates(y);
        preActivation_.resize(units_, columns);
        hidden.resize(units_, columns);

        preActivation_.noalias() = inputWeight_->value * x;
        preActivation_.colwise() += bias_->value.col(0);
        for (Index t = 0; t < timesteps_; ++t) {
            auto z = preActivation_.middleCols(t * batch, batch);
            if (t > 0) z.noalias() += recurrentWeight_->value * hidden.middleCols((t - 1) * batch, batch);
            if (isIdentity_) {
                hidden.middleCols(t * batch, batch) = z;
            } else {
                // The activation interface takes whole matrices: go through [units x B] scratch (no allocation
                // after the first step of the first call).
                stepInput_ = z;
                activation_->forward(stepInput_, stepOutput_);
                hidden.middleCols(t * batch, batch) = stepOutput_;
            }
        }
        this->finishForward(y, batch);
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        const Index batch = this->beginBackward(x, dy, preActivation_.cols());
        const Index columns = x.cols();
        const MatrixType& hidden = this->hiddenStates(y);

        // f'(z) for every step at once; once step t's slope is used, its slot stores dL/dh_t instead, which a
        // parameterised activation (prelu) needs for its own gradient.
        activation_->derivative(preActivation_, hidden, slopeOrHiddenGrad_);
        preActivationGrad_.resize(units_, columns);
        for (Index t = timesteps_ - 1; t >= 0; --t) {
            // dL/dh_t = the layer above's gradient at step t + the recurrent path from t+1 (zero at a chunk end).
            this->gatherStepGradient(dy, t, batch);
            auto slope = slopeOrHiddenGrad_.middleCols(t * batch, batch);
            auto dz = preActivationGrad_.middleCols(t * batch, batch);
            dz = stepGrad_.cwiseProduct(slope);
            if (activationHasParameters_) slope = stepGrad_;
            if (t > 0 && !this->startsChunk(t))
                recurrentGrad_.noalias() = recurrentWeight_->value.transpose() * dz;
            else
                recurrentGrad_.setZero();
        }
        // Recomputes dz identically (dL/dh f'(z)) and accumulates the activation's parameter gradients.
        if (activationHasParameters_)
            activation_->backward(preActivation_, hidden, slopeOrHiddenGrad_, &preActivationGrad_);

        inputWeight_->grad.noalias() += preActivationGrad_ * x.transpose();
        if (timesteps_ > 1) {
            const Index shifted = (timesteps_ - 1) * batch;
            recurrentWeight_->grad.noalias() +=
                preActivationGrad_.rightCols(shifted) * hidden.leftCols(shifted).transpose();
        }
        bias_->grad.col(0) += preActivationGrad_.rowwise().sum();
        if (dx != nullptr) dx->noalias() = inputWeight_->value.transpose() * preActivationGrad_;
    }

private:
    using Base::inputWeight_;
    using Base::recurrentGrad_;
    using Base::stepGrad_;
    using Base::timesteps_;
    using Base::units_;

    bool isIdentity_ = false;               ///< f is the identity: h_t = z_t, no activation pass
    bool activationHasParameters_ = false;  ///< f has learnable parameters (prelu): call its backward
    std::shared_ptr<gradlab::Activation<Scalar>> activation_;
    gradlab::Parameter<Scalar>* recurrentWeight_ = nullptr;  ///< W_h [units x units]
    gradlab::Parameter<Scalar>* bias_ = nullptr;             ///< b [units x 1]

    MatrixType preActivation_;      ///< z_t for every step, [units x T B]
    MatrixType stepInput_;          ///< scratch z_t, [units x B]
    MatrixType stepOutput_;         ///< scratch f(z_t), [units x B]
    MatrixType slopeOrHiddenGrad_;  ///< f'(z_t), overwritten step by step with dL/dh_t, [units x T B]
    MatrixType preActivationGrad_;  ///< dL/dz_t for every step, [units x T B]
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_rnn", "1.0.0", registry) {
    using gradlab::OptionSpec;
    gradlab::declareRecurrentOptions(
        registry.addLayer<Rnn>("rnn", "Elman RNN h_t = f(W_x x_t + W_h h_{t-1} + b), h_{-1} = 0; W_x glorot_uniform, "
                                      "W_h orthogonal, b zeros; BPTT, full or truncated"),
        "size of the hidden state h_t", "the state crosses",
        {OptionSpec::activation("activation", "tanh", "f, e.g. tanh, relu (IRNN: relu with W_h: identity)")});
}
