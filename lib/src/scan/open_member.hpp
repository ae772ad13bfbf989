// How the scan stage opens bytes a loader would open as whatever they are:
// the one walk that scan_file (which judges what it finds) and read_members
// (which keeps it) share, so a name a finding carries is always one that
// read_members can hand back.
#pragma once

#include "pickleguard/read.hpp"

#include <functional>

namespace pickleguard::scan {

// Opens `bytes` at `name`, `depth` containers deep: past the depth limit, a
// finding and nothing more; otherwise every reading (detect_readings, one
// polyglot finding for two or more; the readings after the first named
// "<name> > <format> reading"): pickle readings go to `pickle_reading`,
// containers to their reader. Bytes no reader knows are a finding
// (unknown-format for the file itself, member-not-scanned for a member).
// Then a zip's end record is looked for behind the front reading, as
// CPython's zipfile finds it. Returns true when that zip was read.
bool open_member(read::read_context& ctx, read::bytes_view bytes, const location& name, int depth,
                 const std::function<void(read::bytes_view, const location&)>& pickle_reading);

}  // namespace pickleguard::scan
