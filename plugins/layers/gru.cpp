/// @file gru.cpp
/// The gated recurrent unit layer (Cho et al. 2014) in PyTorch's formulation, trained by backpropagation
/// through time, full or truncated.

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

namespace {

using gradlab::Index;

/// The gate blocks, in the row order of W_x and of the stacked recurrent matrix (PyTorch's order).
constexpr int gateCount = 3;
const char* const gateNames[gateCount] = {"r", "z", "n"};

/// GRU as in PyTorch's nn.GRU (Cho et al. 2014's gating with the reset applied after the recurrent product),
/// for t = 0..T-1 with h_{-1} = 0 (sigma the logistic sigmoid):
///
///     r_t = sigma(W_xr x_t + W_hr h_{t-1} + b_r)                 reset gate
///     z_t = sigma(W_xz x_t + W_hz h_{t-1} + b_z)                 update gate
///     n_t = tanh (W_xn x_t + b_n + r_t * (W_hn h_{t-1} + b_hn))  candidate
///     h_t = (1 - z_t) * n_t + z_t * h_{t-1}
///
/// Parameters, and why they are split this way: every weight matrix can take its own initializer (orthogonal
/// recurrent weights per gate, Saxe et al. 2014) while each step computes the gates with one product.
/// Initializers fill whole parameters, so per-gate recurrent blocks are their own parameters:
///  - W_x [3 units x F]: the input projections stacked in row blocks r, z, n (PyTorch's weight_ih_l0 order);
///    glorot_uniform with fanIn F, fanOut 3 units (Keras' kernel convention); one parameter, so that the input
///    projection of all timesteps is one product;
///  - W_hr, W_hz, W_hn [units x units]: recurrent weights, each "orthogonal" by default;
///  - b_r, b_z, b_n [units x 1] (input side) and b_hn [units x 1] (inside the reset product), all zeros.
///    PyTorch's separate b_hr and b_hz only add to b_ir and b_iz, so they are merged into b_r and b_z;
///    b_hn is not redundant (r_t multiplies it) and stays.
/// Each forward copies W_hr, W_hz, W_hn into one stacked [3 units x units] matrix (O(units^2), once per
/// sequence), so a step's recurrent part is one product.
///
/// Shapes: input Shape{F, T}, x [F x (T B)] timestep-major (the columns of step t are [t B, (t+1) B)).
/// Output: return_sequences false gives Shape{units, 1}, y = h_{T-1} [units x B]; true gives Shape{units, T},
/// y = every h_t [units x (T B)]. Kept for backward, in buffers allocated once per shape: the activated gates
/// r, z, n [3 units x T B], W_hn h_{t-1} + b_hn [units x T B], and h_t [units x T B] (with return_sequences,
/// y itself, which the contract hands back to backward).
///
/// Backward (BPTT), step t from T-1 down to 0, with dh_t = dy_t + dh_{t-1 <- t} of step t+1:
///     da_n = dh_t (1 - z_t) (1 - n_t^2),   da_z = dh_t (h_{t-1} - n_t) z_t (1 - z_t),
///     da_r = da_n (W_hn h_{t-1} + b_hn) r_t (1 - r_t),   d(W_hn h_{t-1} + b_hn) = da_n r_t,
///     dh_{t-1 <- t} = dh_t z_t + W_hr^T da_r + W_hz^T da_z + W_hn^T (da_n r_t)   (one stacked product);
/// then dW_x += [da_r; da_z; da_n] x^T, dW_h* += sum_{t>=1} (...) h_{t-1}^T, the biases their column sums,
/// dx = W_x^T [da_r; da_z; da_n].
///
/// Truncated BPTT, `truncate: k > 0` (Williams & Peng 1990's BPTT(k, k), as frameworks do it with detach()):
/// the steps are cut into consecutive chunks [0, k), [k, 2k), ... (the last may be shorter). h flows forward
/// across chunk boundaries unchanged but enters the next chunk as a constant: at a chunk's last step dL/dh gets
/// no contribution from the next chunk (neither through z nor through W_h*). The W_h* gradients still contain
/// the term of a chunk's first step (W_h* multiplies the carried-in constant). One gradient per sequence.
///
/// Statistics, computed only while the host traces (Module::tracing()):
///  - "timestep_grad_norm" [T]: ||dL/dh_t|| (L2 over units and batch) of the total gradient reaching h_t
///    (with truncation, at chunk ends only the layer above's part);
///  - "reset_gate_mean", "update_gate_mean" [1]: mean of r, z over units, batch and timesteps of the last
///    traced forward (in [0, 1]);
///  - "recurrent_spectral_norm" [3]: the largest singular value of W_hr, W_hz, W_hn, by 30 warm-started power
///    iterations on W^T W in each traced forward.
template <typename Scalar>
class Gru : public gradlab::RecurrentLayer<Scalar> {
public:
    using Base = gradlab::RecurrentLayer<Scalar>;
    using MatrixType = gradlab::Matrix<Scalar>;
    using VectorType = typename Base::VectorType;

