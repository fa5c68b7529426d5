#include "training/clipping.hpp"

#include <catch2/catch.hpp>
#include <memory>

using namespace gradlab;

namespace {

/// Two parameters with gradients (3, 4) (norm 5) and (0, 12) (norm 12): global norm 13.
struct Gradients {
    Parameter<double> a, b;
    std::vector<NamedParameter<double>> list;
    Gradients() {
        a.grad = Matrix<double>(2, 1);
        a.grad << 3, 4;
        b.grad = Matrix<double>(1, 2);
        b.grad << 0, 12;
        list = {{"a", &a}, {"b", &b}};
    }
};

}  // namespace

TEST_CASE("global-norm clipping rescales every gradient together", "[training][clipping]") {
    Gradients g;
    std::vector<double> flags;
    const ClipResult result = clipGradients(ClipConfig{"global_norm", 6.5}, g.list, flags);
    CHECK(result.clipped);
    CHECK(result.normBefore == Approx(13));
    CHECK(result.normAfter == Approx(6.5));
    CHECK(g.a.grad(0) == Approx(1.5));
    CHECK(g.b.grad(1) == Approx(6));
    CHECK(flags == std::vector<double>{1, 1});
    // Below the threshold nothing changes.
    Gradients h;
    const ClipResult untouched = clipGradients(ClipConfig{"global_norm", 20}, h.list, flags);
    CHECK_FALSE(untouched.clipped);
    CHECK(untouched.normAfter == Approx(13));
    CHECK(h.a.grad(1) == 4);
}

TEST_CASE("per-parameter norm clipping rescales only the parameters above the threshold", "[training][clipping]") {
    Gradients g;
    std::vector<double> flags;
    const ClipResult result = clipGradients(ClipConfig{"parameter_norm", 6}, g.list, flags);
    CHECK(result.clipped);
    CHECK(g.a.grad(0) == 3);  // norm 5 stays
    CHECK(g.b.grad(1) == Approx(6));
    CHECK(flags == std::vector<double>{0, 1});
    CHECK(result.normAfter == Approx(std::sqrt(25.0 + 36.0)));
}

TEST_CASE("value clipping clamps every element", "[training][clipping]") {
    Gradients g;
    std::vector<double> flags;
    const ClipResult result = clipGradients(ClipConfig{"value", 3.5}, g.list, flags);
    CHECK(result.clipped);
    CHECK(g.a.grad(0) == 3);
    CHECK(g.a.grad(1) == 3.5);
    CHECK(g.b.grad(1) == 3.5);
    CHECK(flags == std::vector<double>{1, 1});
    CHECK(result.normAfter == Approx(std::sqrt(9 + 3.5 * 3.5 + 3.5 * 3.5)));
}
