#pragma once
/// @file options_builder.hpp
/// Host side of Options: the only code that writes option values. Plugins read Options and never see this.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/options.hpp"

namespace gradlab {

/// Fills one Options for a plugin's constructor: `OptionsBuilder(&host).set("units", 3).finish()`.
class OptionsBuilder {
public:
    /// Starts an empty Options whose nested plugins are made by `factory` (may be null for plain values).
    explicit OptionsBuilder(const PluginFactory* factory) : options_(std::make_shared<Options>()) {
        options_->factory_ = factory;
    }

    /// Sets a scalar value.
    OptionsBuilder& set(const std::string& name, OptionValue value) {
        options_->values_[name] = std::move(value);
        return *this;
    }
    /// Sets a nested plugin.
    OptionsBuilder& setPlugin(const std::string& name, PluginSpec spec) {
        options_->plugins_[name] = std::move(spec);
        return *this;
    }
    /// Sets a nested list of plugins.
    OptionsBuilder& setPluginList(const std::string& name, std::vector<PluginSpec> specs) {
        options_->pluginLists_[name] = std::move(specs);
        return *this;
    }

    /// The options built so far; the builder is not used afterwards.
    std::shared_ptr<Options> finish() { return std::move(options_); }

private:
    std::shared_ptr<Options> options_;
};

}  // namespace gradlab
