#include "plugin/plugin_host.hpp"

#include <catch2/catch.hpp>
#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <fstream>

#include "gradlab/plugin.hpp"
#include "plugin/options_builder.hpp"
#include "support/plugin_fixture.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

std::string testPlugin(const std::string& stem) {
    return std::string(GRADLAB_TEST_PLUGIN_DIR) + "/" + stem + "/libtest_plugin_" + stem + ".so";
}

std::string loadError(PluginHost& host, const std::string& file) {
    try {
        host.loadLibrary(file);
    } catch (const Error& error) {
        return error.what();
    }
    return "";
}

}  // namespace

TEST_CASE("the built-in plugins load and register every kind", "[plugin][loader]") {
    PluginHost host;
    host.loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    CHECK(host.find(PluginKind::activation, "relu") != nullptr);
    CHECK(host.find(PluginKind::layer, "dense") != nullptr);
    CHECK(host.find(PluginKind::initializer, "he_normal") != nullptr);
    CHECK(host.find(PluginKind::optimizer, "sgd") != nullptr);
    CHECK(host.find(PluginKind::regularizer, "l2") != nullptr);
    const auto* relu = host.find(PluginKind::activation, "relu");
    CHECK(relu->library->file.parent_path() == std::filesystem::weakly_canonical(GRADLAB_BUILTIN_PLUGIN_DIR));
    CHECK_FALSE(relu->library->version.empty());
}

TEST_CASE("loading the same library twice registers it once", "[plugin][loader]") {
    PluginHost host;
    host.loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    const std::size_t count = host.plugins().size();
    host.loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    CHECK(host.plugins().size() == count);
}

TEST_CASE("a plugin with another API version is refused before it registers", "[plugin][loader]") {
    PluginHost host;
    const std::string message = loadError(host, testPlugin("wrong_api_version"));
    CHECK_THAT(message, Contains("libtest_plugin_wrong_api_version.so"));
    CHECK_THAT(message, Contains("plugin API version " + std::to_string(GRADLAB_PLUGIN_API_VERSION + 98)));
    CHECK_THAT(message, Contains("supports " + std::to_string(GRADLAB_PLUGIN_API_VERSION)));
    CHECK(host.plugins().empty());
}

TEST_CASE("a plugin built with another toolchain is refused, naming both builds", "[plugin][loader]") {
    PluginHost host;
    const std::string message = loadError(host, testPlugin("wrong_build_id"));
    CHECK_THAT(message, Contains("some-other-compiler 1.0"));
    CHECK_THAT(message, Contains(GRADLAB_BUILD_ID));
    CHECK(host.plugins().empty());
}

TEST_CASE("a library without the entry point is not a plugin", "[plugin][loader]") {
    PluginHost host;
    const std::string message = loadError(host, testPlugin("no_entry_point"));
    CHECK_THAT(message, Contains("is not a gradlab plugin"));
    CHECK_THAT(message, Contains("gradlab_plugin_entry"));
}

TEST_CASE("a file that is not a library gives the loader's reason", "[plugin][loader]") {
    PluginHost host;
    const std::string file = testing::scratchPath("not_a_library.so");
    { std::ofstream(file) << "hello"; }
    const std::string message = loadError(host, file);
    CHECK_THAT(message, Contains("cannot load plugin library"));
    CHECK_THAT(message, Contains("not_a_library.so"));
    CHECK_THAT(loadError(host, "/nonexistent/libnothing.so"), Contains("/nonexistent/libnothing.so"));
}

TEST_CASE("a registration that throws leaves nothing registered", "[plugin][loader]") {
    PluginHost host;
    const std::string message = loadError(host, testPlugin("throws_registering"));
    CHECK_THAT(message, Contains("failed to register"));
    CHECK_THAT(message, Contains("registration failed on purpose"));
    CHECK(host.find(PluginKind::activation, "half_before_throw") == nullptr);
    CHECK(host.libraries().empty());
}

