#include "config/config_node.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "util/suggest.hpp"

namespace gradlab {
namespace {

std::string joinPath(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

/// Most keys in a `--set` key path.
constexpr std::size_t maxKeyPathDepth = 256;

bool isIndex(const std::string& text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

/// Sets `value` at the key path below `node`, creating maps on the way.
void setAtPath(YAML::Node node, const std::vector<std::string>& segments, std::size_t depth, const YAML::Node& value,
               const std::string& text) {
    const std::string& segment = segments[depth];
    const bool last = depth + 1 == segments.size();
    if (node.IsSequence()) {
        if (!isIndex(segment))
            throw ConfigError("--set " + text + ": '" + segment + "' is a list, index it with a number");
        // More digits than any list can have (and than std::stoul can hold) is past the end too.
        const std::size_t index =
            segment.size() <= 9 ? std::stoul(segment) : std::numeric_limits<std::size_t>::max();
        if (index >= node.size())
            throw ConfigError("--set " + text + ": index " + segment + " is past the end of a list of " +
                              std::to_string(node.size()));
        if (last)
            node[index] = value;
        else
            setAtPath(node[index], segments, depth + 1, value, text);
        return;
    }
    if (node.IsDefined() && !node.IsNull() && !node.IsMap())
        throw ConfigError("--set " + text + ": cannot set '" + segment + "' inside a scalar value");
    if (last) {
        if (value.IsNull())
            node.remove(segment);  // `--set key=null` removes the key: its default applies
        else
            node[segment] = value;
        return;
    }
    setAtPath(node[segment], segments, depth + 1, value, text);
}

std::string describeYamlError(const YAML::Exception& error) { return error.msg; }

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::shared_ptr<const ConfigSource> source, std::string path)
    : node_(std::move(node)), source_(std::move(source)), path_(std::move(path)) {}

std::string ConfigNode::where() const {
    for (const auto& [key, text] : source_->overrides)
        if (path_ == key || path_.rfind(key + ".", 0) == 0) return "--set " + text;
    if (node_.IsDefined()) {
        const YAML::Mark mark = node_.Mark();
        if (mark.line >= 0)
            return source_->file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    // A node without a place in the file that an override's path runs through was made by that `--set`
    // (`--set foo.bar=1` makes the map `foo`): name the override, not the file.
    if (!path_.empty())
        for (const auto& [key, text] : source_->overrides)
            if (key.rfind(path_ + ".", 0) == 0) return "--set " + text;
    return source_->file;
}

void ConfigNode::fail(const std::string& message) const {
    throw ConfigError(where() + ": " + (path_.empty() ? std::string() : path_ + ": ") + message);
}

std::string ConfigNode::typeDescription() const {
    if (!node_.IsDefined()) return "nothing";
    if (node_.IsNull()) return "an empty value";
    if (node_.IsMap()) return "a map";
    if (node_.IsSequence()) return "a list";
    return "'" + node_.Scalar() + "'";
}

std::int64_t ConfigNode::asInteger() const {
    if (!isScalar()) fail("expected an integer, got " + typeDescription());
    const std::string& text = node_.Scalar();
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) {
        // Accept integral reals written like 1e6 or 1000.0, which YAML users write for step counts.
        const double real = std::strtod(text.c_str(), &end);
        if (!text.empty() && *end == '\0' && std::isfinite(real) && real == std::floor(real) && std::fabs(real) < 9e18)
            return static_cast<std::int64_t>(real);
        fail("expected an integer, got " + typeDescription());
    }
    return value;
}

double ConfigNode::asReal() const {
    if (!isScalar()) fail("expected a number, got " + typeDescription());
    const std::string& text = node_.Scalar();
    if (text == ".inf" || text == ".Inf" || text == "inf") return INFINITY;
    if (text == "-.inf" || text == "-.Inf" || text == "-inf") return -INFINITY;
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || std::isnan(value)) fail("expected a number, got " + typeDescription());
    return value;
}

bool ConfigNode::asBoolean() const {
    if (isScalar()) {
        const std::string& text = node_.Scalar();
        if (text == "true" || text == "True" || text == "yes" || text == "on") return true;
        if (text == "false" || text == "False" || text == "no" || text == "off") return false;
    }
    fail("expected true or false, got " + typeDescription());
}

std::string ConfigNode::asString() const {
    if (!isScalar()) fail("expected a string, got " + typeDescription());
    return node_.Scalar();
}

std::vector<ConfigNode> ConfigNode::items() const {
    if (!isSequence()) fail("expected a list, got " + typeDescription());
    std::vector<ConfigNode> result;
    for (std::size_t i = 0; i < node_.size(); ++i)
        result.emplace_back(node_[i], source_, joinPath(path_, std::to_string(i)));
    return result;
}

ConfigNode ConfigNode::child(const std::string& key) const {
    if (!isMap()) return ConfigNode(YAML::Node(YAML::NodeType::Undefined), source_, joinPath(path_, key));
    const YAML::Node& constNode = node_;
    return ConfigNode(constNode[key], source_, joinPath(path_, key));
}

MapReader::MapReader(const ConfigNode& node, YAML::Node resolved, const std::string& what)
    : node_(node), resolved_(std::move(resolved)) {
    if (!node.isMap()) node.fail("expected " + what + " (a map of keys), got " + (node.isNull() ? "nothing" : node.isSequence() ? "a list" : "'" + node.yaml().Scalar() + "'"));
    // YAML parsers keep both of `steps: 10` and `steps: 20` and lookups see the first: refuse the second
    // rather than silently ignore it.
    std::map<std::string, ConfigNode> seen;
    for (const auto& entry : node.yaml()) {
        if (!entry.first.IsScalar()) continue;  // finish() refuses it
        ConfigNode key(entry.first, node.source(), joinPath(node.path(), entry.first.Scalar()));
        const auto [first, inserted] = seen.emplace(entry.first.Scalar(), key);
        if (!inserted) key.fail("duplicate key (also at " + first->second.where() + ")");
    }
}

bool MapReader::has(const std::string& key) const {
    const YAML::Node& map = node_.yaml();
    return map[key].IsDefined();
}

ConfigNode MapReader::optional(const std::string& key) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
    return node_.child(key);
}

ConfigNode MapReader::required(const std::string& key) {
    ConfigNode value = optional(key);
    if (!value.yaml().IsDefined()) {
        // A misspelt key (`optimiser:`) is the likeliest reason: point at it rather than only at the map.
        std::vector<std::string> present;
        for (const auto& entry : node_.yaml())
            if (entry.first.IsScalar()) present.push_back(entry.first.Scalar());
        const std::string typo = closestMatch(key, present);
        if (!typo.empty()) {
            const YAML::Node& map = node_.yaml();
            for (const auto& entry : map)
                if (entry.first.IsScalar() && entry.first.Scalar() == typo)
                    ConfigNode(entry.first, node_.source(), joinPath(node_.path(), typo))
                        .fail("unknown key, did you mean '" + key + "'? (the required key '" + key + "' is missing)");
        }
        node_.fail("missing required key '" + key + "'");
    }
    return value;
}

std::int64_t MapReader::integer(const std::string& key, std::int64_t fallback, std::int64_t min, std::int64_t max) {
    ConfigNode value = optional(key);
    std::int64_t result = fallback;
    if (value.yaml().IsDefined()) {
        result = value.asInteger();
        if (result < min || result > max)
            value.fail("expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                       std::to_string(result));
    }
    resolved_[key] = result;
    return result;
}

std::int64_t MapReader::requiredInteger(const std::string& key, std::int64_t min, std::int64_t max) {
    required(key);
    return integer(key, 0, min, max);
}

double MapReader::real(const std::string& key, double fallback, double min, double max) {
    ConfigNode value = optional(key);
    double result = fallback;
    if (value.yaml().IsDefined()) {
        result = value.asReal();
        if (!(result >= min && result <= max)) {
            std::ostringstream range;
            range << "expected a number in [" << min << ", " << max << "], got " << result;
            value.fail(range.str());
        }
    }
    resolved_[key] = realNode(result);
    return result;
}

bool MapReader::boolean(const std::string& key, bool fallback) {
    ConfigNode value = optional(key);
    const bool result = value.yaml().IsDefined() ? value.asBoolean() : fallback;
    resolved_[key] = result;
    return result;
}

std::string MapReader::string(const std::string& key, const std::string& fallback) {
    ConfigNode value = optional(key);
    const std::string result = value.yaml().IsDefined() ? value.asString() : fallback;
    resolved_[key] = result;
    return result;
}

std::string MapReader::choice(const std::string& key, const std::string& fallback,
                              const std::vector<std::string>& choices) {
    ConfigNode value = optional(key);
    const std::string result = value.yaml().IsDefined() ? value.asString() : fallback;
    bool found = false;
    for (const auto& choice : choices) found = found || choice == result;
    if (!found) value.fail("unknown value '" + result + "'" + suggestionSuffix(result, choices));
    resolved_[key] = result;
    return result;
}

void MapReader::finish() const {
    for (const auto& entry : node_.yaml()) {
        const std::string key = keyName(ConfigNode(entry.first, node_.source(), node_.path()));
        bool known = false;
        for (const auto& name : known_) known = known || name == key;
        if (!known) {
            ConfigNode keyNode(entry.first, node_.source(), joinPath(node_.path(), key));
            keyNode.fail("unknown key" + suggestionSuffix(key, known_));
        }
    }
}

YAML::Node realNode(double value) {
    if (!std::isfinite(value)) return YAML::Node(value);  // .inf, -.inf, .nan as yaml-cpp writes them
    char text[32];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(text, sizeof text, "%.*g", precision, value);
        if (std::strtod(text, nullptr) == value) break;
    }
    return YAML::Node(std::string(text));
}

std::string keyName(const ConfigNode& key) {
    if (!key.isScalar())
        key.fail(std::string("expected a key name, got ") +
                 (key.isNull() ? "an empty key" : key.isSequence() ? "a list as a key" : "a map as a key"));
    return key.yaml().Scalar();
}

ConfigNode loadConfigFile(const std::string& file, const std::vector<std::string>& overrides) {
    std::ifstream stream(file);
    if (!stream) throw ConfigError(file + ": cannot open config file");
    std::stringstream text;
    text << stream.rdbuf();
    return loadConfigText(text.str(), file, overrides);
}

ConfigNode loadConfigText(const std::string& text, const std::string& file, const std::vector<std::string>& overrides) {
    ConfigNode node = loadConfigText(text, file);
    auto source = std::make_shared<ConfigSource>(*node.source());
    YAML::Node root;
    if (node.yaml().IsDefined() && !node.yaml().IsNull())
        root.reset(node.yaml());
    else
        root.reset(YAML::Node(YAML::NodeType::Map));
    for (const auto& override : overrides) {
        const std::size_t equals = override.find('=');
        if (equals == std::string::npos || equals == 0)
            throw ConfigError("--set " + override + ": expected key.path=value");
        const std::string path = override.substr(0, equals);
        const std::string valueText = override.substr(equals + 1);
        std::vector<std::string> segments;
        std::stringstream pathStream(path);
        for (std::string segment; std::getline(pathStream, segment, '.');) {
            if (segment.empty()) throw ConfigError("--set " + override + ": empty key in '" + path + "'");
            // The path is followed recursively, one level per key: bound it (no config is nested this deep).
            if (segments.size() == maxKeyPathDepth)
                throw ConfigError("--set " + override.substr(0, 200) + (override.size() > 200 ? "..." : "") +
                                  ": the key path has more than " + std::to_string(maxKeyPathDepth) + " keys");
            segments.push_back(segment);
        }
        YAML::Node value;
        try {
            value = YAML::Load(valueText);
        } catch (const YAML::Exception& error) {
            throw ConfigError("--set " + override + ": the value is not valid YAML: " + describeYamlError(error));
        }
        if (!root.IsMap()) throw ConfigError(file + ": expected a map of sections at the top level");
        setAtPath(root, segments, 0, value, override);
        source->overrides[path] = override;
    }
    return ConfigNode(root, source, "");
}

ConfigNode loadConfigText(const std::string& text, const std::string& name) {
    auto source = std::make_shared<ConfigSource>();
    source->file = name;
    try {
        return ConfigNode(YAML::Load(text), source, "");
    } catch (const YAML::Exception& error) {
        const std::string at = error.mark.is_null() ? std::string()
                                                    : ":" + std::to_string(error.mark.line + 1) + ":" +
                                                          std::to_string(error.mark.column + 1);
        throw ConfigError(name + at + ": invalid YAML: " + describeYamlError(error));
    }
}

}  // namespace gradlab
