/// @file lstm.cpp
/// The long short-term memory layer (Hochreiter & Schmidhuber 1997, with the forget gate of Gers, Schmidhuber &
/// Cummins 2000; no peepholes), trained by backpropagation through time, full or truncated.

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/sdk.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

using gradlab::Index;

/// The gate blocks, in the row order of W_x and of the stacked recurrent matrix (PyTorch's order).
constexpr int gateCount = 4;
const char* const gateNames[gateCount] = {"i", "f", "g", "o"};

/// LSTM without peepholes, for t = 0..T-1 with h_{-1} = c_{-1} = 0 (sigma the logistic sigmoid):
///
///     i_t = sigma(W_xi x_t + W_hi h_{t-1} + b_i)      input gate
///     f_t = sigma(W_xf x_t + W_hf h_{t-1} + b_f)      forget gate (Gers et al. 2000)
///     g_t = tanh (W_xg x_t + W_hg h_{t-1} + b_g)      cell candidate ("cell gate")
///     o_t = sigma(W_xo x_t + W_ho h_{t-1} + b_o)      output gate
///     c_t = f_t * c_{t-1} + i_t * g_t,   h_t = o_t * tanh(c_t)
///
/// Parameters, and why they are split this way: the configuration must be able to give every weight matrix
/// its own initializer (orthogonal recurrent weights per gate, Saxe et al. 2014) and the forget-gate bias its
/// own value (Jozefowicz et al. 2015), while each step computes the four gates with one product. Initializers
/// fill whole parameters, so per-gate blocks that need their own initial value are their own parameters:
///  - W_x [4 units x F]: the four input projections stacked in row blocks i, f, g, o (PyTorch's weight_ih_l0
///    order); glorot_uniform with fanIn F, fanOut 4 units (Keras' kernel convention). It stays one parameter,
///    so that the input projection of all timesteps is one product;
///  - W_hi, W_hf, W_hg, W_ho [units x units]: recurrent weights, each "orthogonal" by default (an orthogonal
///    [4 units x units] stack would not be orthogonal per gate);
///  - b_i, b_g, b_o [units x 1]: zeros; b_f [units x 1]: the constant `forget_bias` (1.0 by default). A config's
///    `init: {b_f: ...}` overrides it like any other parameter's initializer.
/// Each forward copies the W_h* blocks into one stacked [4 units x units] matrix and the biases into one
/// [4 units] vector (O(units^2), once per sequence, not per step), so a step's recurrent part is one product.
///
/// Shapes: input Shape{F, T}, x [F x (T B)] timestep-major (the columns of step t are [t B, (t+1) B)).
/// Output: return_sequences false gives Shape{units, 1}, y = h_{T-1} [units x B]; true gives Shape{units, T},
/// y = every h_t [units x (T B)]. Kept for backward, in buffers allocated once per shape: the activated gates
/// [4 units x T B], c_t [units x T B] and h_t [units x T B] (with return_sequences, y itself, which the contract
/// hands back to backward); tanh(c_t) is recomputed step by step in backward.
///
/// Backward (BPTT), step t from T-1 down to 0, with dh_t = dy_t + W_h^T da_{t+1} (a the gate pre-activations)
/// and the cell carry dc_t = dh_t o_t (1 - tanh^2 c_t) + dc_{t+1} f_{t+1}:
///     da_i = dc_t g_t i_t (1 - i_t),  da_f = dc_t c_{t-1} f_t (1 - f_t),  da_g = dc_t i_t (1 - g_t^2),
///     da_o = dh_t tanh(c_t) o_t (1 - o_t);
/// then dW_x += da x^T, dW_h* += sum_{t>=1} da*_t h_{t-1}^T, db* += sum of da*'s columns, dx = W_x^T da.
///
/// Truncated BPTT, `truncate: k > 0` (Williams & Peng 1990's BPTT(k, k), as frameworks do it with detach()):
/// the steps are cut into consecutive chunks [0, k), [k, 2k), ... (the last may be shorter). h and c flow
/// forward across chunk boundaries unchanged but enter the next chunk as constants: at a chunk's last step
/// neither dL/dh nor dL/dc gets a contribution from the next chunk. The W_h* gradients still contain
/// da_t h_{t-1}^T at a chunk's first step (W_h* multiplies the carried-in constant). One gradient per sequence.
///
/// Statistics, computed only while the host traces (Module::tracing()):
///  - "timestep_grad_norm" [T]: ||dL/dh_t|| (L2 over units and batch) of the total gradient reaching h_t
///    (with truncation, at chunk ends only the layer above's part); the cell path's gradient is not included;
///  - "input_gate_mean", "forget_gate_mean", "output_gate_mean" [1]: mean of i, f, o over units, batch and
///    timesteps of the last traced forward (in [0, 1]); "cell_gate_mean" [1]: the same for g (in [-1, 1]);
///  - "recurrent_spectral_norm" [4]: the largest singular value of W_hi, W_hf, W_hg, W_ho, by 30 warm-started
///    power iterations on W^T W in each traced forward.
template <typename Scalar>
class Lstm : public gradlab::RecurrentLayer<Scalar> {
public:
    using Base = gradlab::RecurrentLayer<Scalar>;
    using MatrixType = gradlab::Matrix<Scalar>;
    using VectorType = typename Base::VectorType;

