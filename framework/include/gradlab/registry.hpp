#pragma once
/// @file registry.hpp
/// The registry a plugin library registers into, and the factory the host offers for nested plugins.
/// Both are interfaces the host implements; a plugin never registers into global state.

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradlab/activation.hpp"
#include "gradlab/initializer.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/optimizer.hpp"
#include "gradlab/options.hpp"
#include "gradlab/probe.hpp"
#include "gradlab/regularizer.hpp"
#include "gradlab/visibility.hpp"

namespace gradlab {

/// Constructors of one plugin for one precision; only the member of the plugin's kind is set.
template <typename Scalar>
struct Factories {
    std::function<std::unique_ptr<Activation<Scalar>>(const Options&)> activation;
    std::function<std::unique_ptr<Layer<Scalar>>(const Options&)> layer;
    std::function<std::unique_ptr<Initializer<Scalar>>(const Options&)> initializer;
    std::function<std::unique_ptr<Optimizer<Scalar>>(const Options&)> optimizer;
    std::function<std::unique_ptr<Regularizer<Scalar>>(const Options&)> regularizer;
    std::function<std::unique_ptr<Probe<Scalar>>(const Options&)> probe;
};

/// Everything the host knows of one plugin: what it is, its options, how to make it in both precisions.
struct GRADLAB_API PluginDescriptor {
    PluginKind kind = PluginKind::activation;
    std::string name;
    std::string description;
    std::vector<OptionSpec> options;
    Factories<float> float32;
    Factories<double> float64;

    /// Declares one option (chainable).
    PluginDescriptor& option(OptionSpec spec) {
        options.push_back(std::move(spec));
        return *this;
    }
};

/// Where plugin libraries register what they provide. The host passes one in; it refuses duplicate names.
class GRADLAB_API Registry {
public:
    virtual ~Registry() = default;

    /// Stores a descriptor; throws Error on a duplicate name. ensures: the reference stays valid while the
    /// registration function runs, for declaring options.
    virtual PluginDescriptor& add(PluginDescriptor descriptor) = 0;

    /// Registers the class template Impl<float>/Impl<double> as an activation.
    template <template <typename> class Impl>
    PluginDescriptor& addActivation(std::string name, std::string description) {
        auto d = describe(PluginKind::activation, std::move(name), std::move(description));
        d.float32.activation = construct<Activation<float>, Impl<float>>();
        d.float64.activation = construct<Activation<double>, Impl<double>>();
        return add(std::move(d));
    }
    template <template <typename> class Impl>
    PluginDescriptor& addLayer(std::string name, std::string description) {
        auto d = describe(PluginKind::layer, std::move(name), std::move(description));
        d.float32.layer = construct<Layer<float>, Impl<float>>();
        d.float64.layer = construct<Layer<double>, Impl<double>>();
        return add(std::move(d));
    }
    template <template <typename> class Impl>
    PluginDescriptor& addInitializer(std::string name, std::string description) {
        auto d = describe(PluginKind::initializer, std::move(name), std::move(description));
        d.float32.initializer = construct<Initializer<float>, Impl<float>>();
        d.float64.initializer = construct<Initializer<double>, Impl<double>>();
        return add(std::move(d));
    }
    template <template <typename> class Impl>
    PluginDescriptor& addOptimizer(std::string name, std::string description) {
        auto d = describe(PluginKind::optimizer, std::move(name), std::move(description));
        d.float32.optimizer = construct<Optimizer<float>, Impl<float>>();
        d.float64.optimizer = construct<Optimizer<double>, Impl<double>>();
        return add(std::move(d));
    }
    template <template <typename> class Impl>
    PluginDescriptor& addRegularizer(std::string name, std::string description) {
        auto d = describe(PluginKind::regularizer, std::move(name), std::move(description));
        d.float32.regularizer = construct<Regularizer<float>, Impl<float>>();
        d.float64.regularizer = construct<Regularizer<double>, Impl<double>>();
        return add(std::move(d));
    }
    /// Registers Impl<float>/Impl<double> as a probe (gradlab/probe.hpp); its schedule keys (`every`, `at`,
    /// `at_init`, `at_end`, `name`, `batch`, `from`) are the host's and must not be declared as options.
    template <template <typename> class Impl>
    PluginDescriptor& addProbe(std::string name, std::string description) {
        auto d = describe(PluginKind::probe, std::move(name), std::move(description));
        d.float32.probe = construct<Probe<float>, Impl<float>>();
        d.float64.probe = construct<Probe<double>, Impl<double>>();
        return add(std::move(d));
    }

private:
    static PluginDescriptor describe(PluginKind kind, std::string name, std::string description) {
        PluginDescriptor d;
        d.kind = kind;
        d.name = std::move(name);
        d.description = std::move(description);
        return d;
    }

    /// A factory calling Impl(const Options&) or, for option-less plugins, Impl().
    template <typename Base, typename Impl>
    static std::function<std::unique_ptr<Base>(const Options&)> construct() {
        return [](const Options& options) -> std::unique_ptr<Base> {
            if constexpr (std::is_constructible_v<Impl, const Options&>)
                return std::make_unique<Impl>(options);
            else {
                (void)options;
                return std::make_unique<Impl>();
            }
        };
    }
};

/// What the host offers plugins for building nested plugins (a dense layer's activation, a residual block's
/// layers). Objects it returns keep their own library loaded.
class GRADLAB_API PluginFactory {
public:
    virtual ~PluginFactory() = default;
    virtual std::shared_ptr<Activation<float>> makeActivation32(const PluginSpec& spec) const = 0;
    virtual std::shared_ptr<Activation<double>> makeActivation64(const PluginSpec& spec) const = 0;
    /// requires: spec is a layer spec. ensures: the layer is made, built for `shape` (which becomes its output
    /// shape), and the spec's `init:` overrides are applied to its parameters (which the host initialises later).
    virtual std::shared_ptr<Layer<float>> buildLayer32(const PluginSpec& spec, Shape& shape) const = 0;
    virtual std::shared_ptr<Layer<double>> buildLayer64(const PluginSpec& spec, Shape& shape) const = 0;
};

/// Builds the nested activation option `name` of `options` in precision Scalar.
template <typename Scalar>
std::shared_ptr<Activation<Scalar>> makeActivation(const Options& options, const std::string& name) {
    const PluginFactory* factory = options.factory();
    if (factory == nullptr) throw Error("no plugin factory to build activation option '" + name + "'");
    if constexpr (std::is_same_v<Scalar, float>)
        return factory->makeActivation32(options.plugin(name));
    else
        return factory->makeActivation64(options.plugin(name));
}

/// Makes one nested layer spec (an item of a `layers` option) in precision Scalar and builds it for `shape`,
/// which becomes the layer's output shape; the config's `init:` overrides of the spec are applied. Call it from
/// the parent's build(), then addChild() the layer.
template <typename Scalar>
std::shared_ptr<Layer<Scalar>> buildLayer(const Options& options, const PluginSpec& spec, Shape& shape) {
    const PluginFactory* factory = options.factory();
    if (factory == nullptr) throw Error("no plugin factory to build layer '" + spec.name + "'");
    if constexpr (std::is_same_v<Scalar, float>)
        return factory->buildLayer32(spec, shape);
    else
        return factory->buildLayer64(spec, shape);
}

}  // namespace gradlab
