#include "model/loss.hpp"

#include <cmath>

#include "gradlab/error.hpp"

namespace gradlab {
namespace {

template <typename Scalar>
void checkShapes(const Matrix<Scalar>& prediction, const Matrix<Scalar>& target, const char* loss) {
    if (prediction.rows() != target.rows() || prediction.cols() != target.cols())
        throw Error(std::string(loss) + ": the model's output is [" + std::to_string(prediction.rows()) + " x " +
                    std::to_string(prediction.cols()) + "] but the targets are [" + std::to_string(target.rows()) +
                    " x " + std::to_string(target.cols()) + "]");
}

/// gradient = p - y, with 0 where a target is NaN (masked) when masked.
template <typename Scalar>
void residual(const Matrix<Scalar>& p, const Matrix<Scalar>& y, Matrix<Scalar>& gradient, bool masked) {
    gradient.resize(p.rows(), p.cols());
    if (masked)
        gradient.array() = (y.array() == y.array()).select(p.array() - y.array(), Scalar(0));
    else
        gradient.noalias() = p - y;
}

/// The number of targets present: all of them, or the non-NaN ones when masked.
template <typename Scalar>
double present(const Matrix<Scalar>& y, bool masked) {
    return masked ? static_cast<double>((y.array() == y.array()).count()) : static_cast<double>(y.size());
}

/// sum (p - y)^2 over the targets present, in double.
template <typename Scalar>
double squaredError(const Matrix<Scalar>& p, const Matrix<Scalar>& y, bool masked) {
    if (masked) return static_cast<double>((y.array() == y.array()).select(p - y, Scalar(0)).matrix().squaredNorm());
    return static_cast<double>((p - y).squaredNorm());
}

/// sum (p - y)^2, gradient 2 (p - y).
template <typename Scalar>
class SumSquaredError : public Loss<Scalar> {
public:
    double evaluate(const Matrix<Scalar>& p, const Matrix<Scalar>& y, Matrix<Scalar>& gradient) override {
        checkShapes(p, y, "sse");
        residual(p, y, gradient, this->masked_);
        const double loss = static_cast<double>(gradient.squaredNorm());
        gradient *= Scalar(2);
        return loss;
    }
    typename Loss<Scalar>::Terms terms(const Matrix<Scalar>& p, const Matrix<Scalar>& y) override {
        checkShapes(p, y, "sse");
        return {squaredError(p, y, this->masked_), present(y, this->masked_)};
    }
    double fromTerms(const typename Loss<Scalar>::Terms& terms) const override { return terms.sum; }
    double overSet(const typename Loss<Scalar>::Terms& total, Index samples, Index batchSize) const override {
        return samples > 0 ? total.sum * static_cast<double>(batchSize) / static_cast<double>(samples) : 0.0;
    }
    double correct(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        return this->oneHotClasses_ ? this->argmaxHits(p, y) : -1.0;
    }
    double counted(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        return this->oneHotClasses_ ? this->targetColumns(y) : static_cast<double>(p.cols());
    }
};

/// mean (p - y)^2 over every element, gradient 2 (p - y) / n.
template <typename Scalar>
class MeanSquaredError : public Loss<Scalar> {
public:
    double evaluate(const Matrix<Scalar>& p, const Matrix<Scalar>& y, Matrix<Scalar>& gradient) override {
        checkShapes(p, y, "mse");
        const double count = present(y, this->masked_);
        residual(p, y, gradient, this->masked_);
        if (count == 0) {
            gradient.setZero();
            return 0.0;
        }
        const double loss = static_cast<double>(gradient.squaredNorm()) / count;
        gradient *= static_cast<Scalar>(2.0 / count);
        return loss;
    }
    typename Loss<Scalar>::Terms terms(const Matrix<Scalar>& p, const Matrix<Scalar>& y) override {
        checkShapes(p, y, "mse");
        return {squaredError(p, y, this->masked_), present(y, this->masked_)};
    }
    double correct(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        return this->oneHotClasses_ ? this->argmaxHits(p, y) : -1.0;
    }
    double counted(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        return this->oneHotClasses_ ? this->targetColumns(y) : static_cast<double>(p.cols());
    }
};

/// -mean_b log softmax(p_b)[y_b]; gradient (softmax(p) - onehot(y)) / batch. Stable: shifts by the column max.
template <typename Scalar>
class SoftmaxCrossEntropy : public Loss<Scalar> {
public:
    double evaluate(const Matrix<Scalar>& p, const Matrix<Scalar>& y, Matrix<Scalar>& gradient) override {
        return compute(p, y, &gradient, nullptr);
    }
    typename Loss<Scalar>::Terms terms(const Matrix<Scalar>& p, const Matrix<Scalar>& y) override {
        typename Loss<Scalar>::Terms terms;
        compute(p, y, nullptr, &terms);
        return terms;
    }

    double correct(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        double hits = 0;
        for (Index b = 0; b < p.cols(); ++b) {
            if (targetClass(y, b) < 0) continue;
            Index predicted;
            p.col(b).maxCoeff(&predicted);
            hits += predicted == targetClass(y, b) ? 1 : 0;
        }
        return hits;
    }

    double counted(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        double count = 0;
        for (Index b = 0; b < p.cols(); ++b) count += targetClass(y, b) < 0 ? 0 : 1;
        return count;
    }

private:
    /// The class of column b; -1 for a masked (NaN) target.
    static Index targetClass(const Matrix<Scalar>& y, Index b) {
        if (y.rows() == 1) return y(0, b) == y(0, b) ? static_cast<Index>(y(0, b)) : Index(-1);
        if (!(y.col(b).array() == y.col(b).array()).all()) return -1;
        Index index;
        y.col(b).maxCoeff(&index);
        return index;
    }

