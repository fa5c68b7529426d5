// The diagnosis behind `gradlab inspect` (framework/src/analysis/diagnosis.hpp), on traces of real runs of the
// trainer and on small hand-written traces for the cases a short real run does not produce.
#include <catch2/catch.hpp>

#include <hdf5.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "gradlab/error.hpp"
#include "support/plugin_fixture.hpp"
#include "theory/mean_field.hpp"
#include "trace/trace_reader.hpp"
#include "trace/trace_writer.hpp"
#include "training/trainer.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using analysis::Diagnosis;
using analysis::Verdict;

namespace {

const std::string configFolder = std::string(GRADLAB_SOURCE_DIR) + "/configs/";

/// Runs a shipped config in-process through the real config loader, plugins and trainer.
RunResult runConfig(const std::string& config, const std::vector<std::string>& overrides, const std::string& output) {
    const RunConfig loaded = loadRunConfig(configFolder + config, overrides, testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    return runTraining(loaded, testing::builtinPlugins(), options);
}

/// "%.1e", as the text report prints norms.
std::string scientific(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1e", value);
    return buffer;
}

/// What a hand-written trace holds.
struct TraceSpec {
    std::vector<std::string> layerNames{"layers.0.dense", "layers.1.dense", "layers.2.dense"};
    std::vector<std::string> layerKinds{"dense", "dense", "dense"};
    std::vector<double> gradNorms{1.0, 1.1, 0.9};
    std::vector<std::vector<double>> signal{{0.5, 0.7, 1.0}, {0.5, 0.7, 1.0}, {0.5, 0.7, 1.0}};
    RunStatus status = RunStatus::completed;
    bool events = true;
    std::vector<analysis::TraceEvent> eventRows;
    std::vector<std::vector<double>> timestepNorms;  // rows of /trace/timestep_grad_norm/layers.0.rnn
    bool theory = false;
};

void writeTrace(const std::string& path, const TraceSpec& spec) {
    trace::TraceHeader header;
    header.gradlabVersion = "0.1.0";
    header.config = "name: handmade\nseed: 3\n";
    header.precision = "float64";
    header.startedAt = "2026-11-27T03:10:00Z";
    header.layerNames = spec.layerNames;
    header.layerKinds = spec.layerKinds;
    trace::TraceWriter writer(path, header);
    trace::Table& table = writer.table("/trace");
    const auto step = table.addColumn("step", 0, trace::ColumnType::int64);
    const auto loss = table.addColumn("loss");
    const auto gradNorm = table.addColumn("grad_norm");
    const auto signal = table.addColumn("signal_grad_norm", Index(spec.layerNames.size()));
    trace::Table* timesteps = nullptr;
    trace::ColumnId timestepColumn;
    if (!spec.timestepNorms.empty()) {
        timesteps = &writer.table("/trace/timestep_grad_norm");
        timestepColumn = timesteps->addColumn("layers.0.rnn", Index(spec.timestepNorms.front().size()));
    }
    for (std::size_t row = 0; row < spec.gradNorms.size(); ++row) {
        table.setInteger(step, std::int64_t(row) * 5);
        table.set(loss, 1.0 / double(row + 1));
        table.set(gradNorm, spec.gradNorms[row]);
        for (std::size_t layer = 0; layer < spec.layerNames.size(); ++layer)
            table.row(signal)[layer] = spec.signal[row][layer];
        table.commit();
        if (timesteps) {
            const auto& norms = spec.timestepNorms[std::min(row, spec.timestepNorms.size() - 1)];
            std::copy(norms.begin(), norms.end(), timesteps->row(timestepColumn));
            timesteps->commit();
        }
    }
    if (spec.events) {
        trace::Table& events = writer.table("/events");
        const auto eventStep = events.addColumn("step", 0, trace::ColumnType::int64);
        const auto kind = events.addColumn("kind", 0, trace::ColumnType::string);
        const auto where = events.addColumn("where", 0, trace::ColumnType::string);
        const auto timestep = events.addColumn("timestep", 0, trace::ColumnType::int64);
        const auto value = events.addColumn("value");
        const auto message = events.addColumn("message", 0, trace::ColumnType::string);
        for (const auto& event : spec.eventRows) {
            events.setInteger(eventStep, event.step);
            events.setString(kind, event.kind);
            events.setString(where, event.where);
            events.setInteger(timestep, event.timestep);
            events.set(value, event.value);
            events.setString(message, event.message);
            events.commit();
        }
    }
    if (spec.theory) {
        writer.setGroupAttribute("/theory", "activation", "tanh");
        writer.setGroupAttribute("/theory", "sigma_w2", 1.3);
        writer.setGroupAttribute("/theory", "sigma_b2", 0.05);
        writer.setGroupAttribute("/theory", "q_star", 0.315);
        writer.setGroupAttribute("/theory", "chi_1", 0.5);
        writer.setGroupAttribute("/theory", "c_star", 1.0);
        writer.setGroupAttribute("/theory", "chi_c", 0.5);
        writer.setGroupAttribute("/theory", "depth_scale_gradient", -1.0 / std::log(0.5));
        writer.setGroupAttribute("/theory", "depth_scale_correlation", -1.0 / std::log(0.5));
        writer.setGroupAttribute("/theory", "converged", 1);
        writer.setGroupAttribute("/theory", "note", "");
    }
    writer.finish(spec.status == RunStatus::running ? RunStatus::completed : spec.status,
                  spec.status == RunStatus::diverged ? "loss is NaN" : "", "2026-11-27T03:11:00Z");
}

analysis::TraceEvent event(const std::string& kind, std::int64_t step, const std::string& where,
                           const std::string& message, std::int64_t timestep = -1, double value = 1.0) {
    analysis::TraceEvent row;
    row.step = step;
    row.kind = kind;
    row.where = where;
    row.timestep = timestep;
    row.value = value;
    row.message = message;
    return row;
}

}  // namespace

TEST_CASE("diagnosis of a real deep sigmoid run: vanishing, with the profile and theory", "[analysis][e2e]") {
    const std::string output = testing::scratchPath("diagnosis_deep_sigmoid.h5");
    REQUIRE(runConfig("deep_sigmoid.yaml", {"training.steps=20"}, output).status == RunStatus::completed);

    const Diagnosis diagnosis = analysis::diagnose(output);
    CHECK(diagnosis.configName == "deep_sigmoid");
    CHECK(diagnosis.status == "completed");
    CHECK(diagnosis.precision == "float32");
    CHECK(diagnosis.tracedSteps == 3);  // trace.every 10: steps 0, 10 and the last, 19
    CHECK(diagnosis.firstStep == 0);
    CHECK(diagnosis.lastStep == 19);
    CHECK(diagnosis.verdict == Verdict::vanishing);
    REQUIRE(diagnosis.layerNames.size() == 21);

    Eigen::MatrixXd signal;
    {
        trace::TraceReader reader(output);
        signal = reader.readMatrix("/trace/signal_grad_norm");
        CHECK(diagnosis.finalLoss == reader.readVector("/trace/loss")(2));
    }
    CHECK(diagnosis.lastProfile.step == 19);
    CHECK(diagnosis.lastProfile.firstOverLast == Approx(signal(2, 0) / signal(2, 20)));
    CHECK(diagnosis.lastProfile.firstOverLast < 1e-4);

    const std::string text = analysis::formatText(diagnosis);
    INFO(text);
    CHECK_THAT(text, Contains("config      deep_sigmoid"));
    CHECK_THAT(text, Contains("steps       3 traced, 0 .. 19"));
    CHECK_THAT(text, Contains("layers.0.dense   " + scientific(signal(2, 0))));
    CHECK_THAT(text, Contains("layers.20.dense  " + scientific(signal(0, 20))));
    CHECK_THAT(text, Contains("first/last layer: " + scientific(signal(2, 0) / signal(2, 20))));
    CHECK_THAT(text, Contains("verdict: vanishing"));
    CHECK_THAT(text, Contains("< 1e-4 at step 19"));
    CHECK_THAT(text, Contains("|#"));

    // The trainer wrote /theory: sigmoid, glorot 64 -> 64 gives sigma_w^2 ~ 1 (measured on the weights drawn),
    // no bias. The measured factor over layers.1 .. layers.19 at step 0 matches chi_1 within 15% (width 64).
    const theory::MeanFieldPrediction prediction = theory::meanField(
        [](double x) { return 1.0 / (1.0 + std::exp(-x)); },
        [](double x) {
            const double s = 1.0 / (1.0 + std::exp(-x));
            return s * (1.0 - s);
        },
        1.0, 0.0);
    const Diagnosis& withTheory = diagnosis;
    REQUIRE(withTheory.theory.present);
    CHECK(withTheory.theory.activation == "sigmoid");
    CHECK(withTheory.theory.sigmaW2 == Approx(1.0).epsilon(0.05));
    CHECK(withTheory.theory.chi1 == Approx(prediction.chi1).epsilon(0.05));
    CHECK(withTheory.theory.converged);
    CHECK(withTheory.theory.measuredStep == 0);
    CHECK(withTheory.theory.measuredPairs == 18);
    CHECK(withTheory.theory.measuredFrom == "layers.1.dense");
    CHECK(withTheory.theory.measuredTo == "layers.19.dense");
    CHECK(withTheory.theory.measuredFactor ==
          Approx(std::pow(signal(0, 1) / signal(0, 19), 2.0 / 18.0)).epsilon(1e-12));
    CHECK(std::abs(withTheory.theory.measuredFactor / prediction.chi1 - 1.0) < 0.15);
    UNSCOPED_INFO("deep_sigmoid step 0: measured factor " << withTheory.theory.measuredFactor << " vs chi_1 "
                                                          << prediction.chi1);
    const std::string theoryText = analysis::formatText(withTheory);
    CHECK_THAT(theoryText, Contains("theory (mean field at initialisation, /theory): sigmoid, sigma_w^2 = "));
    CHECK_THAT(theoryText, Contains("over 18 dense-layer pairs, layers.1.dense .. layers.19.dense"));
}

TEST_CASE("diagnosis of a real two-layer run: healthy", "[analysis][e2e]") {
    const std::string output = testing::scratchPath("diagnosis_two_layer.h5");
    REQUIRE(runConfig("two_layer.yaml", {"training.steps=20"}, output).status == RunStatus::completed);
    const Diagnosis diagnosis = analysis::diagnose(output);
    CHECK(diagnosis.verdict == Verdict::healthy);
    CHECK(diagnosis.configName == "two_layer");
    CHECK(diagnosis.tracedSteps == 20);
    CHECK(diagnosis.eventsRecorded);
    CHECK(diagnosis.events.empty());
    CHECK(diagnosis.gradNormGrowth < 1.0);
    // One hidden ReLU layer with N(0, 1) weights and fan-in 1000: sigma_w^2 ~ 1000 > 2, so the length map
    // has no finite fixed point and the prediction says so instead of inventing numbers.
    REQUIRE(diagnosis.theory.present);
    CHECK(diagnosis.theory.sigmaW2 == Approx(1000).epsilon(0.02));
    CHECK_FALSE(diagnosis.theory.converged);
    CHECK_THAT(diagnosis.theory.note, Contains("q diverges"));
    const std::string text = analysis::formatText(diagnosis);
    CHECK_THAT(text, Contains("verdict: healthy"));
    CHECK_THAT(text, Contains("events: none"));
    CHECK_THAT(text, Contains("step 0\n    layers.0.dense"));
    CHECK_THAT(text, Contains("step 19\n    layers.0.dense"));
}

TEST_CASE("diagnosis of a real diverged run: diverged, with the non-finite event", "[analysis][e2e]") {
    const std::string output = testing::scratchPath("diagnosis_diverged.h5");
    const RunResult result = runConfig("two_layer.yaml", {"optimizer.lr=1e-2", "training.steps=200"}, output);
    REQUIRE(result.status == RunStatus::diverged);
    const Diagnosis diagnosis = analysis::diagnose(output);
    CHECK(diagnosis.verdict == Verdict::diverged);
    CHECK(diagnosis.status == "diverged");
    CHECK_FALSE(std::isfinite(diagnosis.finalLoss));
    CHECK(std::isfinite(diagnosis.lastFiniteLoss));
    REQUIRE_FALSE(diagnosis.evidence.empty());
    CHECK_THAT(diagnosis.evidence.front(), Contains("status diverged: " + diagnosis.statusMessage));
    const std::string text = analysis::formatText(diagnosis);
    CHECK_THAT(text, Contains("verdict: diverged"));
    CHECK_THAT(text, Contains("(last finite "));
    bool nonFinite = false;
    for (const auto& row : diagnosis.events) nonFinite = nonFinite || row.kind == "non_finite";
    CHECK(nonFinite);
    CHECK_THAT(text, Contains("non_finite"));
}

TEST_CASE("verdict rules on hand-written traces", "[analysis]") {
    const std::string path = testing::scratchPath("diagnosis_handmade.h5");
    TraceSpec spec;

    SECTION("no events: healthy") {
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        CHECK(diagnosis.verdict == Verdict::healthy);
        CHECK(diagnosis.configName == "handmade");
        CHECK(diagnosis.lastProfile.firstOverLast == Approx(0.5));
    }
    SECTION("a saturated event alone: saturated, never 'no detector fired'") {
        spec.eventRows = {event("saturated", 5, "layers.1.dense", "60% of units have |f'| < 1e-3", -1, 0.6)};
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        CHECK(diagnosis.verdict == Verdict::saturated);
        const std::string text = analysis::formatText(diagnosis);
        CHECK_THAT(text, Contains("verdict: saturated"));
        CHECK_THAT(text, Contains("1 layer with dead or saturated units"));
        CHECK_THAT(text, !Contains("no detector fired"));
    }
    SECTION("a non_finite event makes it diverged even when completed") {
        spec.eventRows = {event("exploding", 5, "global", "grad norm 1e9 above 1e8", -1, 1e9),
                          event("non_finite", 10, "backward layers.1.dense", "gradient is NaN", 3, NAN)};
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        CHECK(diagnosis.verdict == Verdict::diverged);
        REQUIRE(diagnosis.events.size() == 2);
        CHECK(diagnosis.events[1].where == "backward layers.1.dense");
        CHECK(diagnosis.events[1].timestep == 3);
        CHECK(std::isnan(diagnosis.events[1].value));
        CHECK_THAT(diagnosis.evidence.front(),
                   Contains("non_finite event at step 10 in backward layers.1.dense (timestep 3): gradient is NaN"));
        const std::string text = analysis::formatText(diagnosis);
        CHECK_THAT(text, Contains("10      non_finite  backward layers.1.dense  3         nan       gradient is NaN"));
    }
    SECTION("status diverged without events") {
        spec.events = false;
        spec.status = RunStatus::diverged;
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        CHECK(diagnosis.verdict == Verdict::diverged);
        CHECK_FALSE(diagnosis.eventsRecorded);
        CHECK_THAT(analysis::formatText(diagnosis), Contains("events: none recorded (no /events table)"));
    }
    SECTION("an exploding event") {
        spec.eventRows = {event("exploding", 5, "global", "grad norm grew 1e3-fold in 10 steps", -1, 2e3)};
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::exploding);
    }
    SECTION("grad norm growing by more than 1e3, without events") {
        spec.gradNorms = {1.0, 50.0, 2000.0};
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        CHECK(diagnosis.verdict == Verdict::exploding);
        CHECK(diagnosis.gradNormGrowth == Approx(2000.0));
        CHECK_THAT(diagnosis.evidence.front(), Contains("grad norm 1.0e+00 -> 2.0e+03 (x 2.0e+03 > 1e3) over steps 0 .. 10"));
    }
    SECTION("growth of 1e3 exactly is not exploding") {
        spec.gradNorms = {1.0, 50.0, 1000.0};
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::healthy);
    }
    SECTION("first/last layer ratio below 1e-4 at the last step") {
        spec.signal[2] = {1e-6, 1e-3, 1.0};
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        CHECK(diagnosis.verdict == Verdict::vanishing);
        CHECK(diagnosis.lastProfile.firstOverLast == Approx(1e-6));
        CHECK_THAT(diagnosis.evidence.front(), Contains("first/last layer signal gradient norm 1.0e-06 < 1e-4 at step 10"));
        const std::string text = analysis::formatText(diagnosis);
        CHECK_THAT(text, Contains("log10 bars from 1e-6 to 1e0"));
        CHECK_THAT(text, Contains("layers.0.dense  1.0e-06   |#"));
        CHECK_THAT(text, Contains("layers.2.dense  1.0e+00   |########################################|"));
    }
    SECTION("a vanishing ratio at the first step only is not vanishing") {
        spec.signal[0] = {1e-6, 1e-3, 1.0};
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::healthy);
    }
    SECTION("a recurrent layer's timestep ratio below 1e-4") {
        std::vector<double> norms(100);
        for (int t = 0; t < 100; ++t) norms[t] = std::pow(10.0, -6.0 + 6.0 * t / 99.0);  // 1e-6 .. 1
        spec.timestepNorms = {std::vector<double>(100, 1.0), norms};
        writeTrace(path, spec);
        const Diagnosis diagnosis = analysis::diagnose(path);
        REQUIRE(diagnosis.timestepProfiles.size() == 1);
        const auto& profile = diagnosis.timestepProfiles.front();
        CHECK(profile.layer == "layers.0.rnn");
        CHECK(profile.step == 10);
        CHECK(profile.norms.size() == 100);
        CHECK(profile.firstOverLast == Approx(1e-6));
        CHECK(diagnosis.verdict == Verdict::vanishing);
        CHECK_THAT(diagnosis.evidence.front(),
                   Contains("layers.0.rnn: ||dL/dh_1|| / ||dL/dh_T|| = 1.0e-06 < 1e-4 over T = 100 timesteps"));
        const std::string text = analysis::formatText(diagnosis);
        CHECK_THAT(text, Contains("layers.0.rnn: ||dL/dh_t|| per timestep at step 10 (T = 100, 20 sampled"));
        CHECK_THAT(text, Contains("t=1    1.0e-06"));
        CHECK_THAT(text, Contains("t=100  1.0e+00"));
        CHECK_THAT(text, Contains("||dL/dh_1|| / ||dL/dh_T|| = 1.0e-06"));
    }
    SECTION("a stalled event") {
        spec.eventRows = {event("stalled", 10, "global", "loss changed by 1e-9 over 50 traced steps", -1, 1e-9)};
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::stalled);
    }
    SECTION("precedence: diverged > exploding > vanishing > stalled") {
        spec.eventRows = {event("stalled", 1, "global", ""), event("vanishing", 2, "layers.0.dense", ""),
                          event("exploding", 3, "global", "")};
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::exploding);
        spec.eventRows.pop_back();
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::vanishing);
        spec.eventRows.pop_back();
        writeTrace(path, spec);
        CHECK(analysis::diagnose(path).verdict == Verdict::stalled);
    }
}

