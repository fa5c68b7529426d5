// `gradlab inspect` as a user meets it: the real binary on traces of real runs and hand-written ones, its text,
// its JSON (parsed back by a small strict parser here), its exit codes and its refusals.
#include <sys/wait.h>

#include <hdf5.h>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"
#include "trace/trace_writer.hpp"
#include "training/trainer.hpp"

using Catch::Matchers::Contains;
using namespace gradlab;

namespace {

using gradlab::testing::Outcome;
using gradlab::testing::runGradlab;

std::string runConfig(const std::string& config, const std::vector<std::string>& overrides, const std::string& name) {
    const std::string output = testing::scratchPath(name);
    const RunConfig loaded =
        loadRunConfig(std::string(GRADLAB_SOURCE_DIR) + "/configs/" + config, overrides, testing::builtinPlugins());
    RunOptions options;
    options.output = output;
    runTraining(loaded, testing::builtinPlugins(), options);
    return output;
}

/// A parsed JSON value; the parser below accepts exactly RFC 8259 JSON and throws on anything else.
struct Json {
    enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
    bool boolean = false;
    double number = 0.0;
    std::string text;
    std::vector<Json> items;
    std::map<std::string, Json> members;

    const Json& operator[](const std::string& key) const {
        const auto found = members.find(key);
        if (kind != Kind::object || found == members.end()) throw std::runtime_error("no key '" + key + "'");
        return found->second;
    }
    const Json& operator[](std::size_t index) const { return items.at(index); }
    bool has(const std::string& key) const { return members.count(key) > 0; }
};

class JsonParser {
public:
    explicit JsonParser(const std::string& text) : text_(text) {}

    Json parseDocument() {
        Json value = parseValue();
        skipSpace();
        if (position_ != text_.size()) fail("trailing characters");
        return value;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(position_));
    }
    void skipSpace() {
        while (position_ < text_.size() && std::string(" \t\r\n").find(text_[position_]) != std::string::npos)
            ++position_;
    }
    bool consume(const std::string& word) {
        if (text_.compare(position_, word.size(), word) != 0) return false;
        position_ += word.size();
        return true;
    }
    void expect(char character) {
        skipSpace();
        if (position_ >= text_.size() || text_[position_] != character) fail(std::string("expected '") + character + "'");
        ++position_;
    }
    Json parseValue() {
        skipSpace();
        if (position_ >= text_.size()) fail("unexpected end");
        Json value;
        const char next = text_[position_];
        if (consume("null")) return value;
        if (consume("true") || consume("false")) {
            value.kind = Json::Kind::boolean;
            value.boolean = text_[position_ - 1] == 'e' && text_[position_ - 2] == 'u';
            return value;
        }
        if (next == '"') {
            value.kind = Json::Kind::string;
            value.text = parseString();
            return value;
        }
        if (next == '[') {
            value.kind = Json::Kind::array;
            ++position_;
            skipSpace();
            if (consume("]")) return value;
            do value.items.push_back(parseValue());
            while (skipSpace(), consume(","));
            expect(']');
            return value;
        }
        if (next == '{') {
            value.kind = Json::Kind::object;
            ++position_;
            skipSpace();
            if (consume("}")) return value;
            do {
                skipSpace();
                if (position_ >= text_.size() || text_[position_] != '"') fail("expected a key");
                const std::string key = parseString();
                expect(':');
                if (value.members.count(key)) fail("duplicate key '" + key + "'");
                value.members[key] = parseValue();
            } while (skipSpace(), consume(","));
            expect('}');
            return value;
        }
        // A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        const std::size_t start = position_;
        auto digits = [&] {
            const std::size_t first = position_;
            while (position_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[position_]))) ++position_;
            if (position_ == first) fail("expected digits");
        };
        consume("-");
        if (!consume("0")) digits();
        if (consume(".")) digits();
        if (position_ < text_.size() && (text_[position_] == 'e' || text_[position_] == 'E')) {
            ++position_;
            if (!consume("+")) consume("-");
            digits();
        }
        value.kind = Json::Kind::number;
        value.number = std::stod(text_.substr(start, position_ - start));
        return value;
    }
    std::string parseString() {
        ++position_;  // the opening quote
        std::string out;
        while (true) {
            if (position_ >= text_.size()) fail("unterminated string");
            const unsigned char character = static_cast<unsigned char>(text_[position_++]);
            if (character == '"') return out;
            if (character < 0x20) fail("raw control character in a string");
            if (character != '\\') {
                out += static_cast<char>(character);
                continue;
            }
            if (position_ >= text_.size()) fail("unterminated escape");
            const char escape = text_[position_++];
            switch (escape) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    if (position_ + 4 > text_.size()) fail("short \\u escape");
                    const unsigned code = static_cast<unsigned>(std::stoul(text_.substr(position_, 4), nullptr, 16));
                    position_ += 4;
                    if (code < 0x80) {
                        out += static_cast<char>(code);
                    } else if (code < 0x800) {
                        out += static_cast<char>(0xC0 | (code >> 6));
                        out += static_cast<char>(0x80 | (code & 0x3F));
                    } else {
                        out += static_cast<char>(0xE0 | (code >> 12));
                        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
                        out += static_cast<char>(0x80 | (code & 0x3F));
                    }
                    break;
                }
                default: fail(std::string("bad escape \\") + escape);
            }
        }
    }

    const std::string& text_;
    std::size_t position_ = 0;
};

