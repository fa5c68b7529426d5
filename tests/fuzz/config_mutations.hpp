#pragma once
/// @file config_mutations.hpp
/// Seeded, deterministic mutations of YAML config text, and the property every input must satisfy: it loads,
/// or it is refused with gradlab's own error type and a message that names the file (or the --set override
/// at fault). Header-only: shared by the Catch2 mutation test (tests/framework/config/config_mutation_test.cpp)
/// and the libFuzzer target (tests/fuzz/fuzz_config.cpp).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <exception>
#include <fstream>
#include <functional>
#include <string>
#include <typeinfo>
#include <vector>

#include "config/run_config.hpp"
#include "gradlab/error.hpp"

namespace gradlab::fuzz {

/// splitmix64: a tiny generator whose sequence is the same on every platform and standard library (unlike
/// std::uniform_int_distribution), so that a failing input can be reproduced from its seed anywhere.
class SeededRandom {
public:
    explicit SeededRandom(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, count); count > 0.
    std::size_t below(std::size_t count) { return static_cast<std::size_t>(next() % count); }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <typename T>
    const T& pick(const std::vector<T>& values) {
        return values[below(values.size())];
    }

private:
    std::uint64_t state_;
};

/// One config input: YAML text and the `--set` overrides applied to it.
struct ConfigInput {
    std::string text;
    std::vector<std::string> overrides;
};

/// Splits a fuzzer's bytes into a config input: YAML up to the first line that starts with "--set ", then one
/// override per such line (the rest of the line, as typed after --set).
inline ConfigInput splitConfigInput(const std::string& bytes) {
    ConfigInput input;
    const std::string marker = "--set ";
    std::size_t start = bytes.rfind(marker, 0) == 0 ? 0 : bytes.find("\n" + marker);
    if (start == std::string::npos) {
        input.text = bytes;
        return input;
    }
    input.text = bytes.substr(0, start);
    if (bytes[start] == '\n') ++start;
    while (start < bytes.size()) {
        std::size_t end = bytes.find('\n', start);
        if (end == std::string::npos) end = bytes.size();
        const std::string line = bytes.substr(start, end - start);
        if (line.rfind(marker, 0) == 0) input.overrides.push_back(line.substr(marker.size()));
        start = end + 1;
    }
    return input;
}

/// What happened to one input.
struct ConfigOutcome {
    bool loaded = false;
    std::string error;      ///< gradlab's message when refused
    std::string violation;  ///< non-empty when the property failed: what went wrong
};

/// True when two YAML trees hold the same values: maps compared by key whatever their order, scalars by text.
inline bool sameYaml(const YAML::Node& first, const YAML::Node& second) {
    if (first.Type() != second.Type()) return false;
    if (first.IsScalar()) return first.Scalar() == second.Scalar();
    if (first.IsSequence()) {
        if (first.size() != second.size()) return false;
        for (std::size_t index = 0; index < first.size(); ++index)
            if (!sameYaml(first[index], second[index])) return false;
        return true;
    }
    if (first.IsMap()) {
        if (first.size() != second.size()) return false;
        for (const auto& entry : first) {
            const YAML::Node other = second[entry.first.Scalar()];
            if (!other.IsDefined() || !sameYaml(entry.second, other)) return false;
        }
        return true;
    }
    return true;  // null or undefined, same type
}

/// Writes `input` to `path` and loads it as `gradlab run` and `gradlab validate` do. The property:
///  - it loads, and then its resolved YAML (what the trace stores) loads again to the same values; or
///  - it throws gradlab::Error (ConfigError) whose message is not empty and names `path`, or the `--set` at
///    fault when overrides were given.
/// Any other exception is a violation; crashes, UB and leaks are the sanitizers' to report.
inline ConfigOutcome checkConfigInput(const ConfigInput& input, const std::string& path, const PluginHost& host) {
    ConfigOutcome outcome;
    {
        std::ofstream file(path, std::ios::binary | std::ios::trunc);
        file << input.text;
    }
    RunConfig config;
    try {
        config = loadRunConfig(path, input.overrides, host);
        outcome.loaded = true;
    } catch (const Error& error) {
        outcome.error = error.what();
        const bool namesFile = outcome.error.find(path) != std::string::npos;
        const bool namesOverride = !input.overrides.empty() && outcome.error.find("--set ") != std::string::npos;
        if (outcome.error.empty())
            outcome.violation = "refused with an empty message";
        else if (!namesFile && !namesOverride)
            outcome.violation = "refused with a message that names neither the file nor a --set: " + outcome.error;
        return outcome;
    } catch (const std::exception& error) {
        outcome.violation = std::string("escaped as ") + typeid(error).name() + ", not gradlab::Error: " + error.what();
        return outcome;
    } catch (...) {
        outcome.violation = "escaped as an exception that is not a std::exception";
        return outcome;
    }

    // The resolved config is what the trace stores and what `gradlab run` on it reproduces: it must read back,
    // to itself. It is written next to the input so that relative file paths resolve the same way.
    const std::string resolvedPath = path + ".resolved.yaml";
    {
        std::ofstream file(resolvedPath, std::ios::binary | std::ios::trunc);
        file << config.resolvedYaml;
    }
    try {
        const RunConfig again = loadRunConfig(resolvedPath, {}, host);
        if (!sameYaml(YAML::Load(again.resolvedYaml), YAML::Load(config.resolvedYaml)))
            outcome.violation = "its resolved YAML reads back to a different config:\n--- first\n" +
                                config.resolvedYaml + "--- read back\n" + again.resolvedYaml;
    } catch (const std::exception& error) {
        outcome.violation = std::string("loads, but its resolved YAML does not: ") + error.what() +
                            "\n--- resolved\n" + config.resolvedYaml;
    }
    return outcome;
}

/// Values a mutation puts where a scalar was: other types, edge numbers, YAML syntax, plugin names.
inline const std::vector<std::string>& replacementScalars() {
    static const std::vector<std::string> values{
        "", "~", "null", "0", "-0", "1", "-1", "2", "3", "7", "0.5", "1.5", "-1.5", "1e-320", "4.9e-324", "1e308",
        "1e309", "-1e309", "1e19", "-1e19", "1e300", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "99999999999999999999999",
        "100000", "100001", "1000000", "1000000000", ".nan", "nan", "NaN", "-nan", ".inf", "-.inf", "inf",
        "infinity", "0x10", "0x7fffffffffffffff", "0x1p-1074", "1_000", "1e6", "2.0", "1.0e-6", "+5", " 5 ", "5 #c",
        "true", "false", "yes", "no", "on", "off", "True", "[]", "{}", "[1, 2, 3]", "{a: 1}", "[[]]", "[{}]",
        "[relu, relu]", "{kind: dense}", "\"\"", "''", "'relu'", "\"relu \"", "\"\\u0000\"", "\"\\xff\\xfe\"",
        "\"\\t\"", "'a''b'", "!!str 5", "!!int x", "!!float 1", "!!binary AAAA", "!custom 1", "!!map {}",
        "&anchor 3", "*undefined", "|\n  text", ">-\n  text", "? complex", "\"a\\nb\"", "-", "--", "...", "---",
        "%YAML 1.2", "@", "`", "\t", ":", "a: b", "- x", "#", "dense", "relu", "sgd", "adam", "normal", "repeat",
        "residual", "lstm", "global_norm", "float64", "csv", "hdf5", "spirals", "teacher", "adding_sum", "weights",
        "*.W", "/dev/null", "../../../../etc/passwd", "runs/", "é", "\xc3\x28", "\xff"};
    return values;
}

/// Applies one random mutation to the lines of a config (and maybe adds a --set override).
class ConfigMutator {
public:
    /// `plugins`: plugin names of every kind (candidate values); `keyPaths`: key paths of the original config
    /// (candidate --set targets).
    ConfigMutator(std::vector<std::string> plugins, std::vector<std::string> keyPaths)
        : plugins_(std::move(plugins)), keyPaths_(std::move(keyPaths)) {}

