#include "cli/inspect.hpp"

#include <boost/program_options.hpp>
#include <iostream>

#include "analysis/diagnosis.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

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
        std::cout << description << "\n" << analysis::verdictRules();
        return 0;
    }
    if (file.empty()) throw po::error("missing FILE");
    const analysis::Diagnosis diagnosis = analysis::diagnose(file);
    std::cout << (json ? analysis::formatJson(diagnosis) : analysis::formatText(diagnosis));
    return 0;
}

}  // namespace gradlab::cli
