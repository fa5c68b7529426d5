#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/conformance.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

GRADLAB_LAYER_CONFORMANCE("{kind: residual, layers: [{kind: dense, units: 4, activation: tanh}]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, layers: [{kind: dense, units: 3, activation: tanh}, {kind: dense, units: 5}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, projection: always, layers: [{kind: dense, units: 4}, relu]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE(
    "{kind: residual, layers: [{kind: residual, layers: [{kind: dense, units: 3, activation: sigmoid}]}, "
    "{kind: dense, units: 3, activation: {kind: prelu, per_unit: true}}]}",
    Shape{3})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, layers: [{kind: dense, units: 2, activation: tanh}]}", Shape{2, 3})

namespace {

std::shared_ptr<Layer<double>> build(const std::string& yaml, Shape input) {
    auto layer = testing::builtinPlugins().makeLayer<double>(testing::spec(PluginKind::layer, yaml));
    layer->build(input);
    return layer;
}

}  // namespace

TEST_CASE("residual: y = F(x) + x with hand-set weights", "[plugins][layers]") {
    auto layer = build("{kind: residual, layers: [{kind: dense, units: 2, bias: false}]}", Shape{2});
    Matrix<double>& w = layer->param("layers.0.dense.W").value;
    w << 1, 2, 3, 4;
    Matrix<double> x(2, 1), y;
    x << 1, -1;
    layer->forward(x, y, Phase::train);
    CHECK(y(0, 0) == Approx(1 - 2 + 1));
    CHECK(y(1, 0) == Approx(3 - 4 - 1));
    // The identity path passes the gradient through unchanged even when F's weights are zero.
    w.setZero();
    layer->forward(x, y, Phase::train);
    Matrix<double> dy = Matrix<double>::Constant(2, 1, 0.5), dx;
    layer->backward(x, y, dy, &dx);
    CHECK(dx(0, 0) == Approx(0.5));
    CHECK(dx(1, 0) == Approx(0.5));
}

TEST_CASE("residual: parameters are named by child, with a projection when widths differ", "[plugins][layers]") {
    auto same = build("{kind: residual, layers: [{kind: dense, units: 4}]}", Shape{4});
    std::vector<NamedParameter<double>> names;
    same->collectParameters("", names);
    REQUIRE(names.size() == 2);
    CHECK(names[0].name == "layers.0.dense.W");
    CHECK(names[1].name == "layers.0.dense.b");

    auto projected = build("{kind: residual, layers: [{kind: dense, units: 3}]}", Shape{4});
    CHECK(projected->param("projection").value.rows() == 3);
    CHECK(projected->param("projection").value.cols() == 4);

    CHECK_THROWS_WITH(build("{kind: residual, projection: never, layers: [{kind: dense, units: 3}]}", Shape{4}),
                      Contains("maps 4 features to 3") && Contains("projection is 'never'"));
}

TEST_CASE("residual: init overrides reach nested layers", "[plugins][layers]") {
    auto layer = build("{kind: residual, layers: [{kind: dense, units: 2, init: {W: {kind: constant, value: 0.5}}}]}",
                       Shape{2});
    CHECK(layer->param("layers.0.dense.W").init.initializer == gradlab::InitializerSpec::constant(0.5));
    CHECK_THROWS_WITH(build("{kind: residual, layers: [{kind: dense, units: 2, init: {V: zeros}}]}", Shape{2}),
                      Contains("init: no parameter 'V'") && Contains("known: W, b"));
}

TEST_CASE("residual: a config error inside the block names its place", "[plugins][layers]") {
    CHECK_THROWS_WITH(testing::spec(PluginKind::layer, "{kind: residual, layers: [{kind: dense, unit: 2}]}"),
                      Contains("layers.0") && Contains("needs option 'units'"));
    CHECK_THROWS_WITH(testing::spec(PluginKind::layer, "{kind: residual}"), Contains("needs option 'layers'"));
}

