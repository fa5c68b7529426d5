#pragma once
/// @file config_node.hpp
/// Strict reading of YAML configs: every value is read through a ConfigNode that knows where it came from
/// (file:line:column, or the --set override that put it there), every map through a MapReader that refuses
/// keys nobody asked for, with a did-you-mean. Every value read (defaults included) is also written to a
/// resolved tree, so that the trace stores exactly the configuration that ran.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <new>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/error.hpp"

namespace gradlab {

/// An error in a config, its message already prefixed with the location.
class ConfigError : public Error {
public:
    using Error::Error;
};

/// Where config values come from: the file and the --set overrides applied to it.
struct ConfigSource {
    std::string file;                                ///< as given on the command line
    std::map<std::string, std::string> overrides;    ///< key path -> "key.path=value" as typed
};

/// A YAML node with its location and key path ("training.steps", "model.layers.3.units").
class ConfigNode {
public:
    ConfigNode(YAML::Node node, std::shared_ptr<const ConfigSource> source, std::string path);
    ConfigNode(const ConfigNode&) = default;
    /// Rebinds to other's node. (YAML::Node's own assignment would overwrite the referenced node's value
    /// inside the document.)
    ConfigNode& operator=(const ConfigNode& other) {
        if (this == &other) return *this;
        node_.~Node();  // Node::reset() refuses undefined (missing-key) nodes; a fresh copy does not
        new (&node_) YAML::Node(other.node_);
        source_ = other.source_;
        path_ = other.path_;
        return *this;
    }

    /// "configs/x.yaml:12:9" or "--set training.steps=abc", for messages.
    std::string where() const;
    /// Throws ConfigError "WHERE: PATH: message".
    [[noreturn]] void fail(const std::string& message) const;

    const std::string& path() const { return path_; }
    const YAML::Node& yaml() const { return node_; }
    const std::shared_ptr<const ConfigSource>& source() const { return source_; }
    bool isMap() const { return node_.IsMap(); }
    bool isSequence() const { return node_.IsSequence(); }
    bool isScalar() const { return node_.IsScalar(); }
    bool isNull() const { return !node_.IsDefined() || node_.IsNull(); }

    /// Typed scalars; each fails with what was expected and what was found.
    std::int64_t asInteger() const;
    double asReal() const;
    bool asBoolean() const;
    std::string asString() const;

    /// Items of a sequence (fails if not a sequence).
    std::vector<ConfigNode> items() const;

    /// A child by key path segment (for maps); undefined if missing.
    ConfigNode child(const std::string& key) const;

private:
    std::string typeDescription() const;

    YAML::Node node_;
    std::shared_ptr<const ConfigSource> source_;
    std::string path_;
};

/// Reads the keys of one map, recording the resolved values; finish() refuses unknown keys.
class MapReader {
public:
    /// requires: node is a map (fails otherwise, saying what the section expects).
    MapReader(const ConfigNode& node, YAML::Node resolved, const std::string& what);

    bool has(const std::string& key) const;
    /// The value at key; fails if missing.
    ConfigNode required(const std::string& key);
    /// Marks a key as known and returns it (possibly undefined).
    ConfigNode optional(const std::string& key);

    std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max);
    std::int64_t requiredInteger(const std::string& key, std::int64_t min, std::int64_t max);
    double real(const std::string& key, double fallback, double min, double max);
    bool boolean(const std::string& key, bool fallback);
    std::string string(const std::string& key, const std::string& fallback);
    /// One of `choices`, with a did-you-mean.
    std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices);

    /// Records a resolved value for a key read some other way.
    void resolve(const std::string& key, const YAML::Node& value) { resolved_[key] = value; }
    YAML::Node resolvedChild(const std::string& key) { return resolved_[key]; }
    /// Drops a key from the resolved tree (when another key resolves it, e.g. epochs into steps).
    void forget(const std::string& key) { resolved_.remove(key); }

    /// Fails on the first key that was never asked for.
    void finish() const;

    const ConfigNode& node() const { return node_; }

private:
    ConfigNode node_;
    YAML::Node resolved_;
    std::vector<std::string> known_;
};

/// The text of a map key; fails (at the key, under the map's path) when the key is empty, a list or a map,
/// which YAML allows (`? [a, b]: 1`, `~: 1`) and no gradlab config has.
std::string keyName(const ConfigNode& key);

/// A real number as resolved YAML: the shortest text that reads back to the same double (`1e-06`, not
/// `9.9999999999999995e-07`), so resolved configs are readable and still reproduce the run exactly.
YAML::Node realNode(double value);

/// Loads a YAML file and applies `--set key.path=value` overrides; errors name the file and line.
ConfigNode loadConfigFile(const std::string& file, const std::vector<std::string>& overrides);

/// Parses YAML text held in memory (for tests and for specs written in code), named `name` in messages.
ConfigNode loadConfigText(const std::string& text, const std::string& name);

/// Parses YAML text held in memory as the file `file` (named so in messages) and applies `--set` overrides, like
/// loadConfigFile: for a config whose text was kept, e.g. the study config a study index holds.
ConfigNode loadConfigText(const std::string& text, const std::string& file, const std::vector<std::string>& overrides);

}  // namespace gradlab