    /// The loss, with its gradient and its terms when asked.
    double compute(const Matrix<Scalar>& p, const Matrix<Scalar>& y, Matrix<Scalar>* gradient,
                   typename Loss<Scalar>::Terms* terms) {
        if (y.cols() != p.cols() || (y.rows() != 1 && y.rows() != p.rows()))
            throw Error("softmax_cross_entropy: the model's output is [" + std::to_string(p.rows()) + " x " +
                        std::to_string(p.cols()) + "], the targets [" + std::to_string(y.rows()) + " x " +
                        std::to_string(y.cols()) + "]: expected class indices [1 x batch] or one-hot [" +
                        std::to_string(p.rows()) + " x batch]");
        const Index batch = p.cols();
        shifted_.resize(p.rows(), p.cols());
        shifted_.noalias() = p.rowwise() - p.colwise().maxCoeff();
        probabilities_.resize(p.rows(), p.cols());
        probabilities_.array() = shifted_.array().exp();
        sums_.resize(1, p.cols());
        sums_.noalias() = probabilities_.colwise().sum();
        double loss = 0;
        double count = 0;
        for (Index b = 0; b < batch; ++b) {
            const Index label = targetClass(y, b);
            if (label < 0 && this->masked_) continue;
            count += 1;
            if (label < 0 || label >= p.rows())
                throw Error("softmax_cross_entropy: class " + std::to_string(label) + " outside [0, " +
                            std::to_string(p.rows()) + ")");
            loss += std::log(static_cast<double>(sums_(0, b))) - static_cast<double>(shifted_(label, b));
        }
        if (terms) *terms = {loss, count};
        if (count == 0) {
            if (gradient) gradient->setZero(p.rows(), p.cols());
            return 0.0;
        }
        if (gradient) {
            const Scalar share = static_cast<Scalar>(1.0 / count);
            gradient->resize(p.rows(), p.cols());
            gradient->noalias() = probabilities_ * share;
            gradient->array().rowwise() /= sums_.array().row(0);
            for (Index b = 0; b < batch; ++b) {
                const Index label = targetClass(y, b);
                if (label < 0)
                    gradient->col(b).setZero();
                else
                    (*gradient)(label, b) -= share;
            }
        }
        return loss / count;
    }

    Matrix<Scalar> shifted_, probabilities_, sums_;
};

/// mean over elements of -[y log s(p) + (1-y) log(1 - s(p))]; from logits it is computed stably as
/// max(p,0) - p y + log(1 + e^-|p|), gradient (s(p) - y) / n. Without logits p is a probability.
template <typename Scalar>
class BinaryCrossEntropy : public Loss<Scalar> {
public:
    explicit BinaryCrossEntropy(bool fromLogits) : fromLogits_(fromLogits) {}

    double evaluate(const Matrix<Scalar>& p, const Matrix<Scalar>& y, Matrix<Scalar>& gradient) override {
        checkShapes(p, y, "binary_cross_entropy");
        if (this->masked_)
            throw Error("binary_cross_entropy does not take masked (NaN) targets; use softmax_cross_entropy with "
                        "two classes");
        const double count = static_cast<double>(p.size());
        gradient.resize(p.rows(), p.cols());
        if (fromLogits_) {
            gradient.array() = (Scalar(1) / (Scalar(1) + (-p.array()).exp()) - y.array()) / Scalar(count);
        } else {
            const Scalar epsilon = std::numeric_limits<Scalar>::epsilon();
            gradient.array() =
                (p.array() - y.array()) / ((p.array() * (Scalar(1) - p.array())).max(epsilon) * Scalar(count));
        }
        return this->value(p, y);
    }
    typename Loss<Scalar>::Terms terms(const Matrix<Scalar>& p, const Matrix<Scalar>& y) override {
        checkShapes(p, y, "binary_cross_entropy");
        const auto pd = p.template cast<double>().array();
        const auto yd = y.template cast<double>().array();
        double total;
        if (fromLogits_) {
            total = (pd.max(0.0) - pd * yd + (1.0 + (-pd.abs()).exp()).log()).sum();
        } else {
            const double epsilon = 1e-300;
            total = -(yd * pd.max(epsilon).log() + (1.0 - yd) * (1.0 - pd).max(epsilon).log()).sum();
        }
        return {total, static_cast<double>(p.size())};
    }
    double correct(const Matrix<Scalar>& p, const Matrix<Scalar>& y) const override {
        const Scalar threshold = fromLogits_ ? Scalar(0) : Scalar(0.5);
        return static_cast<double>(((p.array() > threshold) == (y.array() > Scalar(0.5))).count()) /
               static_cast<double>(p.rows());
    }

private:
    bool fromLogits_;
};

}  // namespace

template <typename Scalar>
std::unique_ptr<Loss<Scalar>> makeLoss(const std::string& kind, bool fromLogits) {
    if (kind == "sse") return std::make_unique<SumSquaredError<Scalar>>();
    if (kind == "mse") return std::make_unique<MeanSquaredError<Scalar>>();
    if (kind == "softmax_cross_entropy") return std::make_unique<SoftmaxCrossEntropy<Scalar>>();
    if (kind == "binary_cross_entropy") return std::make_unique<BinaryCrossEntropy<Scalar>>(fromLogits);
    throw Error("unknown loss '" + kind + "' (known: binary_cross_entropy, mse, softmax_cross_entropy, sse)");
}

template std::unique_ptr<Loss<float>> makeLoss<float>(const std::string&, bool);
template std::unique_ptr<Loss<double>> makeLoss<double>(const std::string&, bool);

}  // namespace gradlab