TEST_CASE("a duplicate name is refused and says who registered it first", "[plugin][loader]") {
    PluginHost host;
    host.loadDirectory(GRADLAB_BUILTIN_PLUGIN_DIR);
    const std::size_t count = host.plugins().size();
    const std::string message = loadError(host, testPlugin("duplicate_name"));
    CHECK_THAT(message, Contains("duplicate activation 'relu'"));
    CHECK_THAT(message, Contains("libgradlab_activations_"));
    CHECK(host.plugins().size() == count);
}

TEST_CASE("an unknown name lists what is known, with a did-you-mean", "[plugin][loader]") {
    auto& host = testing::builtinPlugins();
    try {
        host.get(PluginKind::activation, "rleu");
        FAIL("expected an error");
    } catch (const Error& error) {
        CHECK_THAT(error.what(), Contains("unknown activation 'rleu'"));
        CHECK_THAT(error.what(), Contains("did you mean 'relu'?"));
        CHECK_THAT(error.what(), Contains("sigmoid"));
    }
    PluginHost empty;
    CHECK_THROWS_WITH(empty.get(PluginKind::layer, "dense"), Contains("no layer plugins are loaded"));
}

TEST_CASE("a plugin constructor that throws is reported with the plugin's name", "[plugin][loader]") {
    PluginHost host;
    host.loadLibrary(testPlugin("throws_constructing"));
    PluginSpec spec{PluginKind::layer, "refuses", OptionsBuilder(&host).set("size", std::int64_t{7}).finish(),
                    "here.yaml:3:5", {}};
    CHECK_THROWS_WITH(host.makeLayer<double>(spec),
                      Contains("here.yaml:3:5") && Contains("layer 'refuses'") && Contains("refusing on purpose (size 7)"));
}

TEST_CASE("objects made by a plugin keep its library loaded after the host is gone", "[plugin][loader]") {
    std::shared_ptr<Layer<double>> layer;
    std::weak_ptr<boost::dll::shared_library> handle;
    {
        PluginHost host;
        host.loadLibrary(testPlugin("throws_constructing"));
        handle = host.libraries().front()->handle;
        layer = host.makeLayer<double>(PluginSpec{PluginKind::layer, "triple", std::make_shared<Options>(), "", {}});
    }
    REQUIRE_FALSE(handle.expired());
    Matrix<double> x = Matrix<double>::Constant(2, 3, 1.5), y;
    layer->build(Shape{2});
    layer->forward(x, y, Phase::train);
    CHECK(y(1, 2) == 4.5);
    layer.reset();
    CHECK(handle.expired());
}

TEST_CASE("the search path is the built-in folder, then GRADLAB_PLUGIN_PATH, then --plugin-path", "[plugin][loader]") {
    ::setenv("GRADLAB_PLUGIN_PATH", "/a:/b", 1);
    const auto path = pluginSearchPath({"/c"});
    ::unsetenv("GRADLAB_PLUGIN_PATH");
    REQUIRE(path.size() == 4);
    CHECK(path[1] == "/a");
    CHECK(path[2] == "/b");
    CHECK(path[3] == "/c");
    PluginHost host;
    CHECK_THROWS_WITH(host.loadSearchPath({"/does/not/exist"}), Contains("/does/not/exist"));
}

TEST_CASE("a plugin folder skips libraries that are not plugins, a named one stays an error", "[plugin][loader]") {
    PluginHost host;
    const std::string folder = std::string(GRADLAB_TEST_PLUGIN_DIR) + "/no_entry_point";
    REQUIRE_NOTHROW(host.loadDirectory(folder));  // with a warning on stderr
    CHECK(host.plugins().empty());
    REQUIRE_NOTHROW(host.loadSearchPath({folder}));
    CHECK_THAT(loadError(host, testPlugin("no_entry_point")), Contains("is not a gradlab plugin"));
    PluginHost other;
    CHECK_THROWS_WITH(other.loadDirectory(std::string(GRADLAB_TEST_PLUGIN_DIR) + "/wrong_api_version"),
                      Contains("plugin API version"));
}
