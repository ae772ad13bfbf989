// Internal: how CPython's find_class turns the names in the stream into the
// global it loads.
#pragma once

#include <cstdint>
#include <string_view>

namespace pickleguard {

struct resolved_global {
    std::string_view module, name;
    bool remapped = false;  // fix_imports applied
    bool dotted = false;    // name is an attribute path
};

// As `Unpickler.find_class` with fix_imports=True (the default): below
// protocol 3, `_compat_pickle.NAME_MAPPING` is tried on (module, name), then
// `IMPORT_MAPPING` on the module; from protocol 4 a dotted name is walked
// attribute by attribute, so ("shutil", "os.system") loads os.system.
resolved_global resolve_global(std::string_view module, std::string_view name, std::uint8_t protocol);

}  // namespace pickleguard