    /// Reads `units`, `return_sequences`, `truncate` and `forget_bias`.
    explicit Lstm(const gradlab::Options& options) : Base("lstm", options), forgetBias_(options.real("forget_bias")) {
        if (!std::isfinite(forgetBias_)) throw gradlab::Error("lstm: option 'forget_bias' must be finite");
    }

    gradlab::Shape build(const gradlab::Shape& input) override {
        this->readSequenceShape(input);
        this->addInputWeight(gateCount);
        for (int gate = 0; gate < gateCount; ++gate)
            recurrentWeights_[gate] = &this->addRecurrentWeight(std::string("W_h") + gateNames[gate]);
        for (int gate = 0; gate < gateCount; ++gate)
            biases_[gate] = &this->addBias(std::string("b_") + gateNames[gate],
                                           gate == 1 ? gradlab::InitializerSpec::constant(forgetBias_)
                                                     : gradlab::InitializerSpec("zeros"));
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
        cells_.resize(H, columns);
        hidden.resize(H, columns);
        for (int gate = 0; gate < gateCount; ++gate) {
            stackedRecurrent_.middleRows(gate * H, H) = recurrentWeights_[gate]->value;
            stackedBias_.segment(gate * H, H) = biases_[gate]->value.col(0);
        }

        gates_.noalias() = inputWeight_->value * x;
        gates_.colwise() += stackedBias_;
        // The recurrence couples the steps, never the samples: each thread runs every step on its share of the
        // batch (the split depends only on the batch and the thread count, so runs stay reproducible).
        const int shares = shareCount(batch);
#ifdef _OPENMP
#pragma omp parallel for num_threads(shares) schedule(static, 1) if (shares > 1)
#endif
        for (int share = 0; share < shares; ++share)
            forwardShare(hidden, batch, shareFirst(share, shares, batch), shareFirst(share + 1, shares, batch));
        if (this->tracing())
            for (int gate = 0; gate < gateCount; ++gate)
                gateMean_[gate] = static_cast<double>(gates_.middleRows(gate * H, H).mean());
        gatesHoldGradients_ = false;
        this->finishForward(y, batch);
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        if (gatesHoldGradients_)
            throw gradlab::Error("lstm: a second backward after one forward (the forward's gates have been "
                                 "overwritten by their gradients); run forward again first");
        const Index batch = this->beginBackward(x, dy, gates_.cols());
        const Index H = units_;
        const MatrixType& hidden = this->hiddenStates(y);

        cellGrad_.resize(H, batch);
        cellTanh_.resize(H, batch);
        cellCarry_.setZero(H, batch);
        const int shares = shareCount(batch);
        stepNormParts_.assign(static_cast<std::size_t>(shares * timesteps_), 0.0L);
        // gates_ turns into dL/d(gate pre-activations), step by step from the last, as each step's gates are
        // used for the last time: BPTT keeps no second [4 units x T B] buffer.
        gatesHoldGradients_ = true;
#ifdef _OPENMP
#pragma omp parallel for num_threads(shares) schedule(static, 1) if (shares > 1)
#endif
        for (int share = 0; share < shares; ++share)
            backwardShare(dy, batch, share, shareFirst(share, shares, batch), shareFirst(share + 1, shares, batch));
        if (this->tracing())
            for (Index t = 0; t < timesteps_; ++t) {
                long double squares = 0;
                for (int share = 0; share < shares; ++share)
                    squares += stepNormParts_[static_cast<std::size_t>(share * timesteps_ + t)];
                this->recordStepGradNorm(t, squares);
            }

        const MatrixType& gatesGrad = gates_;
        inputWeight_->grad.noalias() += gatesGrad * x.transpose();
        for (int gate = 0; gate < gateCount; ++gate) {
            biases_[gate]->grad.col(0) += gatesGrad.middleRows(gate * H, H).rowwise().sum();
            if (timesteps_ > 1) {
                const Index shifted = (timesteps_ - 1) * batch;
                recurrentWeights_[gate]->grad.noalias() +=
                    gatesGrad.block(gate * H, batch, H, shifted) * hidden.leftCols(shifted).transpose();
            }
        }
        if (dx != nullptr) dx->noalias() = inputWeight_->value.transpose() * gatesGrad;
    }

private:
    using Base::inputWeight_;
    using Base::recurrentGrad_;
    using Base::stepGrad_;
    using Base::timesteps_;
    using Base::units_;

