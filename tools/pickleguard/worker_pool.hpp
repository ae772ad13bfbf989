// Scanning files in sandboxed, reused worker processes.
//
// `pickleguard scan` forks N workers once the policy is loaded (they inherit
// it; nothing is exec'd) and feeds them files: one at a time, or small
// files several ahead (worker_pool.cpp). The parent opens each file and
// passes the descriptor over a Unix socket (SCM_RIGHTS); the worker, already
// under its seccomp filter and rlimits (sandbox.hpp), maps or reads it, runs
// the scan function, and writes back a scan_outcome (report_wire.hpp).
// A worker that crashes, hangs past the deadline or reaches a limit turns
// into an `error` report for that file; it is replaced and the scan goes on.
// Outcomes come back in input order, whatever the number of workers.
#pragma once

#include "report_wire.hpp"

#include "pickleguard/error.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace pickleguard::cli {

struct scan_job {
    std::string path;
    bool named = false;  // given on the command line, not found by walking
};

// Looks at one file's bytes: the part of `pickleguard scan` that touches
// untrusted content, and the only part that runs inside a worker.
using scan_function = std::function<scan_outcome(std::span<const std::byte> bytes, const scan_job& job)>;

// Called after each file with (files done, files unsafe so far).
using progress_function = std::function<void(std::size_t done, std::size_t unsafe)>;

struct pool_options {
    bool sandbox = true;              // false: scan in this process (--no-sandbox)
    unsigned jobs = 0;                // workers; 0: one per available core
    double timeout_seconds = 60;      // per file, wall clock; 0: none
    std::uint64_t memory_bytes = std::uint64_t{8} << 30;  // address space per worker, plus the file's size
};

// Scans every job in sandboxed workers. Fails (and scans nothing) only when
// the sandbox cannot be set up: no silent fallback to scanning in-process.
result<std::vector<scan_outcome>> scan_in_workers(const std::vector<scan_job>& jobs, const scan_function& scan,
                                                  const pool_options& options, const progress_function& progress);

// The same, in this process (--no-sandbox).
std::vector<scan_outcome> scan_in_process(const std::vector<scan_job>& jobs, const scan_function& scan,
                                          const progress_function& progress);

// scan_in_workers, or scan_in_process when !options.sandbox: what every
// command that reads untrusted files calls.
result<std::vector<scan_outcome>> scan_jobs(const std::vector<scan_job>& jobs, const scan_function& scan,
                                            const pool_options& options, const progress_function& progress);

// An `error` report for a file that could not be read.
file_report unreadable_report(const std::string& path, const std::string& reason);

// Cores this process may run on (its CPU affinity), at least 1.
unsigned available_cores();

}  // namespace pickleguard::cli
