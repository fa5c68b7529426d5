#pragma once
/// @file recurrent.hpp
/// What every recurrent layer over timestep-major sequences shares (rnn, lstm, gru): the options `units`,
/// `return_sequences` and `truncate` (declared by declareRecurrentOptions(), read by RecurrentLayer), the
/// input-shape checks, the W_x / W_h* / b declarations, the chunk boundaries of truncated BPTT, dL/dh_t step by step with its norm, and the power-iteration spectral norm of
/// each recurrent weight. Each cell's own maths (forward step, backward step) stays in its plugin.

#include <cmath>
#include <limits>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/module.hpp"
#include "gradlab/options.hpp"
#include "gradlab/random.hpp"
#include "gradlab/registry.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// The statistic under which recurrent layers report ||dL/dh_t|| per timestep: traced as
/// /trace/timestep_grad_norm/<layer> [S x T], two-dimensional even when T = 1.
inline constexpr const char* timestepGradNormStatistic = "timestep_grad_norm";

/// Power iterations per spectral-norm estimate; warm-started, so the estimate keeps improving across steps.
constexpr int powerIterations = 30;

/// The largest singular value of `weight` by power iteration on W^T W (the quantity in Pascanu, Mikolov &
/// Bengio 2013's vanishing/exploding conditions), starting from `direction`, which is left at the new estimate
/// of the top right-singular vector (a warm start for the next call); `image` is scratch [rows].
/// Returns 0 when W v = 0 (W = 0 or v in W's null space), keeping v.
template <typename Scalar>
double spectralNorm(const Matrix<Scalar>& weight,
                    Eigen::Ref<Eigen::Matrix<typename Matrix<Scalar>::Scalar, Eigen::Dynamic, 1>> direction,
                    Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& image) {
    for (int iteration = 0; iteration < powerIterations; ++iteration) {
        image.noalias() = weight * direction;
        // W v = 0: W = 0 or v in W's null space; keep v (the next call may see a different W).
        if (!(image.squaredNorm() > Scalar(0))) return 0.0;
        direction.noalias() = weight.transpose() * image;  // nonzero: v^T W^T W v = ||W v||^2 > 0
        direction.normalize();
    }
    image.noalias() = weight * direction;
    return static_cast<double>(image.norm());
}

/// Base of a recurrent layer over x [F x (T B)] timestep-major (the columns of step t are [t B, (t+1) B)),
/// with hidden state h_t [units x B], h_{-1} = 0.
///
/// Output: return_sequences false gives Shape{units, 1}, y = h_{T-1} [units x B]; true gives Shape{units, T},
/// y = every h_t [units x (T B)] (then y itself keeps the h_t for backward, as the contract hands it back).
///
/// Truncated BPTT, `truncate: k > 0` (Williams & Peng 1990's BPTT(k, k)): steps are cut into chunks [0, k),
/// [k, 2k), ...; the state crosses chunk boundaries, the gradient does not (startsChunk()).
///
/// Statistics, computed only while the host traces: "timestep_grad_norm" [T] = ||dL/dh_t|| as gathered by
/// gatherStepGradient(), then the cell's own (cellStatistics()), then "recurrent_spectral_norm" [one per
/// addRecurrentWeight()] by powerIterations warm-started power iterations in each traced forward.
///
/// A cell derives from it and: reads its own options after the base constructor; in build(), calls
/// readSequenceShape(), declares its parameters (addInputWeight, addRecurrentWeight, addBias) and returns
/// finishBuild(); in forward, writes the h_t into hiddenStates(y) and ends with finishForward(); in backward,
/// starts with beginBackward() and calls gatherStepGradient() for t = T-1 .. 0, setting recurrentGrad_.
template <typename Scalar>
class RecurrentLayer : public Layer<Scalar> {
public:
    using MatrixType = Matrix<Scalar>;
    using VectorType = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

    /// Keeps dL/dh_t of these steps in the following backwards (stepGrad_ as gathered, for probes).
    bool keepStateGradients(const std::vector<Index>& timesteps) override {
        for (Index t : timesteps)
            if (t < 0 || t >= timesteps_)
                throw Error(layerName_ + ": timestep " + std::to_string(t) + " is outside 0 .. " +
                            std::to_string(timesteps_ - 1));
        keptSteps_ = timesteps;
        if (!keptSteps_.empty()) kept_.resize(keptSteps_.size());
        return true;
    }

