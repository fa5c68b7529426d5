#pragma once
/// @file options.hpp
/// Self-described plugin options. Each plugin declares its options once (name, type, default, range, one line
/// of description); the host validates a config against the declaration, with file:line errors, and documents
/// it (`gradlab plugins --describe NAME`). The plugin's constructor receives the validated values.

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/visibility.hpp"

namespace gradlab {

/// What a plugin is: the six kinds the host loads.
enum class PluginKind { activation, layer, initializer, optimizer, regularizer, probe };

/// The kind's name as written in configs and messages ("activation", ...).
inline const char* kindName(PluginKind kind) {
    switch (kind) {
        case PluginKind::activation: return "activation";
        case PluginKind::layer: return "layer";
        case PluginKind::initializer: return "initializer";
        case PluginKind::optimizer: return "optimizer";
        case PluginKind::regularizer: return "regularizer";
        case PluginKind::probe: return "probe";
    }
    return "?";
}

/// The type of one option value.
enum class OptionType {
    boolean,     ///< true / false
    integer,     ///< a whole number (int64)
    real,        ///< a number (double)
    string,      ///< free text
    choice,      ///< one of a fixed list of strings
    path,        ///< a file path; relative paths are resolved against the config file's folder
    activation,  ///< a nested activation plugin: a name (`relu`) or a map (`{kind: leaky_relu, alpha: 0.1}`)
    layers,      ///< a list of nested layers (with `repeat:` blocks), e.g. a residual block's body
    layer,       ///< one nested layer: a name (`layernorm`) or a map (`{kind: batchnorm, momentum: 0.1}`)
};

/// The type's name as shown in errors and docs.
inline const char* typeName(OptionType type) {
    switch (type) {
        case OptionType::boolean: return "boolean";
        case OptionType::integer: return "integer";
        case OptionType::real: return "number";
        case OptionType::string: return "string";
        case OptionType::choice: return "choice";
        case OptionType::path: return "path";
        case OptionType::activation: return "activation";
        case OptionType::layers: return "list of layers";
        case OptionType::layer: return "layer";
    }
    return "?";
}

/// A scalar option value; monostate means "no value" (a required option has no default).
using OptionValue = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

/// The declaration of one option. Build with the named constructors and chain the range setters:
/// `OptionSpec::real("alpha", 0.01, "slope for x < 0").min(0.0)`.
struct GRADLAB_API OptionSpec {
    std::string name;
    OptionType type = OptionType::real;
    OptionValue defaultValue;  ///< monostate: required
    std::string description;
    double minimum = -std::numeric_limits<double>::infinity();
    double maximum = std::numeric_limits<double>::infinity();
    bool minimumExclusive = false;
    bool maximumExclusive = false;
    std::vector<std::string> choices;  ///< for OptionType::choice

    bool required() const { return std::holds_alternative<std::monostate>(defaultValue); }

    static OptionSpec boolean(std::string name, bool value, std::string description) {
        return make(std::move(name), OptionType::boolean, value, std::move(description));
    }
    static OptionSpec integer(std::string name, std::int64_t value, std::string description) {
        return make(std::move(name), OptionType::integer, value, std::move(description));
    }
    static OptionSpec real(std::string name, double value, std::string description) {
        return make(std::move(name), OptionType::real, value, std::move(description));
    }
    static OptionSpec string(std::string name, std::string value, std::string description) {
        return make(std::move(name), OptionType::string, std::move(value), std::move(description));
    }
    static OptionSpec choice(std::string name, std::string value, std::vector<std::string> choices,
                             std::string description) {
        OptionSpec spec = make(std::move(name), OptionType::choice, std::move(value), std::move(description));
        spec.choices = std::move(choices);
        return spec;
    }
    static OptionSpec path(std::string name, std::string description) {
        return make(std::move(name), OptionType::path, std::monostate{}, std::move(description));
    }
    /// A nested activation; `value` is the default activation's name.
    static OptionSpec activation(std::string name, std::string value, std::string description) {
        return make(std::move(name), OptionType::activation, std::move(value), std::move(description));
    }

