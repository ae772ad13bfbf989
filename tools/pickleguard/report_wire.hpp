// What a scanner worker sends back to `pickleguard scan`, and its wire form.
//
// Workers are sandboxed child processes that parse untrusted files (see
// worker_pool.hpp). Their results cross a socket as a compact binary record;
// the parent reads it as untrusted input too: every length is checked, and a
// record that does not parse exactly is rejected, never half-read.
#pragma once

#include "pickleguard/report.hpp"
#include "pickleguard/scan.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace pickleguard::cli {

// The result of looking at one file: a report, or the reason it was skipped
// (not a pickle or container we scan).
struct scan_outcome {
    file_report report;
    std::optional<std::string> skip_reason;
    // Output a command renders from the file inside the worker (`explain`),
    // so that even its rendering never runs in the parent.
    std::string text{};
};

// Little-endian, length-prefixed fields in declaration order; see report_wire.cpp.
std::string serialize(const scan_outcome& outcome);

// nullopt when `wire` is not exactly one well-formed record.
std::optional<scan_outcome> deserialize(std::string_view wire);

}  // namespace pickleguard::cli
