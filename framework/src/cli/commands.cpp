#include "cli/commands.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "analysis/diagnosis.hpp"
#include "cli/help.hpp"
#include "config/run_config.hpp"
#include "model/network.hpp"
#include "plugin/plugin_host.hpp"
#include "training/trainer.hpp"
#include "util/suggest.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {
namespace {

/// The trace's headline numbers and verdict (the diagnosis gradlab inspect prints), two summary lines; a trace
/// that cannot be read says so instead.
void printDiagnosisSummary(const std::string& trace) {
    try {
        const analysis::Diagnosis diagnosis = analysis::diagnose(trace);
        const std::string metrics = analysis::formatMetrics(diagnosis.metrics);
        if (!metrics.empty()) std::cout << "  metrics    " << metrics << "\n";
        std::cout << "  verdict    " << analysis::verdictName(diagnosis.verdict);
        if (!diagnosis.evidence.empty()) std::cout << ": " << diagnosis.evidence.front();
        std::cout << "\n";
    } catch (const std::exception& error) {
        std::cout << "  verdict    unknown: cannot read the trace: " << error.what() << "\n";
    }
}

/// Set by SIGINT/SIGTERM during `gradlab run` to the signal's number; the trainer stops before its next step.
volatile std::sig_atomic_t interruptSignal = 0;

void onInterrupt(int signal) { interruptSignal = signal; }

/// Options every command shares.
struct Common {
    std::vector<std::string> pluginPath;
    bool help = false;
};

void addCommon(po::options_description& description, Common& common) {
    description.add_options()("help,h", po::bool_switch(&common.help), "show this help")(
        "plugin-path", po::value(&common.pluginPath)->composing(),
        "also load plugin libraries from this folder or file (repeatable; after GRADLAB_PLUGIN_PATH)");
}

po::variables_map parse(const std::vector<std::string>& arguments, const po::options_description& description,
                        const po::positional_options_description& positional) {
    po::variables_map values;
    po::store(po::command_line_parser(arguments).options(description).positional(positional).run(), values);
    po::notify(values);
    return values;
}

void loadPlugins(PluginHost& host, const Common& common) { host.loadSearchPath(pluginSearchPath(common.pluginPath)); }

std::string formatNumber(double value) {
    std::ostringstream text;
    text << std::setprecision(4) << value;
    return text.str();
}

}  // namespace

