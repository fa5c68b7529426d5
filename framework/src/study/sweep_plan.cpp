#include "study/sweep_plan.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <new>
#include <optional>
#include <sstream>

#include "config/run_config.hpp"
#include "study/trace_check.hpp"
#include "util/file_lock.hpp"
#include "util/suggest.hpp"

namespace gradlab::study {
namespace {

/// Runs a study may hold; beyond this a grid is almost certainly a mistake.
constexpr std::int64_t maximumRuns = 1000000;

/// Longest run name; file systems refuse names past 255 bytes and the suffixes ".yaml", ".h5" need room.
constexpr std::size_t maximumNameLength = 200;

/// One swept key with its values, as declared in `sweep.grid` or `sweep.zip`.
struct Axis {
    std::string key;
    std::string sweepPath;
    ConfigNode keyNode;
    std::vector<ConfigNode> values;
};

std::vector<std::string> splitPath(const std::string& path) {
    std::vector<std::string> segments;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = path.find('.', start);
        segments.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return segments;
}

/// A YAML value as one line: scalars as YAML writes them, maps and lists in flow style.
std::string yamlText(const YAML::Node& node) {
    YAML::Emitter emitter;
    emitter << YAML::Flow << node;
    return emitter.c_str();
}

/// The value as it reads in a run name: scalars as written, maps and lists in flow style without the spaces
/// after ',' and ':' ("{kind:sgd,lr:0.1}").
std::string nameText(const YAML::Node& node) {
    if (node.IsScalar()) return node.Scalar();
    const std::string flow = yamlText(node);
    std::string result;
    for (std::size_t i = 0; i < flow.size(); ++i)
        if (!(flow[i] == ' ' && i > 0 && (flow[i - 1] == ',' || flow[i - 1] == ':'))) result += flow[i];
    return result;
}

/// A string as a double-quoted YAML scalar, safe as a `--set` value whatever it holds.
std::string quotedYaml(const std::string& text) {
    YAML::Emitter emitter;
    emitter << YAML::DoubleQuoted << text;
    return emitter.c_str();
}

std::string readFile(const std::string& file) {
    std::ifstream stream(file);
    if (!stream) throw ConfigError(file + ": cannot open config file");
    std::stringstream text;
    text << stream.rdbuf();
    return text.str();
}

/// A file's text, "" when it cannot be read.
std::string readFile(const std::string& file, std::nothrow_t) {
    std::ifstream stream(file);
    if (!stream) return {};
    std::stringstream text;
    text << stream.rdbuf();
    return text.str();
}

/// Reads `sweep.grid` or `sweep.zip`: a map from key path to a non-empty list of values.
std::vector<Axis> readAxes(const ConfigNode& node, const std::string& section) {
    std::vector<Axis> axes;
    if (!node.yaml().IsDefined() || node.isNull()) return axes;
    if (!node.isMap())
        node.fail("expected a map from config key path to a list of values, e.g. {optimizer.lr: [0.1, 0.01]}");
    for (const auto& entry : node.yaml()) {
        // A key must be a key path: a null, list or map key (`~: [1]`, `[a]: [1]`) is refused at its place.
        if (!entry.first.IsScalar() || entry.first.IsNull())
            ConfigNode(entry.first, node.source(), "sweep." + section)
                .fail(std::string("expected a config key path such as optimizer.lr as the key, got ") +
                      (entry.first.IsSequence() ? "a list" : entry.first.IsMap() ? "a map" : "null"));
        const std::string key = entry.first.as<std::string>();
        Axis axis{key,
                  "sweep." + section + "." + key,
                  ConfigNode(entry.first, node.source(), "sweep." + section + "." + key),
                  {}};
        for (const std::string& segment : splitPath(key))
            if (segment.empty()) axis.keyNode.fail("empty segment in the key path '" + key + "'");
        if (key.find('/') != std::string::npos)
            axis.keyNode.fail("a swept key path cannot contain '/' (it names an HDF5 column)");
        const std::string first = splitPath(key).front();
        if (first == "sweep") axis.keyNode.fail("a sweep cannot sweep its own 'sweep' block");
        if (first == "name" || first == "output")
            axis.keyNode.fail("'" + first + "' is set by the study for each run; it cannot be swept");
        const ConfigNode values(entry.second, node.source(), "sweep." + section + "." + key);
        if (!values.isSequence())
            values.fail(
                "expected a list of values to sweep, e.g. [0.1, 0.01]; a single value belongs in the base config");
        axis.values = values.items();
        if (axis.values.empty()) values.fail("expected at least one value");
        if (key == labelKey)
            for (const ConfigNode& value : axis.values)
                if (!value.isScalar() || value.isNull() || value.yaml().Scalar().empty())
                    value.fail("expected a label (a word such as rezero) for each run: 'label' only names the runs");
        axes.push_back(std::move(axis));
    }
    return axes;
}

/// Short labels for run names: each key's last path segment, more segments where two keys would share one.
std::map<std::string, std::string> shortLabels(const std::vector<std::string>& keys) {
    std::map<std::string, std::size_t> lengths;
    for (const auto& key : keys) lengths[key] = 1;
    auto label = [&](const std::string& key) {
        const std::vector<std::string> segments = splitPath(key);
        const std::size_t count = std::min(lengths[key], segments.size());
        std::string text;
        for (std::size_t i = segments.size() - count; i < segments.size(); ++i)
            text += (text.empty() ? "" : ".") + segments[i];
        return text;
    };
    for (bool changed = true; changed;) {
        changed = false;
        std::map<std::string, std::vector<std::string>> byLabel;
        for (const auto& key : keys) byLabel[label(key)].push_back(key);
        for (const auto& [text, sharing] : byLabel) {
            if (sharing.size() < 2) continue;
            for (const auto& key : sharing)
                if (lengths[key] < splitPath(key).size()) ++lengths[key], changed = true;
        }
    }
    std::map<std::string, std::string> labels;
    for (const auto& key : keys) labels[key] = label(key);
    return labels;
}

/// Expands a `{placeholder}` name template; placeholders are key paths, short labels, "seed" and "index".
std::string expandTemplate(const ConfigNode& templateNode, const std::map<std::string, std::string>& values) {
    const std::string text = templateNode.asString();
    std::string result;
    for (std::size_t position = 0; position < text.size();) {
        const char character = text[position];
        if (character == '}') templateNode.fail("unbalanced '}' in the name template '" + text + "'");
        if (character != '{') {
            result += character;
            ++position;
            continue;
        }
        const std::size_t close = text.find('}', position);
        if (close == std::string::npos) templateNode.fail("unbalanced '{' in the name template '" + text + "'");
        const std::string placeholder = text.substr(position + 1, close - position - 1);
        const auto found = values.find(placeholder);
        if (found == values.end()) {
            std::vector<std::string> known;
            for (const auto& [name, value] : values) known.push_back(name);
            templateNode.fail("unknown placeholder '{" + placeholder + "}' in the name template" +
                              suggestionSuffix(placeholder, known));
        }
        result += found->second;
        position = close + 1;
    }
    return result;
}

bool startsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

/// Turns an error about the run's `--set key=value` into one about the sweep key and value that caused it:
/// "FILE:LINE:COLUMN: sweep.grid.KEY: value VALUE: what is wrong". Returns "" for errors no setting caused.
std::string attributeError(const std::string& message, const PlannedRun& run, bool whileApplying) {
    for (const SweepSetting& setting : run.settings) {
        const std::string prefix = "--set " + setting.overrideText() + ": ";
        if (!startsWith(message, prefix)) continue;
        std::string rest = message.substr(prefix.size());
        if (startsWith(rest, setting.key + ": ")) rest = rest.substr(setting.key.size() + 2);
        // Applying the override fails on the key path (no such list index, a scalar in the way); an unknown key
        // is the key's fault too. Anything else is about the value.
        if (whileApplying || startsWith(rest, "unknown key"))
            return setting.keyWhere + ": " + setting.sweepPath + ": " + rest;
        return setting.valueWhere + ": " + setting.sweepPath + ": value " + setting.valueText + ": " + rest;
    }
    return "";
}

/// "run 3 'lr=0.1': optimizer.lr=0.1", naming a run in messages.
std::string describeRun(const PlannedRun& run) {
    std::string text = "run " + std::to_string(run.index) + " '" + run.name + "'";
    for (std::size_t i = 0; i < run.settings.size(); ++i) text += (i ? " " : ": ") + run.settings[i].overrideText();
    return text;
}

/// The `sweep:` block of a study config, read and checked for unknown keys.
struct SweepBlock {
    ConfigNode node;         ///< the block itself, for errors about it as a whole
    std::vector<Axis> grid;  ///< sweep.grid, in file order
    std::vector<Axis> zip;   ///< sweep.zip, in file order
    ConfigNode seeds;        ///< sweep.seeds (undefined or null when not swept)
    ConfigNode name;         ///< sweep.name, the run name template (undefined or null: the default names)
};

/// Reads the `sweep:` block of the study config `root` (`file`: its name in messages). Throws ConfigError when
/// there is none.
SweepBlock readSweepBlock(const ConfigNode& root, const std::string& file) {
    const ConfigNode sweepNode = root.child("sweep");
    if (!sweepNode.yaml().IsDefined())
        throw ConfigError(file + ": no 'sweep:' block, so this is a single run: use 'gradlab run " + file +
                          "' (a study adds sweep: {grid: {key.path: [values]}}; see docs/studies.md)");
    YAML::Node unused(YAML::NodeType::Map);
    MapReader reader(sweepNode, unused, "the sweep block ({grid, zip, seeds, name})");
    std::vector<Axis> grid = readAxes(reader.optional("grid"), "grid");
    std::vector<Axis> zip = readAxes(reader.optional("zip"), "zip");
    const ConfigNode seedsNode = reader.optional("seeds");
    const ConfigNode nameNode = reader.optional("name");
    reader.finish();
    return SweepBlock{sweepNode, std::move(grid), std::move(zip), seedsNode, nameNode};
}

/// The swept keys, grid then zip: no key twice, and none inside another (their order of application would
/// matter). Throws ConfigError at the later key.
std::vector<const Axis*> checkKeys(const std::vector<Axis>& grid, const std::vector<Axis>& zip) {
    std::vector<const Axis*> axes;
    for (const Axis& axis : grid) axes.push_back(&axis);
    for (const Axis& axis : zip) axes.push_back(&axis);
    for (std::size_t i = 0; i < axes.size(); ++i)
        for (std::size_t j = 0; j < i; ++j) {
            const std::string& earlier = axes[j]->key;
            const std::string& later = axes[i]->key;
            if (earlier == later)
                axes[i]->keyNode.fail("swept twice (also " + axes[j]->sweepPath + " at " + axes[j]->keyNode.where() +
                                      ")");
            if (startsWith(later, earlier + ".") || startsWith(earlier, later + "."))
                axes[i]->keyNode.fail("overlaps " + axes[j]->sweepPath + " (" + axes[j]->keyNode.where() +
                                      "): sweep either the whole value or the keys inside it, not both");
        }
    return axes;
}

/// The common length of the zipped lists, which vary together (1 without a zip). Throws ConfigError.
std::size_t checkZipLengths(const std::vector<Axis>& zip) {
    if (zip.empty()) return 1;
    const std::size_t zipLength = zip.front().values.size();
    for (const Axis& axis : zip)
        if (axis.values.size() != zipLength)
            axis.keyNode.fail("has " + std::to_string(axis.values.size()) + " values but " + zip.front().sweepPath +
                              " has " + std::to_string(zipLength) +
                              ": zipped lists vary together and need the same length");
    return zipLength;
}

/// The seeds of `sweep.seeds` and where each was given.
struct Seeds {
    ConfigNode node;                   ///< sweep.seeds
    bool swept = false;                ///< whether it was given
    std::vector<std::int64_t> values;  ///< empty when not swept
    std::vector<std::string> wheres;   ///< "file:line:column" of each
};

/// Reads `sweep.seeds`: a count n (seeds 0..n-1) or a list of distinct seeds >= 0. Throws ConfigError, also when
/// a grid or zip key sweeps `seed` too.
Seeds readSeeds(const ConfigNode& seedsNode, const std::vector<const Axis*>& axes) {
    Seeds seeds{seedsNode, false, {}, {}};
    if (!seedsNode.yaml().IsDefined() || seedsNode.isNull()) return seeds;
    seeds.swept = true;
    for (const Axis* axis : axes)
        if (axis->key == "seed")
            axis->keyNode.fail("'seed' is swept by sweep.seeds already (" + seedsNode.where() + ")");
    if (seedsNode.isSequence()) {
        for (const ConfigNode& item : seedsNode.items()) {
            const std::int64_t seed = item.asInteger();
            if (seed < 0) item.fail("expected a seed >= 0, got " + std::to_string(seed));
            if (std::find(seeds.values.begin(), seeds.values.end(), seed) != seeds.values.end())
                item.fail("seed " + std::to_string(seed) + " is listed twice");
            seeds.values.push_back(seed);
            seeds.wheres.push_back(item.where());
        }
        if (seeds.values.empty()) seedsNode.fail("expected at least one seed");
    } else {
        const std::int64_t count = seedsNode.asInteger();
        if (count < 1 || count > 100000)
            seedsNode.fail("expected a number of seeds in [1, 100000] or a list of seeds, got " +
                           std::to_string(count));
        for (std::int64_t seed = 0; seed < count; ++seed) {
            seeds.values.push_back(seed);
            seeds.wheres.push_back(seedsNode.where());
        }
    }
    return seeds;
}

/// Names the run: the template expanded (or the default "label=value,..." name), sanitized, and checked to be
/// non-empty, short enough for a file name and unique among `names` (which it joins). Throws ConfigError at the
/// template or the sweep block.
void nameRun(PlannedRun& run, const std::string& defaultName, const std::map<std::string, std::string>& placeholders,
             const SweepBlock& block, std::map<std::string, std::int64_t>& names) {
    const bool templated = block.name.yaml().IsDefined() && !block.name.isNull();
    run.name = sanitizeRunName(templated ? expandTemplate(block.name, placeholders)
                                         : (defaultName.empty() ? std::string("run") : defaultName));
    if (run.name.empty())
        block.name.fail("the name template gives run " + std::to_string(run.index) + " an empty name");
    if (run.name.size() > maximumNameLength) {
        const std::string message = "run " + std::to_string(run.index) + "'s name is " +
                                    std::to_string(run.name.size()) + " characters long (at most " +
                                    std::to_string(maximumNameLength) + ": it names files)";
        if (templated) block.name.fail(message);
        block.node.fail(message + "; give a shorter sweep.name template, e.g. \"run{index}\"");
    }
    const auto [existing, inserted] = names.emplace(run.name, run.index);
    if (!inserted) {
        const std::string message = "runs " + std::to_string(existing->second) + " and " + std::to_string(run.index) +
                                    " would both be named '" + run.name + "'";
        if (templated) block.name.fail(message + "; put every swept key (and {seed}) in the name template");
        block.node.fail(message + "; give a sweep.name template that tells them apart");
    }
}

/// Expands grid x zip x seeds into plan.runs, in order: the last grid key varies fastest, like nested loops
/// written in the file's order, then the zip, then the seeds. Throws ConfigError beyond maximumRuns runs or for
/// bad run names.
void expandRuns(SweepPlan& plan, const SweepBlock& block, std::size_t zipLength, const Seeds& seeds) {
    const std::vector<Axis>& grid = block.grid;
    std::vector<std::string> labelKeys = plan.keys;
    if (seeds.swept) labelKeys.push_back("seed");
    const std::map<std::string, std::string> labels = shortLabels(labelKeys);

    std::int64_t gridRuns = 1;
    for (const Axis& axis : grid) {
        gridRuns *= static_cast<std::int64_t>(axis.values.size());
        if (gridRuns > maximumRuns) break;
    }
    const std::int64_t seedCount = seeds.values.empty() ? 1 : static_cast<std::int64_t>(seeds.values.size());
    const std::int64_t total = gridRuns * static_cast<std::int64_t>(zipLength) * seedCount;
    if (gridRuns > maximumRuns || total > maximumRuns)
        block.node.fail("expands to more than " + std::to_string(maximumRuns) + " runs");

    auto makeSetting = [&](const Axis& axis, std::size_t valueIndex) {
        const ConfigNode& value = axis.values[valueIndex];
        return SweepSetting{
            axis.key, axis.sweepPath, labels.at(axis.key), yamlText(value.yaml()), axis.keyNode.where(), value.where()};
    };

    std::map<std::string, std::int64_t> names;
    for (std::int64_t gridIndex = 0; gridIndex < gridRuns; ++gridIndex) {
        std::vector<std::size_t> choice(grid.size());
        std::int64_t rest = gridIndex;
        for (std::size_t axis = grid.size(); axis-- > 0;) {
            choice[axis] = static_cast<std::size_t>(rest % static_cast<std::int64_t>(grid[axis].values.size()));
            rest /= static_cast<std::int64_t>(grid[axis].values.size());
        }
        for (std::size_t zipIndex = 0; zipIndex < zipLength; ++zipIndex) {
            for (std::int64_t seedIndex = 0; seedIndex < seedCount; ++seedIndex) {
                PlannedRun run;
                run.index = static_cast<std::int64_t>(plan.runs.size());
                std::map<std::string, std::string> placeholders;
                std::string defaultName;
                auto add = [&](SweepSetting setting, const std::string& shown) {
                    placeholders[setting.key] = shown;
                    placeholders[setting.label] = shown;
                    run.settings.push_back(std::move(setting));
                };
                for (std::size_t axis = 0; axis < grid.size(); ++axis) {
                    const ConfigNode& value = grid[axis].values[choice[axis]];
                    add(makeSetting(grid[axis], choice[axis]), nameText(value.yaml()));
                    defaultName +=
                        (defaultName.empty() ? "" : ",") + labels.at(grid[axis].key) + "=" + nameText(value.yaml());
                }
                for (const Axis& axis : block.zip) {
                    const ConfigNode& value = axis.values[zipIndex];
                    add(makeSetting(axis, zipIndex), nameText(value.yaml()));
                    defaultName +=
                        (defaultName.empty() ? "" : ",") + labels.at(axis.key) + "=" + nameText(value.yaml());
                }
                if (seeds.swept) {
                    const std::string seed = std::to_string(seeds.values[static_cast<std::size_t>(seedIndex)]);
                    add(SweepSetting{"seed", "sweep.seeds", labels.at("seed"), seed, seeds.node.where(),
                                     seeds.wheres[static_cast<std::size_t>(seedIndex)]},
                        seed);
                    if (seedCount > 1) defaultName += (defaultName.empty() ? "" : ",") + labels.at("seed") + "=" + seed;
                }
                placeholders["index"] = std::to_string(run.index);
                if (!placeholders.count("seed")) placeholders["seed"] = "";
                nameRun(run, defaultName, placeholders, block, names);
                plan.runs.push_back(std::move(run));
            }
        }
    }
}

/// The seed a run not validated gets: its `seed` setting (sweep.seeds, or `seed` in grid or zip), else the base
/// config's seed, which every validated run without such a setting has.
void assignUnvalidatedSeeds(SweepPlan& plan, const std::vector<bool>& validated) {
    std::optional<std::uint64_t> baseSeed;
    for (std::size_t i = 0; i < plan.runs.size() && !baseSeed; ++i)
        if (validated[i] && plan.runs[i].valueOf("seed").empty()) baseSeed = plan.runs[i].seed;
    for (std::size_t i = 0; i < plan.runs.size(); ++i) {
        if (validated[i]) continue;
        PlannedRun& run = plan.runs[i];
        const std::string value = run.valueOf("seed");
        if (!value.empty()) {
            // Read like the config reader reads `seed` (an integer >= 0); the run's own shard validates it. A plain
            // decimal (what sweep.seeds gives) is read directly: a YAML parse per run was most of a shard's planning
            // in a study of 10^5 runs.
            std::uint64_t decimal = 0;
            const char* const end = value.data() + value.size();
            const auto read = std::from_chars(value.data(), end, decimal);
            if (read.ec == std::errc() && read.ptr == end && (value[0] != '0' || value.size() == 1)) {
                run.seed = decimal;
                continue;
            }
            try {
                run.seed = YAML::Load(value).as<std::uint64_t>();
            } catch (const YAML::Exception&) {
                run.seed = 0;
            }
        } else if (baseSeed) {
            run.seed = *baseSeed;
        }
    }
}

/// The run's config as resolvedRunConfig reads it (its name and `output` set, loaded from the study config's absolute
/// path so that relative file paths become absolute). Throws what readRunConfig throws, unattributed.
RunConfig readResolvedRunConfig(const SweepPlan& plan, const PlannedRun& run, const std::string& tracePath,
                                const PluginHost& host) {
    std::vector<std::string> overrides = plan.overridesFor(run);
    overrides.push_back("name=" + quotedYaml(run.name));
    // As given: the sweep gives it relative to the study folder, so that a moved study folder keeps its configs.
    overrides.push_back("output=" + quotedYaml(std::filesystem::path(tracePath).lexically_normal().string()));
    const std::string absoluteFile = std::filesystem::absolute(plan.configFile).lexically_normal().string();
    return readRunConfig(loadConfigText(plan.configText, absoluteFile, overrides), host);
}

/// Every run's config (in a shard: its own runs') must be valid before anything runs: each is read with
/// readRunConfig against `host` (and its seed recorded). Throws one ConfigError reporting each distinct error once,
/// with the runs it concerns when no sweep value is to blame.
void validateRuns(SweepPlan& plan, const PluginHost& host, const Shard& shard) {
    std::vector<std::pair<std::string, std::vector<const PlannedRun*>>> errors;
    std::size_t failedRuns = 0, checkedRuns = 0;
    // A shard validates its own runs (the others are their shards' to validate: validating the whole study in
    // each of S shards would cost O(runs * S)), and the first run when it has none, for the base config's seed.
    std::vector<bool> validated(plan.runs.size(), false);
    for (std::size_t i = 0; i < plan.runs.size(); ++i)
        validated[i] = shard.selects(plan.runs[i].index);
    if (std::find(validated.begin(), validated.end(), true) == validated.end() && !validated.empty())
        validated[0] = true;
    for (std::size_t i = 0; i < plan.runs.size(); ++i) {
        if (!validated[i]) continue;
        PlannedRun& run = plan.runs[i];
        ++checkedRuns;
        // The config the sweep will write, read once here and kept (reading it is most of a sweep's planning). An
        // error is read again as the study config names it, for the message below.
        try {
            const RunConfig config =
                readResolvedRunConfig(plan, run, StudyFolder::relativeTrace(run.name).string(), host);
            if (config.trace.enabled) {
                run.seed = config.seed;
                run.resolvedConfig = config.resolvedYaml;
                continue;
            }
        } catch (const Error&) {
        }
        bool applying = true;
        try {
            const ConfigNode runRoot = loadConfigText(plan.configText, plan.configFile, plan.overridesFor(run));
            applying = false;
            const RunConfig config = readRunConfig(runRoot, host);
            if (!config.trace.enabled)
                runRoot.child("trace").child("enabled").fail(
                    "a study reads each run's outcome from its trace: remove 'trace.enabled: false'");
            run.seed = config.seed;
        } catch (const Error& error) {
            ++failedRuns;
            const std::string attributed = attributeError(error.what(), run, applying);
            const std::string message = attributed.empty() ? error.what() : attributed;
            auto found =
                std::find_if(errors.begin(), errors.end(), [&](const auto& entry) { return entry.first == message; });
            if (found == errors.end()) found = errors.insert(errors.end(), {message, {}});
            if (attributed.empty()) found->second.push_back(&run);
        }
    }
    if (errors.empty()) {
        assignUnvalidatedSeeds(plan, validated);
        return;
    }
    constexpr std::size_t shown = 10;
    std::string message;
    for (std::size_t i = 0; i < errors.size() && i < shown; ++i) {
        const auto& [text, runs] = errors[i];
        message += (i ? "\n" : "") + text;
        if (runs.size() == 1 && !runs.front()->settings.empty())
            message += " [in sweep " + describeRun(*runs.front()) + "]";
        if (runs.size() > 1)
            message += " [in " + std::to_string(runs.size()) + " sweep runs, e.g. " + describeRun(*runs.front()) + "]";
    }
    if (errors.size() > shown) message += "\n(" + std::to_string(errors.size() - shown) + " more errors)";
    if (checkedRuns > 1)
        message += "\n" + std::to_string(failedRuns) + " of " + std::to_string(checkedRuns) +
                   (checkedRuns == plan.runs.size() ? std::string(" runs") : " runs of shard " + shard.label()) +
                   " have an invalid config; nothing ran";
    throw ConfigError(message);
}

}  // namespace

std::string PlannedRun::valueOf(const std::string& key) const {
    for (const SweepSetting& setting : settings)
        if (setting.key == key) return setting.valueText;
    return "";
}

std::vector<std::string> SweepPlan::overridesFor(const PlannedRun& run) const {
    std::vector<std::string> overrides = commandOverrides;
    overrides.push_back("sweep=null");  // the run config proper never sees the sweep block
    for (const SweepSetting& setting : run.settings)
        if (!setting.labelsOnly()) overrides.push_back(setting.overrideText());
    return overrides;
}

std::string sanitizeRunName(const std::string& name) {
    std::string result = name;
    for (char& character : result) {
        const unsigned char code = static_cast<unsigned char>(character);
        if (character == '/' || character == '\\' || code <= ' ' || code == 0x7f) character = '_';
    }
    if (!result.empty() && result.front() == '.') result.front() = '_';  // no hidden files, no "." or ".."
    return result;
}

SweepPlan expandSweep(const std::string& file, const std::string& text, const std::vector<std::string>& overrides) {
    SweepPlan plan;
    plan.configFile = file;
    plan.configText = text;
    plan.commandOverrides = overrides;
    const SweepBlock block = readSweepBlock(loadConfigText(text, file, overrides), file);
    const std::vector<const Axis*> axes = checkKeys(block.grid, block.zip);
    for (const Axis* axis : axes) plan.keys.push_back(axis->key);
    const std::size_t zipLength = checkZipLengths(block.zip);
    const Seeds seeds = readSeeds(block.seeds, axes);
    plan.seedsSwept = seeds.swept;
    expandRuns(plan, block, zipLength, seeds);
    // Seeds from the settings alone: the base config's seed is known only once a run's config has been read.
    assignUnvalidatedSeeds(plan, std::vector<bool>(plan.runs.size(), false));
    return plan;
}

SweepPlan planSweep(const std::string& file, const std::vector<std::string>& overrides, const PluginHost& host,
                    const Shard& shard) {
    SweepPlan plan = expandSweep(file, readFile(file), overrides);
    validateRuns(plan, host, shard);
    return plan;
}

std::string resolvedRunConfig(const SweepPlan& plan, const PlannedRun& run, const std::string& tracePath,
                              const PluginHost& host) {
    try {
        return readResolvedRunConfig(plan, run, tracePath, host).resolvedYaml;
    } catch (const Error& error) {
        const std::string attributed = attributeError(error.what(), run, false);
        throw ConfigError(attributed.empty() ? error.what() + std::string(" [in sweep ") + describeRun(run) + "]"
                                             : attributed);
    }
}

StudyIndex newStudyIndex(const SweepPlan& plan, const Shard& shard) {
    StudyIndex index;
    index.config = plan.configText;
    index.configFile = plan.configFile;
    index.overrides = plan.commandOverrides;
    index.keys = plan.keys;
    index.shardIndex = shard.number;
    index.shardCount = shard.count;
    index.createdAt = utcTimestamp();
    index.updatedAt = index.createdAt;
    index.runsTotal = static_cast<std::int64_t>(plan.runs.size());
    for (const auto& run : plan.runs) {
        if (!shard.selects(run.index)) continue;  // another shard's: its own index lists it
        StudyRow row;
        row.name = run.name;
        row.index = run.index;
        row.trace = StudyFolder::relativeTrace(run.name);
        row.log = StudyFolder::relativeLog(run.name);
        row.seed = static_cast<std::int64_t>(run.seed);
        for (const auto& key : plan.keys) row.parameters.push_back(run.valueOf(key));
        index.rows.push_back(std::move(row));
    }
    return index;
}

ResumePlan planResume(const SweepPlan& plan, const std::vector<const PlannedRun*>& selected,
                      const StudyFolder& folder, StudyIndex& index, const PluginHost& host) {
    ResumePlan result;
    for (const PlannedRun* run : selected) {
        RunJob job;
        job.row = index.rowOf(run->index);
        job.configPath = folder.config(run->name);
        job.tracePath = folder.trace(run->name);
        job.logPath = folder.log(run->name);
        // The config names its trace relative to the study folder: moved or copied whole, the study is still done.
        job.config = run->resolvedConfig.empty()
                         ? resolvedRunConfig(plan, *run, StudyFolder::relativeTrace(run->name).string(), host)
                         : run->resolvedConfig;
        // A run whose lock is held is being written by a live process (another sweep's, or a `gradlab run`):
        // neither its trace nor its checkpoint is touched.
        const std::string lockPath = files::lockPathFor(job.tracePath.string());
        if (const auto holder = files::lockHolder(lockPath)) {
            StudyRow& row = index.rows[job.row];
            row.message = "running elsewhere (" + (*holder > 0 ? "pid " + std::to_string(*holder) : "pid unknown") +
                          ", lock '" + lockPath + "')";
            result.notes.push_back("not starting " + run->name + ": " + row.message);
            ++result.elsewhere;
            continue;
        }
        if (std::filesystem::exists(job.tracePath)) {
            try {
                const RunOutcome outcome = readRunOutcome(job.tracePath.string());
                const bool sameConfig = readFile(job.configPath.string(), std::nothrow) == job.config;
                if (isFinishedStatus(outcome.status)) {
                    if (sameConfig) {
                        try {
                            checkTraceReadable(job.tracePath.string());
                            applyOutcome(index.rows[job.row], outcome);
                            ++result.skipped;
                            continue;
                        } catch (const Error& error) {
                            result.notes.push_back("rerunning " + run->name + ": its trace is damaged (" +
                                                   error.what() + ")");
                            result.toRun.push_back(std::move(job));
                            continue;
                        }
                    }
                    result.notes.push_back("rerunning " + run->name +
                                           ": its config changed since its trace was written");
                } else if ((outcome.status == RunStatus::running || outcome.status == RunStatus::interrupted) &&
                           sameConfig) {
                    // Killed or interrupted with the same config: continue from its checkpoint (from step 0
                    // when it stopped before its first one).
                    job.resume = true;
                    ++result.resumed;
                }
            } catch (const Error& error) {
                // A trace is renamed into place with its header written: one that does not read is damaged.
                result.notes.push_back("rerunning " + run->name + ": its trace is damaged (" + error.what() + ")");
            }
        }
        result.toRun.push_back(std::move(job));
    }
    return result;
}

std::string describePlan(const std::vector<const PlannedRun*>& runs) {
    std::size_t nameWidth = 4;
    for (const PlannedRun* run : runs) nameWidth = std::max(nameWidth, run->name.size());
    std::ostringstream text;
    text << std::right << std::setw(6) << "index"
         << "  " << std::left << std::setw(static_cast<int>(nameWidth)) << "name"
         << "  overrides\n";
    for (const PlannedRun* run : runs) {
        text << std::right << std::setw(6) << run->index << "  " << std::left << std::setw(static_cast<int>(nameWidth))
             << run->name << " ";
        if (run->settings.empty()) text << " (none)";
        for (const SweepSetting& setting : run->settings) text << " " << setting.overrideText();
        text << "\n";
    }
    return text.str();
}

}  // namespace gradlab::study
