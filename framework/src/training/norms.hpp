#pragma once
/// @file norms.hpp
/// L2 norms for tracing: vectorised in the run's precision, yet exact in range for values far below
/// float32's (vanishing gradients of 1e-30 and less are what the trace is for).

#include <Eigen/Core>
#include <cmath>
#include <limits>

namespace gradlab {

/// ||m||_2 as a double. Two vectorised passes: the largest magnitude, then the sum of squares, scaled by it
/// only when squaring could underflow or overflow in Scalar. NaN or Inf anywhere gives NaN or Inf.
template <typename Derived>
double l2Norm(const Eigen::MatrixBase<Derived>& m) {
    using Scalar = typename Derived::Scalar;
    if (m.size() == 0) return 0.0;
    const Scalar largest = m.cwiseAbs().template maxCoeff<Eigen::PropagateNaN>();
    if (!(largest < std::numeric_limits<Scalar>::infinity())) return static_cast<double>(largest);  // NaN, Inf
    if (largest == Scalar(0)) return 0.0;
    // Squares of values within [low, high] neither underflow to zero nor overflow, even summed over 1e9 terms.
    const Scalar low = std::sqrt(std::numeric_limits<Scalar>::min()) * Scalar(1e4);
    const Scalar high = std::sqrt(std::numeric_limits<Scalar>::max()) * Scalar(1e-5);
    if (largest > low && largest < high) return std::sqrt(static_cast<double>(m.squaredNorm()));
    const Scalar scale = Scalar(1) / largest;
    return static_cast<double>(largest) * std::sqrt(static_cast<double>((m * scale).squaredNorm()));
}

}  // namespace gradlab