    /// Samples per thread below which splitting the batch costs more than it gains.
    static constexpr Index minShareColumns = 8;

    /// How many shares of the batch the recurrence is split into: one per thread (the host's thread count, as
    /// OpenMP reports it), at least minShareColumns samples each.
    static int shareCount(Index batch) {
#ifdef _OPENMP
        const Index threads = omp_in_parallel() ? 1 : static_cast<Index>(omp_get_max_threads());
        return static_cast<int>(std::max<Index>(1, std::min(threads, batch / minShareColumns)));
#else
        (void)batch;
        return 1;
#endif
    }

    /// The first sample of share `share` of `shares` (share == shares gives the batch size).
    static Index shareFirst(int share, int shares, Index batch) { return batch * share / shares; }

    /// The forward recurrence for samples [first, last) of every step.
    void forwardShare(MatrixType& hidden, Index batch, Index first, Index last) {
        const Index H = units_;
        const Index count = last - first;
        for (Index t = 0; t < timesteps_; ++t) {
            auto a = gates_.middleCols(t * batch + first, count);
            if (t > 0) a.noalias() += stackedRecurrent_ * hidden.middleCols((t - 1) * batch + first, count);
            a.topRows(2 * H).array() = (Scalar(1) + (-a.topRows(2 * H).array()).exp()).inverse();  // i, f
            a.middleRows(2 * H, H).array() = a.middleRows(2 * H, H).array().tanh();               // g
            a.bottomRows(H).array() = (Scalar(1) + (-a.bottomRows(H).array()).exp()).inverse();    // o
            auto c = cells_.middleCols(t * batch + first, count);
            c.array() = a.topRows(H).array() * a.middleRows(2 * H, H).array();
            if (t > 0)
                c.array() += a.middleRows(H, H).array() * cells_.middleCols((t - 1) * batch + first, count).array();
            hidden.middleCols(t * batch + first, count).array() = a.bottomRows(H).array() * c.array().tanh();
        }
    }

