#pragma once
/// @file plugin_spec_reader.hpp
/// Turns a plugin written in a config (`relu`, `{kind: leaky_relu, alpha: 0.1}`) into a validated PluginSpec,
/// checking every option against the plugin's own declaration.

#include <functional>

#include "config/config_node.hpp"
#include "plugin/plugin_host.hpp"

namespace gradlab {

/// Reads keys the host handles itself for a kind (a layer's `init:`, a regularizer's `params:`).
using HostKeysReader = std::function<void(MapReader&)>;

/// Reads a plugin of `kind` from `node`: a name, or a map with `kind:` and the plugin's options.
/// A layer written with an activation's name (`- relu`) becomes an `activation` layer.
/// ensures: every declared option has a value (the config's or the default); resolved gets {kind, options...}.
PluginSpec readPluginSpec(const ConfigNode& node, PluginKind kind, const PluginHost& host, YAML::Node resolved,
                          const HostKeysReader& hostKeys = {});

/// Reads the declared options of `descriptor` from `reader` into a validated Options.
std::shared_ptr<Options> readOptions(MapReader& reader, const PluginDescriptor& descriptor, const PluginHost& host);

/// Whether a layer-list item is `null`, `~` or `none`: a removed layer ("with and without batch norm" is one
/// sweep key, `model.layers.0.layers.1: [batchnorm, null]`).
bool isRemovedLayer(const ConfigNode& item);

/// Reads a list of layers, expanding `{repeat: N, layers: [...]}` blocks in place and leaving out removed
/// layers (isRemovedLayer); resolved gets the expanded list. The list may come out empty.
std::vector<PluginSpec> readLayerList(const ConfigNode& list, const PluginHost& host, YAML::Node resolvedList);

/// A validated initializer spec from a typed one (a parameter's default, InitializerSpec::constant(0.25)): each
/// value checked against the initializer's declared options as a config's would be; errors start with `where`.
PluginSpec readPluginSpec(const InitializerSpec& typed, const PluginHost& host, const std::string& where);

/// A spec from YAML text, e.g. an option's default activation "identity" or a test's "{kind: dense, units: 3}".
PluginSpec readPluginSpecText(const std::string& text, PluginKind kind, const PluginHost& host,
                              const std::string& name);

}  // namespace gradlab
