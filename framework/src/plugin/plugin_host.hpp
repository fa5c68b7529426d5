#pragma once
/// @file plugin_host.hpp
/// Loads plugin libraries (Boost.DLL), checks their entry point, keeps their registrations, and makes plugin
/// objects that keep their library loaded.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/registry.hpp"

namespace boost::dll {
class shared_library;
}

namespace gradlab {

/// One loaded plugin library.
struct PluginLibrary {
    std::filesystem::path file;
    std::string name;
    std::string version;
    std::shared_ptr<boost::dll::shared_library> handle;
};

/// A registered plugin and the library it came from.
struct RegisteredPlugin {
    PluginDescriptor descriptor;
    std::shared_ptr<const PluginLibrary> library;
};

/// The host side of the plugin boundary: the registry libraries register into and the factory for objects.
class PluginHost : public PluginFactory {
public:
    PluginHost() = default;
    PluginHost(const PluginHost&) = delete;
    PluginHost& operator=(const PluginHost&) = delete;

    /// Loads one library. Checks, in this order and before calling anything else: it loads, it has the entry
    /// point, the API version matches, the build identity matches; then registers its plugins (all or none).
    /// Throws Error naming the file and what was found vs expected. A file already loaded is skipped.
    void loadLibrary(const std::filesystem::path& file);

    /// Loads every `*.so` in a folder, in name order; a library without the gradlab entry point is skipped with
    /// a warning on stderr (a file named directly, loadLibrary, stays an error). A missing folder is an error.
    void loadDirectory(const std::filesystem::path& folder);

    /// Loads the folders of a search path; folders that do not exist are skipped.
    void loadSearchPath(const std::vector<std::filesystem::path>& folders);

    /// The plugin of this kind and name, or nullptr.
    const RegisteredPlugin* find(PluginKind kind, const std::string& name) const;

    /// The plugin of this kind and name; throws Error with a did-you-mean and the known names.
    const RegisteredPlugin& get(PluginKind kind, const std::string& name) const;

    /// Names of every plugin of a kind, sorted.
    std::vector<std::string> names(PluginKind kind) const;

    /// Every plugin, in registration order.
    const std::vector<RegisteredPlugin>& plugins() const { return plugins_; }

    /// Every library loaded, in load order.
    const std::vector<std::shared_ptr<const PluginLibrary>>& libraries() const { return libraries_; }

    /// Makes objects from validated specs; errors thrown by a plugin constructor are rethrown naming the plugin.
    template <typename Scalar>
    std::shared_ptr<Activation<Scalar>> makeActivation(const PluginSpec& spec) const;
    template <typename Scalar>
    std::shared_ptr<Layer<Scalar>> makeLayer(const PluginSpec& spec) const;
    template <typename Scalar>
    std::shared_ptr<Initializer<Scalar>> makeInitializer(const PluginSpec& spec) const;
    template <typename Scalar>
    std::shared_ptr<Optimizer<Scalar>> makeOptimizer(const PluginSpec& spec) const;
    template <typename Scalar>
    std::shared_ptr<Regularizer<Scalar>> makeRegularizer(const PluginSpec& spec) const;
    template <typename Scalar>
    std::shared_ptr<Probe<Scalar>> makeProbe(const PluginSpec& spec) const;

    std::shared_ptr<Activation<float>> makeActivation32(const PluginSpec& spec) const override;
    std::shared_ptr<Activation<double>> makeActivation64(const PluginSpec& spec) const override;
    /// Makes a layer, builds it for `shape` (which becomes its output shape) and applies the spec's `init:`
    /// overrides (applyInitOverrides): what nested layers (a residual block's) and the network's own share.
    template <typename Scalar>
    std::shared_ptr<Layer<Scalar>> buildLayer(const PluginSpec& spec, Shape& shape) const;

    std::shared_ptr<Layer<float>> buildLayer32(const PluginSpec& spec, Shape& shape) const override;
    std::shared_ptr<Layer<double>> buildLayer64(const PluginSpec& spec, Shape& shape) const override;

private:
    /// loadLibrary; a library without the entry point returns false instead of throwing unless nonPluginIsError.
    bool load(const std::filesystem::path& file, bool nonPluginIsError);

    std::vector<std::shared_ptr<const PluginLibrary>> libraries_;
    std::vector<RegisteredPlugin> plugins_;
};

/// The folder of the built-in plugins: `<folder of the gradlab binary>/../lib/gradlab/plugins`.
std::filesystem::path builtinPluginDirectory();

/// The plugin search path: the built-in folder, then GRADLAB_PLUGIN_PATH (colon-separated), then `extra`
/// (from --plugin-path), in that order.
std::vector<std::filesystem::path> pluginSearchPath(const std::vector<std::string>& extra);

}  // namespace gradlab
