// pickleguard/sandbox.hpp — scanning untrusted files in sandboxed workers.
//
// The library's scan functions parse hostile bytes; this component runs them
// in forked worker processes that are jailed before they read any byte: a
// seccomp-bpf filter (no open, no exec, no socket; SECURITY.md, "Sandboxed
// scanning"), rlimits on address space, CPU time and file size, and a
// wall-clock deadline per file. The caller opens each file and hands the
// worker its descriptor (SCM_RIGHTS); the worker maps or reads it, runs the
// scan function given here, and sends back a scan_outcome, which the caller
// reads as untrusted input too. A worker that crashes, hangs or reaches a
// limit turns into an `error` report for that file; it is replaced and the
// scan goes on. Outcomes come back in input order, whatever the number of
// workers. Workers are forked, not exec'd: they inherit what the caller set
// up (the policy), so the scan function may capture it by reference.
//
//     #include "pickleguard/container.hpp"  // scan_file
//
//     auto policy = pickleguard::load_shipped_policy("default").value();
//     pickleguard::scan_function judge = [&](std::span<const std::byte> bytes, const pickleguard::scan_job& job) {
//         return pickleguard::scan_outcome{pickleguard::scan_file(bytes, policy, {}, job.path), {}};
//     };
//     auto outcomes = pickleguard::scan_jobs({{"model.pt"}, {"data.pkl"}}, judge, {}, {});
//     if (!outcomes) fail(outcomes.error());  // the sandbox could not be set up: nothing was scanned
//     for (const pickleguard::scan_outcome& o : outcomes.value()) use(o.report);
//
// Linux only (seccomp, SCM_RIGHTS, prlimit). The caller must not hold locks
// the scan function needs when it calls these (workers are forked).
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/scan.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

// The result of looking at one file: a report, or the reason it was skipped
// (not a pickle or container we scan).
struct scan_outcome {
    file_report report;
    std::optional<std::string> skip_reason;
    // Output a command renders from the file inside the worker (`explain`),
    // so that even its rendering never runs in the parent.
    std::string text{};
};

struct scan_job {
    std::string path;    // opened by the caller, read-only; "-" is standard input (read as a stream)
    bool named = false;  // given on the command line, not found by walking
    // A file the caller has open already (`serve`'s upload, kept in a memfd):
    // the pool sends a duplicate of this descriptor instead of opening
    // `path`, which then only names the file in its report. The caller keeps
    // ownership; it must be a regular file (mapped and read with pread, so
    // its offset does not matter).
    int fd = -1;
    // Found by walking a directory as a regular file, not through a link:
    // opened with O_NOFOLLOW, so that a symbolic link put in its place after
    // the walk looked is an `error` report, never read as the walked file.
    bool no_follow = false;
};

// Looks at one file's bytes: the part of a scan that touches untrusted
// content, and the only part that runs inside a worker.
using scan_function = std::function<scan_outcome(std::span<const std::byte> bytes, const scan_job& job)>;

// Called after each file with (files done, files unsafe so far).
using progress_function = std::function<void(std::size_t done, std::size_t unsafe)>;

// Called with each outcome, in input order, as soon as it and every one
// before it are in: what lets a command write its report file by file
// (`scan --format jsonl`) while later files are still being read.
using outcome_function = std::function<void(std::size_t index, const scan_outcome& outcome)>;

struct pool_options {
    bool sandbox = true;              // false: scan in this process (the CLI's --no-sandbox)
    unsigned jobs = 0;                // workers; 0: one per available core
    double timeout_seconds = 60;      // per file, wall clock; 0: none
    std::uint64_t memory_bytes = std::uint64_t{8} << 30;  // address space per worker, plus the file's size
    // A job that is a stream ("-", standard input) is read into memory up to
    // this many bytes; a longer one is an `error` report (limit-exceeded),
    // never judged truncated. `scan -` sets the scan's max_input_bytes.
    std::uint64_t max_stream_bytes = ~std::uint64_t{0};
    // How long a new worker may take to fork, jail itself and say it is
    // ready; past it the pool fails (nothing is scanned). Sanitizer builds
    // under load need longer (`serve --worker-start-timeout`).
    double start_timeout_seconds = 10;
};

// Scans every job in sandboxed workers. Fails (and scans nothing) only when
// the sandbox cannot be set up: no silent fallback to scanning in-process.
result<std::vector<scan_outcome>> scan_in_workers(const std::vector<scan_job>& jobs, const scan_function& scan,
                                                  const pool_options& options, const progress_function& progress,
                                                  const outcome_function& each = {});

// The same, in this process (--no-sandbox); a stream job is bounded by
// `max_stream_bytes` as pool_options' is.
std::vector<scan_outcome> scan_in_process(const std::vector<scan_job>& jobs, const scan_function& scan,
                                          const progress_function& progress,
                                          std::uint64_t max_stream_bytes = ~std::uint64_t{0},
                                          const outcome_function& each = {});

// scan_in_workers, or scan_in_process when !options.sandbox: what every
// command that reads untrusted files calls.
result<std::vector<scan_outcome>> scan_jobs(const std::vector<scan_job>& jobs, const scan_function& scan,
                                            const pool_options& options, const progress_function& progress,
                                            const outcome_function& each = {});

// A scan_outcome as the workers send it back (the binary record of
// sandbox/wire.cpp), for a caller that moves outcomes between its own
// processes: the Python package's cluster scan returns them from Dask
// workers and writes one report from them in the client. The record has no
// version: both ends must be the same build. Reading checks every length and
// fails (kind malformed) on anything but exactly one well-formed record.
std::string serialize_outcome(const scan_outcome& outcome);
result<scan_outcome> deserialize_outcome(std::string_view record);

// An `error` report for a file that could not be read.
file_report unreadable_report(const std::string& path, const std::string& reason);

// Cores this process may run on (its CPU affinity), at least 1.
unsigned available_cores();

}  // namespace pickleguard
