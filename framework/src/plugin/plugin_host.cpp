#include "plugin/plugin_host.hpp"

#include <sys/stat.h>

#include <iostream>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <dlfcn.h>

#include "gradlab/plugin.hpp"
#include "plugin/init_overrides.hpp"
#include "util/suggest.hpp"

namespace gradlab {
namespace {

constexpr const char* entrySymbol = GRADLAB_STRINGIFY(GRADLAB_ENTRY_SYMBOL);

/// Collects a library's registrations so that they are committed all together or not at all.
class StagingRegistry : public Registry {
public:
    explicit StagingRegistry(const std::vector<RegisteredPlugin>& existing) : existing_(existing) {}

    PluginDescriptor& add(PluginDescriptor descriptor) override {
        if (descriptor.name.empty()) throw Error(std::string("a ") + kindName(descriptor.kind) + " with an empty name");
        auto clash = [&](PluginKind kind, const std::string& name) {
            auto same = [&](const PluginDescriptor& other) { return other.kind == kind && other.name == name; };
            for (const auto& plugin : existing_)
                if (same(plugin.descriptor))
                    return "already registered by " + plugin.library->file.string();
            for (const auto& staged : staged_)
                if (same(*staged)) return std::string("registered twice by this library");
            return std::string();
        };
        std::string reason = clash(descriptor.kind, descriptor.name);
        if (!reason.empty())
            throw Error(std::string("duplicate ") + kindName(descriptor.kind) + " '" + descriptor.name + "': " + reason);
        // Activation names double as layer names (`- relu` is an activation layer), so the two must not clash.
        if (descriptor.kind == PluginKind::activation || descriptor.kind == PluginKind::layer) {
            const PluginKind other = descriptor.kind == PluginKind::layer ? PluginKind::activation : PluginKind::layer;
            reason = clash(other, descriptor.name);
            if (!reason.empty())
                throw Error(std::string(kindName(descriptor.kind)) + " '" + descriptor.name + "' clashes with the " +
                            kindName(other) + " of that name (" + reason + ")");
        }
        staged_.push_back(std::make_unique<PluginDescriptor>(std::move(descriptor)));
        return *staged_.back();
    }

