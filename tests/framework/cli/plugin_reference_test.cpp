// The plugin documentation cannot drift from the plugins: the end of docs/config-reference.md is regenerated in memory from
// the real binary and compared with the committed file, and `--describe` is compared with the declarations.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/plugin_fixture.hpp"

using Catch::Matchers::Contains;

namespace {

using gradlab::testing::Outcome;
Outcome runGradlab(const std::string& arguments) { return gradlab::testing::runGradlabStdout(arguments); }

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> result;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) result.push_back(line);
    return result;
}

/// The option's default as `--describe` prints it.
std::string describedDefault(const gradlab::OptionSpec& option) {
    if (option.required()) return ", required";
    std::ostringstream text;
    text << ", default ";
    std::visit(
        [&](const auto& value) {
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, bool>) text << (value ? "true" : "false");
            else if constexpr (!std::is_same_v<T, std::monostate>) text << value;
        },
        option.defaultValue);
    return text.str();
}

}  // namespace

TEST_CASE("docs/config-reference.md ends with what `gradlab plugins --markdown` prints", "[cli][docs]") {
    const Outcome generated = runGradlab("plugins --markdown");
    REQUIRE(generated.exitCode == 0);
    const std::string file = std::string(GRADLAB_SOURCE_DIR) + "/docs/config-reference.md";
    std::ifstream stream(file);
    INFO(file << " is missing");
    REQUIRE(stream.good());
    const std::string whole((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
    // The generated part follows the marker line and one blank line.
    const std::string marker = "\n<!-- Generated below:";
    const std::size_t at = whole.find(marker);
    INFO("no generated section: the marker line is missing; run tools/gen-plugin-reference " << GRADLAB_BINARY);
    REQUIRE(at != std::string::npos);
    const std::size_t lineEnd = whole.find('\n', at + 1);
    REQUIRE(lineEnd != std::string::npos);
    const std::string committed = whole.substr(std::min(whole.size(), lineEnd + 2));
    if (committed != generated.output) {
        const auto expected = lines(generated.output), actual = lines(committed);
        std::size_t line = 0;
        while (line < expected.size() && line < actual.size() && expected[line] == actual[line]) ++line;
        FAIL("docs/config-reference.md's plugin reference has drifted from the plugins' declarations: run tools/gen-plugin-reference "
             << GRADLAB_BINARY << "\nfirst difference at line " << line + 1 << ":\n  committed: "
             << (line < actual.size() ? actual[line] : "(end of file)") << "\n  generated: "
             << (line < expected.size() ? expected[line] : "(end of output)"));
    }
}

TEST_CASE("`gradlab plugins --markdown` documents every plugin and every option", "[cli][docs]") {
    const Outcome generated = runGradlab("plugins --markdown");
    REQUIRE(generated.exitCode == 0);
    for (const auto& plugin : gradlab::testing::builtinPlugins().plugins()) {
        const auto& descriptor = plugin.descriptor;
        INFO(gradlab::kindName(descriptor.kind) << " " << descriptor.name);
        CHECK_THAT(generated.output, Contains("\n### `" + descriptor.name + "`\n"));
        for (const auto& option : descriptor.options)
            CHECK_THAT(generated.output,
                       Contains("| `" + option.name + "` | " + gradlab::typeName(option.type) + " | "));
    }
    CHECK_THAT(generated.output, Contains("| `alpha` | number | `0.01` | >= 0 | slope for x <= 0 |"));
    CHECK_THAT(generated.output, Contains("| `momentum` | number | `0` | [0, 1) | momentum factor mu |"));
    CHECK_THAT(generated.output, Contains("| `units` | integer | required | >= 1 | number of output features |"));
    CHECK_THAT(generated.output, Contains("| `approximate` | choice | `none` | `none`, `tanh` |"));
    CHECK_THAT(generated.output, Contains("coefficient \\|\\|W\\|\\|_F^2"));  // '|' escaped inside tables' text
}

TEST_CASE("`gradlab plugins --describe` matches the plugins' declarations", "[cli][docs]") {
    for (const std::string name : {"dense", "leaky_relu", "lstm", "gelu", "sgd", "l2", "constant"}) {
        const gradlab::RegisteredPlugin* plugin = nullptr;
        for (const auto& candidate : gradlab::testing::builtinPlugins().plugins())
            if (candidate.descriptor.name == name) plugin = &candidate;
        REQUIRE(plugin != nullptr);
        const auto& descriptor = plugin->descriptor;
        const Outcome outcome = runGradlab("plugins --describe " + name);
        INFO(outcome.output);
        REQUIRE(outcome.exitCode == 0);
        const auto printed = lines(outcome.output);
        REQUIRE(printed.size() == 2 + std::max<std::size_t>(descriptor.options.size(), 1));
        CHECK(printed[0].rfind(std::string(gradlab::kindName(descriptor.kind)) + " " + name + " (", 0) == 0);
        CHECK_THAT(printed[0], Contains(plugin->library->name + " " + plugin->library->version));
        CHECK(printed[1] == "  " + descriptor.description);
        if (descriptor.options.empty()) CHECK(printed[2] == "  options: none");
        for (std::size_t i = 0; i < descriptor.options.size(); ++i) {
            const auto& option = descriptor.options[i];
            const std::string& line = printed[2 + i];
            CAPTURE(option.name, line);
            CHECK(line.rfind("  " + option.name + " (" + gradlab::typeName(option.type) + describedDefault(option), 0) == 0);
            CHECK(line.size() >= option.description.size());
            CHECK(line.substr(line.size() - option.description.size() - 3) == "): " + option.description);
            if (std::isfinite(option.minimum)) CHECK_THAT(line, Contains(option.minimumExclusive ? ", > " : ", >= "));
            if (std::isfinite(option.maximum)) CHECK_THAT(line, Contains(option.maximumExclusive ? ", < " : ", <= "));
            for (const auto& choice : option.choices) CHECK_THAT(line, Contains(choice));
        }
    }
}