    /// A nested list of layers; required unless it may be empty (`allowEmpty`: default empty list).
    static OptionSpec layers(std::string name, std::string description) {
        return make(std::move(name), OptionType::layers, std::monostate{}, std::move(description));
    }

    /// One nested layer (built with buildLayer in the parent's build()); `value` is the default layer's name.
    static OptionSpec layer(std::string name, std::string value, std::string description) {
        return make(std::move(name), OptionType::layer, std::move(value), std::move(description));
    }

    /// Makes the option required (no default).
    OptionSpec& requiredValue() {
        defaultValue = std::monostate{};
        return *this;
    }
    OptionSpec& min(double value) { minimum = value; minimumExclusive = false; return *this; }
    OptionSpec& above(double value) { minimum = value; minimumExclusive = true; return *this; }
    OptionSpec& max(double value) { maximum = value; maximumExclusive = false; return *this; }
    OptionSpec& below(double value) { maximum = value; maximumExclusive = true; return *this; }

private:
    static OptionSpec make(std::string name, OptionType type, OptionValue value, std::string description) {
        OptionSpec spec;
        spec.name = std::move(name);
        spec.type = type;
        spec.defaultValue = std::move(value);
        spec.description = std::move(description);
        return spec;
    }
};

class Options;
class PluginFactory;

/// A request for a plugin: its kind, its name and its validated options.
struct GRADLAB_API PluginSpec {
    PluginKind kind = PluginKind::activation;
    std::string name;
    std::shared_ptr<const Options> options;
    std::string where;  ///< where it was written ("configs/deep.yaml:12:9"), for messages
    /// Layers only: the config's `init:` overrides, parameter local name -> validated initializer spec.
    std::map<std::string, PluginSpec> init;
};

/// Validated option values handed to a plugin's constructor. Every declared option has a value (the
/// config's or the default), so the getters only fail on a name the plugin did not declare.
class GRADLAB_API Options {
public:
    Options() = default;

    bool boolean(const std::string& name) const { return get<bool>(name, "boolean"); }
    std::int64_t integer(const std::string& name) const { return get<std::int64_t>(name, "integer"); }
    double real(const std::string& name) const { return get<double>(name, "number"); }
    /// A string, choice or path option (paths come resolved).
    const std::string& string(const std::string& name) const { return get<std::string>(name, "string"); }
    /// A nested plugin option (an activation, or one layer).
    const PluginSpec& plugin(const std::string& name) const {
        auto it = plugins_.find(name);
        if (it == plugins_.end()) throw Error("option '" + name + "' is not a declared plugin option");
        return it->second;
    }
    /// A nested list of plugins (e.g. layers).
    const std::vector<PluginSpec>& pluginList(const std::string& name) const {
        auto it = pluginLists_.find(name);
        if (it == pluginLists_.end()) throw Error("option '" + name + "' is not a declared list option");
        return it->second;
    }
    /// The host's factory, to build nested plugins (set by the host; null in a bare Options).
    const PluginFactory* factory() const { return factory_; }

    /// Every scalar value, by option name.
    const std::map<std::string, OptionValue>& values() const { return values_; }
    /// Every nested plugin option, by option name.
    const std::map<std::string, PluginSpec>& plugins() const { return plugins_; }

private:
    friend class OptionsBuilder;  // the host fills Options (framework/src/plugin/options_builder.hpp)

    template <typename T>
    const T& get(const std::string& name, const char* expected) const {
        auto it = values_.find(name);
        if (it == values_.end()) throw Error("option '" + name + "' was not declared by this plugin");
        if (const T* value = std::get_if<T>(&it->second)) return *value;
        throw Error("option '" + name + "' is not a " + expected);
    }

    std::map<std::string, OptionValue> values_;
    std::map<std::string, PluginSpec> plugins_;
    std::map<std::string, std::vector<PluginSpec>> pluginLists_;
    const PluginFactory* factory_ = nullptr;
};

}  // namespace gradlab