Json parseJson(const std::string& text) { return JsonParser(text).parseDocument(); }

/// The keys `gradlab inspect --json` documents at the top level.
const std::vector<std::string> topLevelKeys = {
    "file",          "config_name",        "status",         "status_message",   "precision",
    "traced_steps",  "first_step",         "last_step",      "final_loss",       "last_finite_loss",
    "last_finite_loss_step", "test", "grad_norm",  "layer_names",    "layer_kinds",      "signal_grad_norm",
    "timestep_grad_norm",    "events_recorded", "events",    "theory",    "probes",       "metrics",   "verdict",
    "evidence"};

}  // namespace

TEST_CASE("gradlab inspect prints a vanishing diagnosis of a deep sigmoid run", "[cli][inspect]") {
    const std::string trace = runConfig("deep_sigmoid.yaml", {"training.steps=20"}, "inspect_deep_sigmoid.h5");
    const Outcome outcome = runGradlab("inspect " + trace);
    INFO(outcome.output);
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("gradlab trace " + trace));
    CHECK_THAT(outcome.output, Contains("config      deep_sigmoid"));
    CHECK_THAT(outcome.output, Contains("status      completed"));
    CHECK_THAT(outcome.output, Contains("precision   float32"));
    CHECK_THAT(outcome.output, Contains("steps       3 traced, 0 .. 19"));
    CHECK_THAT(outcome.output, Contains("final loss  "));
    CHECK_THAT(outcome.output, Contains("layers.20.dense"));
    CHECK_THAT(outcome.output, Contains("verdict: vanishing"));

    const Outcome json = runGradlab("inspect --json " + trace);
    REQUIRE(json.exitCode == 0);
    const Json document = parseJson(json.output);
    for (const std::string& key : topLevelKeys) CHECK(document.has(key));
    CHECK(document.members.size() == topLevelKeys.size());
    CHECK(document["verdict"].text == "vanishing");
    CHECK(document["config_name"].text == "deep_sigmoid");
    CHECK(document["traced_steps"].number == 3);
    CHECK(document["last_step"].number == 19);
    CHECK(document["layer_names"].items.size() == 21);
    const Json& last = document["signal_grad_norm"]["last"];
    CHECK(last["step"].number == 19);
    REQUIRE(last["norms"].items.size() == 21);
    CHECK(last["first_over_last"].number == Approx(last["norms"][0].number / last["norms"][20].number));
    CHECK(last["first_over_last"].number < 1e-4);
    // The trainer wrote /theory for this sigmoid MLP; inspect reports it with the measured decay.
    REQUIRE(document["theory"].kind != Json::Kind::null);
    CHECK(document["theory"]["activation"].text == "sigmoid");
    CHECK(document["theory"]["measured"]["factor_over_chi_1"].number == Approx(1.0).epsilon(0.15));
    CHECK(document["evidence"].items.size() >= 1);
    // The JSON carries the same numbers as the library's diagnosis, exactly.
    const analysis::Diagnosis diagnosis = analysis::diagnose(trace);
    CHECK(document["final_loss"].number == diagnosis.finalLoss);
    CHECK(document["grad_norm"]["growth"].number == diagnosis.gradNormGrowth);
}