TEST_CASE("theory beside the measured decay on a hand-written trace", "[analysis]") {
    const std::string path = testing::scratchPath("diagnosis_theory.h5");
    TraceSpec spec;
    // dense, tanh, dense, tanh, ... : six dense layers; between dense layers 1 .. 4 the squared norm halves per
    // layer; the first and last dense layers are off the line (and excluded).
    spec.layerNames.clear();
    spec.layerKinds.clear();
    std::vector<double> norms;
    for (int dense = 0; dense < 6; ++dense) {
        spec.layerNames.push_back("layers." + std::to_string(2 * dense) + ".dense");
        spec.layerKinds.push_back("dense");
        norms.push_back(dense == 0 ? 1e-9 : dense == 5 ? 123.0 : std::pow(std::sqrt(0.5), 5 - dense));
        if (dense < 5) {
            spec.layerNames.push_back("layers." + std::to_string(2 * dense + 1) + ".tanh");
            spec.layerKinds.push_back("activation");
            norms.push_back(77.0);  // activation layers are ignored
        }
    }
    spec.signal = {norms, norms, norms};
    spec.theory = true;
    writeTrace(path, spec);
    const Diagnosis diagnosis = analysis::diagnose(path);
    const auto& theory = diagnosis.theory;
    REQUIRE(theory.present);
    CHECK(theory.activation == "tanh");
    CHECK(theory.sigmaW2 == 1.3);
    CHECK(theory.chi1 == 0.5);
    CHECK(theory.converged);
    CHECK(theory.measuredPairs == 3);
    CHECK(theory.measuredFrom == "layers.2.dense");
    CHECK(theory.measuredTo == "layers.8.dense");
    CHECK(theory.measuredFactor == Approx(0.5).epsilon(1e-12));
    const std::string text = analysis::formatText(diagnosis);
    CHECK_THAT(text, Contains("predicted  q* = 0.315, chi_1 = 0.5 (xi_grad = 1.443 layers), c* = 1, chi_c = 0.5"));
    CHECK_THAT(text, Contains("measured   per-layer factor of ||dL/dh||^2 at step 0: 0.5 (geometric mean over 3 "
                              "dense-layer pairs, layers.2.dense .. layers.8.dense); measured/chi_1 = 1"));
}

