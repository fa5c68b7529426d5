#include "cli/gradcheck.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/program_options.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <regex>
#include <sstream>

#include "cli/help.hpp"
#include "config/config_node.hpp"
#include "config/plugin_spec_reader.hpp"
#include "gradcheck/gradient_check.hpp"
#include "plugin/plugin_host.hpp"
#include "util/suggest.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {
namespace {

/// What the command line asks for; members are the options of the same names.
struct Request {
    std::string kind;
    std::string name;
    std::string optionsText;
    std::string optionsFile;
    std::string inputShape = "4";
    std::int64_t batch = 3;
    std::uint64_t seed = 1;
    std::string precision = "float64";
    double tolerance = 1e-6;
    std::vector<std::string> pluginPath;
    bool showGradients = false;
    bool help = false;
};

/// The kinds gradcheck checks; the others are usage errors saying why.
PluginKind parseKind(const std::string& text) {
    if (text == "layer") return PluginKind::layer;
    if (text == "activation") return PluginKind::activation;
    if (text == "regularizer") return PluginKind::regularizer;
    if (text == "optimizer" || text == "initializer")
        throw po::error("gradcheck checks layers, activations and regularizers; an " + text +
                        " has no gradient of its own to check");
    throw po::error("unknown kind '" + text + "'" +
                    suggestionSuffix(text, {"activation", "layer", "regularizer"}));
}

/// "F" or "FxT", both positive.
Shape parseShape(const std::string& text) {
    static const std::regex pattern("([0-9]+)(?:x([0-9]+))?");
    std::smatch match;
    if (!std::regex_match(text, match, pattern))
        throw po::error("--input-shape '" + text + "': expected FEATURES or FEATURESxTIMESTEPS, e.g. 4 or 4x10");
    Shape shape;
    try {
        shape.features = static_cast<Index>(std::stoll(match[1].str()));
        shape.timesteps = match[2].matched ? static_cast<Index>(std::stoll(match[2].str())) : 1;
    } catch (const std::exception&) {
        throw po::error("--input-shape '" + text + "': number out of range");
    }
    if (shape.features < 1 || shape.timesteps < 1)
        throw po::error("--input-shape '" + text + "': features and timesteps must be >= 1");
    return shape;
}

/// The plugin's options as a config map with `kind: NAME`, from --options text or --options-file.
ConfigNode readOptionsNode(const Request& request) {
    ConfigNode node = request.optionsFile.empty()
                          ? loadConfigText(request.optionsText.empty() ? "{}" : request.optionsText, "--options")
                          : loadConfigFile(request.optionsFile, {});
    if (node.isNull()) node = ConfigNode(YAML::Node(YAML::NodeType::Map), node.source(), "");
    if (!node.isMap())
        node.fail("expected the options of " + request.kind + " '" + request.name +
                  "' as a YAML map, e.g. \"{units: 5, activation: tanh}\"");
    if (node.yaml()["kind"].IsDefined()) {
        const std::string written = node.child("kind").asString();
        if (written != request.name)
            node.child("kind").fail("kind '" + written + "' differs from the plugin to check, '" + request.name +
                                    "' (leave 'kind' out of the options)");
    }
    YAML::Node map = node.yaml();  // shares the document: adds the key to the node itself
    map["kind"] = request.name;
    return node;
}

/// Refuses a name the host does not know, with a did-you-mean (a layer may also be an activation's name).
void requireKnownPlugin(const PluginHost& host, PluginKind kind, const std::string& name) {
    if (host.find(kind, name) != nullptr) return;
    if (kind == PluginKind::layer && host.find(PluginKind::activation, name) != nullptr) return;
    std::vector<std::string> known = host.names(kind);
    if (kind == PluginKind::layer)
        for (const auto& activation : host.names(PluginKind::activation)) known.push_back(activation);
    if (known.empty())
        throw Error(std::string("unknown ") + kindName(kind) + " '" + name + "': no " + kindName(kind) +
                         " plugins are loaded (check GRADLAB_PLUGIN_PATH and --plugin-path)");
    throw Error(std::string("unknown ") + kindName(kind) + " '" + name + "'" + suggestionSuffix(name, known));
}

/// "[rows x cols]".
std::string shapeText(Index rows, Index cols) {
    return "[" + std::to_string(rows) + " x " + std::to_string(cols) + "]";
}

/// An error in three significant digits, "inf" when not finite.
std::string errorText(double error) {
    if (std::isinf(error)) return "inf";
    std::ostringstream text;
    text << std::scientific << std::setprecision(2) << error;
    return text.str();
}

/// A gradient entry in six significant digits.
std::string numberText(double value) {
    std::ostringstream text;
    text << std::setprecision(6) << value;
    return text.str();
}

/// The per-tensor table and the verdict line.
void printReport(const gradcheck::Report& report, bool showGradients) {
    std::size_t nameWidth = 6, shapeWidth = 5;
    for (const auto& tensor : report.tensors) {
        nameWidth = std::max(nameWidth, tensor.name.size());
        shapeWidth = std::max(shapeWidth, shapeText(tensor.numeric.rows(), tensor.numeric.cols()).size());
    }
    std::cout << "\n  " << std::left << std::setw(static_cast<int>(nameWidth)) << "tensor" << "  "
              << std::setw(static_cast<int>(shapeWidth)) << "shape" << "  " << std::right << std::setw(9)
              << "max error" << "  result\n";
    std::vector<std::string> failed;
    for (const auto& tensor : report.tensors) {
        std::cout << "  " << std::left << std::setw(static_cast<int>(nameWidth)) << tensor.name << "  "
                  << std::setw(static_cast<int>(shapeWidth)) << shapeText(tensor.numeric.rows(), tensor.numeric.cols())
                  << "  " << std::right << std::setw(9) << errorText(tensor.maxRelativeError) << "  "
                  << (tensor.passed ? "PASS" : "FAIL");
        if (!tensor.passed) {
            failed.push_back(tensor.name);
            if (!tensor.problem.empty()) {
                std::cout << "  " << tensor.problem;
            } else if (tensor.numeric.size() > 0) {
                const Index rows = tensor.numeric.rows();
                const Index entry = tensor.worstEntry;
                std::cout << "  worst (" << entry % rows << ", " << entry / rows << "): analytic "
                          << numberText(tensor.analytic.data()[entry]) << ", numeric "
                          << numberText(tensor.numeric.data()[entry]);
            }
        }
        std::cout << "\n";
    }
    if (showGradients)
        for (const auto& tensor : report.tensors) {
            if (tensor.passed) continue;
            std::cout << "\n  dL/d" << tensor.name << " analytic:\n" << tensor.analytic << "\n  dL/d" << tensor.name
                      << " numeric:\n" << tensor.numeric << "\n";
        }
    const std::size_t total = report.tensors.size();
    if (failed.empty())
        std::cout << "\nPASS: " << total << " of " << total << (total == 1 ? " tensor" : " tensors")
                  << " within tolerance\n";
    else
        std::cout << "\nFAIL: " << failed.size() << " of " << total << " tensors outside tolerance ("
                  << joinNames(failed) << ")\n";
}

}  // namespace