    /// `count` mutations of `original`, drawn from `random`.
    ConfigInput mutate(const std::string& original, SeededRandom& random, int count) const {
        ConfigInput input;
        std::vector<std::string> lines = splitLines(original);
        for (int index = 0; index < count; ++index) mutateOnce(lines, input.overrides, random);
        input.text = joinLines(lines);
        if (random.chance(3)) input.text = mutateBytes(input.text, random);
        return input;
    }

    /// Every key path of a YAML document ("model.layers.0.units"), up to `depth` levels, for --set targets.
    static std::vector<std::string> keyPathsOf(const std::string& text, int depth = 6) {
        std::vector<std::string> paths;
        std::function<void(const YAML::Node&, const std::string&, int)> walk = [&](const YAML::Node& node,
                                                                                   const std::string& prefix,
                                                                                   int level) {
            if (level >= depth) return;
            if (node.IsMap()) {
                for (const auto& entry : node) {
                    if (!entry.first.IsScalar()) continue;
                    const std::string path = prefix.empty() ? entry.first.Scalar() : prefix + "." + entry.first.Scalar();
                    paths.push_back(path);
                    walk(entry.second, path, level + 1);
                }
            } else if (node.IsSequence()) {
                for (std::size_t index = 0; index < node.size(); ++index) {
                    const std::string path = prefix + "." + std::to_string(index);
                    paths.push_back(path);
                    walk(node[index], path, level + 1);
                }
            }
        };
        walk(YAML::Load(text), "", 0);
        return paths;
    }

private:
    struct Span {
        std::size_t line, begin, end;
    };