TEST_CASE("diagnosis refuses what is not a gradlab trace, naming the file", "[analysis][errors]") {
    SECTION("a text file") {
        const std::string path = testing::scratchPath("diagnosis_text.h5");
        std::ofstream(path) << "step,loss\n0,1.0\n";
        CHECK_THROWS_WITH(analysis::diagnose(path), Contains("'" + path + "' is not an HDF5 file"));
    }
    SECTION("an HDF5 file of another kind") {
        const std::string path = testing::scratchPath("diagnosis_other.h5");
        const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(file >= 0);
        H5Fclose(file);
        CHECK_THROWS_WITH(analysis::diagnose(path),
                          Contains("'" + path + "' is not a gradlab trace (schema attribute: missing"));
    }
    SECTION("a missing file") {
        const std::string path = testing::scratchPath("diagnosis_missing.h5");
        std::filesystem::remove(path);
        CHECK_THROWS_WITH(analysis::diagnose(path), Contains(path) && Contains("no such file"));
    }
}

TEST_CASE("a trace without rows still gets a diagnosis", "[analysis]") {
    const std::string path = testing::scratchPath("diagnosis_empty.h5");
    {
        trace::TraceHeader header;
        header.precision = "float32";
        header.config = "not: [valid";
        trace::TraceWriter writer(path, header);
    }
    const Diagnosis diagnosis = analysis::diagnose(path);
    CHECK(diagnosis.status == "running");
    CHECK(diagnosis.tracedSteps == 0);
    CHECK(diagnosis.configName.empty());
    CHECK(diagnosis.verdict == Verdict::unknown);  // nothing traced: nothing to judge
    const std::string text = analysis::formatText(diagnosis);
    CHECK_THAT(text, Contains("steps       none traced"));
    CHECK_THAT(text, Contains("signal gradient norm: not traced"));
}