    const MatrixType& keptStateGradient(std::size_t k) const override {
        if (k >= kept_.size())
            throw Error(layerName_ + ": kept state gradient " + std::to_string(k) + " of " + std::to_string(kept_.size()));
        return kept_[k];
    }

    /// Reports "timestep_grad_norm", the cell's statistics, then "recurrent_spectral_norm".
    void statistics(StatisticsSink& sink) const override {
        sink.add(timestepGradNormStatistic, timestepGradNorm_.data(), static_cast<Index>(timestepGradNorm_.size()));
        cellStatistics(sink);
        sink.add("recurrent_spectral_norm", spectralNorms_.data(), static_cast<Index>(spectralNorms_.size()));
    }

protected:
    /// Reads `units` (>= 1), `return_sequences` and `truncate` (>= 0); `layerName` ("lstm") prefixes messages.
    RecurrentLayer(std::string layerName, const Options& options)
        : units_(options.integer("units")),
          returnSequences_(options.boolean("return_sequences")),
          truncate_(options.integer("truncate")),
          layerName_(std::move(layerName)) {
        if (units_ < 1)
            throw Error(layerName_ + ": option 'units' must be >= 1, got " + std::to_string(units_));
        if (truncate_ < 0)
            throw Error(layerName_ + ": option 'truncate' must be >= 0 (0 = full BPTT), got " +
                        std::to_string(truncate_));
    }

    /// Checks input (>= 1 feature, >= 1 timestep) and keeps F and T.
    void readSequenceShape(const Shape& input) {
        if (input.features < 1)
            throw Error(layerName_ + " needs at least one input feature, got " + std::to_string(input.features));
        if (input.timesteps < 1)
            throw Error(layerName_ + " needs at least one timestep, got " + std::to_string(input.timesteps));
        inputs_ = input.features;
        timesteps_ = input.timesteps;
    }

    /// Declares "W_x" [blocks units x F], glorot_uniform with fanIn F, fanOut blocks units.
    Parameter<Scalar>& addInputWeight(Index blocks) {
        inputWeight_ = &this->addParameter("W_x", blocks * units_, inputs_, ParameterInit::weight(inputs_, blocks * units_));
        return *inputWeight_;
    }

    /// Declares a recurrent weight `name` [units x units], "orthogonal" (Saxe et al. 2014), whose spectral norm
    /// is traced (in declaration order).
    Parameter<Scalar>& addRecurrentWeight(const std::string& name) {
        Parameter<Scalar>& weight =
            this->addParameter(name, units_, units_, ParameterInit::weight(units_, units_, "orthogonal"));
        recurrentWeights_.push_back(&weight);
        // The power iteration's warm start is state carried from one traced step to the next: a buffer, so that
        // checkpoints keep it and a resumed run traces the same estimates.
        powerDirections_.push_back(&this->addBuffer("power_direction." + name, units_, 1));
        return weight;
    }

    /// Declares a bias `name` [units x 1] (fanIn F, fanOut units, not regularised) with `initializer`.
    Parameter<Scalar>& addBias(const std::string& name, InitializerSpec initializer = "zeros") {
        return this->addParameter(name, units_, 1, ParameterInit::bias(inputs_, units_, std::move(initializer)));
    }

    /// Sets up the power-iteration starts (fixed seed) and the timestep norms; returns the output shape.
    Shape finishBuild() {
        Random random(0x5eedu);  // a fixed, generic start for the power iterations
        for (Buffer<Scalar>* direction : powerDirections_) {
            for (Index i = 0; i < units_; ++i) direction->value(i, 0) = static_cast<Scalar>(random.normal());
            direction->value.normalize();
        }
        powerImage_.resize(units_);
        spectralNorms_.assign(recurrentWeights_.size(), std::numeric_limits<double>::quiet_NaN());
        timestepGradNorm_.assign(static_cast<std::size_t>(timesteps_), std::numeric_limits<double>::quiet_NaN());
        return Shape{units_, returnSequences_ ? timesteps_ : 1};
    }