    static std::vector<std::string> splitLines(const std::string& text) {
        std::vector<std::string> lines;
        std::size_t start = 0;
        while (start <= text.size()) {
            std::size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            lines.push_back(text.substr(start, end - start));
            start = end + 1;
        }
        return lines;
    }

    static std::string joinLines(const std::vector<std::string>& lines) {
        std::string text;
        for (std::size_t index = 0; index < lines.size(); ++index) text += (index ? "\n" : "") + lines[index];
        return text;
    }

    /// Where scalar values sit: after "key: ", after "- ", and inside flow collections after '[' or ','.
    static std::vector<Span> valueSpans(const std::vector<std::string>& lines) {
        std::vector<Span> spans;
        for (std::size_t row = 0; row < lines.size(); ++row) {
            const std::string& line = lines[row];
            const std::size_t comment = line.find(" #");
            const std::size_t limit = comment == std::string::npos ? line.size() : comment;
            for (std::size_t at = 0; at < limit; ++at) {
                const char c = line[at];
                const bool startsValue = (c == ':' && (at + 1 >= limit || line[at + 1] == ' ')) ||
                                         (c == '-' && at + 1 < limit && line[at + 1] == ' ' &&
                                          line.find_first_not_of(' ') == at) ||
                                         c == '[' || c == ',';
                if (!startsValue) continue;
                std::size_t begin = at + 1;
                while (begin < limit && line[begin] == ' ') ++begin;
                if (begin < limit && (line[begin] == '{' || line[begin] == '[')) continue;
                std::size_t end = begin;
                while (end < limit && line[end] != ',' && line[end] != '}' && line[end] != ']') ++end;
                while (end > begin && line[end - 1] == ' ') --end;
                if (end > begin && line.find(':', begin) < end) continue;  // a "key: value" pair, handled at ':'
                spans.push_back({row, begin, end});
            }
        }
        return spans;
    }

