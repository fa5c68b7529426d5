#pragma once
/// @file norms.hpp
/// L2 norms, means and spreads for tracing: vectorised in the run's precision, yet correct to a few ulps of
/// the double result for any finite input in both precisions, subnormals (1e-45 in float32, 5e-324 in
/// float64) and values near the overflow limit included: vanishing gradients are what the trace is for.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "gradlab/tensor.hpp"

namespace gradlab {
namespace detail {

/// The sum of eight packet accumulators, pairwise, then lane by lane: the one reduction of sumOfSquares() and
/// addAndSumSquares(), so that they round alike.
template <typename Scalar, typename Packet>
Scalar reduceAccumulators(const Packet (&a)[8]) {
    using Eigen::internal::padd;
    constexpr int width = Eigen::internal::unpacket_traits<Packet>::size;
    Scalar lanes[width];
    Eigen::internal::pstoreu(lanes, padd(padd(padd(a[0], a[1]), padd(a[2], a[3])), padd(padd(a[4], a[5]), padd(a[6], a[7]))));
    Scalar sum(0);
    for (int lane = 0; lane < width; ++lane) sum += lanes[lane];
    return sum;
}

/// The sum of squares of a plain matrix's contiguous coefficients in eight independent packet accumulators:
/// a norm per parameter and per layer at every traced step is memory-bound only if the additions do not wait
/// on each other (Eigen's squaredNorm() keeps one or two chains: ~1.7x slower on data in L2).
template <typename Scalar>
Scalar sumOfSquares(const Scalar* data, Eigen::Index size) {
    using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
    constexpr Eigen::Index width = Eigen::internal::packet_traits<Scalar>::size;
    Eigen::Index i = 0;
    Scalar sum(0);
    if constexpr (width > 1) {
        using Eigen::internal::ploadu;
        using Eigen::internal::pmadd;
        const Packet zero = Eigen::internal::pset1<Packet>(Scalar(0));
        Packet a[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        for (; i + 8 * width <= size; i += 8 * width)
            for (int k = 0; k < 8; ++k) {
                const Packet x = ploadu<Packet>(data + i + k * width);
                a[k] = pmadd(x, x, a[k]);
            }
        for (; i + width <= size; i += width) {
            const Packet x = ploadu<Packet>(data + i);
            a[0] = pmadd(x, x, a[0]);
        }
        sum = reduceAccumulators<Scalar>(a);
    }
    for (; i < size; ++i) sum = std::fma(data[i], data[i], sum);
    return sum;
}

/// value += delta over `size` contiguous coefficients, leaving in delta the realised change (value after -
/// value before, computed in Scalar: 0 where delta is below value's rounding level), with the sums of squares
/// of that change and of the new value accumulated exactly as sumOfSquares() accumulates them (same packets,
/// same accumulators, same order): bit for bit sumOfSquares() of delta and of value afterwards.
template <typename Scalar>
void addAndSumSquares(Scalar* value, Scalar* delta, Eigen::Index size, Scalar& changeSquares, Scalar& valueSquares) {
    using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
    constexpr Eigen::Index width = Eigen::internal::packet_traits<Scalar>::size;
    Eigen::Index i = 0;
    changeSquares = Scalar(0);
    valueSquares = Scalar(0);
    if constexpr (width > 1) {
        using Eigen::internal::padd;
        using Eigen::internal::ploadu;
        using Eigen::internal::pmadd;
        using Eigen::internal::pstoreu;
        using Eigen::internal::psub;
        const Packet zero = Eigen::internal::pset1<Packet>(Scalar(0));
        Packet d[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        Packet v[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        for (; i + 8 * width <= size; i += 8 * width)
            for (int k = 0; k < 8; ++k) {
                const Packet before = ploadu<Packet>(value + i + k * width);
                const Packet updated = padd(before, ploadu<Packet>(delta + i + k * width));
                const Packet change = psub(updated, before);
                pstoreu(value + i + k * width, updated);
                pstoreu(delta + i + k * width, change);
                d[k] = pmadd(change, change, d[k]);
                v[k] = pmadd(updated, updated, v[k]);
            }
        for (; i + width <= size; i += width) {
            const Packet before = ploadu<Packet>(value + i);
            const Packet updated = padd(before, ploadu<Packet>(delta + i));
            const Packet change = psub(updated, before);
            pstoreu(value + i, updated);
            pstoreu(delta + i, change);
            d[0] = pmadd(change, change, d[0]);
            v[0] = pmadd(updated, updated, v[0]);
        }
        changeSquares = reduceAccumulators<Scalar>(d);
        valueSquares = reduceAccumulators<Scalar>(v);
    }
    for (; i < size; ++i) {
        const Scalar before = value[i];
        value[i] = before + delta[i];
        delta[i] = value[i] - before;
        changeSquares = std::fma(delta[i], delta[i], changeSquares);
        valueSquares = std::fma(value[i], value[i], valueSquares);
    }
}

/// The accumulator in which squares of Scalar neither underflow nor overflow: double for float (squares of
/// float32 values lie in [2e-90, 1.2e77]), long double for double (x87 extended or quad precision).
template <typename Scalar>
using WideOf = std::conditional_t<std::is_same_v<Scalar, float>, double, long double>;

static_assert(std::numeric_limits<long double>::max_exponent >= 2 * std::numeric_limits<double>::max_exponent &&
                  -std::numeric_limits<long double>::min_exponent >=
                      -2 * std::numeric_limits<double>::min_exponent + 2 * std::numeric_limits<double>::digits,
              "the exact norms need a long double whose range holds the square of every double");

/// The sum of squares of `size` contiguous coefficients, accumulated in WideOf<Scalar>: no square of a finite
/// value underflows or overflows, subnormals and values near the overflow limit included.
template <typename Scalar>
WideOf<Scalar> wideSumOfSquares(const Scalar* data, Eigen::Index size) {
    using Wide = WideOf<Scalar>;
    Wide a[4] = {0, 0, 0, 0};
    Eigen::Index i = 0;
    for (; i + 4 <= size; i += 4)
        for (int k = 0; k < 4; ++k) a[k] += static_cast<Wide>(data[i + k]) * static_cast<Wide>(data[i + k]);
    for (; i < size; ++i) a[0] += static_cast<Wide>(data[i]) * static_cast<Wide>(data[i]);
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/// Whether a sum of squares of `size` values accumulated in Scalar can be trusted: squares below Scalar's
/// smallest normal lose at most size * min in the sum, which above size * min / epsilon is below epsilon
/// relative; an infinite or NaN sum is never trusted (it may come from an overflow of finite values).
template <typename Scalar>
bool trustedSquares(Scalar squares, Eigen::Index size) {
    const Scalar trusted =
        static_cast<Scalar>(size) * std::numeric_limits<Scalar>::min() / std::numeric_limits<Scalar>::epsilon();
    return squares >= trusted && squares <= std::numeric_limits<Scalar>::max();
}

/// ||m||^2 in Scalar: the packet loop above for plain matrices, Eigen's squaredNorm() for expressions.
template <typename Derived>
typename Derived::Scalar squaredNorm(const Eigen::MatrixBase<Derived>& m) {
    if constexpr (std::is_base_of_v<Eigen::PlainObjectBase<Derived>, Derived>)
        return sumOfSquares(m.derived().data(), m.size());
    else
        return m.squaredNorm();
}

}  // namespace detail

/// ||m||_2 as a double, given `squares`, m's sum of squares computed in Scalar. When that sum cannot be
/// trusted (squares of tiny entries underflowed, it overflowed, or it is not finite), the sum is taken again
/// in WideOf<Scalar>, where no square of a finite value under- or overflows: the norm is then correct to a few
/// ulps for any finite input, subnormals included. NaN or Inf anywhere gives NaN or Inf; a norm beyond
/// double's range (doubles near the overflow limit only) is Inf.
template <typename Derived>
double l2NormFromSquares(const Eigen::MatrixBase<Derived>& m, typename Derived::Scalar squares) {
    using Scalar = typename Derived::Scalar;
    if (m.size() == 0) return 0.0;
    if (detail::trustedSquares(squares, m.size())) return std::sqrt(static_cast<double>(squares));
    if constexpr (std::is_base_of_v<Eigen::PlainObjectBase<Derived>, Derived>)
        return static_cast<double>(std::sqrt(detail::wideSumOfSquares(m.derived().data(), m.size())));
    else
        return static_cast<double>(std::sqrt(m.template cast<detail::WideOf<Scalar>>().squaredNorm()));
}

/// ||m||_2 as a double: l2NormFromSquares() of m's sum of squares in Scalar.
template <typename Derived>
double l2Norm(const Eigen::MatrixBase<Derived>& m) {
    if (m.size() == 0) return 0.0;
    return l2NormFromSquares(m, detail::squaredNorm(m));
}

/// The L2 norm of norms added one by one (the global gradient norm from the per-parameter ones), in range for
/// any finite norms: squares of doubles below 1e-154 underflow, so a plain sqrt(sum n_i^2) would give 0. The
/// classic scaled sum (LAPACK's dnrm2): scale = the largest norm so far, sum = sum of (n_i / scale)^2.
class NormAccumulator {
public:
    void add(double norm) {
        const double magnitude = std::abs(norm);
        if (!(magnitude <= std::numeric_limits<double>::max())) {  // NaN or Inf: propagates
            scale_ = magnitude != magnitude || scale_ != scale_ ? NAN : INFINITY;
            sum_ = 1;
            return;
        }
        if (magnitude == 0 || scale_ != scale_ || scale_ == INFINITY) return;
        if (magnitude > scale_) {
            const double ratio = scale_ / magnitude;
            sum_ = 1 + sum_ * ratio * ratio;
            scale_ = magnitude;
        } else {
            const double ratio = magnitude / scale_;
            sum_ += ratio * ratio;
        }
    }
    /// sqrt(sum of the squares of the norms added); 0 when none (or all 0).
    double norm() const { return scale_ == 0 ? 0.0 : scale_ * std::sqrt(sum_); }

private:
    double scale_ = 0, sum_ = 0;
};

/// The L2 norm of `count` norms: NormAccumulator over them.
inline double l2NormOfNorms(const double* norms, std::size_t count) {
    NormAccumulator total;
    for (std::size_t i = 0; i < count; ++i) total.add(norms[i]);
    return total.norm();
}

/// value += delta in one pass that also gives ||change||, the realised change (value after - value before,
/// left in delta), and ||value|| afterwards, bit for bit what l2Norm() gives on each (the trainer's traced
/// update: the norms cost no pass of their own).
template <typename Scalar>
void addWithNorms(Matrix<Scalar>& value, Matrix<Scalar>& delta, double& changeNorm, double& valueNorm) {
    Scalar changeSquares, valueSquares;
    detail::addAndSumSquares(value.data(), delta.data(), value.size(), changeSquares, valueSquares);
    changeNorm = l2NormFromSquares(delta, changeSquares);
    valueNorm = l2NormFromSquares(value, valueSquares);
}

/// Mean and standard deviation (over all the values: the population deviation) of a layer's output.
struct Moments {
    double mean = 0;
    double deviation = 0;
};

namespace detail {

/// Mean and deviation in long double, two passes: correct to a few ulps for any finite input (the fallback of
/// meanAndDeviation()).
template <typename Scalar>
Moments wideMoments(const Scalar* data, Eigen::Index size) {
    long double sum = 0;
    for (Eigen::Index i = 0; i < size; ++i) sum += static_cast<long double>(data[i]);
    const long double mean = sum / static_cast<long double>(size);
    long double squares = 0;
    for (Eigen::Index i = 0; i < size; ++i) {
        const long double d = static_cast<long double>(data[i]) - mean;
        squares += d * d;
    }
    return {static_cast<double>(mean), static_cast<double>(std::sqrt(squares / static_cast<long double>(size)))};
}

}  // namespace detail

namespace detail {

/// Sums of x - shift and of (x - shift)^2 over `size` coefficients, in double, 32 independent accumulators each.
template <typename Scalar>
void shiftedSums(const Scalar* data, Eigen::Index size, double shift, double& sum, double& squares) {
    constexpr int lanes = 32;
    double s[lanes] = {}, q[lanes] = {};
    Eigen::Index i = 0;
    for (; i + lanes <= size; i += lanes)
        for (int k = 0; k < lanes; ++k) {
            const double d = static_cast<double>(data[i + k]) - shift;
            s[k] += d;
            q[k] += d * d;
        }
    for (int k = 0; i < size; ++i, ++k) {
        const double d = static_cast<double>(data[i]) - shift;
        s[k] += d;
        q[k] += d * d;
    }
    for (int width = lanes / 2; width > 0; width /= 2)
        for (int k = 0; k < width; ++k) {
            s[k] += s[k + width];
            q[k] += q[k + width];
        }
    sum = s[0];
    squares = q[0];
}

}  // namespace detail

/// Mean and standard deviation of `size` contiguous coefficients in one shifted pass accumulated in double:
/// with c the first value, mean = c + S / n and variance = (Q - S^2 / n) / n for S = sum (x - c) and Q = sum
/// (x - c)^2, so that E[y^2] - E[y]^2 does not cancel (outputs that are all equal have deviation exactly 0).
/// When c lies far from the mean (|S / n| above 16 times the larger of the deviation and |mean|: the first value
/// is an outlier, and x - c would round away the digits that matter) a second pass re-centres on the mean. float32
/// data lose nothing in double; double data whose squared deviations may have underflowed or whose sums
/// overflowed take a long double two-pass instead. NaN or Inf anywhere gives NaN (or Inf). Requires size > 0.
template <typename Scalar>
Moments meanAndDeviation(const Scalar* data, Eigen::Index size) {
    double shift = static_cast<double>(data[0]);
    if (!std::isfinite(shift)) return detail::wideMoments(data, size);
    const double n = static_cast<double>(size);
    double sum = 0, squares = 0;
    for (int pass = 0; pass < 2; ++pass) {
        detail::shiftedSums(data, size, shift, sum, squares);
        if (!std::isfinite(sum) || !std::isfinite(squares)) return detail::wideMoments(data, size);
        if constexpr (!std::is_same_v<Scalar, float>) {
            // Squared deviations of doubles may underflow: a small sum is trusted only when every deviation is 0.
            if (!detail::trustedSquares(squares, size)) {
                for (Eigen::Index j = 0; j < size; ++j)
                    if (static_cast<double>(data[j]) != shift) return detail::wideMoments(data, size);
                return {shift, 0.0};
            }
        }
        const double offset = sum / n;
        const double variance = std::max(0.0, (squares - sum * offset) / n);
        const double mean = shift + offset;
        if (pass == 1 || offset * offset <= 256 * std::max(variance, mean * mean)) return {mean, std::sqrt(variance)};
        shift += offset;  // the first value was an outlier: centre on the mean and sum again
    }
    return {shift, 0.0};  // not reached
}

}  // namespace gradlab
