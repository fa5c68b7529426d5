#include "cli/help.hpp"

#include <cctype>
#include <sstream>

namespace gradlab::cli {

std::string helpText(const boost::program_options::options_description& description,
                     const boost::program_options::positional_options_description& positional) {
    std::ostringstream stream;
    stream << description;
    std::string text = stream.str();
    const unsigned count = positional.max_total_count();
    for (unsigned position = 0; position < count && position < 16; ++position) {
        const std::string& name = positional.name_for_position(position);
        const std::string option = "  --" + name + " arg";
        std::string argument = "  ";
        for (char character : name) argument += static_cast<char>(std::toupper(static_cast<unsigned char>(character)));
        argument.resize(option.size(), ' ');  // keep the descriptions aligned
        for (std::size_t at = text.find(option); at != std::string::npos; at = text.find(option, at + 1))
            if ((at == 0 || text[at - 1] == '\n') &&
                (at + option.size() == text.size() || text[at + option.size()] == ' ' || text[at + option.size()] == '\n'))
                text.replace(at, option.size(), argument);
    }
    return text;
}

}  // namespace gradlab::cli