    /// Where keys sit: the name before ':' at the start of a line (after indentation or "- ") or after '{'/','.
    static std::vector<Span> keySpans(const std::vector<std::string>& lines) {
        std::vector<Span> spans;
        for (std::size_t row = 0; row < lines.size(); ++row) {
            const std::string& line = lines[row];
            for (std::size_t colon = line.find(':'); colon != std::string::npos; colon = line.find(':', colon + 1)) {
                std::size_t begin = colon;
                while (begin > 0 && line[begin - 1] != ' ' && line[begin - 1] != '{' && line[begin - 1] != ',' &&
                       line[begin - 1] != '-')
                    --begin;
                if (begin < colon && line[begin] != '#') spans.push_back({row, begin, colon});
            }
        }
        return spans;
    }

    std::string randomValue(SeededRandom& random) const {
        switch (random.below(10)) {
            case 0:
                return random.pick(plugins_);
            case 1: {
                static const std::vector<std::size_t> lengths{64, 1000, 70000};
                return std::string(random.pick(lengths), static_cast<char>('a' + random.below(26)));
            }
            case 2: {
                static const std::vector<std::size_t> depths{8, 60, 400, 5000};
                const std::size_t depth = random.pick(depths);
                if (random.chance(50)) return std::string(depth, '[') + "1" + std::string(depth, ']');
                std::string text;
                for (std::size_t level = 0; level < depth; ++level) text += "{a: ";
                return text + "1" + std::string(depth, '}');
            }
            case 3:
                return std::to_string(static_cast<std::int64_t>(random.next()));
            default:
                return random.pick(replacementScalars());
        }
    }

    static std::string indentOf(const std::string& line) { return line.substr(0, line.find_first_not_of(' ')); }

