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
