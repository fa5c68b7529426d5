// gradlab::SlotState, the per-slot bookkeeping of the SDK's optimizer.hpp, on its own (the optimizers' tests and
// tests/plugins/optimizers/state_test.cpp check it inside every optimizer).
#include "gradlab/optimizer.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using gradlab::Matrix;
using gradlab::ParameterSlot;
using gradlab::SlotState;
using Catch::Matchers::Contains;

namespace {

/// Records the names and shapes visitState() shows, in order.
class Recorder : public gradlab::StateVisitor<double> {
public:
    void tensor(const std::string& name, Matrix<double>& value) override {
        names.push_back(name);
        shapes[name] = {value.rows(), value.cols()};
        firstEntries[name] = value.size() > 0 ? value(0, 0) : 0.0;
    }
    void integer(const std::string& name, std::int64_t&) override { names.push_back(name); }
    void real(const std::string& name, double&) override { names.push_back(name); }
    void random(const std::string& name, gradlab::Random&) override { names.push_back(name); }

    std::vector<std::string> names;
    std::map<std::string, std::pair<gradlab::Index, gradlab::Index>> shapes;
    std::map<std::string, double> firstEntries;
};

const std::vector<ParameterSlot> slotShapes{{"layers.0.dense.W", 3, 2}, {"layers.0.dense.b", 3, 1}};

}  // namespace

TEST_CASE("SlotState allocates each declared tensor per slot with its shape and initial value", "[sdk][optimizers]") {
    SlotState<double> state("adagrad");
    const std::size_t moment = state.addTensor("exp_avg");
    const std::size_t sum = state.addTensor("sum_squares", 0.1);
    state.attach(slotShapes);
    REQUIRE(state.slots().size() == 2);
    CHECK(state.tensor(moment, 0) == Matrix<double>::Zero(3, 2));
    CHECK(state.tensor(moment, 1) == Matrix<double>::Zero(3, 1));
    CHECK(state.tensor(sum, 1) == Matrix<double>::Constant(3, 1, 0.1));

    state.tensor(moment, 0)(0, 0) = 7.0;
    Recorder recorder;
    state.visit(recorder);
    CHECK(recorder.names == std::vector<std::string>{"layers.0.dense.W.exp_avg", "layers.0.dense.W.sum_squares",
                                                     "layers.0.dense.b.exp_avg", "layers.0.dense.b.sum_squares"});
    CHECK(recorder.shapes["layers.0.dense.b.sum_squares"] == std::make_pair(gradlab::Index(3), gradlab::Index(1)));
    CHECK(recorder.firstEntries["layers.0.dense.W.exp_avg"] == 7.0);  // visit hands out the tensors themselves

    SECTION("attach again starts over") {
        state.attach({{"w", 1, 1}});
        CHECK(state.tensor(moment, 0) == Matrix<double>::Zero(1, 1));
    }
}

TEST_CASE("SlotState without tensors shows nothing to checkpoints", "[sdk][optimizers]") {
    SlotState<double> state("sgd");
    state.attach(slotShapes);
    Recorder recorder;
    state.visit(recorder);
    CHECK(recorder.names.empty());
}

TEST_CASE("SlotState refuses an unknown slot, a gradient or value of another shape, and step 0", "[sdk][optimizers]") {
    SlotState<double> state("adamw");
    state.attach(slotShapes);
    const Matrix<double> good = Matrix<double>::Zero(3, 2), wrong = Matrix<double>::Zero(2, 3);
    CHECK_NOTHROW(state.check(0, good));
    CHECK_NOTHROW(state.check(0, good, good));
    CHECK_THROWS_WITH(state.check(2, good), Contains("adamw: update of slot 2, but 2 parameters were attached"));
    CHECK_THROWS_WITH(state.check(0, wrong),
                      Contains("adamw: gradient of 'layers.0.dense.W' is [2 x 3], attached as [3 x 2]"));
    CHECK_THROWS_WITH(state.check(0, wrong, good),
                      Contains("adamw: value/gradient of 'layers.0.dense.W' are [2 x 3]/[3 x 2], attached as [3 x 2]"));
    CHECK_NOTHROW(state.checkStep(1));
    CHECK_THROWS_WITH(state.checkStep(0), Contains("adamw: step counts from 1, got 0"));
}