    void mutateOnce(std::vector<std::string>& lines, std::vector<std::string>& overrides, SeededRandom& random) const {
        if (lines.empty()) lines.push_back("");
        const std::size_t row = random.below(lines.size());
        switch (random.below(16)) {
            case 0:  // delete a line
                lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(row));
                break;
            case 1:  // duplicate a line
                lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(row), lines[row]);
                break;
            case 2:  // swap two lines
                std::swap(lines[row], lines[random.below(lines.size())]);
                break;
            case 3: {  // change indentation
                std::string& line = lines[row];
                const std::size_t choice = random.below(4);
                if (choice == 0) line = std::string(1 + random.below(4), ' ') + line;
                else if (choice == 1 && !line.empty() && line[0] == ' ') line.erase(0, 1 + random.below(indentOf(line).size()));
                else if (choice == 2) line = "\t" + line;
                else line = line.substr(line.find_first_not_of(' ') == std::string::npos ? line.size() : line.find_first_not_of(' '));
                break;
            }
            case 4:
            case 5:
            case 6:
            case 7: {  // replace a scalar value
                const std::vector<Span> spans = valueSpans(lines);
                if (spans.empty()) break;
                const Span span = random.pick(spans);
                std::string value = randomValue(random);
                const bool block = value.find('\n') != std::string::npos;
                if (block) {  // a block scalar continues on the following lines, indented
                    const std::string indent = indentOf(lines[span.line]) + "  ";
                    std::string indented;
                    for (char c : value) indented += c == '\n' ? "\n" + indent : std::string(1, c);
                    value = indented;
                }
                lines[span.line].replace(span.begin, span.end - span.begin, (span.begin > 0 && lines[span.line][span.begin - 1] != ' ' ? " " : "") + value);
                break;
            }
            case 8: {  // an unknown key, at the same indentation as a line or inside a flow map
                static const std::vector<std::string> names{"unknown_key", "lr", "units", "kind", "layers",
                                                            "repeat", "steps", "epochs", "sweep", "init", "<<"};
                const std::string name = random.pick(names);
                const std::string value = randomValue(random);
                const std::size_t brace = lines[row].find('{');
                if (brace != std::string::npos && value.find('\n') == std::string::npos)
                    lines[row].insert(brace + 1, name + ": " + value + ", ");
                else
                    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(row),
                                 indentOf(lines[row]) + name + ": " + (value.find('\n') == std::string::npos ? value : "1"));
                break;
            }
            case 9: {  // a typo in a key, or another key of the file in its place
                const std::vector<Span> spans = keySpans(lines);
                if (spans.empty()) break;
                const Span span = random.pick(spans);
                std::string& line = lines[span.line];
                if (random.chance(50)) {
                    line[span.begin + random.below(span.end - span.begin)] = static_cast<char>('a' + random.below(26));
                } else {
                    const Span other = random.pick(spans);
                    const std::string key = lines[other.line].substr(other.begin, other.end - other.begin);
                    line.replace(span.begin, span.end - span.begin, key);
                }
                break;
            }
            case 10: {  // a plugin of another kind in place of a value
                const std::vector<Span> spans = valueSpans(lines);
                if (spans.empty()) break;
                const Span span = random.pick(spans);
                lines[span.line].replace(span.begin, span.end - span.begin, random.pick(plugins_));
                break;
            }
            case 11: {  // anchors and aliases, including an alias to a node that contains it
                const std::vector<Span> spans = keySpans(lines);
                if (spans.size() < 2) break;
                const Span anchored = random.pick(spans);
                const Span aliased = random.pick(spans);
                if (anchored.line == aliased.line) break;
                std::string& target = lines[aliased.line];
                const std::size_t valueAt = aliased.end + 1;
                target = target.substr(0, valueAt) + " *x";
                std::string& source = lines[anchored.line];
                source.insert(anchored.end + 1, " &x");
                break;
            }
            case 12: {  // a nested repeat around a layer list
                for (std::size_t index = 0; index < lines.size(); ++index) {
                    const std::size_t at = lines[index].find("layers:");
                    if (at == std::string::npos || !random.chance(60)) continue;
                    // The outer count may be the largest allowed; the inner one stays small or invalid, so that
                    // the loader's refusal (not reading 100000 valid layers) is what costs the time.
                    static const std::vector<std::string> outer{"2", "1000", "100000", "1e5", "0", "-3"};
                    static const std::vector<std::string> inner{"2", "1000", "100001", "0", "-3", "1.5"};
                    const std::string indent = std::string(at, ' ');
                    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(index) + 1,
                                 {indent + "  - repeat: " + random.pick(outer), indent + "    layers:",
                                  indent + "      - repeat: " + random.pick(inner),
                                  indent + "        layers: [" + random.pick(plugins_) + "]"});
                    break;
                }
                break;
            }
            case 13: {  // truncate
                const std::size_t keep = random.below(lines.size() + 1);
                lines.resize(keep);
                if (!lines.empty() && !lines.back().empty() && random.chance(50))
                    lines.back().resize(random.below(lines.back().size()));
                break;
            }
            case 14:
            case 15: {  // a --set override: a real key path (or a broken one) and any value
                std::string path = keyPaths_.empty() ? "a" : random.pick(keyPaths_);
                const std::size_t choice = random.below(8);
                if (choice == 0) path += ".extra";
                else if (choice == 1) path += ".99999999999999999999";
                else if (choice == 2) path += "..x";
                else if (choice == 3) path = "";
                else if (choice == 4) path += ".0";
                std::string value = randomValue(random);
                if (value.size() > 2000) value.resize(2000);
                overrides.push_back(random.chance(5) ? value : path + "=" + value);
                break;
            }
        }
    }

    static std::string mutateBytes(std::string text, SeededRandom& random) {
        const std::size_t edits = 1 + random.below(8);
        for (std::size_t edit = 0; edit < edits; ++edit) {
            const char byte = static_cast<char>(random.below(256));
            const std::size_t at = text.empty() ? 0 : random.below(text.size());
            if (random.chance(50) || text.empty())
                text.insert(at, 1, byte);
            else
                text[at] = byte;
        }
        return text;
    }

    std::vector<std::string> plugins_;
    std::vector<std::string> keyPaths_;
};

}  // namespace gradlab::fuzz
