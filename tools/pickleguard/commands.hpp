// The subcommands of `pickleguard`, one file each.
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/policy.hpp"

#include <optional>
#include <string>
#include <vector>

namespace pickleguard::cli {

// Exit codes, as ClamAV's clamscan: 0 clean, 1 found, 2 error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFound = 1;
inline constexpr int kExitError = 2;

struct scan_args {
    std::vector<std::string> paths;
    std::vector<std::string> policies;  // names or files; several are merged by include
    std::string format = "text";        // text | json | sarif
    std::string output;                 // file, or stdout
    std::optional<severity> fail_on;
    bool quiet = false;
    bool verbose = false;               // also informational findings and skipped files
    bool follow_symlinks = false;
    decode_options decode;
};

int run_scan(const scan_args& args);
int run_policy_list();
int run_policy_show(const std::string& name);

}  // namespace pickleguard::cli