    /// Reads `units`, `return_sequences` and `truncate`.
    explicit Gru(const gradlab::Options& options) : Base("gru", options) {}

    gradlab::Shape build(const gradlab::Shape& input) override {
        this->readSequenceShape(input);
        this->addInputWeight(gateCount);
        for (int gate = 0; gate < gateCount; ++gate)
            recurrentWeights_[gate] = &this->addRecurrentWeight(std::string("W_h") + gateNames[gate]);
        for (int gate = 0; gate < gateCount; ++gate)
            biases_[gate] = &this->addBias(std::string("b_") + gateNames[gate]);
        candidateRecurrentBias_ = &this->addBias("b_hn");
        stackedRecurrent_.resize(gateCount * units_, units_);
        stackedBias_.resize(gateCount * units_);

        return this->finishBuild();
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        (void)phase;
        const Index batch = this->checkInput(x);
        const Index columns = x.cols();
        const Index H = units_;
        MatrixType& hidden = this->hiddenStates(y);
        gates_.resize(gateCount * H, columns);
        candidateRecurrent_.resize(H, columns);
        recurrentStep_.resize(gateCount * H, batch);
        hidden.resize(H, columns);
        for (int gate = 0; gate < gateCount; ++gate) {
            stackedRecurrent_.middleRows(gate * H, H) = recurrentWeights_[gate]->value;
            stackedBias_.segment(gate * H, H) = biases_[gate]->value.col(0);
        }

        gates_.noalias() = inputWeight_->value * x;
        gates_.colwise() += stackedBias_;
        for (Index t = 0; t < timesteps_; ++t) {
            auto a = gates_.middleCols(t * batch, batch);
            auto hn = candidateRecurrent_.middleCols(t * batch, batch);
            if (t > 0) {
                recurrentStep_.noalias() = stackedRecurrent_ * hidden.middleCols((t - 1) * batch, batch);
                a.topRows(2 * H) += recurrentStep_.topRows(2 * H);
                hn = recurrentStep_.bottomRows(H);
                hn.colwise() += candidateRecurrentBias_->value.col(0);
            } else {
                hn = candidateRecurrentBias_->value.col(0).replicate(1, batch);
            }
            a.topRows(2 * H).array() = (Scalar(1) + (-a.topRows(2 * H).array()).exp()).inverse();  // r, z
            a.bottomRows(H).array() = (a.bottomRows(H).array() + a.topRows(H).array() * hn.array()).tanh();  // n
            auto h = hidden.middleCols(t * batch, batch);
            const auto z = a.middleRows(H, H).array();
            h.array() = (Scalar(1) - z) * a.bottomRows(H).array();
            if (t > 0) h.array() += z * hidden.middleCols((t - 1) * batch, batch).array();
        }
        if (this->tracing()) {
            gateMean_[0] = static_cast<double>(gates_.topRows(H).mean());
            gateMean_[1] = static_cast<double>(gates_.middleRows(H, H).mean());
        }
        this->finishForward(y, batch);
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        const Index batch = this->beginBackward(x, dy, gates_.cols());
        const Index columns = x.cols();
        const Index H = units_;
        const MatrixType& hidden = this->hiddenStates(y);

        gatesGrad_.resize(gateCount * H, columns);
        candidateRecurrentGrad_.resize(H, columns);
        recurrentStep_.resize(gateCount * H, batch);
        for (Index t = timesteps_ - 1; t >= 0; --t) {
            // dL/dh_t = the layer above's gradient at step t + the path from t+1 (zero at a chunk end).
            this->gatherStepGradient(dy, t, batch);

            const auto a = gates_.middleCols(t * batch, batch);
            const auto r = a.topRows(H).array();
            const auto z = a.middleRows(H, H).array();
            const auto n = a.bottomRows(H).array();
            const auto dh = stepGrad_.array();
            auto da = gatesGrad_.middleCols(t * batch, batch);
            auto dhn = candidateRecurrentGrad_.middleCols(t * batch, batch);
            da.bottomRows(H).array() = dh * (Scalar(1) - z) * (Scalar(1) - n.square());
            if (t > 0)
                da.middleRows(H, H).array() =
                    dh * (hidden.middleCols((t - 1) * batch, batch).array() - n) * z * (Scalar(1) - z);
            else
                da.middleRows(H, H).array() = -dh * n * z * (Scalar(1) - z);
            da.topRows(H).array() = da.bottomRows(H).array() * candidateRecurrent_.middleCols(t * batch, batch).array() *
                                    r * (Scalar(1) - r);
            dhn.array() = da.bottomRows(H).array() * r;

            if (t > 0 && !this->startsChunk(t)) {
                recurrentStep_.topRows(2 * H) = da.topRows(2 * H);
                recurrentStep_.bottomRows(H) = dhn;
                recurrentGrad_.array() = dh * z;
                recurrentGrad_.noalias() += stackedRecurrent_.transpose() * recurrentStep_;
            } else {
                recurrentGrad_.setZero();
            }
        }

        inputWeight_->grad.noalias() += gatesGrad_ * x.transpose();
        for (int gate = 0; gate < gateCount; ++gate)
            biases_[gate]->grad.col(0) += gatesGrad_.middleRows(gate * H, H).rowwise().sum();
        candidateRecurrentBias_->grad.col(0) += candidateRecurrentGrad_.rowwise().sum();
        if (timesteps_ > 1) {
            const Index shifted = (timesteps_ - 1) * batch;
            const auto previous = hidden.leftCols(shifted).transpose();
            recurrentWeights_[0]->grad.noalias() += gatesGrad_.block(0, batch, H, shifted) * previous;
            recurrentWeights_[1]->grad.noalias() += gatesGrad_.block(H, batch, H, shifted) * previous;
            recurrentWeights_[2]->grad.noalias() += candidateRecurrentGrad_.rightCols(shifted) * previous;
        }
        if (dx != nullptr) dx->noalias() = inputWeight_->value.transpose() * gatesGrad_;
    }

private:
    using Base::inputWeight_;
    using Base::recurrentGrad_;
    using Base::stepGrad_;
    using Base::timesteps_;
    using Base::units_;

