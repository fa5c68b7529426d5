#include "training/detectors.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace gradlab;

namespace {

/// Feeds `steps` traced steps produced by `make` and returns the events.
template <typename Make>
std::vector<Event> watch(const DetectorsConfig& config, int steps, Make make, bool* stopped = nullptr) {
    Detectors detectors(config, {"layers.0.dense", "layers.1.tanh", "layers.2.dense"});
    std::vector<Event> events;
    std::vector<double> signal, saturation;
    std::vector<std::pair<std::size_t, double>> ratios;
    for (int step = 0; step < steps; ++step) {
        StepMeasurements m;
        m.step = step;
        make(step, m, signal, saturation, ratios);
        m.signalNorms = &signal;
        m.saturation = &saturation;
        m.timestepRatios = &ratios;
        const bool stop = detectors.observe(m, events);
        if (stopped) *stopped = *stopped || stop;
    }
    return events;
}

/// A healthy run: loss falls steadily, norms of order one, parameters move.
void healthy(int step, StepMeasurements& m, std::vector<double>& signal, std::vector<double>& saturation,
             std::vector<std::pair<std::size_t, double>>& ratios) {
    m.loss = 10.0 * std::exp(-0.01 * step);
    m.gradNorm = 1.0 + 0.1 * std::sin(step);
    m.updateRatio = 1e-3;
    signal = {0.5, 0.8, 1.0};
    saturation = {NAN, 0.1, NAN};
    ratios = {{1, 0.3}};
}

}  // namespace

TEST_CASE("detectors stay silent on a healthy run", "[training][detectors]") {
    CHECK(watch(DetectorsConfig{}, 300, healthy).empty());
}

TEST_CASE("exploding fires on an absolute norm and on growth over the window", "[training][detectors]") {
    auto absolute = watch(DetectorsConfig{}, 20, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        if (step >= 7) m.gradNorm = 1e9;
    });
    REQUIRE(absolute.size() == 1);
    CHECK(absolute[0].kind == "exploding");
    CHECK(absolute[0].step == 7);
    CHECK(absolute[0].value == 1e9);

    bool stopped = false;
    DetectorsConfig stop;
    stop.explodingStops = true;
    auto growth = watch(stop, 30, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        m.gradNorm = std::pow(2.0, step);  // 1024x after 10 steps
    }, &stopped);
    REQUIRE(growth.size() == 1);
    CHECK(growth[0].step == 10);
    CHECK_THAT(growth[0].message, Catch::Matchers::Contains("grew"));
    CHECK(stopped);
}

TEST_CASE("vanishing fires on the layer ratio and on the timestep ratio", "[training][detectors]") {
    auto layers = watch(DetectorsConfig{}, 5, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        signal = {1e-7, 1e-3, 1.0};
    });
    REQUIRE(layers.size() == 1);
    CHECK(layers[0].kind == "vanishing");
    CHECK(layers[0].where == "layers.0.dense");
    CHECK(layers[0].value == Approx(1e-7));

    auto time = watch(DetectorsConfig{}, 5, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        ratios = {{1, 1e-9}};
    });
    REQUIRE(time.size() == 1);
    CHECK(time[0].where == "layers.1.tanh");
    CHECK(time[0].timestep == 0);
}

TEST_CASE("stalled fires when the loss stops changing or the parameters stop moving", "[training][detectors]") {
    DetectorsConfig config;
    config.stalledWindow = 20;
    auto flat = watch(config, 60, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        if (step >= 10) m.loss = 3.0;
    });
    REQUIRE(flat.size() == 1);
    CHECK(flat[0].kind == "stalled");
    CHECK(flat[0].step == 30);

    auto frozen = watch(config, 10, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        if (step == 4) m.updateRatio = 1e-14;
    });
    REQUIRE(frozen.size() == 1);
    CHECK(frozen[0].step == 4);
    CHECK_THAT(frozen[0].message, Catch::Matchers::Contains("no longer move"));
}

TEST_CASE("saturated fires once per layer above the fraction", "[training][detectors]") {
    auto events = watch(DetectorsConfig{}, 10, [](int step, StepMeasurements& m, auto& signal, auto& saturation, auto& ratios) {
        healthy(step, m, signal, saturation, ratios);
        if (step >= 3) saturation = {NAN, 0.9, NAN};
    });
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "saturated");
    CHECK(events[0].where == "layers.1.tanh");
    CHECK(events[0].step == 3);
}