    std::vector<std::unique_ptr<PluginDescriptor>>& staged() { return staged_; }

private:
    const std::vector<RegisteredPlugin>& existing_;
    std::vector<std::unique_ptr<PluginDescriptor>> staged_;
};

/// Checks a descriptor's own declarations once registration returns.
void checkDescriptor(const PluginDescriptor& descriptor) {
    std::vector<std::string> seen;
    for (const auto& option : descriptor.options) {
        if (option.name.empty() || option.name == "kind")
            throw Error(std::string(kindName(descriptor.kind)) + " '" + descriptor.name + "' declares an option named '" +
                        option.name + "', which is reserved");
        if (descriptor.kind == PluginKind::probe)
            for (const char* hostKey : probeHostKeys)
                if (option.name == hostKey)
                    throw Error("probe '" + descriptor.name + "' declares an option named '" + option.name +
                                "', which the host reads for every probe (its schedule and batch)");
        if (std::find(seen.begin(), seen.end(), option.name) != seen.end())
            throw Error(std::string(kindName(descriptor.kind)) + " '" + descriptor.name + "' declares option '" +
                        option.name + "' twice");
        seen.push_back(option.name);
    }
}

/// Wraps a plugin-made object so that it keeps its library loaded until it is destroyed.
template <typename Base>
std::shared_ptr<Base> holdLibrary(std::unique_ptr<Base> object, const std::shared_ptr<const PluginLibrary>& library) {
    return std::shared_ptr<Base>(object.release(), [library](Base* pointer) { delete pointer; });
}

template <typename Scalar>
const Factories<Scalar>& factoriesFor(const PluginDescriptor& descriptor) {
    if constexpr (std::is_same_v<Scalar, float>)
        return descriptor.float32;
    else
        return descriptor.float64;
}

/// Calls a plugin's factory, naming the plugin and its library in any error it throws.
template <typename Base, typename Factory>
std::shared_ptr<Base> construct(const RegisteredPlugin& plugin, const Factory& factory, const PluginSpec& spec) {
    const auto& descriptor = plugin.descriptor;
    if (!factory)
        throw Error(std::string(kindName(descriptor.kind)) + " '" + descriptor.name + "' (" +
                    plugin.library->file.filename().string() + ") registered no constructor");
    static const Options noOptions;
    try {
        return holdLibrary<Base>(factory(spec.options ? *spec.options : noOptions), plugin.library);
    } catch (const std::exception& error) {
        throw Error((spec.where.empty() ? std::string() : spec.where + ": ") + kindName(descriptor.kind) + " '" +
                    descriptor.name + "': " + error.what());
    }
}

}  // namespace

void PluginHost::loadLibrary(const std::filesystem::path& file) { load(file, true); }

bool PluginHost::load(const std::filesystem::path& file, bool nonPluginIsError) {
    std::error_code ignored;
    const std::filesystem::path canonical = std::filesystem::weakly_canonical(file, ignored);
    for (const auto& library : libraries_)
        if (library->file == canonical) return true;

    auto handle = std::make_shared<boost::dll::shared_library>();
    boost::dll::fs::error_code loadError;
    handle->load(canonical, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local, loadError);
    if (loadError) {
        const char* detail = ::dlerror();
        throw Error("cannot load plugin library '" + canonical.string() + "': " +
                    (detail ? std::string(detail) : loadError.message()));
    }
    if (!handle->has(entrySymbol) && !nonPluginIsError) return false;
    if (!handle->has(entrySymbol))
        throw Error("'" + canonical.string() + "' is not a gradlab plugin: it has no entry point '" + entrySymbol +
                    "' (define one with GRADLAB_PLUGIN(...))");
    const PluginEntry* entry = handle->get<const PluginEntry*()>(entrySymbol)();
    if (entry == nullptr) throw Error("'" + canonical.string() + "': its entry point returned null");
    if (entry->apiVersion != GRADLAB_PLUGIN_API_VERSION)
        throw Error("'" + canonical.string() + "': plugin API version " + std::to_string(entry->apiVersion) +
                    ", this gradlab supports " + std::to_string(GRADLAB_PLUGIN_API_VERSION) +
                    " (rebuild the plugin against this gradlab's SDK)");
    const std::string buildId = entry->buildId ? entry->buildId : "";
    if (buildId != GRADLAB_BUILD_ID)
        throw Error("'" + canonical.string() + "': built with [" + buildId + "], this gradlab with [" + GRADLAB_BUILD_ID +
                    "]; rebuild the plugin with the same compiler and flags");
    if (entry->registerPlugins == nullptr)
        throw Error("'" + canonical.string() + "': its entry point has no registration function");

    auto library = std::make_shared<PluginLibrary>();
    library->file = canonical;
    library->name = entry->libraryName ? entry->libraryName : canonical.stem().string();
    library->version = entry->libraryVersion ? entry->libraryVersion : "";
    library->handle = handle;

    StagingRegistry staging(plugins_);
    try {
        entry->registerPlugins(staging);
        for (const auto& descriptor : staging.staged()) checkDescriptor(*descriptor);
    } catch (const std::exception& error) {
        throw Error("plugin library '" + canonical.string() + "' failed to register: " + error.what());
    } catch (...) {
        throw Error("plugin library '" + canonical.string() + "' failed to register: unknown exception");
    }
    for (auto& descriptor : staging.staged()) plugins_.push_back({std::move(*descriptor), library});
    libraries_.push_back(library);
    return true;
}

namespace {

/// Warns (stderr) when other users may write `path`: a plugin is code, and whoever can put a library in a plugin
/// folder, or replace one, runs code as the user of gradlab.
void warnIfWritableByOthers(const std::filesystem::path& path, const char* what) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 || (info.st_mode & S_IWOTH) == 0) return;
    std::cerr << "gradlab: warning: " << what << " '" << path.string()
              << "' is writable by other users, who can make gradlab run their code (chmod o-w it; see the "
                 "trust model in docs/security.md)\n";
}

}  // namespace