TEST_CASE("gradlab inspect --json of a diverged run: non-finite numbers are null", "[cli][inspect]") {
    const std::string trace =
        runConfig("two_layer.yaml", {"optimizer.lr=1e-2", "training.steps=200"}, "inspect_diverged.h5");
    const Outcome text = runGradlab("inspect " + trace);
    CHECK(text.exitCode == 0);
    CHECK_THAT(text.output, Contains("status      diverged ("));
    CHECK_THAT(text.output, Contains("verdict: diverged"));
    const Outcome json = runGradlab("inspect " + trace + " --json");
    REQUIRE(json.exitCode == 0);
    const Json document = parseJson(json.output);
    CHECK(document["verdict"].text == "diverged");
    CHECK(document["status"].text == "diverged");
    CHECK(document["final_loss"].kind == Json::Kind::null);
    CHECK(document["last_finite_loss"].kind == Json::Kind::number);
    CHECK(document["signal_grad_norm"]["last"]["norms"][0].kind == Json::Kind::null);
    bool nonFinite = false;
    for (const Json& event : document["events"].items) {
        for (const char* key : {"step", "kind", "where", "timestep", "value", "message"}) CHECK(event.has(key));
        nonFinite = nonFinite || event["kind"].text == "non_finite";
    }
    CHECK(nonFinite);
}

TEST_CASE("gradlab inspect --json escapes strings and reports events, timesteps and theory", "[cli][inspect]") {
    const std::string path = testing::scratchPath("inspect_handmade.h5");
    const std::string awkward = "quote \" backslash \\ newline \n tab \t bell \x07 unicode ‖dL/dh‖ invalid \xff end";
    {
        trace::TraceHeader header;
        header.precision = "float64";
        header.config = "name: \"odd \\\"name\\\"\"\n";
        header.layerNames = {"layers.0.rnn", "layers.1.dense"};
        header.layerKinds = {"rnn", "dense"};
        trace::TraceWriter writer(path, header);
        trace::Table& table = writer.table("/trace");
        const auto step = table.addColumn("step", 0, trace::ColumnType::int64);
        const auto gradNorm = table.addColumn("grad_norm");
        const auto signal = table.addColumn("signal_grad_norm", 2);
        trace::Table& timesteps = writer.table("/trace/timestep_grad_norm");
        const auto rnn = timesteps.addColumn("layers.0.rnn", 5);
        for (int row = 0; row < 2; ++row) {
            table.setInteger(step, row);
            table.set(gradNorm, 1.0);
            table.row(signal)[0] = 0.5;
            table.row(signal)[1] = 1.0;
            table.commit();
            for (int t = 0; t < 5; ++t) timesteps.row(rnn)[t] = std::pow(10.0, t - 4.0);  // 1e-4 .. 1
            timesteps.commit();
        }
        trace::Table& events = writer.table("/events");
        const auto eventStep = events.addColumn("step", 0, trace::ColumnType::int64);
        const auto kind = events.addColumn("kind", 0, trace::ColumnType::string);
        const auto where = events.addColumn("where", 0, trace::ColumnType::string);
        const auto timestep = events.addColumn("timestep", 0, trace::ColumnType::int64);
        const auto value = events.addColumn("value");
        const auto message = events.addColumn("message", 0, trace::ColumnType::string);
        events.setInteger(eventStep, 1);
        events.setString(kind, "saturated");
        events.setString(where, "layers.0.rnn");
        events.setInteger(timestep, 4);
        events.set(value, std::numeric_limits<double>::infinity());
        events.setString(message, awkward);
        events.commit();
        writer.setGroupAttribute("/theory", "activation", "tanh");
        writer.setGroupAttribute("/theory", "chi_1", 1.0);
        writer.setGroupAttribute("/theory", "depth_scale_gradient", std::numeric_limits<double>::infinity());
        writer.setGroupAttribute("/theory", "converged", 1);
        writer.setGroupAttribute("/theory", "note", "critical");
        writer.finish(RunStatus::completed, "tab\there", "");
    }
    const Outcome outcome = runGradlab("inspect --json " + path);
    INFO(outcome.output);
    REQUIRE(outcome.exitCode == 0);
    const Json document = parseJson(outcome.output);
    CHECK(document["config_name"].text == "odd \"name\"");
    CHECK(document["status_message"].text == "tab\there");
    REQUIRE(document["events"].items.size() == 1);
    const Json& event = document["events"][0];
    std::string expected = awkward;
    expected.replace(expected.find("\xff"), 1, "\xEF\xBF\xBD");  // an invalid byte becomes U+FFFD
    CHECK(event["message"].text == expected);
    CHECK(event["value"].kind == Json::Kind::null);  // +inf
    CHECK(event["timestep"].number == 4);
    CHECK(event["kind"].text == "saturated");
    REQUIRE(document["timestep_grad_norm"].items.size() == 1);
    const Json& profile = document["timestep_grad_norm"][0];
    CHECK(profile["layer"].text == "layers.0.rnn");
    CHECK(profile["timesteps"].number == 5);
    CHECK(profile["first_over_last"].number == Approx(1e-4));
    CHECK(document["verdict"].text == "saturated");  // 1e-4 is not below 1e-4: not vanishing; units saturate
    const Json& theory = document["theory"];
    for (const char* key : {"activation", "sigma_w2", "sigma_b2", "q_star", "chi_1", "c_star", "chi_c",
                            "depth_scale_gradient", "depth_scale_correlation", "converged", "note", "measured"})
        CHECK(theory.has(key));
    CHECK(theory["activation"].text == "tanh");
    CHECK(theory["chi_1"].number == 1.0);
    CHECK(theory["sigma_w2"].kind == Json::Kind::null);               // absent attribute
    CHECK(theory["depth_scale_gradient"].kind == Json::Kind::null);   // +inf
    CHECK(theory["converged"].boolean);
    CHECK(theory["measured"].kind == Json::Kind::null);  // a single dense layer: nothing to measure

    const Outcome text = runGradlab("inspect " + path);
    CHECK(text.exitCode == 0);
    CHECK_THAT(text.output, Contains("layers.0.rnn: ||dL/dh_t|| per timestep at step 1 (T = 5; log10 bars from 1e-4 to 1e0)"));
    CHECK_THAT(text.output, Contains("t=1  1.0e-04   |#"));
    CHECK_THAT(text.output, Contains("  note: critical"));
    CHECK_THAT(text.output, Contains("measured   no per-layer factor: fewer than 2 dense layers traced"));
}

