#include "config/plugin_spec_reader.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "plugin/options_builder.hpp"
#include "util/suggest.hpp"

namespace gradlab {
namespace {

std::string rangeText(const OptionSpec& spec) {
    std::ostringstream text;
    const bool hasMin = std::isfinite(spec.minimum), hasMax = std::isfinite(spec.maximum);
    if (hasMin && hasMax)
        text << (spec.minimumExclusive ? "(" : "[") << spec.minimum << ", " << spec.maximum
             << (spec.maximumExclusive ? ")" : "]");
    else if (hasMin)
        text << (spec.minimumExclusive ? "> " : ">= ") << spec.minimum;
    else if (hasMax)
        text << (spec.maximumExclusive ? "< " : "<= ") << spec.maximum;
    return text.str();
}

/// Whether value lies in the option's declared range.
bool inRange(const OptionSpec& spec, double value) {
    const bool low = spec.minimumExclusive ? !(value > spec.minimum) : !(value >= spec.minimum);
    const bool high = spec.maximumExclusive ? !(value < spec.maximum) : !(value <= spec.maximum);
    return !low && !high;
}

void checkRange(const ConfigNode& node, const OptionSpec& spec, double value) {
    if (!inRange(spec, value)) {
        std::ostringstream message;
        message << "option '" << spec.name << "' must be " << rangeText(spec) << ", got " << value;
        node.fail(message.str());
    }
}

std::string resolvePath(const ConfigNode& node, const std::string& path) {
    std::filesystem::path file(path);
    if (file.is_absolute() || node.where().rfind("--set", 0) == 0) return path;
    const std::filesystem::path folder = std::filesystem::path(node.source()->file).parent_path();
    return (folder / file).lexically_normal().string();
}

/// Most layers one config may describe, repeats expanded and nested lists (residual blocks) included, and the
/// deepest nesting of layer lists. Without these bounds a few lines of YAML ask for unbounded work and memory:
/// nested `repeat` blocks multiply, and YAML aliases can share or even contain a list (`layers: &a [{kind:
/// residual, layers: *a}]`), which would otherwise recurse until the stack overflows.
constexpr std::int64_t maxLayers = 100000;
constexpr int maxLayerNesting = 64;

/// The layers read so far for the outermost list being read on this thread, and how deep lists are nested.
struct LayerBudget {
    std::int64_t layers = 0;
    int depth = 0;
};
thread_local LayerBudget layerBudget;

/// Enters one level of layer-list nesting (resetting the budget at the outermost list) and leaves it.
class LayerNesting {
public:
    explicit LayerNesting(const ConfigNode& list) {
        if (layerBudget.depth == 0) layerBudget.layers = 0;
        if (layerBudget.depth >= maxLayerNesting)
            list.fail("layer lists nested more than " + std::to_string(maxLayerNesting) +
                      " deep (does a YAML alias refer to a list that contains it?)");
        ++layerBudget.depth;
    }
    ~LayerNesting() { --layerBudget.depth; }
    LayerNesting(const LayerNesting&) = delete;
    LayerNesting& operator=(const LayerNesting&) = delete;
};

/// Counts `count` more layers read at `node`; fails past maxLayers.
void spendLayers(const ConfigNode& node, std::int64_t count) {
    if (count > maxLayers - layerBudget.layers)
        node.fail("the model has more than " + std::to_string(maxLayers) +
                  " layers (repeats expanded and nested layers included)");
    layerBudget.layers += count;
}

/// A layer's `init:` map: parameter local name -> initializer, each validated.
std::map<std::string, PluginSpec> readInitOverrides(MapReader& reader, const PluginHost& host) {
    std::map<std::string, PluginSpec> init;
    ConfigNode node = reader.optional("init");
    if (!node.yaml().IsDefined()) return init;
    YAML::Node resolvedInit = reader.resolvedChild("init");
    MapReader initReader(node, resolvedInit, "a map from parameter name to initializer");
    for (const auto& entry : node.yaml()) {
        const std::string parameter = keyName(ConfigNode(entry.first, node.source(), node.path()));
        YAML::Node resolvedOne(YAML::NodeType::Map);
        init[parameter] = readPluginSpec(initReader.optional(parameter), PluginKind::initializer, host, resolvedOne);
        resolvedInit[parameter] = resolvedOne;
    }
    return init;
}

/// Throws Error(message), prefixed with `where` when there is one.
[[noreturn]] void failAt(const std::string& where, const std::string& message) {
    throw Error((where.empty() ? std::string() : where + ": ") + message);
}

/// A typed value as option `spec` takes it (an integer is a number too), or monostate if it has another type.
OptionValue typedValue(const OptionSpec& spec, const OptionValue& value) {
    switch (spec.type) {
        case OptionType::boolean:
            if (std::holds_alternative<bool>(value)) return value;
            break;
        case OptionType::integer:
            if (std::holds_alternative<std::int64_t>(value)) return value;
            break;
        case OptionType::real:
            if (std::holds_alternative<double>(value)) return value;
            if (const auto* integer = std::get_if<std::int64_t>(&value)) return static_cast<double>(*integer);
            break;
        case OptionType::string:
        case OptionType::choice:
        case OptionType::path:
            if (std::holds_alternative<std::string>(value)) return value;
            break;
        case OptionType::activation:
        case OptionType::layers:
        case OptionType::layer:
            break;  // nested plugins are written in configs, not given as typed values
    }
    return std::monostate{};
}

}  // namespace

PluginSpec readPluginSpec(const InitializerSpec& typed, const PluginHost& host, const std::string& where) {
    const auto fail = [&](const std::string& message) { failAt(where, message); };
    const RegisteredPlugin* plugin = host.find(PluginKind::initializer, typed.kind);
    if (plugin == nullptr) {
        const std::vector<std::string> known = host.names(PluginKind::initializer);
        if (known.empty())
            fail("unknown initializer '" + typed.kind +
                 "': no initializer plugins are loaded (check GRADLAB_PLUGIN_PATH and --plugin-path)");
        fail("unknown initializer '" + typed.kind + "'" + suggestionSuffix(typed.kind, known));
    }
    const PluginDescriptor& descriptor = plugin->descriptor;
    std::vector<std::string> declared;
    for (const OptionSpec& spec : descriptor.options) declared.push_back(spec.name);
    for (const auto& entry : typed.options)
        if (std::find(declared.begin(), declared.end(), entry.first) == declared.end())
            fail("initializer '" + typed.kind + "' has no option '" + entry.first + "'" +
                 suggestionSuffix(entry.first, declared));
    OptionsBuilder options(&host);
    for (const OptionSpec& spec : descriptor.options) {
        const auto given = typed.options.find(spec.name);
        if (given == typed.options.end()) {
            if (spec.required())
                fail("initializer '" + typed.kind + "' needs option '" + spec.name + "' (" + typeName(spec.type) +
                     ": " + spec.description + ")");
            options.set(spec.name, spec.defaultValue);
            continue;
        }
        const OptionValue value = typedValue(spec, given->second);
        if (std::holds_alternative<std::monostate>(value))
            fail("option '" + spec.name + "' of initializer '" + typed.kind + "' must be a " + typeName(spec.type));
        if (spec.type == OptionType::integer || spec.type == OptionType::real) {
            const double number = spec.type == OptionType::integer
                                      ? static_cast<double>(std::get<std::int64_t>(value))
                                      : std::get<double>(value);
            if (!inRange(spec, number)) {
                std::ostringstream message;
                message << "option '" << spec.name << "' must be " << rangeText(spec) << ", got " << number;
                fail(message.str());
            }
        }
        if (spec.type == OptionType::choice &&
            std::find(spec.choices.begin(), spec.choices.end(), std::get<std::string>(value)) == spec.choices.end())
            fail("option '" + spec.name + "': unknown value '" + std::get<std::string>(value) + "'" +
                 suggestionSuffix(std::get<std::string>(value), spec.choices));
        options.set(spec.name, value);
    }
    return PluginSpec{PluginKind::initializer, typed.kind, options.finish(), where, {}};
}

bool isRemovedLayer(const ConfigNode& item) {
    return item.yaml().IsDefined() && (item.isNull() || (item.isScalar() && (item.asString() == "none")));
}

std::vector<PluginSpec> readLayerList(const ConfigNode& list, const PluginHost& host, YAML::Node resolvedList) {
    const LayerNesting nesting(list);
    std::vector<PluginSpec> layers;
    for (const ConfigNode& item : list.items()) {
        if (isRemovedLayer(item)) continue;
        if (item.isMap() && item.yaml()["repeat"].IsDefined()) {
            YAML::Node ignored(YAML::NodeType::Map);
            MapReader reader(item, ignored, "a repeat block");
            const std::int64_t times = reader.requiredInteger("repeat", 1, maxLayers);
            ConfigNode body = reader.required("layers");
            reader.finish();
            if (!body.isSequence() || body.yaml().size() == 0)
                body.fail("expected a non-empty list of layers to repeat");
            // The body is read once (every copy would read the same nodes to the same specs, locations and
            // resolved values) and copied: first check that the copies fit with each item of the body counting
            // as one layer, then with what one copy really holds (nested repeats and lists included).
            auto refuse = [&](std::int64_t perCopy) {
                item.fail("repeats " + std::to_string(perCopy) + " layers " + std::to_string(times) +
                          " times: the model would have more than " + std::to_string(maxLayers) + " layers");
            };
            const std::int64_t bodySize = static_cast<std::int64_t>(body.yaml().size());
            if (times * bodySize > maxLayers - layerBudget.layers) refuse(bodySize);
            const std::int64_t before = layerBudget.layers;
            YAML::Node resolvedBody(YAML::NodeType::Sequence);
            const std::vector<PluginSpec> copy = readLayerList(body, host, resolvedBody);
            const std::int64_t perCopy = layerBudget.layers - before;
            if ((times - 1) * perCopy > maxLayers - layerBudget.layers) refuse(perCopy);
            layerBudget.layers += (times - 1) * perCopy;
            for (std::int64_t i = 0; i < times; ++i) {
                layers.insert(layers.end(), copy.begin(), copy.end());  // options are immutable and shared
                // Each copy gets its own resolved nodes: a node pushed twice would be emitted as a YAML alias.
                for (const auto& entry : resolvedBody) resolvedList.push_back(YAML::Clone(entry));
            }
            continue;
        }
        spendLayers(item, 1);
        YAML::Node resolvedLayer(YAML::NodeType::Map);
        layers.push_back(readPluginSpec(item, PluginKind::layer, host, resolvedLayer));
        resolvedList.push_back(resolvedLayer);
    }
    return layers;
}

std::shared_ptr<Options> readOptions(MapReader& reader, const PluginDescriptor& descriptor, const PluginHost& host) {
    OptionsBuilder options(&host);
    for (const OptionSpec& spec : descriptor.options) {
        ConfigNode value = reader.optional(spec.name);
        const bool given = value.yaml().IsDefined() && !value.yaml().IsNull();
        if (!given && spec.required())
            reader.node().fail(std::string(kindName(descriptor.kind)) + " '" + descriptor.name +
                               "' needs option '" + spec.name + "' (" + typeName(spec.type) + ": " +
                               spec.description + ")");
        switch (spec.type) {
            case OptionType::boolean: {
                const bool result = given ? value.asBoolean() : std::get<bool>(spec.defaultValue);
                options.set(spec.name, result);
                reader.resolve(spec.name, YAML::Node(result));
                break;
            }
            case OptionType::integer: {
                const std::int64_t result = given ? value.asInteger() : std::get<std::int64_t>(spec.defaultValue);
                if (given) checkRange(value, spec, static_cast<double>(result));
                options.set(spec.name, result);
                reader.resolve(spec.name, YAML::Node(result));
                break;
            }
            case OptionType::real: {
                const double result = given ? value.asReal() : std::get<double>(spec.defaultValue);
                if (given) checkRange(value, spec, result);
                options.set(spec.name, result);
                reader.resolve(spec.name, realNode(result));
                break;
            }
            case OptionType::string:
            case OptionType::choice:
            case OptionType::path: {
                std::string result = given ? value.asString() : std::get<std::string>(spec.defaultValue);
                if (spec.type == OptionType::choice) {
                    bool found = false;
                    for (const auto& choice : spec.choices) found = found || choice == result;
                    if (!found)
                        (given ? value : reader.node())
                            .fail("option '" + spec.name + "': unknown value '" + result + "'" +
                                  suggestionSuffix(result, spec.choices));
                }
                if (spec.type == OptionType::path && given) result = resolvePath(value, result);
                options.set(spec.name, result);
                reader.resolve(spec.name, YAML::Node(result));
                break;
            }
            case OptionType::layers: {
                YAML::Node resolvedList = reader.resolvedChild(spec.name);
                std::vector<PluginSpec> list;
                if (given) {
                    if (!value.isSequence() || value.yaml().size() == 0)
                        value.fail("option '" + spec.name + "': expected a non-empty list of layers");
                    list = readLayerList(value, host, resolvedList);
                    if (list.empty())
                        value.fail("option '" + spec.name + "': every layer of the list is null or none (removed)");
                }
                options.setPluginList(spec.name, std::move(list));
                break;
            }
            case OptionType::activation:
            case OptionType::layer: {
                const PluginKind nestedKind =
                    spec.type == OptionType::layer ? PluginKind::layer : PluginKind::activation;
                PluginSpec nested;
                YAML::Node nestedResolved = reader.resolvedChild(spec.name);
                // A nested layer counts towards the model's layers (a normaliser in each of 1,000 blocks).
                if (spec.type == OptionType::layer && layerBudget.depth > 0)
                    spendLayers(given ? value : reader.node(), 1);
                if (given) {
                    nested = readPluginSpec(value, nestedKind, host, nestedResolved);
                } else if (spec.type == OptionType::layer) {
                    // The default layer's options go into the resolved config too, so that it reads back the same.
                    const ConfigNode text = loadConfigText(std::get<std::string>(spec.defaultValue),
                                                           "default of option '" + spec.name + "'");
                    nested = readPluginSpec(text, nestedKind, host, nestedResolved);
                } else {
                    nested = readPluginSpecText(std::get<std::string>(spec.defaultValue), nestedKind,
                                                host, "default of option '" + spec.name + "'");
                    nestedResolved["kind"] = nested.name;
                }
                options.setPlugin(spec.name, std::move(nested));
                break;
            }
        }
    }
    return options.finish();
}

PluginSpec readPluginSpec(const ConfigNode& node, PluginKind kind, const PluginHost& host, YAML::Node resolved,
                          const HostKeysReader& hostKeys) {
    std::string name;
    ConfigNode body = node;
    if (node.isScalar()) {
        name = node.asString();
        // A bare name: no options given; read an empty map so defaults apply.
        body = ConfigNode(YAML::Node(YAML::NodeType::Map), node.source(), node.path());
    } else if (node.isMap()) {
        const YAML::Node& map = node.yaml();
        if (!map["kind"].IsDefined())
            node.fail(std::string("missing key 'kind': which ") + kindName(kind) + "? (known: " +
                      joinNames(host.names(kind)) + ")");
        name = node.child("kind").asString();
    } else {
        node.fail(std::string("expected a ") + kindName(kind) + ": a name or a map with 'kind'");
    }

    if (kind == PluginKind::layer && host.find(PluginKind::layer, name) == nullptr &&
        host.find(PluginKind::activation, name) != nullptr && host.find(PluginKind::layer, "activation") != nullptr) {
        // `- relu` as a layer: an activation layer around that activation.
        YAML::Node innerResolved(YAML::NodeType::Map);
        PluginSpec inner = readPluginSpec(node, PluginKind::activation, host, innerResolved, hostKeys);
        for (const auto& entry : innerResolved) resolved[entry.first.as<std::string>()] = entry.second;
        OptionsBuilder options(&host);
        options.setPlugin("activation", inner);
        return PluginSpec{PluginKind::layer, "activation", options.finish(), node.where(), {}};
    }

    const RegisteredPlugin* plugin = host.find(kind, name);
    if (plugin == nullptr) {
        std::vector<std::string> known = host.names(kind);
        if (kind == PluginKind::layer)
            for (const auto& activation : host.names(PluginKind::activation)) known.push_back(activation);
        const ConfigNode at = node.isMap() ? node.child("kind") : node;
        if (known.empty())
            at.fail(std::string("unknown ") + kindName(kind) + " '" + name + "': no " + kindName(kind) +
                    " plugins are loaded (check GRADLAB_PLUGIN_PATH and --plugin-path)");
        at.fail(std::string("unknown ") + kindName(kind) + " '" + name + "'" + suggestionSuffix(name, known) +
                "; a plugin of your own is loaded with --plugin-path DIR or GRADLAB_PLUGIN_PATH");
    }
    MapReader reader(body, resolved, std::string("the options of ") + kindName(kind) + " '" + name + "'");
    reader.optional("kind");
    resolved["kind"] = name;
    std::map<std::string, PluginSpec> init;
    if (kind == PluginKind::layer) init = readInitOverrides(reader, host);
    if (hostKeys) hostKeys(reader);
    auto options = readOptions(reader, plugin->descriptor, host);
    reader.finish();
    return PluginSpec{kind, name, options, node.where(), std::move(init)};
}

PluginSpec readPluginSpecText(const std::string& text, PluginKind kind, const PluginHost& host,
                              const std::string& name) {
    ConfigNode node = loadConfigText(text, name);
    YAML::Node resolved(YAML::NodeType::Map);
    return readPluginSpec(node, kind, host, resolved);
}

}  // namespace gradlab