    /// BPTT for samples [first, last) of every step, from T-1 down to 0: overwrites their gates with
    /// dL/d(gate pre-activations) and, while tracing, keeps each step's squared ||dL/dh_t|| share.
    void backwardShare(const MatrixType& dy, Index batch, int share, Index first, Index last) {
        const Index H = units_;
        const Index count = last - first;
        auto stepGrad = stepGrad_.middleCols(first, count);
        auto cellGrad = cellGrad_.middleCols(first, count);
        auto cellTanh = cellTanh_.middleCols(first, count);
        auto cellCarry = cellCarry_.middleCols(first, count);
        for (Index t = timesteps_ - 1; t >= 0; --t) {
            // dL/dh_t = the layer above's gradient at step t + the recurrent path from t+1 (zero at a chunk end).
            stepNormParts_[static_cast<std::size_t>(share * timesteps_ + t)] =
                this->gatherStepGradientShare(dy, t, batch, first, count);

            auto a = gates_.middleCols(t * batch + first, count);  // i, f, g, o, then their gradients
            auto i = a.topRows(H).array();
            auto f = a.middleRows(H, H).array();
            auto g = a.middleRows(2 * H, H).array();
            auto o = a.bottomRows(H).array();
            cellTanh.array() = cells_.middleCols(t * batch + first, count).array().tanh();
            cellGrad.array() = stepGrad.array() * o * (Scalar(1) - cellTanh.array().square()) + cellCarry.array();
            const bool carries = t > 0 && !this->startsChunk(t);
            if (carries)
                cellCarry.array() = cellGrad.array() * f;
            else
                cellCarry.setZero();

            // Each gate's gradient replaces the gate once nothing else needs it: o, f, then g and i, which need
            // each other (da_i waits in cellTanh, no longer needed after da_o).
            o = stepGrad.array() * cellTanh.array() * o * (Scalar(1) - o);
            if (t > 0)
                f = cellGrad.array() * cells_.middleCols((t - 1) * batch + first, count).array() * f * (Scalar(1) - f);
            else
                f.setZero();
            cellTanh.array() = cellGrad.array() * g * i * (Scalar(1) - i);
            g = cellGrad.array() * i * (Scalar(1) - g.square());
            i = cellTanh.array();

            auto recurrentGrad = recurrentGrad_.middleCols(first, count);
            if (carries)
                recurrentGrad.noalias() = stackedRecurrent_.transpose() * a;
            else
                recurrentGrad.setZero();
        }
    }

    /// Reports the four gate means.
    void cellStatistics(gradlab::StatisticsSink& sink) const override {
        sink.add("input_gate_mean", &gateMean_[0], 1);
        sink.add("forget_gate_mean", &gateMean_[1], 1);
        sink.add("cell_gate_mean", &gateMean_[2], 1);
        sink.add("output_gate_mean", &gateMean_[3], 1);
    }

    double forgetBias_ = 1.0;
    gradlab::Parameter<Scalar>* recurrentWeights_[gateCount] = {};      ///< W_hi, W_hf, W_hg, W_ho [units x units]
    gradlab::Parameter<Scalar>* biases_[gateCount] = {};                ///< b_i, b_f, b_g, b_o [units x 1]
    MatrixType stackedRecurrent_;  ///< [W_hi; W_hf; W_hg; W_ho], [4 units x units], refreshed each forward
    VectorType stackedBias_;       ///< [b_i; b_f; b_g; b_o], [4 units], refreshed each forward

    MatrixType gates_;          ///< activated i, f, g, o for every step, [4 units x T B]; after backward, their
                                ///< gradients dL/d(gate pre-activations)
    bool gatesHoldGradients_ = false;  ///< backward has turned gates_ into gradients
    MatrixType cells_;          ///< c_t for every step, [units x T B]
    MatrixType cellGrad_;       ///< dL/dc_t of the current step, [units x B]
    MatrixType cellTanh_;       ///< tanh(c_t) of the current step, [units x B]
    MatrixType cellCarry_;      ///< dL/dc_{t+1} f_{t+1}, the part of dL/dc_t from the next step, [units x B]
    std::vector<long double> stepNormParts_;  ///< while tracing, squared ||dL/dh_t|| of each share, [shares x T]

    double gateMean_[gateCount] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(),
                                std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_lstm", "1.0.0", registry) {
    using gradlab::OptionSpec;
    gradlab::declareRecurrentOptions(
        registry.addLayer<Lstm>("lstm", "LSTM with forget gate, no peepholes (Hochreiter & Schmidhuber 1997, Gers et al. "
                                "2000); W_x [4 units x F] rows i, f, g, o glorot_uniform; W_hi, W_hf, W_hg, W_ho "
                                "orthogonal; b_i, b_g, b_o zeros, b_f forget_bias; BPTT, full or truncated"),
        "size of the hidden state h_t and cell c_t", "h and c cross")
        .option(OptionSpec::real("forget_bias", 1.0,
                                 "initial value of the forget-gate bias b_f (Jozefowicz et al. 2015 recommend 1)"));
}
