#include "training/norms.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <type_traits>

using namespace gradlab;

TEST_CASE("l2Norm is exact in range far below and above float32's squares", "[training][norms]") {
    Eigen::MatrixXf m(2, 2);
    m << 3, 4, 0, 0;
    CHECK(l2Norm(m) == Approx(5.0));
    m << 3e-30f, 4e-30f, 0, 0;  // squares underflow in float32
    CHECK(l2Norm(m) == Approx(5e-30).epsilon(1e-6));
    m << 3e30f, 4e30f, 0, 0;    // squares overflow in float32
    CHECK(l2Norm(m) == Approx(5e30).epsilon(1e-6));
    Eigen::MatrixXd d(1, 2);
    d << 3e-200, 4e-200;
    CHECK(l2Norm(d) == Approx(5e-200));
    CHECK(l2Norm(Eigen::MatrixXf(0, 3)) == 0.0);
    CHECK(l2Norm(Eigen::MatrixXf::Zero(2, 2)) == 0.0);
}

TEST_CASE("l2Norm propagates NaN and Inf", "[training][norms]") {
    Eigen::MatrixXf m = Eigen::MatrixXf::Ones(3, 3);
    m(1, 2) = std::nanf("");
    CHECK(std::isnan(l2Norm(m)));
    m(1, 2) = INFINITY;
    CHECK(std::isinf(l2Norm(m)));
}

namespace {

/// ||values|| in long double, converted once: the reference every kernel must match to a few ulps.
template <typename Scalar>
double referenceNorm(const Matrix<Scalar>& values) {
    long double squares = 0;
    for (Eigen::Index i = 0; i < values.size(); ++i)
        squares += static_cast<long double>(values.data()[i]) * static_cast<long double>(values.data()[i]);
    return static_cast<double>(std::sqrt(squares));
}

/// Whether a norm agrees with the long double reference to a few units in the last place of its precision
/// (with the sum's own rounding over thousands of terms: 1e-6 relative in float32, 1e-12 in float64).
template <typename Scalar>
bool close(double got, double expected) {
    if (got == expected) return true;
    const double tolerance = std::is_same_v<Scalar, float> ? 1e-6 : 1e-12;
    return std::abs(got - expected) <= tolerance * std::abs(expected);
}

template <typename Scalar>
void checkAddWithNorms(Eigen::Index rows, Eigen::Index cols, double magnitude) {
    Matrix<Scalar> value = Matrix<Scalar>::Random(rows, cols) * static_cast<Scalar>(magnitude);
    Matrix<Scalar> delta = Matrix<Scalar>::Random(rows, cols) * static_cast<Scalar>(magnitude);
    const Matrix<Scalar> before = value;
    const Matrix<Scalar> expected = value + delta;
    double changeNorm = -1, valueNorm = -1;
    addWithNorms(value, delta, changeNorm, valueNorm);
    CAPTURE(rows, cols, magnitude);
    CHECK(value == expected);
    // delta now holds the realised change; its norm is bit for bit what l2Norm gives (the trainer mixes both
    // for one trace and resumes must stay exact).
    CHECK(delta == Matrix<Scalar>(value - before));
    CHECK(changeNorm == l2Norm(delta));
    CHECK(valueNorm == l2Norm(value));
    CHECK(valueNorm == Approx(value.template cast<double>().norm()).epsilon(1e-5));
}

}  // namespace

TEST_CASE("addWithNorms adds and gives l2Norm's norms bit for bit, any size, any range", "[training][norms]") {
    for (Eigen::Index size : {0, 1, 7, 15, 16, 17, 127, 128, 129, 200, 1000}) {
        for (double magnitude : {1.0, 1e-30, 1e25}) {
            checkAddWithNorms<float>(size, 3, magnitude);
            checkAddWithNorms<double>(size, 3, magnitude);
        }
        checkAddWithNorms<float>(1, size, 1.0);
    }
    Matrix<float> value = Matrix<float>::Ones(5, 5), delta = Matrix<float>::Zero(5, 5);
    delta(2, 3) = std::nanf("");
    double deltaNorm = 0, valueNorm = 0;
    addWithNorms(value, delta, deltaNorm, valueNorm);
    CHECK(std::isnan(deltaNorm));
    CHECK(std::isnan(valueNorm));
}

