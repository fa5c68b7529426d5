#include "training/norms.hpp"

#include <catch2/catch.hpp>
#include <cmath>

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

template <typename Scalar>
void checkAddWithNorms(Eigen::Index rows, Eigen::Index cols, double magnitude) {
    Matrix<Scalar> value = Matrix<Scalar>::Random(rows, cols) * static_cast<Scalar>(magnitude);
    const Matrix<Scalar> delta = Matrix<Scalar>::Random(rows, cols) * static_cast<Scalar>(magnitude);
    const Matrix<Scalar> expected = value + delta;
    double deltaNorm = -1, valueNorm = -1;
    addWithNorms(value, delta, deltaNorm, valueNorm);
    CAPTURE(rows, cols, magnitude);
    CHECK(value == expected);
    // Bit for bit what l2Norm gives: the trainer mixes both for one trace and resumes must stay exact.
    CHECK(deltaNorm == l2Norm(delta));
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

TEST_CASE("sumAndSumOfSquares agrees with the sum and the squared norm", "[training][norms]") {
    for (Eigen::Index size : {0, 1, 5, 63, 64, 65, 1001}) {
        const Eigen::MatrixXf m = Eigen::MatrixXf::Random(size, 2);
        float sum = -1, squares = -1;
        detail::sumAndSumOfSquares(m.data(), m.size(), sum, squares);
        CAPTURE(size);
        CHECK(sum == Approx(m.cast<double>().sum()).margin(1e-4));
        CHECK(squares == Approx(m.cast<double>().squaredNorm()).epsilon(1e-5));
    }
}
