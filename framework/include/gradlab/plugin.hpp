#pragma once
/// @file plugin.hpp
/// The one versioned entry point of a plugin library.
///
///     GRADLAB_PLUGIN("my_plugins", "1.0.0", registry) {
///         registry.addActivation<Swish>("swish", "x * sigmoid(beta x) (Ramachandran et al. 2017)")
///             .option(gradlab::OptionSpec::real("beta", 1.0, "slope of the gate"));
///     }

#include <cstdint>

#include "gradlab/registry.hpp"

/// The plugin API version. Bumped on any change to the SDK's interfaces or to PluginEntry.
#define GRADLAB_PLUGIN_API_VERSION 7u

#define GRADLAB_STRINGIFY_(x) #x
#define GRADLAB_STRINGIFY(x) GRADLAB_STRINGIFY_(x)

#if defined(__AVX512F__)
#define GRADLAB_SIMD_ "avx512"
#elif defined(__AVX2__)
#define GRADLAB_SIMD_ "avx2"
#elif defined(__AVX__)
#define GRADLAB_SIMD_ "avx"
#else
#define GRADLAB_SIMD_ "sse"
#endif

/// What must match between host and plugin beyond the API version: compiler, C++ standard library ABI,
/// Eigen version and vector width (which decides Eigen's alignment), the C++ standard.
#define GRADLAB_BUILD_ID                                                                                       \
    "gcc-compatible " __VERSION__ "; c++ " GRADLAB_STRINGIFY(__cplusplus) "; cxx11-abi " GRADLAB_STRINGIFY( \
        _GLIBCXX_USE_CXX11_ABI) "; eigen " GRADLAB_STRINGIFY(EIGEN_WORLD_VERSION) "." GRADLAB_STRINGIFY(      \
        EIGEN_MAJOR_VERSION) "." GRADLAB_STRINGIFY(EIGEN_MINOR_VERSION) "; simd " GRADLAB_SIMD_

namespace gradlab {

/// What a plugin library's entry point returns. C layout, so that the host can read the API version before it
/// trusts anything else; apiVersion must stay the first member forever.
extern "C" struct PluginEntry {
    std::uint32_t apiVersion;
    const char* buildId;
    const char* libraryName;
    const char* libraryVersion;
    void (*registerPlugins)(Registry& registry);
};

}  // namespace gradlab

/// The entry point's symbol name.
#define GRADLAB_ENTRY_SYMBOL gradlab_plugin_entry

/// Defines the library's entry point and opens the body of its registration function.
#define GRADLAB_PLUGIN(LIBRARY_NAME, LIBRARY_VERSION, REGISTRY)                                              \
    static void gradlabRegisterPlugins(::gradlab::Registry& REGISTRY);                                     \
    extern "C" __attribute__((visibility("default"))) const ::gradlab::PluginEntry* GRADLAB_ENTRY_SYMBOL() { \
        static const ::gradlab::PluginEntry entry{GRADLAB_PLUGIN_API_VERSION, GRADLAB_BUILD_ID, LIBRARY_NAME, \
                                                  LIBRARY_VERSION, &gradlabRegisterPlugins};               \
        return &entry;                                                                                     \
    }                                                                                                      \
    static void gradlabRegisterPlugins(::gradlab::Registry& REGISTRY)