TEST_CASE("addWithNorms traces the realised change, not the optimizer's step", "[training][norms]") {
    // A step of 4e-18 on a bias of 1 does not change it: the change is 0, whatever the step.
    Matrix<double> bias = Matrix<double>::Ones(40, 1);
    Matrix<double> step = Matrix<double>::Constant(40, 1, 4e-18);
    double changeNorm = -1, valueNorm = -1;
    addWithNorms(bias, step, changeNorm, valueNorm);
    CHECK(bias == Matrix<double>::Ones(40, 1));
    CHECK(changeNorm == 0.0);
    CHECK(valueNorm == Approx(std::sqrt(40.0)));
    // A step that does change the value: the change is the rounded one (1 + 2^-52 * 0.75 rounds to 1 + 2^-52).
    Matrix<double> one = Matrix<double>::Ones(1, 1), tiny = Matrix<double>::Constant(1, 1, 0.75 * 0x1p-52);
    addWithNorms(one, tiny, changeNorm, valueNorm);
    CHECK(changeNorm == 0x1p-52);
}

TEST_CASE("norms are exact for subnormal, mixed and near-overflow values in both precisions", "[training][norms]") {
    const float subnormal = std::numeric_limits<float>::denorm_min();  // 1.4e-45
    for (Eigen::Index size : {1, 3, 17, 64, 100, 1000, 4099}) {
        CAPTURE(size);
        Matrix<float> tiny = Matrix<float>::Constant(size, 1, subnormal);
        CHECK(close<float>(l2Norm(tiny), referenceNorm(tiny)));
        CHECK(l2Norm(tiny) > 0);
        Matrix<float> spread(size, 1);
        for (Eigen::Index i = 0; i < size; ++i) spread(i) = subnormal * static_cast<float>(1 + i % 200);  // to 3e-43
        CHECK(close<float>(l2Norm(spread), referenceNorm(spread)));
        Matrix<float> mixed = Matrix<float>::Constant(size, 1, subnormal);
        mixed(size / 2) = 1.0f;
        CHECK(close<float>(l2Norm(mixed), referenceNorm(mixed)));
        Matrix<float> huge = Matrix<float>::Constant(size, 1, 3e38f);
        CHECK(close<float>(l2Norm(huge), referenceNorm(huge)));
        CHECK(std::isfinite(l2Norm(huge)));

        const double smallest = std::numeric_limits<double>::denorm_min();  // 4.9e-324
        Matrix<double> dtiny = Matrix<double>::Constant(size, 1, smallest);
        CHECK(close<double>(l2Norm(dtiny), referenceNorm(dtiny)));
        CHECK(l2Norm(dtiny) > 0);
        Matrix<double> dmixed = Matrix<double>::Constant(size, 1, 1e-300);
        dmixed(0) = smallest;
        CHECK(close<double>(l2Norm(dmixed), referenceNorm(dmixed)));
        Matrix<double> dhuge = Matrix<double>::Constant(size, 1, 1e300);
        CHECK(close<double>(l2Norm(dhuge), referenceNorm(dhuge)));
    }
    // Two values near double's limit: the norm 1.41e308 is representable, though the squares are not.
    Matrix<double> limit = Matrix<double>::Constant(2, 1, 1e308);
    CHECK(close<double>(l2Norm(limit), std::sqrt(2.0) * 1e308));
}

TEST_CASE("the update's norms are exact for a weight of 1e-45", "[training][norms]") {
    Matrix<float> weight = Matrix<float>::Constant(8, 8, std::numeric_limits<float>::denorm_min());
    Matrix<float> step = Matrix<float>::Zero(8, 8);
    double changeNorm = -1, valueNorm = -1;
    addWithNorms(weight, step, changeNorm, valueNorm);
    CHECK(changeNorm == 0.0);
    CHECK(std::isfinite(valueNorm));
    CHECK(close<float>(valueNorm, referenceNorm(weight)));
}

TEST_CASE("NormAccumulator combines norms without underflow or overflow", "[training][norms]") {
    NormAccumulator tiny;
    for (int i = 0; i < 10; ++i) tiny.add(3e-200);
    CHECK(close<double>(tiny.norm(), 3e-200 * std::sqrt(10.0)));
    NormAccumulator huge;
    huge.add(3e200);
    huge.add(4e200);
    CHECK(close<double>(huge.norm(), 5e200));
    NormAccumulator none;
    CHECK(none.norm() == 0.0);
    none.add(0.0);
    CHECK(none.norm() == 0.0);
    NormAccumulator poisoned;
    poisoned.add(1.0);
    poisoned.add(NAN);
    poisoned.add(INFINITY);
    CHECK(std::isnan(poisoned.norm()));
    NormAccumulator infinite;
    infinite.add(2.0);
    infinite.add(INFINITY);
    CHECK(std::isinf(infinite.norm()));
    const double norms[3] = {3, 0, 4};
    CHECK(l2NormOfNorms(norms, 3) == Approx(5.0));
}