int runCommand(const std::vector<std::string>& arguments) {
    Common common;
    std::string configFile, output;
    std::vector<std::string> overrides;
    bool quiet = false, resume = false;
    po::options_description description(
        "usage: gradlab run CONFIG [--set key.path=value]... [-o OUT.h5] [--resume] [-q] [--plugin-path DIR]...\n\n"
        "Trains the model CONFIG describes and traces its gradients to HDF5 (docs/hdf5-schema.md).\n\n"
        "exit codes:\n"
        "  0        the run ended: completed, diverged or stopped by a detector (a result; the trace's status says which)\n"
        "  1        the run failed: a bad config, a plugin or data error, a full disk (the message says which)\n"
        "  2        bad command-line options\n"
        "  128 + N  interrupted by signal N, its trace finished and resumable: 130 for Ctrl-C, 143 for SIGTERM\n\n"
        "options");
    description.add_options()("config", po::value(&configFile), "the run's YAML config")(
        "set", po::value(&overrides)->composing(), "override a config key: --set training.steps=100 (repeatable)")(
        "output,o", po::value(&output), "write the trace here instead of the config's output path")(
        "resume", po::bool_switch(&resume),
        "continue a killed or interrupted run from its checkpoint (same config, --set and --output); it ends "
        "exactly as if it had never stopped")(
        "quiet,q", po::bool_switch(&quiet),
        "no progress and no summary; one line for a run that did not complete (what --resume did is still said)");
    addCommon(description, common);
    po::positional_options_description positional;
    positional.add("config", 1);
    parse(arguments, description, positional);
    if (common.help) {
        std::cout << helpText(description, positional) << "\n";
        return 0;
    }
    if (configFile.empty()) throw po::error("missing CONFIG");

    PluginHost host;
    loadPlugins(host, common);
    const RunConfig config = loadRunConfig(configFile, overrides, host);
    RunOptions options;
    options.output = output;
    options.progress = quiet ? ProgressStyle::none : (::isatty(STDERR_FILENO) ? ProgressStyle::live : ProgressStyle::line);
    options.interrupted = &interruptSignal;
    options.resume = resume;
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    const RunResult result = runTraining(config, host, options);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    // What a resume did is said even when quiet: a sweep's run logs keep it.
    if (!result.note.empty()) std::cout << "run " << config.name << ": " << result.note << "\n";
    // Failed says so on stderr below.
    if (quiet && result.status != RunStatus::completed && result.status != RunStatus::failed)
        std::cout << "run " << config.name << ": " << result.status << " (" << result.message << ")"
                  << (result.output.empty() ? std::string() : ", trace " + result.output) << "\n";
    if (!quiet) {
        std::cout << "run " << config.name << ": " << result.status << " (" << result.message << ") in "
                  << formatNumber(result.seconds) << " s, "
                  << formatNumber(static_cast<double>(result.steps - result.firstStep) / std::max(result.seconds, 1e-9))
                  << " steps/s\n";
        std::cout << "  loss       " << formatNumber(result.firstLoss) << " -> " << formatNumber(result.lastLoss) << "\n";
        if (result.probeSteps > 0)
            std::cout << "  probes     " << formatNumber(result.probeSeconds) << " s over " << result.probeSteps
                      << " probe steps (" << formatNumber(result.probeSeconds / static_cast<double>(result.probeSteps))
                      << " s each), tables under /probes\n";
        if (!std::isnan(result.testLoss))
            std::cout << "  test       loss " << formatNumber(result.testLoss) << ", accuracy "
                      << formatNumber(result.testAccuracy) << " (the official test split, /test)\n";
        for (const auto& event : result.events)
            std::cout << "  event      step " << event.step << ": " << event.kind << " (" << event.where
                      << "): " << event.message << "\n";
        if (!result.output.empty()) {
            std::cout << "  grad norm  " << formatNumber(result.firstGradNorm) << " -> "
                      << formatNumber(result.lastGradNorm) << "\n";
            std::cout << "  signal gradient norm per layer at the last traced step:\n    " << result.signalProfile
                      << "\n";
            printDiagnosisSummary(result.output);
            std::cout << "  trace      " << result.output << "\n";
            if ((result.status == RunStatus::interrupted || result.status == RunStatus::failed) &&
                std::filesystem::exists(result.checkpoint))
                std::cout << "  checkpoint " << result.checkpoint << " (continue with --resume)\n";
        } else {
            std::cout << "  trace      off\n";
        }
    }
    if (result.status == RunStatus::failed) {
        std::cerr << "gradlab run: error: " << result.message << "\n";
        return 1;
    }
    if (result.status == RunStatus::interrupted) return 128 + static_cast<int>(interruptSignal);  // as shells report it
    return 0;
}

int validateCommand(const std::vector<std::string>& arguments) {
    Common common;
    std::string configFile;
    std::vector<std::string> overrides;
    po::options_description description(
        "usage: gradlab validate CONFIG [--set key.path=value]... [--plugin-path DIR]...\n\nChecks a config (keys, "
        "types, ranges, plugin names and options) and builds the model run would train (parameters initialised, "
        "`init:` overrides applied, the output's shape checked against the data's: from the config for generators, "
        "from the file for files), without training.\n\noptions");
    description.add_options()("config", po::value(&configFile), "the YAML config")(
        "set", po::value(&overrides)->composing(), "override a config key: --set training.steps=100 (repeatable)");
    addCommon(description, common);
    po::positional_options_description positional;
    positional.add("config", 1);
    parse(arguments, description, positional);
    if (common.help) {
        std::cout << helpText(description, positional) << "\n";
        return 0;
    }
    if (configFile.empty()) throw po::error("missing CONFIG");
    PluginHost host;
    loadPlugins(host, common);
    const RunConfig config = loadRunConfig(configFile, overrides, host);
    // The model `run` would train, built by the same function (parameters initialised, output checked against the
    // data), so that validate refuses whatever run would refuse before its first step.
    const DataShape data = dataShape(config.data);
    Random random(config.seed);
    if (config.precision == "float64")
        buildNetwork<double>(config, data, host, random);
    else
        buildNetwork<float>(config, data, host, random);
    std::cout << configFile << ": ok (" << config.layers.size() << " layers, " << config.training.steps
              << " steps, " << config.precision << ")\n";
    return 0;
}