    /// Reports the reset and update gate means.
    void cellStatistics(gradlab::StatisticsSink& sink) const override {
        sink.add("reset_gate_mean", &gateMean_[0], 1);
        sink.add("update_gate_mean", &gateMean_[1], 1);
    }

    gradlab::Parameter<Scalar>* recurrentWeights_[gateCount] = {};     ///< W_hr, W_hz, W_hn [units x units]
    gradlab::Parameter<Scalar>* biases_[gateCount] = {};               ///< b_r, b_z, b_n [units x 1]
    gradlab::Parameter<Scalar>* candidateRecurrentBias_ = nullptr;  ///< b_hn [units x 1]
    MatrixType stackedRecurrent_;  ///< [W_hr; W_hz; W_hn], [3 units x units], refreshed each forward
    VectorType stackedBias_;       ///< [b_r; b_z; b_n], [3 units], refreshed each forward

    MatrixType gates_;                   ///< activated r, z, n for every step, [3 units x T B]
    MatrixType candidateRecurrent_;      ///< W_hn h_{t-1} + b_hn for every step, [units x T B]
    MatrixType recurrentStep_;           ///< scratch W_h h_{t-1} (forward) / [da_r; da_z; dhn] (backward), [3 units x B]
    MatrixType gatesGrad_;               ///< dL/d(pre-activations of r, z, n), every step, [3 units x T B]
    MatrixType candidateRecurrentGrad_;  ///< dL/d(W_hn h_{t-1} + b_hn), every step, [units x T B]

    double gateMean_[2] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_gru", "1.0.0", registry) {
    gradlab::declareRecurrentOptions(
        registry.addLayer<Gru>("gru", "GRU as in PyTorch (Cho et al. 2014), n = tanh(W_xn x + b_n + r (W_hn h + b_hn)); "
                                      "W_x [3 units x F] rows r, z, n glorot_uniform; W_hr, W_hz, W_hn orthogonal; b_r, "
                                      "b_z, b_n, b_hn zeros; BPTT, full or truncated"),
        "size of the hidden state h_t", "the state crosses");
}
