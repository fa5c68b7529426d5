#pragma once
/// @file help.hpp
/// Help text of the commands: positional arguments shown by their names, defaults readable.

#include <boost/program_options.hpp>
#include <string>

namespace gradlab::cli {

/// The text of `gradlab CMD --help` for a command's options. Boost lists a positional argument as an option
/// (`--config arg`); here it is listed by its name in capitals, as the usage line writes it (`CONFIG`).
std::string helpText(const boost::program_options::options_description& description,
                     const boost::program_options::positional_options_description& positional);

}  // namespace gradlab::cli
