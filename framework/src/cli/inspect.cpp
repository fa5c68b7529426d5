#include "cli/inspect.hpp"

#include <boost/program_options.hpp>
#include <iostream>

#include "analysis/diagnosis.hpp"
#include "cli/help.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

namespace {

const char* verdictRules =
    "verdict, the first rule that applies:\n"
    "  diverged   status is 'diverged', or /events holds a non_finite event\n"
    "  exploding  an exploding event, or /trace/grad_norm grows by more than 1e3 over the run\n"
    "             (last finite value / first finite value)\n"
    "  vanishing  a vanishing event, or at the last traced step the first layer's signal gradient norm over\n"
    "             the last layer's is below 1e-4, or a recurrent layer's ||dL/dh_1|| / ||dL/dh_T|| is below 1e-4\n"
    "  stalled    a stalled event\n"
    "  healthy    none of the above\n";

}  // namespace

int inspectCommand(const std::vector<std::string>& arguments) {
    std::string file;
    bool json = false, help = false;
    po::options_description description(
        "usage: gradlab inspect FILE [--json]\n\nReads a gradlab trace (HDF5) and diagnoses its gradients: status, "
        "detector events,\nper-layer and per-timestep gradient-norm profiles on a log scale, mean-field theory "
        "beside\nthe measured decay, and a verdict.\n\noptions");
    description.add_options()("file", po::value(&file), "the trace, e.g. runs/deep.h5")(
        "json", po::bool_switch(&json), "print one JSON object instead of text (keys: docs/hdf5-schema.md)")(
        "help,h", po::bool_switch(&help), "show this help");
    po::positional_options_description positional;
    positional.add("file", 1);
    po::variables_map values;
    po::store(po::command_line_parser(arguments).options(description).positional(positional).run(), values);
    po::notify(values);
    if (help) {
        std::cout << helpText(description, positional) << "\n" << verdictRules;
        return 0;
    }
    if (file.empty()) throw po::error("missing FILE");
    const analysis::Diagnosis diagnosis = analysis::diagnose(file);
    std::cout << (json ? analysis::formatJson(diagnosis) : analysis::formatText(diagnosis));
    return 0;
}

}  // namespace gradlab::cli