    /// Checks x's shape ([F x T B], B >= 1) and returns the batch size B = columns / T.
    Index checkInput(const MatrixType& x) const {
        if (inputWeight_ == nullptr) throw Error(layerName_ + " used before build()");
        if (x.rows() != inputs_)
            throw Error(layerName_ + " built for " + std::to_string(inputs_) + " input features, got input with " +
                        std::to_string(x.rows()) + " rows");
        if (x.cols() == 0 || x.cols() % timesteps_ != 0)
            throw Error(layerName_ + " built for " + std::to_string(timesteps_) +
                        " timesteps: the input's columns must be a positive multiple of it (timestep-major "
                        "[features x T * batch]), got " + std::to_string(x.cols()) + " columns");
        return x.cols() / timesteps_;
    }

    /// Where the h_t of every step go, [units x T B]: y itself with return_sequences, else a kept buffer.
    MatrixType& hiddenStates(MatrixType& y) { return returnSequences_ ? y : hidden_; }

    /// The h_t of the last forward, given its y.
    const MatrixType& hiddenStates(const MatrixType& y) const { return returnSequences_ ? y : hidden_; }

    /// Ends a forward: y = h_{T-1} without return_sequences; while tracing, the recurrent spectral norms.
    void finishForward(MatrixType& y, Index batch) {
        if (!returnSequences_) y = hidden_.rightCols(batch);
        if (this->tracing())
            for (std::size_t k = 0; k < recurrentWeights_.size(); ++k)
                spectralNorms_[k] = spectralNorm(recurrentWeights_[k]->value, powerDirections_[k]->value.col(0), powerImage_);
    }

    /// Starts a backward: checks x, that `keptColumns` (a buffer of the forward) match it and dy's shape;
    /// sizes stepGrad_ and zeroes recurrentGrad_ [units x B]. Returns B.
    Index beginBackward(const MatrixType& x, const MatrixType& dy, Index keptColumns) {
        const Index batch = checkInput(x);
        const Index columns = x.cols();
        if (keptColumns != columns)
            throw Error(layerName_ + ": backward on " + std::to_string(columns) + " columns after a forward on " +
                        std::to_string(keptColumns));
        const Index expectedColumns = returnSequences_ ? columns : batch;
        if (dy.rows() != units_ || dy.cols() != expectedColumns)
            throw Error(layerName_ + ": dy must be [" + std::to_string(units_) + " x " +
                        std::to_string(expectedColumns) + "], got [" + std::to_string(dy.rows()) + " x " +
                        std::to_string(dy.cols()) + "]");
        stepGrad_.resize(units_, batch);
        recurrentGrad_.setZero(units_, batch);
        for (std::size_t k = 0; k < keptSteps_.size(); ++k) kept_[k].resize(units_, batch);
        return batch;
    }

    /// stepGrad_ = dL/dh_t = the layer above's gradient at step t (if y has it) + recurrentGrad_, the part from
    /// step t+1 (which the cell set to zero at a chunk end); while tracing, records ||dL/dh_t||.
    void gatherStepGradient(const MatrixType& dy, Index t, Index batch) {
        recordStepGradNorm(t, gatherStepGradientShare(dy, t, batch, 0, batch));
    }

    /// gatherStepGradient() for one share of the batch, the columns [first, first + count) of step t: writes
    /// only those columns of stepGrad_ (reading the same columns of recurrentGrad_), so that threads may each
    /// take a share. Returns the share's squared norm while tracing (else 0) as a long double, whose range holds
    /// the square of any float or double (squares of doubles below 1e-154 underflow in double): the sum over all
    /// shares goes to recordStepGradNorm().
    long double gatherStepGradientShare(const MatrixType& dy, Index t, Index batch, Index first, Index count) {
        auto share = stepGrad_.middleCols(first, count);
        if (returnSequences_)
            share = dy.middleCols(t * batch + first, count) + recurrentGrad_.middleCols(first, count);
        else if (t == timesteps_ - 1)
            share = dy.middleCols(first, count);
        else
            share = recurrentGrad_.middleCols(first, count);
        for (std::size_t k = 0; k < keptSteps_.size(); ++k)
            if (keptSteps_[k] == t) kept_[k].middleCols(first, count) = share;
        if (!this->tracing()) return 0.0L;
        if constexpr (std::is_same_v<Scalar, float>) {
            return share.template cast<double>().squaredNorm();  // squares of floats are in double's range
        } else {
            const double squares = share.squaredNorm();
            // Below this, squares of tiny entries may have underflowed; Inf may be an overflow: sum again wide.
            const double trusted = static_cast<double>(share.size()) * std::numeric_limits<double>::min() /
                                   std::numeric_limits<double>::epsilon();
            if (squares >= trusted && squares <= std::numeric_limits<double>::max()) return squares;
            return share.template cast<long double>().squaredNorm();
        }
    }