// Gate, normaliser placement and Fixup (issue 23): one conformance line per variant.
GRADLAB_LAYER_CONFORMANCE("{kind: residual, gate: scalar, layers: [{kind: dense, units: 4, activation: tanh}]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, gate: scalar, gate_init: 0.5, layers: [{kind: dense, units: 3, activation: tanh}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, gate: scalar, layers: [{kind: dense, units: 2, activation: tanh}]}", Shape{2, 3})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, norm: pre, layers: [{kind: dense, units: 4, activation: tanh}]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, norm: post, layers: [{kind: dense, units: 4, activation: tanh}]}", Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, norm: pre, normaliser: batchnorm, layers: [{kind: dense, units: 4, "
                          "activation: tanh}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, norm: post, normaliser: batchnorm, layers: [{kind: dense, units: 4, "
                          "activation: tanh}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE_PHASE("{kind: residual, norm: pre, normaliser: {kind: batchnorm, momentum: 0.2}, layers: "
                                "[{kind: dense, units: 4, activation: tanh}]}",
                                eval, Shape{4})
GRADLAB_LAYER_CONFORMANCE_PHASE("{kind: residual, norm: post, normaliser: batchnorm, layers: [{kind: dense, units: 4, "
                                "activation: tanh}]}",
                                eval, Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, norm: pre, gate: scalar, normaliser: {kind: layernorm, affine: false}, "
                          "layers: [{kind: dense, units: 3, activation: tanh}]}",
                          Shape{3, 2})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, norm: post, projection: always, layers: [{kind: dense, units: 3, activation: "
                          "tanh}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, fixup_blocks: 8, layers: [{kind: dense, units: 4, activation: tanh}, "
                          "{kind: dense, units: 4}]}",
                          Shape{4})
GRADLAB_LAYER_CONFORMANCE("{kind: residual, fixup_blocks: 3, layers: [{kind: dense, units: 3}, tanh, {kind: dense, units: 3}]}",
                          Shape{3, 2})

TEST_CASE("residual gate: alpha = 0 is exactly the identity, and dL/dalpha = <dy, F(x)>", "[plugins][layers]") {
    auto layer = build("{kind: residual, gate: scalar, layers: [{kind: dense, units: 3, activation: tanh}]}", Shape{3});
    Random random(7);
    testing::initializeParameters(*layer, random);
    Parameter<double>& alpha = layer->param("alpha");
    CHECK(alpha.init.initializer == InitializerSpec::constant(0.0));
    CHECK_FALSE(alpha.init.isWeight);
    REQUIRE(alpha.value(0, 0) == 0.0);  // gate_init's default

    const Matrix<double> x = Matrix<double>::Random(3, 5);
    const Matrix<double> dy = Matrix<double>::Random(3, 5);
    Matrix<double> y, dx;
    layer->forward(x, y, Phase::train);
    CHECK(y == x);  // bit for bit
    layer->backward(x, y, dy, &dx);
    CHECK(dx == dy);  // the branch receives 0 dy: the whole gradient takes the identity path
    CHECK(layer->param("layers.0.dense.W").grad.isZero(0.0));

    // F(x) = tanh(W x + b), computed here from the parameters, not from the layer.
    const Matrix<double>& w = layer->param("layers.0.dense.W").value;
    const Matrix<double>& b = layer->param("layers.0.dense.b").value;
    const Matrix<double> branch = ((w * x).colwise() + b.col(0)).array().tanh().matrix();
    CHECK(alpha.grad(0, 0) == Approx((dy.array() * branch.array()).sum()).epsilon(1e-14));

    SECTION("alpha != 0 scales the branch") {
        alpha.value(0, 0) = -0.75;
        layer->forward(x, y, Phase::train);
        CHECK((y - (x - 0.75 * branch)).cwiseAbs().maxCoeff() < 1e-14);
    }
    SECTION("gate_init sets the start") {
        auto started = build("{kind: residual, gate: scalar, gate_init: 0.25, layers: [{kind: dense, units: 3}]}", Shape{3});
        testing::initializeParameters(*started, random);
        CHECK(started->param("alpha").value(0, 0) == 0.25);
    }
}

namespace {

/// Every parameter gradient of the modules, flattened in collection order.
std::vector<double> gradients(const std::vector<Module<double>*>& modules) {
    std::vector<double> all;
    for (Module<double>* module : modules) {
        std::vector<NamedParameter<double>> parameters;
        module->collectParameters("", parameters);
        for (auto& parameter : parameters)
            all.insert(all.end(), parameter.parameter->grad.data(),
                       parameter.parameter->grad.data() + parameter.parameter->grad.size());
    }
    return all;
}

double maxDifference(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    return worst;
}

}  // namespace

TEST_CASE("residual norm: pre and post placement equal a hand-composed network of the same layers",
          "[plugins][layers]") {
    const std::string normaliser = GENERATE(as<std::string>{}, "layernorm", "batchnorm");
    const std::string placement = GENERATE(as<std::string>{}, "pre", "post");
    CAPTURE(normaliser, placement);
    auto block = build("{kind: residual, norm: " + placement + ", normaliser: " + normaliser +
                           ", gate: scalar, gate_init: 0.5, layers: [{kind: dense, units: 3, activation: tanh}]}",
                       Shape{3});
    Random random(3);
    testing::initializeParameters(*block, random);
    for (const std::string& name : {"normaliser." + normaliser + ".gamma", "normaliser." + normaliser + ".beta"})
        block->param(name).value = Matrix<double>::Random(3, 1);  // away from the identity defaults
    std::vector<NamedParameter<double>> names;
    block->collectParameters("", names);
    // Own parameters first (alpha), then the children in the order they were built.
    REQUIRE(names.size() == 5);
    CHECK(names[0].name == "alpha");

    auto dense = build("{kind: dense, units: 3, activation: tanh}", Shape{3});
    auto norm = build(normaliser, Shape{3});
    const bool pre = placement == "pre";
    // The block's children come in build order: pre-norm builds N before the body, post-norm after.
    {
        std::vector<Module<double>*> order = pre ? std::vector<Module<double>*>{norm.get(), dense.get()}
                                                 : std::vector<Module<double>*>{dense.get(), norm.get()};
        std::vector<NamedParameter<double>> source;
        block->collectParameters("", source);
        std::vector<NamedParameter<double>> target;
        for (Module<double>* module : order) module->collectParameters("", target);
        REQUIRE(target.size() + 1 == source.size());
        for (std::size_t i = 0; i < target.size(); ++i) target[i].parameter->value = source[i + 1].parameter->value;
    }
    const double alpha = block->param("alpha").value(0, 0);

    const Matrix<double> x = Matrix<double>::Random(3, 6);
    const Matrix<double> dy = Matrix<double>::Random(3, 6);
    Matrix<double> y, dx;
    block->forward(x, y, Phase::train);
    block->backward(x, y, dy, &dx);

    // By hand: pre  y = x + alpha dense(N(x));  post  y = N(x + alpha dense(x)).
    Matrix<double> normalized, branch, sum, expected, handDx;
    Matrix<double> dBranchInput, dNormInput, dSum;
    if (pre) {
        norm->forward(x, normalized, Phase::train);
        dense->forward(normalized, branch, Phase::train);
        expected = x + alpha * branch;
        dense->backward(normalized, branch, alpha * dy, &dBranchInput);
        norm->backward(x, normalized, dBranchInput, &dNormInput);
        handDx = dy + dNormInput;
    } else {
        dense->forward(x, branch, Phase::train);
        sum = x + alpha * branch;
        norm->forward(sum, expected, Phase::train);
        norm->backward(sum, expected, dy, &dSum);
        dense->backward(x, branch, alpha * dSum, &dBranchInput);
        handDx = dSum + dBranchInput;
    }
    CHECK((y - expected).cwiseAbs().maxCoeff() < 1e-13);
    CHECK((dx - handDx).cwiseAbs().maxCoeff() < 1e-13);
    const double handAlphaGrad = ((pre ? dy : dSum).array() * branch.array()).sum();
    CHECK(block->param("alpha").grad(0, 0) == Approx(handAlphaGrad).epsilon(1e-12));
    std::vector<double> blockGradients = gradients({block.get()});
    blockGradients.erase(blockGradients.begin());  // alpha, checked above
    CHECK(maxDifference(blockGradients, gradients(pre ? std::vector<Module<double>*>{norm.get(), dense.get()}
                                                      : std::vector<Module<double>*>{dense.get(), norm.get()})) <
          1e-13);
    if (normaliser == "batchnorm") {  // the running statistics moved the same way
        std::vector<std::pair<std::string, Buffer<double>*>> blockBuffers, handBuffers;
        block->collectBuffers("", blockBuffers);
        norm->collectBuffers("", handBuffers);
        REQUIRE(blockBuffers.size() == 2);
        CHECK(blockBuffers[0].first == "normaliser.batchnorm.running_mean");
        CHECK((blockBuffers[0].second->value - handBuffers[0].second->value).cwiseAbs().maxCoeff() < 1e-15);
    }
}

TEST_CASE("residual norm: the normaliser is named, keeps the shape, and bad combinations are refused",
          "[plugins][layers]") {
    auto pre = build("{kind: residual, norm: pre, layers: [{kind: dense, units: 4}]}", Shape{4});
    CHECK(pre->param("normaliser.layernorm.gamma").value.rows() == 4);
    auto none = build("{kind: residual, layers: [{kind: dense, units: 4}]}", Shape{4});
    CHECK_THROWS_WITH(none->param("normaliser.layernorm.gamma"), Contains("no parameter"));
    // Post-norm normalises the block's output, after a projection changed the width.
    auto post = build("{kind: residual, norm: post, layers: [{kind: dense, units: 3}]}", Shape{5});
    CHECK(post->param("normaliser.layernorm.gamma").value.rows() == 3);

    CHECK_THROWS_WITH(build("{kind: residual, norm: pre, normaliser: {kind: dense, units: 2}, layers: [{kind: dense, "
                            "units: 4}]}",
                            Shape{4}),
                      Contains("normaliser 'dense' maps 4x1") && Contains("must keep the shape"));
    CHECK_THROWS_WITH(testing::spec(PluginKind::layer, "{kind: residual, norm: pre, normaliser: layernrom, layers: "
                                                       "[{kind: dense, units: 4}]}"),
                      Contains("layernrom") && Contains("layernorm"));
    CHECK_THROWS_WITH(testing::spec(PluginKind::layer, "{kind: residual, norm: middle, layers: [{kind: dense, units: 4}]}"),
                      Contains("unknown value 'middle'"));
    CHECK_THROWS_WITH(build("{kind: residual, gate_init: 0.5, layers: [{kind: dense, units: 4}]}", Shape{4}),
                      Contains("'gate' is 'none'"));
    CHECK_THROWS_WITH(build("{kind: residual, gate: scalar, fixup_blocks: 4, layers: [{kind: dense, units: 4}]}", Shape{4}),
                      Contains("own multiplier"));
    CHECK_THROWS_WITH(build("{kind: residual, norm: pre, fixup_blocks: 4, layers: [{kind: dense, units: 4}]}", Shape{4}),
                      Contains("without normalisation"));
    CHECK_THROWS_WITH(build("{kind: residual, fixup_blocks: 4, layers: [tanh]}", Shape{4}),
                      Contains("at least one weight layer"));
    CHECK_THROWS_WITH(build("{kind: residual, fixup_blocks: 4, layers: [{kind: dense, units: 3}]}", Shape{4}),
                      Contains("keeps the width"));
}

TEST_CASE("residual fixup: initializers follow L^(-1/(2m-2)), scalars start at 1 and 0", "[plugins][layers]") {
    SECTION("m = 3 weight layers in 16 blocks: gain sqrt(2) 16^(-1/4) = sqrt(2) / 2") {
        auto layer = build("{kind: residual, fixup_blocks: 16, layers: [{kind: dense, units: 4, activation: relu}, "
                           "{kind: dense, units: 4, activation: relu}, {kind: dense, units: 4}]}",
                           Shape{4});
        const auto& first = layer->param("layers.0.dense.W").init.initializer;
        REQUIRE(first.kind == "he_normal");
        CHECK(std::get<double>(first.options.at("gain")) == Approx(std::sqrt(2.0) / 2.0).epsilon(1e-15));
        CHECK(std::get<double>(layer->param("layers.1.dense.W").init.initializer.options.at("gain")) ==
              Approx(std::sqrt(2.0) * std::pow(16.0, -0.25)).epsilon(1e-15));
        CHECK(layer->param("layers.2.dense.W").init.initializer == InitializerSpec("zeros"));
        for (auto* bias : {"layers.0.dense.b", "layers.1.dense.b", "layers.2.dense.b"})
            CHECK(layer->param(bias).init.initializer == InitializerSpec("zeros"));  // untouched default
        CHECK(layer->param("fixup_scale").init.initializer == InitializerSpec::constant(1.0));
        for (auto* bias : {"fixup_bias_0", "fixup_bias_1", "fixup_bias_2", "fixup_bias_out"}) {
            CHECK(layer->param(bias).value.size() == 1);
            CHECK(layer->param(bias).init.initializer == InitializerSpec("zeros"));
            CHECK_FALSE(layer->param(bias).init.isWeight);
        }

        // Initialised, the block is the identity, and the first layer's weights have std ~ 1/2 sqrt(2 / 4).
        auto wide = build("{kind: residual, fixup_blocks: 16, layers: [{kind: dense, units: 400, activation: relu}, "
                          "{kind: dense, units: 400, activation: relu}, {kind: dense, units: 400}]}",
                          Shape{400});
        Random random(11);
        testing::initializeParameters(*wide, random);
        const Matrix<double>& w = wide->param("layers.0.dense.W").value;
        const double std = std::sqrt(w.squaredNorm() / static_cast<double>(w.size()));
        CHECK(std == Approx(0.5 * std::sqrt(2.0 / 400.0)).epsilon(0.01));  // 160,000 draws: ~0.2% error
        CHECK(wide->param("layers.2.dense.W").value.isZero(0.0));
        const Matrix<double> x = Matrix<double>::Random(400, 3);
        Matrix<double> y;
        wide->forward(x, y, Phase::train);
        CHECK(y == x);
    }
    SECTION("m = 2 in 100 blocks: 100^(-1/2); m = 1: the only weight layer is zeroed") {
        auto two = build("{kind: residual, fixup_blocks: 100, layers: [{kind: dense, units: 4, activation: relu}, "
                         "{kind: dense, units: 4}]}",
                         Shape{4});
        CHECK(std::get<double>(two->param("layers.0.dense.W").init.initializer.options.at("gain")) ==
              Approx(std::sqrt(2.0) * 0.1).epsilon(1e-15));
        auto one = build("{kind: residual, fixup_blocks: 100, layers: [{kind: dense, units: 4, activation: relu}]}",
                         Shape{4});
        CHECK(one->param("layers.0.dense.W").init.initializer == InitializerSpec("zeros"));
    }
    SECTION("the scalars are trained: the multiplier's gradient is <dy, F(x)>, a bias's the sum of its input gradient") {
        auto layer = build("{kind: residual, fixup_blocks: 4, layers: [{kind: dense, units: 3, activation: tanh}, "
                           "{kind: dense, units: 3}]}",
                           Shape{3});
        Random random(5);
        testing::initializeParameters(*layer, random);
        layer->param("layers.1.dense.W").value = Matrix<double>::Random(3, 3);
        const Matrix<double> x = Matrix<double>::Random(3, 4), dy = Matrix<double>::Random(3, 4);
        Matrix<double> y, dx;
        layer->forward(x, y, Phase::train);
        layer->backward(x, y, dy, &dx);
        CHECK(layer->param("fixup_bias_out").grad(0, 0) == Approx(dy.sum()).epsilon(1e-14));
        // scale 1 and biases 0: F(x) = y - x - 0.
        CHECK(layer->param("fixup_scale").grad(0, 0) == Approx((dy.array() * (y - x).array()).sum()).epsilon(1e-12));
        CHECK(layer->param("fixup_bias_0").grad(0, 0) == Approx((dx - dy).sum()).epsilon(1e-12));
    }
}
