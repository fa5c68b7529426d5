#pragma once
/// @file norms.hpp
/// L2 norms for tracing: vectorised in the run's precision, yet exact in range for values far below
/// float32's (vanishing gradients of 1e-30 and less are what the trace is for).

#include <Eigen/Core>
#include <cmath>
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

/// value += delta over `size` contiguous coefficients, with the sums of squares of delta and of the new value
/// accumulated exactly as sumOfSquares() accumulates them (same packets, same accumulators, same order): the
/// norms it gives are bit for bit those of sumOfSquares() on delta and on value afterwards.
template <typename Scalar>
void addAndSumSquares(Scalar* value, const Scalar* delta, Eigen::Index size, Scalar& deltaSquares,
                      Scalar& valueSquares) {
    using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
    constexpr Eigen::Index width = Eigen::internal::packet_traits<Scalar>::size;
    Eigen::Index i = 0;
    deltaSquares = Scalar(0);
    valueSquares = Scalar(0);
    if constexpr (width > 1) {
        using Eigen::internal::padd;
        using Eigen::internal::ploadu;
        using Eigen::internal::pmadd;
        using Eigen::internal::pstoreu;
        const Packet zero = Eigen::internal::pset1<Packet>(Scalar(0));
        Packet d[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        Packet v[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        for (; i + 8 * width <= size; i += 8 * width)
            for (int k = 0; k < 8; ++k) {
                const Packet change = ploadu<Packet>(delta + i + k * width);
                const Packet updated = padd(ploadu<Packet>(value + i + k * width), change);
                pstoreu(value + i + k * width, updated);
                d[k] = pmadd(change, change, d[k]);
                v[k] = pmadd(updated, updated, v[k]);
            }
        for (; i + width <= size; i += width) {
            const Packet change = ploadu<Packet>(delta + i);
            const Packet updated = padd(ploadu<Packet>(value + i), change);
            pstoreu(value + i, updated);
            d[0] = pmadd(change, change, d[0]);
            v[0] = pmadd(updated, updated, v[0]);
        }
        deltaSquares = reduceAccumulators<Scalar>(d);
        valueSquares = reduceAccumulators<Scalar>(v);
    }
    for (; i < size; ++i) {
        value[i] += delta[i];
        deltaSquares = std::fma(delta[i], delta[i], deltaSquares);
        valueSquares = std::fma(value[i], value[i], valueSquares);
    }
}

/// The sum and the sum of squares of `size` contiguous coefficients in one pass (eight accumulators each).
template <typename Scalar>
void sumAndSumOfSquares(const Scalar* data, Eigen::Index size, Scalar& sum, Scalar& squares) {
    using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
    constexpr Eigen::Index width = Eigen::internal::packet_traits<Scalar>::size;
    Eigen::Index i = 0;
    sum = Scalar(0);
    squares = Scalar(0);
    if constexpr (width > 1) {
        using Eigen::internal::padd;
        using Eigen::internal::ploadu;
        using Eigen::internal::pmadd;
        const Packet zero = Eigen::internal::pset1<Packet>(Scalar(0));
        Packet s[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        Packet q[8] = {zero, zero, zero, zero, zero, zero, zero, zero};
        for (; i + 8 * width <= size; i += 8 * width)
            for (int k = 0; k < 8; ++k) {
                const Packet x = ploadu<Packet>(data + i + k * width);
                s[k] = padd(s[k], x);
                q[k] = pmadd(x, x, q[k]);
            }
        for (; i + width <= size; i += width) {
            const Packet x = ploadu<Packet>(data + i);
            s[0] = padd(s[0], x);
            q[0] = pmadd(x, x, q[0]);
        }
        sum = reduceAccumulators<Scalar>(s);
        squares = reduceAccumulators<Scalar>(q);
    }
    for (; i < size; ++i) {
        sum += data[i];
        squares = std::fma(data[i], data[i], squares);
    }
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

/// ||m||_2 as a double, given `squares`, m's sum of squares computed in Scalar; when that sum is too small
/// to trust (squares of tiny entries may have underflowed), overflows, or is not finite, a second, scaled
/// computation: largest magnitude first, then the sum of squares of m / largest. NaN or Inf anywhere gives
/// NaN or Inf.
template <typename Derived>
double l2NormFromSquares(const Eigen::MatrixBase<Derived>& m, typename Derived::Scalar squares) {
    using Scalar = typename Derived::Scalar;
    if (m.size() == 0) return 0.0;
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

/// ||m||_2 as a double: l2NormFromSquares() of m's sum of squares in Scalar.
template <typename Derived>
double l2Norm(const Eigen::MatrixBase<Derived>& m) {
    if (m.size() == 0) return 0.0;
    return l2NormFromSquares(m, detail::squaredNorm(m));
}

/// value += delta in one pass that also gives ||delta|| and ||value|| afterwards, bit for bit what l2Norm()
/// gives on each (the trainer's traced update: the norms cost no pass of their own).
template <typename Scalar>
void addWithNorms(Matrix<Scalar>& value, const Matrix<Scalar>& delta, double& deltaNorm, double& valueNorm) {
    Scalar deltaSquares, valueSquares;
    detail::addAndSumSquares(value.data(), delta.data(), value.size(), deltaSquares, valueSquares);
    deltaNorm = l2NormFromSquares(delta, deltaSquares);
    valueNorm = l2NormFromSquares(value, valueSquares);
}

}  // namespace gradlab
