/// @file main.cpp
/// The `gradlab` command: run, validate, plugins, gradcheck, inspect, sweep, help.

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/gradcheck.hpp"
#include "cli/inspect.hpp"
#include "cli/sweep.hpp"
#include "util/suggest.hpp"

namespace po = boost::program_options;

namespace {

const char* usageText =
    "usage: gradlab <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG        train the model a config describes and trace its gradients to HDF5\n"
    "  validate CONFIG   check a config (keys, types, ranges, plugin names) without running it\n"
    "  plugins           list the loaded plugins, or describe one with --describe NAME\n"
    "  gradcheck KIND NAME  check a plugin's gradients against float64 finite differences\n"
    "  inspect FILE      diagnose a trace: profiles, events, theory and a verdict (--json for JSON)\n"
    "  sweep CONFIG      run a study (a config with a sweep: block) in parallel, resumable, indexed in study.h5\n"
    "  help COMMAND      show a command's options (the same as 'gradlab COMMAND --help')\n"
    "\n"
    "Run 'gradlab help <command>' or 'gradlab <command> --help' for a command's options.\n";

const std::vector<std::string> commandNames{"run", "validate", "plugins", "inspect", "gradcheck", "sweep"};

}  // namespace

int main(int argc, char** argv) {
    // HDF5's own clean-up at exit crashes (H5F__close_cb) on a file whose close failed, e.g. after the disk
    // filled up; gradlab closes every file itself, so it needs none.
    H5dont_atexit();
    // A file-size limit (ulimit -f) must fail the write with EFBIG through the normal error path, not kill the
    // process with SIGXFSZ and leave temporary files and a `running` trace behind.
    std::signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        std::cerr << usageText;
        return 2;
    }
    std::string command = argv[1];
    std::vector<std::string> arguments(argv + 2, argv + argc);
    if (command == "help" && !arguments.empty()) {  // `gradlab help run` is `gradlab run --help`
        command = arguments.front();
        if (std::find(commandNames.begin(), commandNames.end(), command) == commandNames.end()) {
            std::cerr << "gradlab help: unknown command '" << command << "'"
                      << gradlab::suggestionSuffix(command, commandNames) << "\n\n" << usageText;
            return 2;
        }
        arguments = {"--help"};
    } else if (command == "--help" || command == "-h" || command == "help") {
        std::cout << usageText;
        return 0;
    }
    if (command == "--version") {
        std::cout << "gradlab " << GRADLAB_VERSION << "\n";
        return 0;
    }
    try {
        if (command == "run") return gradlab::cli::runCommand(arguments);
        if (command == "validate") return gradlab::cli::validateCommand(arguments);
        if (command == "plugins") return gradlab::cli::pluginsCommand(arguments);
        if (command == "gradcheck") return gradlab::cli::gradcheckCommand(arguments);
        if (command == "inspect") return gradlab::cli::inspectCommand(arguments);
        if (command == "sweep") return gradlab::cli::sweepCommand(arguments);
    } catch (const po::error& error) {
        std::cerr << "gradlab " << command << ": " << error.what() << " (see 'gradlab " << command << " --help')\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "gradlab " << command << ": error: " << error.what() << "\n";
        return 1;
    }
    std::cerr << "gradlab: unknown command '" << command << "'" << gradlab::suggestionSuffix(command, commandNames)
              << "\n\n"
              << usageText;
    return 2;
}