void PluginHost::loadDirectory(const std::filesystem::path& folder) {
    std::error_code error;
    if (!std::filesystem::is_directory(folder, error))
        throw Error("plugin folder '" + folder.string() + "' does not exist or is not a folder");
    warnIfWritableByOthers(folder, "plugin folder");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(folder))
        if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    // A folder of plugins may hold other libraries too (a plugin's own dependencies): skip those, saying so. A
    // library that is a gradlab plugin but cannot be used (API version, build identity) stays an error.
    for (const auto& file : files) {
        warnIfWritableByOthers(file, "plugin library");
        if (!load(file, false))
            std::cerr << "gradlab: warning: skipping '" << file.string() << "' in plugin folder '" << folder.string()
                      << "': not a gradlab plugin (no entry point '" << entrySymbol << "')\n";
    }
}

void PluginHost::loadSearchPath(const std::vector<std::filesystem::path>& folders) {
    for (const auto& folder : folders) {
        std::error_code error;
        if (std::filesystem::is_directory(folder, error))
            loadDirectory(folder);
        else if (std::filesystem::is_regular_file(folder, error)) {
            warnIfWritableByOthers(folder, "plugin library");
            warnIfWritableByOthers(folder.has_parent_path() ? folder.parent_path() : ".", "plugin folder");
            loadLibrary(folder);
        }
        else
            throw Error("plugin path entry '" + folder.string() +
                        "' is neither a folder nor a library (check GRADLAB_PLUGIN_PATH and --plugin-path)");
    }
}

const RegisteredPlugin* PluginHost::find(PluginKind kind, const std::string& name) const {
    for (const auto& plugin : plugins_)
        if (plugin.descriptor.kind == kind && plugin.descriptor.name == name) return &plugin;
    return nullptr;
}

const RegisteredPlugin& PluginHost::get(PluginKind kind, const std::string& name) const {
    if (const RegisteredPlugin* plugin = find(kind, name)) return *plugin;
    const auto known = names(kind);
    if (known.empty())
        throw Error(std::string("unknown ") + kindName(kind) + " '" + name + "': no " + kindName(kind) +
                    " plugins are loaded (check the plugin path: GRADLAB_PLUGIN_PATH or --plugin-path)");
    throw Error(std::string("unknown ") + kindName(kind) + " '" + name + "'" + suggestionSuffix(name, known));
}

std::vector<std::string> PluginHost::names(PluginKind kind) const {
    std::vector<std::string> result;
    for (const auto& plugin : plugins_)
        if (plugin.descriptor.kind == kind) result.push_back(plugin.descriptor.name);
    std::sort(result.begin(), result.end());
    return result;
}

template <typename Scalar>
std::shared_ptr<Activation<Scalar>> PluginHost::makeActivation(const PluginSpec& spec) const {
    const auto& plugin = get(PluginKind::activation, spec.name);
    return construct<Activation<Scalar>>(plugin, factoriesFor<Scalar>(plugin.descriptor).activation, spec);
}
template <typename Scalar>
std::shared_ptr<Layer<Scalar>> PluginHost::makeLayer(const PluginSpec& spec) const {
    const auto& plugin = get(PluginKind::layer, spec.name);
    return construct<Layer<Scalar>>(plugin, factoriesFor<Scalar>(plugin.descriptor).layer, spec);
}
template <typename Scalar>
std::shared_ptr<Initializer<Scalar>> PluginHost::makeInitializer(const PluginSpec& spec) const {
    const auto& plugin = get(PluginKind::initializer, spec.name);
    return construct<Initializer<Scalar>>(plugin, factoriesFor<Scalar>(plugin.descriptor).initializer, spec);
}
template <typename Scalar>
std::shared_ptr<Optimizer<Scalar>> PluginHost::makeOptimizer(const PluginSpec& spec) const {
    const auto& plugin = get(PluginKind::optimizer, spec.name);
    return construct<Optimizer<Scalar>>(plugin, factoriesFor<Scalar>(plugin.descriptor).optimizer, spec);
}
template <typename Scalar>
std::shared_ptr<Regularizer<Scalar>> PluginHost::makeRegularizer(const PluginSpec& spec) const {
    const auto& plugin = get(PluginKind::regularizer, spec.name);
    return construct<Regularizer<Scalar>>(plugin, factoriesFor<Scalar>(plugin.descriptor).regularizer, spec);
}