int pluginsCommand(const std::vector<std::string>& arguments) {
    Common common;
    std::string describe;
    bool markdown = false;
    po::options_description description(
        "usage: gradlab plugins [--describe NAME | --markdown] [--plugin-path DIR]...\n\nLists the loaded plugins (kind, name, library, version), describes "
        "one, or prints a Markdown reference of all of them.\n\noptions");
    description.add_options()("describe", po::value(&describe), "show one plugin's options")(
        "markdown", po::bool_switch(&markdown),
        "print a Markdown reference of every loaded plugin (kind, name, description, options table); "
        "tools/gen-plugin-reference writes it at the end of docs/config-reference.md");
    addCommon(description, common);
    po::positional_options_description positional;
    parse(arguments, description, positional);
    if (common.help) {
        std::cout << helpText(description, positional) << "\n";
        return 0;
    }
    if (markdown && !describe.empty()) throw po::error("--markdown documents every plugin; drop --describe");
    PluginHost host;
    loadPlugins(host, common);

    if (markdown) {
        // One table cell: no line breaks, and '|' escaped (descriptions such as "||W||_F^2" contain it).
        auto cell = [](std::string text) {
            std::string escaped;
            for (char character : text) {
                if (character == '|')
                    escaped += "\\|";
                else
                    escaped += character == '\n' ? ' ' : character;
            }
            return escaped;
        };
        auto numberText = [](double value) {
            std::ostringstream text;
            text << value;
            return text.str();
        };
        auto defaultText = [&](const OptionSpec& option) -> std::string {
            if (option.required()) return "required";
            if (const bool* value = std::get_if<bool>(&option.defaultValue)) return *value ? "`true`" : "`false`";
            if (const std::int64_t* value = std::get_if<std::int64_t>(&option.defaultValue))
                return "`" + std::to_string(*value) + "`";
            if (const double* value = std::get_if<double>(&option.defaultValue)) return "`" + numberText(*value) + "`";
            const std::string& value = std::get<std::string>(option.defaultValue);
            return value.empty() ? "`\"\"`" : "`" + cell(value) + "`";
        };
        auto rangeText = [&](const OptionSpec& option) -> std::string {
            if (!option.choices.empty()) {
                std::string choices;
                for (const auto& choice : option.choices) choices += (choices.empty() ? "`" : ", `") + cell(choice) + "`";
                return choices;
            }
            const bool hasMinimum = std::isfinite(option.minimum), hasMaximum = std::isfinite(option.maximum);
            if (hasMinimum && hasMaximum)
                return (option.minimumExclusive ? "(" : "[") + numberText(option.minimum) + ", " +
                       numberText(option.maximum) + (option.maximumExclusive ? ")" : "]");
            if (hasMinimum) return (option.minimumExclusive ? "> " : ">= ") + numberText(option.minimum);
            if (hasMaximum) return (option.maximumExclusive ? "< " : "<= ") + numberText(option.maximum);
            return "";
        };
        const std::vector<PluginKind> kinds{PluginKind::activation, PluginKind::layer, PluginKind::initializer,
                                            PluginKind::optimizer, PluginKind::regularizer, PluginKind::probe};
        std::cout << "# Plugin reference\n\n"
                  << "<!-- Generated by `gradlab plugins --markdown` (tools/gen-plugin-reference writes this file) from "
                     "the plugins' own declarations. Do not edit by hand: a test fails when it drifts. -->\n\n"
                  << "Every loaded plugin by kind, with the options it declares. A config names a plugin (`relu`) or "
                     "writes a map with `kind:` and options (`{kind: leaky_relu, alpha: 0.1}`); options left out take "
                     "their defaults, and values outside the range are refused with the file and line. "
                     "`gradlab plugins --describe NAME` prints the same for one plugin.\n\n";
        for (PluginKind kind : kinds) {
            const auto names = host.names(kind);
            std::cout << "- [" << kindName(kind) << "s](#" << kindName(kind) << "s): ";
            std::string links;
            for (const auto& name : names) {
                std::string anchor;
                for (char character : name)
                    if (character != '`') anchor += character;
                links += (links.empty() ? "" : ", ") + std::string("[`") + name + "`](#" + anchor + ")";
            }
            std::cout << (links.empty() ? "none" : links) << "\n";
        }
        const std::vector<std::string> titles{"Activations", "Layers", "Initializers", "Optimizers", "Regularizers",
                                              "Probes"};
        for (std::size_t k = 0; k < kinds.size(); ++k) {
            const PluginKind kind = kinds[k];
            std::cout << "\n## " << titles[k] << "\n";
            for (const auto& name : host.names(kind)) {
                const RegisteredPlugin& plugin = *host.find(kind, name);
                const PluginDescriptor& d = plugin.descriptor;
                std::cout << "\n### `" << d.name << "`\n\n"
                          << cell(d.description) << "\n\n"
                          << "Library `" << plugin.library->name << "` " << plugin.library->version << ".\n\n";
                if (d.options.empty()) {
                    std::cout << "No options.\n";
                    continue;
                }
                std::cout << "| option | type | default | range / choices | description |\n"
                          << "| --- | --- | --- | --- | --- |\n";
                for (const auto& option : d.options)
                    std::cout << "| `" << option.name << "` | " << typeName(option.type) << " | " << defaultText(option)
                              << " | " << rangeText(option) << " | " << cell(option.description) << " |\n";
            }
        }
        return 0;
    }

    if (!describe.empty()) {
        std::vector<std::string> all;
        bool found = false;
        for (const auto& plugin : host.plugins()) {
            all.push_back(plugin.descriptor.name);
            if (plugin.descriptor.name != describe) continue;
            found = true;
            const auto& d = plugin.descriptor;
            std::cout << kindName(d.kind) << " " << d.name << " (" << plugin.library->file.string() << ", "
                      << plugin.library->name << " " << plugin.library->version << ")\n  " << d.description << "\n";
            if (d.options.empty()) std::cout << "  options: none\n";
            for (const auto& option : d.options) {
                std::cout << "  " << option.name << " (" << typeName(option.type);
                if (option.required())
                    std::cout << ", required";
                else
                    std::visit(
                        [](const auto& value) {
                            using T = std::decay_t<decltype(value)>;
                            if constexpr (std::is_same_v<T, bool>) std::cout << ", default " << (value ? "true" : "false");
                            else if constexpr (!std::is_same_v<T, std::monostate>) std::cout << ", default " << value;
                        },
                        option.defaultValue);
                if (std::isfinite(option.minimum))
                    std::cout << ", " << (option.minimumExclusive ? "> " : ">= ") << option.minimum;
                if (std::isfinite(option.maximum))
                    std::cout << ", " << (option.maximumExclusive ? "< " : "<= ") << option.maximum;
                if (!option.choices.empty()) std::cout << ", one of: " << joinNames(option.choices);
                std::cout << "): " << option.description << "\n";
            }
            if (d.kind == PluginKind::probe) {
                std::string keys;
                for (const char* key : probeHostKeys) keys += (keys.empty() ? "" : ", ") + std::string(key);
                std::cout << "  schedule and batch (read by gradlab for every probe): " << keys
                          << "; tables under /probes/<name>/ (docs/hdf5-schema.md)\n";
            }
        }
        if (!found) throw Error("no plugin named '" + describe + "'" + suggestionSuffix(describe, all));
        return 0;
    }

    for (PluginKind kind : {PluginKind::activation, PluginKind::layer, PluginKind::initializer,
                            PluginKind::optimizer, PluginKind::regularizer, PluginKind::probe}) {
        std::cout << kindName(kind) << "s:\n";
        for (const auto& name : host.names(kind)) {
            const RegisteredPlugin* plugin = host.find(kind, name);
            std::cout << "  " << std::left << std::setw(16) << name << " " << std::setw(44)
                      << plugin->library->file.filename().string() << " " << plugin->library->name << " "
                      << plugin->library->version << "\n";
        }
    }
    return 0;
}

}  // namespace gradlab::cli
