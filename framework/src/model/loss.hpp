#pragma once
/// @file loss.hpp
/// Losses: the objective's data term and its gradient with respect to the network's output.

#include <memory>
#include <string>

#include "gradlab/tensor.hpp"

namespace gradlab {

/// A loss over one batch. Targets are [outputs x batch] values, or [1 x batch] class indices for
/// classification losses.
template <typename Scalar>
class Loss {
public:
    virtual ~Loss() = default;

    /// requires: prediction [outputs x batch]; target as above. ensures: returns the loss (in double);
    /// gradient overwritten with dLoss/dprediction, same shape as prediction.
    virtual double evaluate(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target,
                            Matrix<Scalar>& gradient) = 0;

    /// The loss as a sum of terms and the number it is averaged over, so that a set's loss can be summed over
    /// chunks exactly (masked targets count for nothing): sse {sum of squared errors, targets present}, mse the
    /// same, softmax_cross_entropy {sum of -log p(class), samples with a target}, binary_cross_entropy {sum of
    /// the element losses, elements}.
    struct Terms {
        double sum = 0;
        double count = 0;
    };

    /// The loss's terms over one batch (evaluation); no gradient.
    virtual Terms terms(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target) = 0;

    /// The loss of a batch from its terms: sum / count (0 without targets); sse, a sum over its batch, is sum.
    virtual double fromTerms(const Terms& terms) const { return terms.count > 0 ? terms.sum / terms.count : 0.0; }

    /// The loss over a whole set of `samples` samples from the sum of its chunks' terms, by the formula
    /// docs/hdf5-schema.md gives for /eval/loss: fromTerms() of the totals for the mean losses; sse, whose
    /// value grows with the batch, is scaled to the training batch size: sum * batchSize / samples.
    virtual double overSet(const Terms& total, Index samples, Index batchSize) const {
        (void)samples;
        (void)batchSize;
        return fromTerms(total);
    }

    /// The loss only (evaluation); no gradient: fromTerms(terms()).
    double value(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target) {
        return fromTerms(terms(prediction, target));
    }

    /// Number of correct predictions in the batch (classification losses); -1 when accuracy is not defined.
    virtual double correct(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target) const { return -1; }

    /// Number of predictions correct() counted over (the unmasked ones).
    virtual double counted(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target) const {
        return static_cast<double>(prediction.cols());
    }

    /// Masked mode, for sequence data: a NaN target means "no target here"; it adds nothing to the loss or
    /// the gradient, and means are taken over the targets that are there. Off: targets are all finite and
    /// no time is spent looking.
    void setMasked(bool masked) { masked_ = masked; }

    /// One-hot class targets for a loss on numeric targets (mse, sse on `targets: one_hot` image data): then
    /// correct() counts the columns whose largest output is in the row of the target's 1 (accuracy, as for
    /// softmax_cross_entropy), over the columns with a target (counted()).
    void setOneHotClasses(bool oneHot) { oneHotClasses_ = oneHot; }

protected:
    /// correct() of one-hot targets: columns whose prediction's argmax is the target's argmax (a column with a
    /// NaN target, masked, is skipped).
    static double argmaxHits(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target) {
        double hits = 0;
        for (Index b = 0; b < prediction.cols(); ++b) {
            if (!target.col(b).allFinite()) continue;
            Index predicted, actual;
            prediction.col(b).maxCoeff(&predicted);
            target.col(b).maxCoeff(&actual);
            hits += predicted == actual ? 1 : 0;
        }
        return hits;
    }
    /// counted() of one-hot targets: the columns with a (finite) target.
    static double targetColumns(const Matrix<Scalar>& target) {
        double count = 0;
        for (Index b = 0; b < target.cols(); ++b) count += target.col(b).allFinite() ? 1 : 0;
        return count;
    }

    bool masked_ = false;
    bool oneHotClasses_ = false;
};

/// Makes a loss by name: "sse" (sum of squared errors, as in the classic two-layer example: sum (p - y)^2),
/// "mse" (mean over every element), "softmax_cross_entropy" (mean over the batch; class-index or one-hot
/// targets), "binary_cross_entropy" (mean over every element; predictions are logits if fromLogits).
template <typename Scalar>
std::unique_ptr<Loss<Scalar>> makeLoss(const std::string& kind, bool fromLogits);

}  // namespace gradlab