template <typename Scalar>
std::shared_ptr<Probe<Scalar>> PluginHost::makeProbe(const PluginSpec& spec) const {
    const auto& plugin = get(PluginKind::probe, spec.name);
    return construct<Probe<Scalar>>(plugin, factoriesFor<Scalar>(plugin.descriptor).probe, spec);
}

std::shared_ptr<Activation<float>> PluginHost::makeActivation32(const PluginSpec& spec) const {
    return makeActivation<float>(spec);
}
std::shared_ptr<Activation<double>> PluginHost::makeActivation64(const PluginSpec& spec) const {
    return makeActivation<double>(spec);
}
template <typename Scalar>
std::shared_ptr<Layer<Scalar>> PluginHost::buildLayer(const PluginSpec& spec, Shape& shape) const {
    auto layer = makeLayer<Scalar>(spec);
    shape = layer->build(shape);
    applyInitOverrides(*layer, spec.init);
    return layer;
}

std::shared_ptr<Layer<float>> PluginHost::buildLayer32(const PluginSpec& spec, Shape& shape) const {
    return buildLayer<float>(spec, shape);
}
std::shared_ptr<Layer<double>> PluginHost::buildLayer64(const PluginSpec& spec, Shape& shape) const {
    return buildLayer<double>(spec, shape);
}

#define GRADLAB_INSTANTIATE_HOST(Scalar)                                                                       \
    template std::shared_ptr<Activation<Scalar>> PluginHost::makeActivation<Scalar>(const PluginSpec&) const;   \
    template std::shared_ptr<Layer<Scalar>> PluginHost::makeLayer<Scalar>(const PluginSpec&) const;             \
    template std::shared_ptr<Layer<Scalar>> PluginHost::buildLayer<Scalar>(const PluginSpec&, Shape&) const;    \
    template std::shared_ptr<Initializer<Scalar>> PluginHost::makeInitializer<Scalar>(const PluginSpec&) const; \
    template std::shared_ptr<Optimizer<Scalar>> PluginHost::makeOptimizer<Scalar>(const PluginSpec&) const;     \
    template std::shared_ptr<Regularizer<Scalar>> PluginHost::makeRegularizer<Scalar>(const PluginSpec&) const; \
    template std::shared_ptr<Probe<Scalar>> PluginHost::makeProbe<Scalar>(const PluginSpec&) const;
GRADLAB_INSTANTIATE_HOST(float)
GRADLAB_INSTANTIATE_HOST(double)
#undef GRADLAB_INSTANTIATE_HOST

std::filesystem::path builtinPluginDirectory() {
    const std::filesystem::path program = boost::dll::program_location();
    return (program.parent_path().parent_path() / "lib" / "gradlab" / "plugins").lexically_normal();
}

std::vector<std::filesystem::path> pluginSearchPath(const std::vector<std::string>& extra) {
    std::vector<std::filesystem::path> path{builtinPluginDirectory()};
    if (const char* environment = std::getenv("GRADLAB_PLUGIN_PATH")) {
        std::string list = environment;
        std::size_t start = 0;
        while (start <= list.size()) {
            const std::size_t end = std::min(list.find(':', start), list.size());
            if (end > start) path.emplace_back(list.substr(start, end - start));
            start = end + 1;
        }
    }
    for (const auto& folder : extra) path.emplace_back(folder);
    return path;
}

}  // namespace gradlab
