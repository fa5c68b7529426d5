// A plugin library built "with another compiler": the loader must refuse it, naming both identities.
#include "gradlab/sdk.hpp"

namespace {
void registerNothing(gradlab::Registry&) { throw gradlab::Error("must never be called"); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const gradlab::PluginEntry* gradlab_plugin_entry() {
    static const gradlab::PluginEntry entry{GRADLAB_PLUGIN_API_VERSION, "some-other-compiler 1.0", "wrong_build_id",
                                            "1.0.0", &registerNothing};
    return &entry;
}
