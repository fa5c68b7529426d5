/// @file orthogonal.cpp
/// The orthogonal initializer (Saxe et al. 2014, "Exact solutions to the nonlinear dynamics of learning in deep
/// linear neural networks"): with it, deep linear networks have depth-independent learning times.

#include <Eigen/QR>
#include <algorithm>

#include "gradlab/sdk.hpp"

namespace {

/// W = gain Q for [rows x cols] W: A is a [max x min] matrix of N(0, 1) draws (column-major), A = Q R its thin
/// QR, Q's columns multiplied by sign(diag(R)) so that Q is Haar-distributed (Mezzadri 2007); transposed
/// when rows < cols. ensures: W^T W = gain^2 I (rows >= cols) or W W^T = gain^2 I (rows < cols).
/// Computed in double for both precisions, so float and double runs start from the same values.
template <typename Scalar>
class Orthogonal : public gradlab::Initializer<Scalar> {
public:
    /// Reads `gain`.
    explicit Orthogonal(const gradlab::Options& options) : gain_(options.real("gain")) {}

    void initialize(gradlab::Matrix<Scalar>& value, const gradlab::ParameterInit& init,
                    gradlab::Random& random) override {
        const gradlab::Index rows = value.rows(), cols = value.cols();
        if (rows == 0 || cols == 0) return;
        const gradlab::Index tall = std::max(rows, cols), narrow = std::min(rows, cols);
        Eigen::MatrixXd gaussian(tall, narrow);
        double* data = gaussian.data();
        for (gradlab::Index i = 0; i < gaussian.size(); ++i) data[i] = random.normal();
        Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian);
        Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(tall, narrow);
        for (gradlab::Index j = 0; j < narrow; ++j)
            if (qr.matrixQR()(j, j) < 0) q.col(j) = -q.col(j);
        q *= gain_;
        if (rows >= cols)
            value = q.cast<Scalar>();
        else
            value = q.transpose().cast<Scalar>();
    }

private:
    double gain_ = 1.0;
};

}  // namespace

GRADLAB_PLUGIN("gradlab_initializers_orthogonal", "1.0.0", registry) {
    registry.addInitializer<Orthogonal>("orthogonal", "gain Q, Q a random orthogonal matrix from a Gaussian's QR "
                                                      "(Saxe et al. 2014); W^T W = gain^2 I")
        .option(gradlab::OptionSpec::real("gain", 1.0, "scale: W^T W = gain^2 I (gain 1 preserves norms)").min(0.0));
}
