// A location as the report spells it. The text is what reports have always
// said (docs/report-format.md), so this is the one place it is made; nothing
// parses it back (explain walks the steps, pickleguard/location.hpp).
#include "pickleguard/location.hpp"

namespace pickleguard {

std::string to_string(const location& where) {
    std::string out;
    for (const location_step& s : where.steps) {
        switch (s.kind) {
            case step_kind::member:
                if (s.name.empty()) break;
                out += (out.empty() ? "" : " > ") + s.name;
                break;
            case step_kind::pickle:
                out += (out.empty() ? "" : " ") + std::string("(pickle ") + std::to_string(s.index) + " at offset " +
                       std::to_string(s.offset) + ")";
                break;
            case step_kind::argument:
                out += (out.empty() ? "" : " > ") + std::string("argument ") + std::to_string(s.index) + " of " + s.name +
                       " at offset " + std::to_string(s.offset);
                break;
            case step_kind::part: out += " (" + s.name + ")"; break;
        }
    }
    return out;
}

}  // namespace pickleguard