    /// While tracing, records ||dL/dh_t|| from the squared norms of every share (gatherStepGradientShare()).
    void recordStepGradNorm(Index t, long double squaredNorm) {
        if (this->tracing()) timestepGradNorm_[static_cast<std::size_t>(t)] = static_cast<double>(std::sqrt(squaredNorm));
    }

    /// Whether step t begins a truncation chunk (no gradient flows from t back to t-1).
    bool startsChunk(Index t) const { return truncate_ > 0 && t % truncate_ == 0; }

    /// Reports the cell's own statistics, between "timestep_grad_norm" and "recurrent_spectral_norm".
    virtual void cellStatistics(StatisticsSink& sink) const { (void)sink; }

    Index units_ = 0;                       ///< size of h_t
    Index inputs_ = 0;                      ///< F, input features
    Index timesteps_ = 1;                   ///< T
    bool returnSequences_ = false;          ///< output every h_t, not only h_{T-1}
    Index truncate_ = 0;                    ///< truncated-BPTT chunk length; 0 = full BPTT
    Parameter<Scalar>* inputWeight_ = nullptr;  ///< W_x [blocks units x F]
    MatrixType stepGrad_;                   ///< dL/dh_t of the current step, [units x B]
    MatrixType recurrentGrad_;              ///< the part of dL/dh_t from step t+1, [units x B]

private:
    std::string layerName_;
    MatrixType hidden_;  ///< h_t for every step when y holds only the last, [units x T B]
    std::vector<Parameter<Scalar>*> recurrentWeights_;  ///< whose spectral norms are traced
    std::vector<Buffer<Scalar>*> powerDirections_;      ///< warm starts of the power iterations, [units x 1] each
    VectorType powerImage_;                             ///< scratch W v, [units]
    std::vector<double> spectralNorms_;                 ///< sigma_max of each recurrent weight
    std::vector<double> timestepGradNorm_;              ///< ||dL/dh_t|| of the last traced backward, [T]
    std::vector<Index> keptSteps_;                      ///< the steps whose dL/dh_t a probe keeps (keepStateGradients)
    std::vector<MatrixType> kept_;                      ///< dL/dh_t of keptSteps_[k], [units x B]
};

/// Declares the options RecurrentLayer reads on a recurrent layer's descriptor: `units` (described as
/// `unitsDescription`), then the cell's own `cellOptions` (if any), then `return_sequences` and `truncate`
/// (`crossing` says what crosses chunk boundaries, with its verb: "the state crosses", "h and c cross").
/// Returns the descriptor, so that more options chain:
///     gradlab::declareRecurrentOptions(registry.addLayer<Lstm>("lstm", "..."), "size of h_t and c_t", "h and c cross")
///         .option(OptionSpec::real("forget_bias", 1.0, "initial value of b_f"));
inline PluginDescriptor& declareRecurrentOptions(PluginDescriptor& descriptor, const std::string& unitsDescription,
                                                 const std::string& crossing,
                                                 std::vector<OptionSpec> cellOptions = {}) {
    descriptor.option(OptionSpec::integer("units", 0, unitsDescription).requiredValue().min(1));
    for (OptionSpec& option : cellOptions) descriptor.option(std::move(option));
    descriptor.option(OptionSpec::boolean("return_sequences", false,
                                          "output every h_t, Shape{units, T}; false: only h_{T-1}, Shape{units, 1}"));
    descriptor.option(OptionSpec::integer("truncate", 0,
                                          "truncated BPTT in chunks of k steps: " + crossing +
                                              " chunk boundaries, the gradient does not (0 = full BPTT)")
                          .min(0));
    return descriptor;
}

}  // namespace gradlab
