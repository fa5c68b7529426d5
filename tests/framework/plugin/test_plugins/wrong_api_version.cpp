// A plugin library that claims a future API version: the loader must refuse it before registering anything.
#include "gradlab/sdk.hpp"

namespace {
void registerNothing(gradlab::Registry&) { throw gradlab::Error("must never be called"); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const gradlab::PluginEntry* gradlab_plugin_entry() {
    static const gradlab::PluginEntry entry{GRADLAB_PLUGIN_API_VERSION + 98, GRADLAB_BUILD_ID, "wrong_api_version",
                                            "1.0.0", &registerNothing};
    return &entry;
}