int gradcheckCommand(const std::vector<std::string>& arguments) {
    Request request;
    po::options_description description(
        "usage: gradlab gradcheck KIND NAME [options]\n\n"
        "Checks the analytic gradients of a layer, activation or regularizer plugin against float64 central finite\n"
        "differences of a random scalar loss, L = sum(R .* y) with R fixed and uniform in [-1, 1) (a regularizer:\n"
        "L = R(w)). Parameters are set uniform in [-1, 1), inputs x to |x| in [0.05, 2] with random signs. For each\n"
        "tensor (the input x, then every parameter by qualified name) it prints the largest error\n"
        "|a - n| / max(|a| + |n|, 1e-3) over its entries and PASS or FAIL against the tolerance.\n\n"
        "exit codes: 0 every tensor passes, 1 a tensor fails (or the plugin throws while checked), 2 usage error\n"
        "(arguments, unknown plugin, refused options or input shape).\n\n"
        "examples:\n"
        "  gradlab gradcheck layer dense --options \"{units: 5, activation: tanh}\"\n"
        "  gradlab gradcheck layer lstm --options \"{units: 3}\" --input-shape 4x10\n"
        "  gradlab gradcheck activation swish --plugin-path build/\n\n"
        "options");
    description.add_options()("kind", po::value(&request.kind), "layer, activation or regularizer")(
        "name", po::value(&request.name), "the plugin's name")(
        "options", po::value(&request.optionsText),
        "the plugin's options as YAML flow text: \"{units: 5, activation: tanh}\"")(
        "options-file", po::value(&request.optionsFile), "the plugin's options from a YAML file (a map)")(
        "input-shape", po::value(&request.inputShape)->default_value("4"),
        "features, or featuresxtimesteps for sequences (4x10); a regularizer's value is [features x batch timesteps]")(
        "batch", po::value(&request.batch)->default_value(3), "samples per timestep")(
        "seed", po::value(&request.seed)->default_value(1), "seed of the random parameters, inputs and loss weights")(
        "precision", po::value(&request.precision)->default_value("float64"),
        "float64 (finite differences need it; float32 is not checked)")(
        "tolerance", po::value(&request.tolerance)->default_value(1e-6, "1e-06"), "largest error that passes")(
        "show-gradients", po::bool_switch(&request.showGradients),
        "print the analytic and numeric gradients of failing tensors")(
        "plugin-path", po::value(&request.pluginPath)->composing(),
        "also load plugin libraries from this folder or file (repeatable; after GRADLAB_PLUGIN_PATH)")(
        "help,h", po::bool_switch(&request.help), "show this help");
    po::positional_options_description positional;
    positional.add("kind", 1).add("name", 1);
    po::variables_map values;
    po::store(po::command_line_parser(arguments).options(description).positional(positional).run(), values);
    po::notify(values);
    if (request.help) {
        std::cout << helpText(description, positional) << "\n";
        return 0;
    }
    if (request.kind.empty() || request.name.empty()) throw po::error("missing KIND and NAME");
    const PluginKind kind = parseKind(request.kind);
    const Shape input = parseShape(request.inputShape);
    if (request.batch < 1) throw po::error("--batch must be >= 1, got " + std::to_string(request.batch));
    if (request.precision != "float64")
        throw po::error("--precision '" + request.precision +
                        "': finite differences are only meaningful in float64 (the only precision gradcheck runs)");
    if (!(request.tolerance > 0.0)) throw po::error("--tolerance must be > 0");
    if (!request.optionsText.empty() && !request.optionsFile.empty())
        throw po::error("give the options either with --options or with --options-file, not both");

    PluginHost host;
    host.loadSearchPath(pluginSearchPath(request.pluginPath));

    // Everything up to a built plugin is the user's request: its errors are usage errors (exit code 2).
    PluginSpec spec;
    YAML::Node resolved(YAML::NodeType::Map);
    std::shared_ptr<Layer<double>> layer;
    std::shared_ptr<Activation<double>> activation;
    std::shared_ptr<Regularizer<double>> regularizer;
    Shape output = input;
    try {
        requireKnownPlugin(host, kind, request.name);
        spec = readPluginSpec(readOptionsNode(request), kind, host, resolved);
        if (kind == PluginKind::layer) {
            layer = host.makeLayer<double>(spec);
            output = layer->build(input);
        } else if (kind == PluginKind::activation) {
            activation = host.makeActivation<double>(spec);
            activation->build(input.features);
        } else {
            regularizer = host.makeRegularizer<double>(spec);
        }
    } catch (const std::exception& error) {
        std::cerr << "gradlab gradcheck: error: " << error.what() << "\n";
        return 2;
    }

    gradcheck::Settings settings;
    settings.tolerance = request.tolerance;
    const Index batch = static_cast<Index>(request.batch);
    gradcheck::Report report;
    if (layer)
        report = gradcheck::checkLayer(*layer, input, batch, request.seed, settings);
    else if (activation)
        report = gradcheck::checkActivation(*activation, input, batch, request.seed, settings);
    else
        report = gradcheck::checkRegularizer(*regularizer, input.features, batch * input.timesteps, request.seed,
                                             settings);

    YAML::Emitter specText;
    specText << YAML::Flow << resolved;
    std::cout << "gradcheck " << kindName(kind) << " " << request.name << " " << specText.c_str() << "\n";
    if (regularizer) {
        std::cout << "  value w " << shapeText(input.features, batch * input.timesteps) << ", seed " << request.seed
                  << ", float64; L = R(w)\n";
    } else {
        std::cout << "  input x " << shapeText(input.features, batch * input.timesteps) << " (" << input.features
                  << " features x " << input.timesteps << (input.timesteps == 1 ? " timestep" : " timesteps")
                  << " x batch " << batch << "), output y " << shapeText(report.outputRows, report.outputColumns)
                  << " (" << output.features << " features x " << output.timesteps
                  << (output.timesteps == 1 ? " timestep" : " timesteps") << "), seed " << request.seed
                  << ", float64\n  L = sum(R .* y), R uniform in [-1, 1)\n";
    }
    std::cout << "  central differences, step " << settings.relativeStep << " max(1, |v|); error |a - n| / max(|a| + "
              << "|n|, " << settings.errorFloor << "), tolerance " << settings.tolerance << "\n";
    printReport(report, request.showGradients);
    return report.passed() ? 0 : 1;
}

}  // namespace gradlab::cli
