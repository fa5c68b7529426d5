#pragma once
/// @file norms.hpp
/// L2 norms for tracing: vectorised in the run's precision, yet exact in range for values far below
/// float32's (vanishing gradients of 1e-30 and less are what the trace is for).

#include <Eigen/Core>
#include <cmath>
#include <limits>

namespace gradlab {

/// ||m||_2 as a double. Usually one vectorised pass, the sum of squares in Scalar; when that sum is too small
/// to trust (squares of tiny entries may have underflowed), overflows, or is not finite, a second, scaled
/// computation: largest magnitude first, then the sum of squares of m / largest. NaN or Inf anywhere gives
/// NaN or Inf.
template <typename Derived>
double l2Norm(const Eigen::MatrixBase<Derived>& m) {
    using Scalar = typename Derived::Scalar;
    if (m.size() == 0) return 0.0;
    const Scalar squares = m.squaredNorm();
    // Entries whose squares underflow (below Scalar's smallest normal) lose at most size * min in the sum:
    // with the sum above size * min / epsilon that is below epsilon relative.
    const Scalar trusted = static_cast<Scalar>(m.size()) * std::numeric_limits<Scalar>::min() /
                           std::numeric_limits<Scalar>::epsilon();
    if (squares >= trusted && squares < std::numeric_limits<Scalar>::infinity())
        return std::sqrt(static_cast<double>(squares));
    const Scalar largest = m.cwiseAbs().template maxCoeff<Eigen::PropagateNaN>();
    if (!(largest < std::numeric_limits<Scalar>::infinity())) return static_cast<double>(largest);  // NaN, Inf
    if (largest == Scalar(0)) return 0.0;
    const Scalar scale = Scalar(1) / largest;
    return static_cast<double>(largest) * std::sqrt(static_cast<double>((m * scale).squaredNorm()));
}

}  // namespace gradlab
