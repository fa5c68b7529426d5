/// @file maxout.cpp
/// The maxout layer (Goodfellow et al. 2013): each unit is the maximum of `pieces` affine pieces.

#include <string>

#include "gradlab/sdk.hpp"

namespace {

/// Maxout: z = W x + b with W [(units * pieces) x inputs], b [(units * pieces) x 1], and
/// y_j = max_k z_{k * units + j}, so x [inputs x n] -> y [units x n]. Row k * units + j of W and b holds
/// piece k of unit j (piece-major: piece k is the row block [k * units, (k + 1) * units)). Ties go to the
/// lowest k. Backward routes each dy_j to its winning piece only (the sub-gradient of the max):
/// dz_{k * units + j} = dy_j [k wins], dW += dz x^T, db += sum_cols(dz), dx = W^T dz.
/// Default initialisation: W glorot_uniform with fanIn = inputs, fanOut = units (Glorot & Bengio 2010), b zeros.
template <typename Scalar>
class Maxout : public gradlab::Layer<Scalar> {
public:
    using MatrixType = gradlab::Matrix<Scalar>;
    using WinnerType = Eigen::Array<int, Eigen::Dynamic, Eigen::Dynamic>;

    /// Reads `units`, `pieces` and `bias`.
    explicit Maxout(const gradlab::Options& options)
        : units_(options.integer("units")), pieces_(options.integer("pieces")), hasBias_(options.boolean("bias")) {
        if (units_ < 1) throw gradlab::Error("option 'units' must be >= 1, got " + std::to_string(units_));
        if (pieces_ < 2) throw gradlab::Error("option 'pieces' must be >= 2, got " + std::to_string(pieces_));
    }

    gradlab::Shape build(const gradlab::Shape& input) override {
        if (input.features < 1)
            throw gradlab::Error("maxout needs at least one input feature, got " + std::to_string(input.features));
        inputs_ = input.features;
        weight_ = &this->addParameter("W", units_ * pieces_, inputs_, gradlab::ParameterInit::weight(inputs_, units_));
        if (hasBias_)
            bias_ = &this->addParameter("b", units_ * pieces_, 1, gradlab::ParameterInit::bias(inputs_, units_));
        return gradlab::Shape{units_, input.timesteps};
    }

    void forward(const MatrixType& x, MatrixType& y, gradlab::Phase phase) override {
        (void)phase;
        if (weight_ == nullptr) throw gradlab::Error("maxout used before build()");
        if (x.rows() != inputs_)
            throw gradlab::Error("maxout built for " + std::to_string(inputs_) + " input features, got input with " +
                                 std::to_string(x.rows()) + " rows");
        preActivation_.noalias() = weight_->value * x;
        if (hasBias_) preActivation_.colwise() += bias_->value.col(0);
        y = preActivation_.topRows(units_);
        winner_.setZero(units_, x.cols());
        for (gradlab::Index piece = 1; piece < pieces_; ++piece) {
            const auto candidate = preActivation_.middleRows(piece * units_, units_).array();
            winner_ = (candidate > y.array()).select(static_cast<int>(piece), winner_);
            y = y.cwiseMax(candidate.matrix());
        }
    }

    void backward(const MatrixType& x, const MatrixType& y, const MatrixType& dy, MatrixType* dx) override {
        (void)y;
        if (dy.rows() != winner_.rows() || dy.cols() != winner_.cols())
            throw gradlab::Error("maxout: dy is [" + std::to_string(dy.rows()) + " x " + std::to_string(dy.cols()) +
                                 "], the last forward gave [" + std::to_string(winner_.rows()) + " x " +
                                 std::to_string(winner_.cols()) + "]");
        preActivationGrad_.resize(units_ * pieces_, dy.cols());
        for (gradlab::Index piece = 0; piece < pieces_; ++piece)
            preActivationGrad_.middleRows(piece * units_, units_).array() =
                (winner_ == static_cast<int>(piece)).select(dy.array(), Scalar(0));
        weight_->grad.noalias() += preActivationGrad_ * x.transpose();
        if (hasBias_) bias_->grad.col(0) += preActivationGrad_.rowwise().sum();
        if (dx != nullptr) dx->noalias() = weight_->value.transpose() * preActivationGrad_;
    }

private:
    gradlab::Index units_ = 0;
    gradlab::Index pieces_ = 2;
    gradlab::Index inputs_ = 0;
    bool hasBias_ = true;
    gradlab::Parameter<Scalar>* weight_ = nullptr;
    gradlab::Parameter<Scalar>* bias_ = nullptr;
    MatrixType preActivation_;      ///< z = W x + b from the last forward, [(units * pieces) x n]
    MatrixType preActivationGrad_;  ///< dLoss/dz, non-zero only at the winning pieces, [(units * pieces) x n]
    WinnerType winner_;             ///< the winning piece k of each output y_j, [units x n]
};

}  // namespace

GRADLAB_PLUGIN("gradlab_layers_maxout", "1.0.0", registry) {
    using gradlab::OptionSpec;
    registry
        .addLayer<Maxout>("maxout", "y_j = max_k (W x + b)_{k * units + j}, W [(units * pieces) x inputs] "
                                    "glorot_uniform, b zeros (Goodfellow et al. 2013)")
        .option(OptionSpec::integer("units", 0, "number of output features").requiredValue().min(1))
        .option(OptionSpec::integer("pieces", 2, "affine pieces per unit, the max is taken over them").min(2))
        .option(OptionSpec::boolean("bias", true, "add a learned bias b [(units * pieces) x 1] (zeros)"));
}
