// The jail a scanner worker enters before it reads any untrusted byte.
//
// A worker is a forked copy of the scanning process (policy already loaded;
// worker_pool.cpp).
// `enter_sandbox` lowers its resource limits and installs a seccomp-bpf
// filter that allows only what decoding a file handed over as a descriptor
// needs; every other system call kills the process. See SECURITY.md,
// "Sandboxed scanning".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pickleguard::sandbox {

struct sandbox_limits {
    std::uint64_t cpu_seconds = 0;   // RLIMIT_CPU soft limit; 0 for none
    std::uint64_t memory_bytes = 0;  // RLIMIT_AS; 0 for none (always none under AddressSanitizer)
};

// In the worker, after fork: limits, then the filter. `channel` is the only
// socket the worker may receive jobs on and write results to (and stderr).
// Returns why it failed, or nullopt once the filter is in force.
std::optional<std::string> enter_sandbox(const sandbox_limits& limits, int channel);

// Lowers the address-space limit of `pid` to `bytes` (0: unlimited), from the
// parent, before handing it a file: the budget grows with the file's size,
// since the worker maps it.
bool set_memory_limit(int pid, std::uint64_t bytes);

// "SIGSEGV", "SIGABRT", ..., or "signal N".
std::string signal_name(int sig);

}  // namespace pickleguard::sandbox
