// The wire form of a scan_outcome (pickleguard/sandbox.hpp): what a worker
// sends back to the process that feeds it files.
//
// Workers are sandboxed child processes that parse untrusted files. Their
// results cross a socket as a compact binary record; the parent reads it as
// untrusted input too: every length is checked, and a record that does not
// parse exactly is rejected, never half-read.
#pragma once

#include "pickleguard/sandbox.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace pickleguard::sandbox {

// Little-endian, length-prefixed fields in declaration order; see wire.cpp.
std::string serialize(const scan_outcome& outcome);

// An error (kind malformed, the offset of the first bad field, and why)
// unless `wire` is exactly one well-formed record.
result<scan_outcome> deserialize(std::string_view wire);

}  // namespace pickleguard::sandbox