TEST_CASE("the config name is the one a YAML parser reads, however the config text is laid out", "[analysis]") {
    const std::string path = testing::scratchPath("diagnosis_names.h5");
    // Each text, and what parsing it whole gives: the diagnosis reads a lone `name:` line only when that is the same.
    const std::vector<std::string> texts = {
        "name: first\nseed: 1\n",
        "seed: 1\nmodel:\n  name: inner\n  layers: []\nname: 'a: quoted, name'\ntrace: {every: 1}\n",
        "name: \"with \\\"escapes\\\"\"  # and a comment\n",
        "name: |\n  two\n  lines\nseed: 2\n",
        "name: folded\n  onto the next line\nseed: 2\n",
        "{name: flow, seed: 1}\n",
        "model:\n  name: only_nested\n",
        "name: [not, a, scalar]\n",
        "name:\n",
        "seed: 3\n",
        "not: [valid",
        "",
    };
    for (const std::string& text : texts) {
        CAPTURE(text);
        std::string expected;
        try {
            const YAML::Node root = YAML::Load(text);
            if (root.IsMap() && root["name"] && root["name"].IsScalar()) expected = root["name"].as<std::string>();
        } catch (const YAML::Exception&) {
        }
        {
            trace::TraceHeader header;
            header.precision = "float32";
            header.config = text;
            trace::TraceWriter writer(path, header);
        }
        CHECK(analysis::diagnose(path).configName == expected);
    }
}