TEST_CASE("gradlab inspect refuses files that are not gradlab traces, naming them", "[cli][inspect][errors]") {
    const std::string text = testing::scratchPath("inspect_text.h5");
    std::ofstream(text) << "not a trace\n";
    Outcome outcome = runGradlab("inspect " + text);
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output, Contains("gradlab inspect: error: '" + text + "' is not an HDF5 file"));

    const std::string other = testing::scratchPath("inspect_other.h5");
    const hid_t file = H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(file >= 0);
    H5Fclose(file);
    outcome = runGradlab("inspect " + other + " --json");
    CHECK(outcome.exitCode == 1);
    CHECK_THAT(outcome.output,
               Contains("gradlab inspect: error: '" + other + "' is not a gradlab trace (schema attribute: missing"));

    outcome = runGradlab("inspect");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("missing FILE"));
}

TEST_CASE("gradlab inspect --help states the verdict rules and gradlab --help lists inspect", "[cli][inspect]") {
    Outcome outcome = runGradlab("inspect --help");
    CHECK(outcome.exitCode == 0);
    CHECK_THAT(outcome.output, Contains("usage: gradlab inspect FILE [--json]"));
    for (const char* rule : {"diverged   status is 'diverged', or /events holds a non_finite event",
                             "grows by more than 1e3", "is below 1e-4", "stalled    a stalled event",
                             "healthy    none of the above"})
        CHECK_THAT(outcome.output, Contains(rule));
    outcome = runGradlab("--help");
    CHECK_THAT(outcome.output, Contains("inspect FILE"));
    outcome = runGradlab("inspcet x");
    CHECK(outcome.exitCode == 2);
    CHECK_THAT(outcome.output, Contains("did you mean 'inspect'?"));
}
