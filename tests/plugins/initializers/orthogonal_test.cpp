#include <catch2/catch.hpp>

#include <string>

#include "support/plugin_fixture.hpp"

using gradlab::Matrix;
using gradlab::PluginKind;
using gradlab::testing::builtinPlugins;
using gradlab::testing::spec;

namespace {

template <typename Scalar = double>
Matrix<Scalar> initialize(const std::string& yaml, gradlab::Index rows, gradlab::Index cols, std::uint64_t seed = 3) {
    gradlab::Random random(seed);
    gradlab::ParameterInit init;
    init.fanIn = cols;
    init.fanOut = rows;
    Matrix<Scalar> value(rows, cols);
    builtinPlugins().makeInitializer<Scalar>(spec(PluginKind::initializer, yaml))->initialize(value, init, random);
    return value;
}

}  // namespace

TEST_CASE("orthogonal: W^T W = gain^2 I (tall, square) or W W^T = gain^2 I (wide)", "[plugins][initializers]") {
    const auto shape = GENERATE(std::make_pair(30, 30), std::make_pair(40, 12), std::make_pair(12, 40),
                                std::make_pair(1, 5), std::make_pair(5, 1));
    const double gain = GENERATE(1.0, 2.0);
    const gradlab::Index rows = shape.first, cols = shape.second;
    CAPTURE(rows, cols, gain);
    const Matrix<double> value = initialize("{kind: orthogonal, gain: " + std::to_string(gain) + "}", rows, cols);
    REQUIRE(value.rows() == rows);
    REQUIRE(value.cols() == cols);
    const Matrix<double> gram = rows >= cols ? Matrix<double>(value.transpose() * value)
                                             : Matrix<double>(value * value.transpose());
    const Matrix<double> expected = gain * gain * Matrix<double>::Identity(gram.rows(), gram.cols());
    CHECK((gram - expected).cwiseAbs().maxCoeff() < 1e-12);

    SECTION("float32 holds the same matrix, rounded") {
        const Matrix<float> single =
            initialize<float>("{kind: orthogonal, gain: " + std::to_string(gain) + "}", rows, cols);
        CHECK((single.cast<double>() - value).cwiseAbs().maxCoeff() < 1e-6 * gain);
    }
}

TEST_CASE("orthogonal: random, determined by the seed, not the identity", "[plugins][initializers]") {
    const Matrix<double> a = initialize("orthogonal", 8, 8, 1);
    CHECK(a == initialize("orthogonal", 8, 8, 1));
    CHECK(a != initialize("orthogonal", 8, 8, 2));
    CHECK_FALSE(a.cwiseAbs().isApprox(Matrix<double>::Identity(8, 8)));
}
