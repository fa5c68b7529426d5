#include "cli/inspect.hpp"

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>

#include "analysis/diagnosis.hpp"
#include "gradlab/error.hpp"
#include "study/study_table.hpp"
#include "cli/help.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

int inspectCommand(const std::vector<std::string>& arguments) {
    std::string file, sort;
    bool json = false, help = false;
    po::options_description description(
        "usage: gradlab inspect FILE [--json]\n       gradlab inspect STUDY [--sort KEY] [--json]\n\nReads a gradlab "
        "trace (HDF5) and diagnoses its gradients: status, detector events,\nper-layer and per-timestep "
        "gradient-norm profiles on a log scale, mean-field theory beside\nthe measured decay, run metrics and a "
        "verdict. Given a study index (STUDY/study.h5, or the\nstudy folder), prints the study's table instead: one "
        "row per run, its swept values beside\nstatus, verdict, eval metrics and gradient ratios.\n\noptions");
    description.add_options()("file", po::value(&file), "the trace, e.g. runs/deep.h5, or a study (runs/depth)")(
        "sort", po::value(&sort), "studies: sort the rows by this column or swept key (e.g. final_eval_loss, repeat)")(
        "json", po::bool_switch(&json), "print one JSON object instead of text (keys: docs/hdf5-schema.md, docs/studies.md)")(
        "help,h", po::bool_switch(&help), "show this help");
    po::positional_options_description positional;
    positional.add("file", 1);
    po::variables_map values;
    po::store(po::command_line_parser(arguments).options(description).positional(positional).run(), values);
    po::notify(values);
    if (help) {
        std::cout << helpText(description, positional) << "\n" << analysis::verdictRules();
        return 0;
    }
    if (file.empty()) throw po::error("missing FILE");
    std::error_code error;
    if (std::filesystem::is_directory(file, error)) {
        const std::string index = (std::filesystem::path(file) / "study.h5").string();
        if (!std::filesystem::exists(index, error))
            throw Error("'" + file + "' is a folder without a study index (no study.h5): give a trace or a study");
        file = index;
    }
    if (study::isStudyIndex(file)) {
        const study::StudyIndex index = study::sortedStudy(study::readStudyIndex(file), sort);
        std::cout << (json ? study::formatStudyJson(file, index) : study::formatStudyText(file, index));
        return 0;
    }
    if (!std::filesystem::exists(file, error)) throw Error("'" + file + "': no such trace, study index or study folder");
    if (!sort.empty()) throw po::error("--sort applies to a study index, and '" + file + "' is not one");
    const analysis::Diagnosis diagnosis = analysis::diagnose(file);
    std::cout << (json ? analysis::formatJson(diagnosis) : analysis::formatText(diagnosis));
    return 0;
}

}  // namespace gradlab::cli