namespace {

/// Mean and population deviation by two passes in long double: the reference for meanAndDeviation().
template <typename Scalar>
Moments referenceMoments(const Matrix<Scalar>& values) {
    long double sum = 0;
    for (Eigen::Index i = 0; i < values.size(); ++i) sum += values.data()[i];
    const long double mean = sum / values.size();
    long double squares = 0;
    for (Eigen::Index i = 0; i < values.size(); ++i) squares += (values.data()[i] - mean) * (values.data()[i] - mean);
    return {static_cast<double>(mean), static_cast<double>(std::sqrt(squares / values.size()))};
}

template <typename Scalar>
void checkMoments(const Matrix<Scalar>& values, double tolerance) {
    const Moments got = meanAndDeviation(values.data(), values.size());
    const Moments expected = referenceMoments(values);
    CAPTURE(values.size(), got.mean, expected.mean, got.deviation, expected.deviation);
    CHECK(std::abs(got.mean - expected.mean) <= tolerance * std::abs(expected.mean));
    CHECK(std::abs(got.deviation - expected.deviation) <= tolerance * expected.deviation);
}

}  // namespace

TEST_CASE("meanAndDeviation matches a two-pass reference to 1e-6 (float32) and 1e-12 (float64)", "[training][norms]") {
    for (Eigen::Index size : {1, 2, 31, 32, 33, 100, 6400, 100000}) {
        // Every output equal to ln 2: spread exactly 0 (one pass of E[y^2] - E[y]^2 gave 2.1e-9).
        const Matrix<float> ln2 = Matrix<float>::Constant(size, 1, std::log(2.0f));
        CHECK(meanAndDeviation(ln2.data(), size).deviation == 0.0);
        CHECK(meanAndDeviation(ln2.data(), size).mean == static_cast<double>(std::log(2.0f)));
        const Matrix<double> ln2d = Matrix<double>::Constant(size, 1, std::log(2.0));
        CHECK(meanAndDeviation(ln2d.data(), size).deviation == 0.0);
        const Matrix<double> zeros = Matrix<double>::Zero(size, 1);  // a dead ReLU layer
        CHECK(meanAndDeviation(zeros.data(), size).deviation == 0.0);
        CHECK(meanAndDeviation(zeros.data(), size).mean == 0.0);
        // An outlier first value: the shift is far from the mean, and the kernel re-centres.
        Matrix<double> outlier = (Matrix<double>::Random(size, 1) * 1e-3).array() + 1.0;
        outlier(0) = 1e6;
        checkMoments(outlier, 1e-12);
        // A sigmoid layer spread 1.5e-3 around 0.5 (one pass in float32 was 0.28% off).
        Matrix<float> sigmoid = (Matrix<float>::Random(size, 1) * 1.5e-3f * std::sqrt(3.0f)).array() + 0.5f;
        checkMoments(sigmoid, 1e-6);
        Matrix<double> narrow = (Matrix<double>::Random(size, 1) * 1e-7).array() + 1e3;
        checkMoments(narrow, 1e-12);
        checkMoments<double>(Matrix<double>::Random(size, 1), 1e-12);
        // ReLU-like: half zeros.
        Matrix<double> relu = Matrix<double>::Random(size, 1).cwiseMax(0.0);
        checkMoments(relu, 1e-12);
        // Subnormal and near-overflow values.
        Matrix<float> tiny(size, 1);
        for (Eigen::Index i = 0; i < size; ++i) tiny(i) = std::numeric_limits<float>::denorm_min() * (i % 7);
        checkMoments(tiny, 1e-6);
        Matrix<double> dtiny(size, 1);
        for (Eigen::Index i = 0; i < size; ++i) dtiny(i) = std::numeric_limits<double>::denorm_min() * (i % 7);
        checkMoments(dtiny, 1e-12);
        Matrix<double> huge = (Matrix<double>::Random(size, 1).array() * 1e307 + 1.5e308).matrix();
        checkMoments(huge, 1e-12);
        const Matrix<float> limit = Matrix<float>::Constant(size, 1, 3e38f);
        CHECK(meanAndDeviation(limit.data(), size).deviation == 0.0);
        CHECK(meanAndDeviation(limit.data(), size).mean == static_cast<double>(3e38f));
    }
    Matrix<float> poisoned = Matrix<float>::Ones(50, 1);
    poisoned(20) = std::nanf("");
    CHECK(std::isnan(meanAndDeviation(poisoned.data(), poisoned.size()).deviation));
}
