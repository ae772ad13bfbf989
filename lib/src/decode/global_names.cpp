#include "global_names.hpp"

#include <algorithm>
#include <iterator>

namespace pickleguard {
namespace {

struct compat_name_entry {
    std::string_view module, name, new_module, new_name;
};
struct compat_module_entry {
    std::string_view module, new_module;
};

#include "compat_names.inc"

}  // namespace

resolved_global resolve_global(std::string_view module, std::string_view name, std::uint8_t protocol) {
    resolved_global r{module, name, false, false};
    if (protocol < 3) {
        auto by_name = std::lower_bound(
            std::begin(kCompatNameMapping), std::end(kCompatNameMapping), std::pair(module, name),
            [](const compat_name_entry& e, const std::pair<std::string_view, std::string_view>& key) {
                return std::pair(e.module, e.name) < key;
            });
        if (by_name != std::end(kCompatNameMapping) && by_name->module == module && by_name->name == name) {
            r.module = by_name->new_module;
            r.name = by_name->new_name;
            r.remapped = true;
        } else {
            auto by_module = std::lower_bound(
                std::begin(kCompatImportMapping), std::end(kCompatImportMapping), module,
                [](const compat_module_entry& e, std::string_view key) { return e.module < key; });
            if (by_module != std::end(kCompatImportMapping) && by_module->module == module) {
                r.module = by_module->new_module;
                r.remapped = true;
            }
        }
    }
    r.dotted = protocol >= 4 && r.name.find('.') != std::string_view::npos;
    return r;
}

}  // namespace pickleguard
