// Item 6 of issue 16: resource limits end a run through the normal error path. A file-size limit (ulimit -f) fails
// the write with EFBIG (SIGXFSZ is ignored), leaving a readable `failed` trace and no temporary file; a config
// whose data or activations cannot fit in memory is refused before allocating, with the figure and the key.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <vector>
#include <filesystem>
#include <string>

#include "faults/fault_support.hpp"
#include "trace/trace_reader.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using namespace gradlab::faults;

namespace {

/// Runs gradlab with `arguments` under a resource limit, leaving every signal disposition as the shell would
/// (SIGXFSZ kills by default); the exit code is -1 when a signal ended it.
Ran runLimited(int resource, rlim_t bytes, const std::vector<std::string>& arguments, const std::string& log) {
    std::vector<std::string> words{GRADLAB_BINARY};
    words.insert(words.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (auto& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const int file = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(file, STDOUT_FILENO);
        ::dup2(file, STDERR_FILENO);
        const rlimit limit{bytes, bytes};
        ::setrlimit(resource, &limit);
        ::signal(SIGXFSZ, SIG_DFL);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    Ran ran;
    ran.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ran.output = readFile(log);
    if (WIFSIGNALED(status)) ran.output += "\n(killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    return ran;
}

}  // namespace

TEST_CASE("a file-size limit fails the run with EFBIG, not SIGXFSZ", "[faults][limits]") {
    const std::string folder = scratchFolder("file-size-limit");
    const std::string trace = folder + "/run.h5";
    writeFile(folder + "/run.yaml", smallRunConfig(trace, 200000, 0, 50));
    // Larger than the 1 MiB write probe, smaller than the trace would grow.
    const Ran ran = runLimited(RLIMIT_FSIZE, 1536 * 1024, {"run", folder + "/run.yaml", "-q"}, folder + "/log");
    INFO(ran.output);
    CHECK(ran.exitCode == 1);
    CHECK(ran.output.find("File too large") != std::string::npos);
    // Never a trace left `running` as if its run went on: it reads, says failed and why.
    const trace::TraceReader reader(trace);
    CHECK(reader.stringAttribute("status") == "failed");
    CHECK(reader.stringAttribute("status_message").find("File too large") != std::string::npos);
    for (const auto& entry : fs::directory_iterator(folder))
        CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("data that cannot fit in memory is refused with the figure and the key", "[faults][limits]") {
    const std::string folder = scratchFolder("memory-limit");
    const std::string config = std::string(GRADLAB_SOURCE_DIR) + "/configs/recurrent/adding_rnn.yaml";
    // 4 GiB of address space: what the estimate compares with, whatever the machine has.
    const Ran data = runLimited(RLIMIT_AS, rlim_t{4} << 30,
                                {"run", config, "--set", "data.timesteps=1000000", "-o", folder + "/a.h5", "-q"},
                                folder + "/data.log");
    INFO(data.output);
    CHECK(data.exitCode == 1);
    CHECK(data.output.find("adding_rnn.yaml: data.timesteps = 1000000") != std::string::npos);
    CHECK(data.output.find("GiB of memory") != std::string::npos);
    CHECK(data.output.find("bad_alloc") == std::string::npos);

    const Ran activations = runLimited(
        RLIMIT_AS, rlim_t{4} << 30,
        {"run", config, "--set", "data.timesteps=200000", "--set", "data.samples=64", "--set", "data.validation=0",
         "--set", "training.batch_size=64", "-o", folder + "/b.h5", "-q"},
        folder + "/activations.log");
    INFO(activations.output);
    CHECK(activations.exitCode == 1);
    CHECK(activations.output.find("adding_rnn.yaml: training.batch_size = 64") != std::string::npos);
    CHECK(activations.output.find("bad_alloc") == std::string::npos);
}
