// Sandboxed worker processes (pickleguard/sandbox.hpp).
//
// Why the parent opens the files and passes descriptors, rather than mapping
// them and letting workers inherit the mapping: workers are forked once and
// reused for thousands of files, so a mapping made after the fork is never
// inherited; and a worker must not open files itself, since open/openat are
// exactly what its seccomp filter denies. A descriptor sent with SCM_RIGHTS
// is a capability for one file, read-only: the worker maps it (or reads it,
// for a pipe) in its own address space, where RLIMIT_AS counts it, and closes
// it when done. The parent never reads file content at all.
//
// Protocol on each worker's socket (SOCK_STREAM):
//   parent -> worker: job_header + path bytes, the file's descriptor attached
//   worker -> parent: u64 length, then a message: 'R' ready | 'F' reason
//                     (the sandbox failed) | 'O' retire-flag outcome
// Outcomes come back in the order the jobs were sent. Small files are sent
// several ahead (kQueueDepth), so that a worker goes from one to the next
// without waiting for the parent: with one job in flight, a directory of
// small pickles spent half its time waking the two processes in turn.
#include "../common/fd_io.hpp"
#include "seccomp_filter.hpp"
#include "wire.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/sandbox.hpp"
#include "pickleguard/rules.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <new>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pickleguard {
namespace {

using sandbox::deserialize;
using sandbox::enter_sandbox;
using sandbox::sandbox_limits;
using sandbox::serialize;
using sandbox::set_memory_limit;
using sandbox::signal_name;

using clock = std::chrono::steady_clock;

struct job_header {
    std::uint64_t index;
    std::uint64_t size;      // of a regular file; 0 for a stream
    std::uint32_t path_len;
    std::uint8_t regular;    // map it; otherwise read it to the end
    std::uint8_t named;
    std::uint8_t pad[2];
};

// Small files (small_file_bytes, input.hpp), where the cost per file
// outweighs the cost per byte, may queue behind another in a worker, and the
// worker reads them rather than mapping them. A larger file goes only to an idle worker: what a worker
// costs to wake is small beside reading it, and the memory limit set for it
// (the budget plus its size) then holds while it is read, and no longer.
constexpr std::size_t kQueueDepth = 8;
// Descriptors in flight count against the sender's RLIMIT_NOFILE (the
// kernel refuses more with ETOOMANYREFS): a bound over all workers.
constexpr std::size_t kMaxQueuedDescriptors = 256;

constexpr char kReady = 'R';
constexpr char kFatal = 'F';
constexpr char kOutcome = 'O';
constexpr std::uint64_t kMaxMessage = std::uint64_t{1} << 31;

// Test-only hooks, set through the environment of the test that needs them
// (tests/sandbox/): a worker crashes, hangs, or tries to open a file (which
// its filter must forbid) when given a file of that base name. They are read
// once, by the parent, and file content can never set them.
struct test_hooks {
    std::string crash_on, hang_on, open_on;
};

std::string base_name(const std::string& path) {
    std::size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// ---- both sides ---------------------------------------------------------------

bool write_all(int fd, const char* p, std::size_t n) {
    return fd_io::write_all(fd, p, n, fd_io::target::socket);
}

bool read_all(int fd, char* p, std::size_t n) {
    while (n) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

bool send_message(int fd, char type, std::string_view body) {
    std::string msg(8, '\0');
    std::uint64_t len = body.size() + 1;
    std::memcpy(msg.data(), &len, 8);
    msg += type;
    msg.append(body);
    return write_all(fd, msg.data(), msg.size());
}

// ---- the worker ---------------------------------------------------------------

// Ends the worker with exit_group itself: sanitizer runtimes intercept
// _exit to run leak checks, which need system calls the filter forbids.
[[noreturn]] void worker_exit(int status) {
    ::syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

double cpu_seconds_used() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Receives one job and its descriptor; false when the parent is done.
// One recvmsg reads the header and, usually, the whole path: a Unix stream
// socket ends a read after the message that carried descriptors, so it
// never runs into the next job.
bool receive_job(int channel, job_header& h, std::string& path, int& fd) {
    fd = -1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    char first[4096];
    iovec iov[2] = {{&h, sizeof h}, {first, sizeof first}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = ::recvmsg(channel, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    std::size_t got = static_cast<std::size_t>(n);
    if (got < sizeof h && !read_all(channel, reinterpret_cast<char*>(&h) + got, sizeof h - got)) return false;
    if (fd < 0 || h.path_len > (1u << 20)) return false;
    std::size_t have = got > sizeof h ? got - sizeof h : 0;
    if (have > h.path_len) return false;  // the parent never sends more than one job at once
    path.assign(first, have);
    path.resize(h.path_len);
    return read_all(channel, path.data() + have, path.size() - have);
}

// A stream that could not be read whole: over max_stream_bytes is a limit
// (the input was not judged, so the verdict is error), anything else an
// unreadable file.
file_report stream_failure_report(const std::string& path, const error& e) {
    return file_report::error(path, e.kind == error_kind::limit ? rule::limit_exceeded : rule::unreadable_file,
                              e.reason);
}

file_report out_of_memory_report(const scan_job& job, const pool_options& options) {
    return file_report::error(job.path, rule::scanner_crashed,
                        "the scanner process ran out of memory while reading this file (its limit is " +
                            std::to_string(options.memory_bytes >> 20) +
                            " MB plus the file's size, --max-memory); the file is not judged");
}

scan_outcome scan_descriptor(int fd, const job_header& h, const scan_job& job, const scan_function& scan,
                             const pool_options& options, std::vector<std::byte>& buffer) {
    try {
        // Read into a buffer the worker keeps: one pread instead of mmap and
        // munmap, which change the address space (and take its lock) per file.
        if (h.regular && h.size <= small_file_bytes) {
            if (int err = read_file_start(fd, static_cast<std::size_t>(h.size), buffer))
                return {unreadable_report(job.path, job.path + ": cannot read: " + std::strerror(err)), {}};
            return scan({buffer.data(), buffer.size()}, job);
        }
        if (h.regular) {
            const void* data = nullptr;
            if (h.size) {
                data = ::mmap(nullptr, h.size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (data == MAP_FAILED) {
                    int err = errno;
                    if (err == ENOMEM) return {out_of_memory_report(job, options), {}};
                    return {unreadable_report(job.path, job.path + ": cannot map: " + std::strerror(err)), {}};
                }
            }
            struct unmap {
                const void* p;
                std::size_t n;
                ~unmap() {
                    if (p) ::munmap(const_cast<void*>(p), n);
                }
            } u{data, h.size};
            return scan({static_cast<const std::byte*>(data), h.size}, job);
        }
        auto file = read_stream(fd, job.path == "-" ? "standard input" : job.path, options.max_stream_bytes);
        if (!file) return {stream_failure_report(job.path, file.error()), {}};
        return scan(file.value().bytes(), job);
    } catch (const std::bad_alloc&) {
        return {out_of_memory_report(job, options), {}};
    }
}

// The crash test hook: a real invalid write. Not instrumented, or UBSan would
// report the null store (and be stopped by the sandbox) before it faulted.
[[gnu::noinline]] __attribute__((no_sanitize("undefined"))) void crash_now() {
    volatile int* volatile nowhere = nullptr;
    *nowhere = 1;
}

[[noreturn]] void worker_main(int channel, const scan_function& scan, const pool_options& options,
                              const test_hooks& hooks) {
    // Keep only stdin/out/err and the channel: no other worker's socket, no
    // file a job is in flight for.
    if (channel != 3) {
        if (::dup2(channel, 3) < 0) worker_exit(121);
        channel = 3;
    }
    // Standard input and output are /dev/null, not the parent's: a worker
    // reading fd 0 (read(2) of any descriptor is allowed) would take what
    // the parent reads there (`scan --stdin-paths` reads its paths from it;
    // `scan -` sends the worker its own duplicate as the job), and one
    // writing fd 1 would write into the report the parent prints (JSON,
    // SARIF). Standard error stays: it is where a sanitizer, abort() or the
    // allocator says why a worker died, which the filter allows for that
    // reason, and it carries no report.
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(devnull, 1) < 0) {
        send_message(channel, kFatal, std::string("cannot open /dev/null for a worker: ") + std::strerror(errno));
        worker_exit(122);
    }
    if (devnull > 2) ::close(devnull);  // 3 is the channel, so never it
    ::close_range(4, ~0u, 0);
    if (!hooks.crash_on.empty()) std::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would print, not crash

    sandbox_limits limits;
    // Workers are reused, and RLIMIT_CPU counts a process's whole life: a
    // worker retires once it has used half its budget, so every file gets at
    // least the other half, more than the wall-clock deadline allows.
    limits.cpu_seconds = options.timeout_seconds > 0 ? static_cast<std::uint64_t>(options.timeout_seconds) * 2 + 10 : 0;
    limits.memory_bytes = options.memory_bytes;
    prepare_for_sandbox();  // archive name conversion opens files on first use
    if (auto failed = enter_sandbox(limits, channel)) {
        send_message(channel, kFatal, *failed);
        worker_exit(120);
    }
    if (!send_message(channel, kReady, {})) worker_exit(0);

    job_header h{};
    std::string path;
    int fd = -1;
    std::vector<std::byte> buffer;
    // CPU time is a system call (not in the vDSO): looked at when half a
    // second of wall time has passed, which bounds the CPU time used since.
    auto next_cpu_check = clock::now();
    while (receive_job(channel, h, path, fd)) {
        scan_job job{path, h.named != 0};
        std::string name = base_name(path);
        if (!hooks.crash_on.empty() && name == hooks.crash_on) crash_now();
        if (!hooks.open_on.empty() && name == hooks.open_on) (void)::open("/etc/hostname", O_RDONLY);
        if (!hooks.hang_on.empty() && name == hooks.hang_on) {
            volatile unsigned long spin = 0;
            while (true) spin = spin + 1;
        }
        scan_outcome outcome = scan_descriptor(fd, h, job, scan, options, buffer);
        ::close(fd);
        bool retire = false;
        if (limits.cpu_seconds && clock::now() >= next_cpu_check) {
            retire = cpu_seconds_used() > static_cast<double>(limits.cpu_seconds) / 2 - 0.5;
            next_cpu_check = clock::now() + std::chrono::milliseconds(500);
        }
        std::string body(1, retire ? '\1' : '\0');
        body += serialize(outcome);
        if (!send_message(channel, kOutcome, body) || retire) break;
    }
    worker_exit(0);
}

// ---- the parent ---------------------------------------------------------------

struct queued_job {
    std::size_t index;
    bool small;  // may have others queued behind it (small_file_bytes)
};

struct worker {
    pid_t pid = -1;
    int fd = -1;
    std::deque<queued_job> queue;   // sent and not answered yet; the front is being scanned
    clock::time_point deadline{};   // the front job's
    std::string inbuf;
    std::uint64_t memory_limit = ~std::uint64_t{0};  // RLIMIT_AS last set; ~0: not yet
};

// A job opened by the parent and not yet sent.
struct opened_job {
    std::size_t index = 0;
    int fd = -1;
    job_header header{};
    bool small() const { return header.regular && header.size <= small_file_bytes; }
};

class pool {
public:
    pool(const std::vector<scan_job>& jobs, const scan_function& scan, const pool_options& options)
        : jobs_(jobs), scan_(scan), options_(options) {
        if (const char* v = std::getenv("PICKLEGUARD_TEST_CRASH_ON")) hooks_.crash_on = v;
        if (const char* v = std::getenv("PICKLEGUARD_TEST_HANG_ON")) hooks_.hang_on = v;
        if (const char* v = std::getenv("PICKLEGUARD_TEST_OPEN_ON")) hooks_.open_on = v;
    }
    ~pool() {
        for (worker& w : workers_) stop(w, false);
        if (held_) ::close(held_->fd);
    }

    // Starts a worker in slot i and waits until it is in its sandbox.
    std::optional<std::string> spawn(std::size_t i) {
        worker& w = workers_[i];
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            return std::string("socketpair: ") + std::strerror(errno);
        std::fflush(nullptr);
        pid_t pid = ::fork();
        if (pid < 0) {
            int err = errno;
            ::close(sv[0]);
            ::close(sv[1]);
            return std::string("fork: ") + std::strerror(err);
        }
        if (pid == 0) {
            ::close(sv[0]);
            worker_main(sv[1], scan_, options_, hooks_);
        }
        ::close(sv[1]);
        w = worker{};
        w.pid = pid;
        w.fd = sv[0];
        // The first message says whether the sandbox is in force.
        auto start = clock::now();
        bool open = true;
        while (true) {
            if (auto msg = take_message(w)) {
                if (msg->size() == 1 && (*msg)[0] == kReady) return std::nullopt;
                std::string why = !msg->empty() && (*msg)[0] == kFatal ? msg->substr(1) : "unexpected first message";
                stop(w, true);
                return why;
            }
            if (!open) return "the worker " + death_of(w) + " while entering the sandbox";
            auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count();
            auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::duration<double>(std::clamp(options_.start_timeout_seconds, 0.0, 1e6)));  // no overflow
            auto left = std::min<std::int64_t>(budget.count() - waited, INT32_MAX);
            pollfd p{w.fd, POLLIN, 0};
            int n = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                stop(w, true);
                char limit[32];
                std::snprintf(limit, sizeof limit, "%g", options_.start_timeout_seconds);
                return std::string("the worker did not start within ") + limit + " s";
            }
            open = fill(w);
        }
    }

    result<std::vector<scan_outcome>> run(const progress_function& progress, const outcome_function& each) {
        progress_ = &progress;
        each_ = &each;
        out_.assign(jobs_.size(), std::nullopt);
        unsigned n = options_.jobs ? options_.jobs : available_cores();
        n = static_cast<unsigned>(std::min<std::size_t>(n, jobs_.size()));
        workers_.resize(n);
        depth_ = std::clamp<std::size_t>(kMaxQueuedDescriptors / n, 1, kQueueDepth);
        for (std::size_t i = 0; i < n; ++i)
            if (auto why = spawn(i)) return fail(*why);

        while (done_ < jobs_.size()) {
            if (auto why = hand_out()) return fail(*why);
            // Wait for a result, a death or a deadline.
            std::vector<pollfd> fds;
            std::vector<std::size_t> slots;
            auto now = clock::now();
            auto wait = std::chrono::milliseconds(200);
            for (std::size_t i = 0; i < workers_.size(); ++i) {
                if (workers_[i].queue.empty()) continue;
                fds.push_back({workers_[i].fd, POLLIN, 0});
                slots.push_back(i);
                if (options_.timeout_seconds > 0)
                    wait = std::min(wait, std::max(std::chrono::milliseconds(0),
                                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       workers_[i].deadline - now) + std::chrono::milliseconds(1)));
            }
            if (fds.empty()) {
                // Nothing in flight and nothing left to send, yet files
                // unanswered: fail rather than wait forever.
                if (done_ < jobs_.size() && !held_ && retry_.empty() && next_ == jobs_.size()) {
                    error e;
                    e.kind = error_kind::io;
                    e.reason = "internal error in the worker pool: " + std::to_string(jobs_.size() - done_) +
                               " files were never scanned (please report it)";
                    return e;
                }
                continue;
            }
            int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
            if (ready < 0 && errno != EINTR) return fail(std::string("poll: ") + std::strerror(errno));
            for (std::size_t k = 0; k < fds.size(); ++k) {
                worker& w = workers_[slots[k]];
                if (ready > 0 && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) take_results(w);
                if (!w.queue.empty() && options_.timeout_seconds > 0 && clock::now() >= w.deadline) {
                    std::size_t j = take_front(w);
                    stop(w, true);
                    char secs[32];
                    std::snprintf(secs, sizeof secs, "%g", options_.timeout_seconds);
                    file_report r = failure_report(j, std::string("the scan of this file took longer than ") + secs +
                                                          " s (--timeout); the scanner process was stopped and "
                                                          "the file is not judged");
                    r.findings.back().rule = rule::scan_timeout;
                    finish(j, {std::move(r), {}});
                }
            }
        }
        std::vector<scan_outcome> result;
        result.reserve(out_.size());
        for (auto& o : out_) result.push_back(std::move(*o));
        return result;
    }

private:
    static error fail(const std::string& why) {
        error e;
        e.kind = error_kind::io;
        e.reason = "cannot start the sandboxed scanner: " + why +
                   "; --no-sandbox scans in this process instead, without the sandbox";
        return e;
    }

    file_report failure_report(std::size_t job, const std::string& message) const {
        return file_report::error(jobs_[job].path, rule::scanner_crashed, message);
    }

    void finish(std::size_t job, scan_outcome o) {
        o.report.path = jobs_[job].path;  // the parent names files, not the worker
        if (!o.skip_reason && o.report.verdict == verdict::unsafe) ++unsafe_;
        out_[job] = std::move(o);
        ++done_;
        if (*progress_) (*progress_)(done_, unsafe_);
        // Outcomes arrive in any order; they are handed on in input order.
        for (; given_ < out_.size() && out_[given_]; ++given_)
            if (*each_) (*each_)(given_, *out_[given_]);
    }

    // The front job, which the worker was scanning; the jobs queued behind it
    // go back to be handed out again (a worker that is stopped or retires
    // never reads them).
    std::size_t take_front(worker& w) {
        std::size_t j = w.queue.front().index;
        w.queue.pop_front();
        for (auto it = w.queue.rbegin(); it != w.queue.rend(); ++it) retry_.push_front(it->index);
        w.queue.clear();
        return j;
    }

    // Every outcome that has arrived from w, then w's death if its socket closed.
    void take_results(worker& w) {
        bool alive = fill(w);
        while (!w.queue.empty()) {
            auto msg = take_message(w);
            if (!msg) break;
            std::optional<scan_outcome> o;
            bool retire = false;
            if (msg->size() >= 2 && (*msg)[0] == kOutcome) {
                retire = (*msg)[1] == '\1';
                if (auto parsed = deserialize(std::string_view(*msg).substr(2))) o = std::move(parsed).value();
            }
            if (!o) {
                std::size_t j = take_front(w);
                stop(w, true);
                finish(j, {failure_report(j, "the scanner process sent a malformed result for this file"), {}});
                return;
            }
            std::size_t j = w.queue.front().index;
            if (retire) {
                take_front(w);
                stop(w, false);
            } else {
                w.queue.pop_front();
                // The worker went on to the next queued job as it sent this outcome.
                w.deadline = clock::now() + timeout();
            }
            finish(j, std::move(*o));
            if (retire) return;
        }
        if (!alive && !w.queue.empty()) {
            std::size_t j = take_front(w);
            std::string death = death_of(w);
            finish(j, {failure_report(j, "the scanner process " + death + " while reading this file: " +
                                             "it may be built to attack pickleguard itself; the file is "
                                             "not judged (please report it, see SECURITY.md)"),
                       {}});
        }
    }

    clock::duration timeout() const {
        return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(options_.timeout_seconds));
    }

    // Sends jobs to workers while they can take them, a job to each worker
    // in turn: an idle worker takes any job, a busy one more small files up
    // to its queue depth.
    std::optional<std::string> hand_out() {
        bool sent = true;
        while (sent && (held_ || open_next())) {
            sent = false;
            for (std::size_t i = 0; i < workers_.size() && (held_ || open_next()); ++i) {
                worker& w = workers_[i];
                if (w.pid < 0)
                    if (auto why = spawn(i)) return why;
                if (!w.queue.empty() &&
                    (w.queue.size() >= depth_ || !held_->small() || !w.queue.front().small))
                    continue;
                bool idle = w.queue.empty();
                if (!send(w, *held_)) {
                    // The worker is gone. An idle one is replaced on the next
                    // round; a busy one's death is read from its socket. The
                    // job waits for another worker either way.
                    if (idle) stop(w, true);
                    continue;
                }
                held_.reset();
                sent = true;
            }
        }
        return std::nullopt;
    }

    // Opens the next job (a retried one first) into held_; false when none
    // is left. A file that cannot be opened is finished here.
    bool open_next() {
        while (!held_) {
            std::size_t j;
            if (!retry_.empty()) {
                j = retry_.front();
                retry_.pop_front();
            } else if (next_ < jobs_.size()) {
                j = next_++;
            } else {
                return false;
            }
            const std::string& path = jobs_[j].path;
            // "-" is standard input, which the worker reads as a stream.
            // O_NONBLOCK: a FIFO put in place of the file after `scan` looked
            // at it must not block open(); it is refused below. O_NOFOLLOW
            // (a walked file): a link put there since is refused by open().
            int given = jobs_[j].fd;
            bool no_follow = jobs_[j].no_follow;
            int fd = given >= 0      ? ::fcntl(given, F_DUPFD_CLOEXEC, 0)
                     : path == "-" ? ::fcntl(0, F_DUPFD_CLOEXEC, 0)
                                   : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                                                              (no_follow ? O_NOFOLLOW : 0));
            if (fd < 0) {
                int err = errno;
                finish(j, {unreadable_report(path, path + ": " + (no_follow && err == ELOOP ? swapped_link_reason()
                                                                                             : std::strerror(err))),
                           {}});
                continue;
            }
            struct stat st {};
            if (::fstat(fd, &st) != 0) {
                int err = errno;
                ::close(fd);
                finish(j, {unreadable_report(path, path + ": " + std::strerror(err)), {}});
                continue;
            }
            if ((path != "-" || given >= 0) && !S_ISREG(st.st_mode)) {
                ::close(fd);
                finish(j, {file_report::error(path, rule::not_a_regular_file, path + ": is " + special_file_kind(st.st_mode) +
                                                       ", not a regular file"), {}});
                continue;
            }
            opened_job o;
            o.index = j;
            o.fd = fd;
            o.header.index = j;
            o.header.regular = S_ISREG(st.st_mode) ? 1 : 0;
            o.header.size = o.header.regular ? static_cast<std::uint64_t>(st.st_size) : 0;
            o.header.path_len = static_cast<std::uint32_t>(path.size());
            o.header.named = jobs_[j].named ? 1 : 0;
            held_ = o;
        }
        return true;
    }

    // Sends an opened job to w and closes the parent's copy of its
    // descriptor; false (keeping the descriptor) if w is gone.
    bool send(worker& w, const opened_job& job) {
        const std::string& path = jobs_[job.index].path;
        // The budget plus the file's mapping, rounded up to a MiB so that a
        // run of small files needs no prlimit calls after the first. Queued
        // jobs are all small, so the limit suits each of them.
        constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
        std::uint64_t size = std::max(job.header.size, kMiB);
        std::uint64_t limit = options_.memory_bytes ? options_.memory_bytes + (size + kMiB - 1) / kMiB * kMiB : 0;
        if (limit != w.memory_limit) {
            set_memory_limit(w.pid, limit);
            w.memory_limit = limit;
        }

        std::string payload(reinterpret_cast<const char*>(&job.header), sizeof job.header);
        payload += path;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        iovec iov{payload.data(), payload.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &job.fd, sizeof job.fd);
        ssize_t n;
        do n = ::sendmsg(w.fd, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        // A blocking Unix socket fails a send only when the worker is gone.
        if (n <= 0) return false;
        if (n < static_cast<ssize_t>(payload.size()) &&
            !write_all(w.fd, payload.data() + n, payload.size() - static_cast<std::size_t>(n)))
            return false;
        ::close(job.fd);  // the worker has its own copy now
        if (w.queue.empty()) w.deadline = clock::now() + timeout();
        w.queue.push_back({job.index, job.small()});
        return true;
    }


    // Reads what is available; false at end of stream (the worker is gone).
    static bool fill(worker& w) {
        char buf[1 << 16];
        while (true) {
            ssize_t n = ::recv(w.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                w.inbuf.append(buf, static_cast<std::size_t>(n));
                if (static_cast<std::size_t>(n) < sizeof buf) return true;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            return false;
        }
    }

    // One whole message from the buffer, if there is one. A length over the
    // bound is treated as a dead worker's garbage.
    static std::optional<std::string> take_message(worker& w) {
        if (w.inbuf.size() < 8) return std::nullopt;
        std::uint64_t len;
        std::memcpy(&len, w.inbuf.data(), 8);
        if (len == 0 || len > kMaxMessage) return std::string{};
        if (w.inbuf.size() - 8 < len) return std::nullopt;
        std::string msg = w.inbuf.substr(8, len);
        w.inbuf.erase(0, 8 + len);
        return msg;
    }

    // How the worker ended, after its socket closed: reaps it.
    std::string death_of(worker& w) {
        int status = 0;
        pid_t pid = w.pid;
        ::close(w.fd);
        w.fd = -1;
        w.pid = -1;
        w.inbuf.clear();
        if (pid < 0) return "ended";
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            if (sig == SIGSYS) return "was stopped by its sandbox (SIGSYS: a forbidden system call)";
            if (sig == SIGXCPU) return "reached its CPU-time limit (SIGXCPU)";
            if (sig == SIGKILL) return "was killed (SIGKILL, perhaps by the out-of-memory killer)";
            return "crashed (" + signal_name(sig) + ")";
        }
        if (WIFEXITED(status)) return "exited unexpectedly (status " + std::to_string(WEXITSTATUS(status)) + ")";
        return "ended unexpectedly";
    }

    // Ends a worker: politely (close its socket, it exits) or with SIGKILL.
    void stop(worker& w, bool kill) {
        if (w.pid < 0) return;
        if (kill) ::kill(w.pid, SIGKILL);
        death_of(w);
    }

    const std::vector<scan_job>& jobs_;
    const scan_function& scan_;
    pool_options options_;
    test_hooks hooks_;
    std::vector<worker> workers_;
    std::size_t depth_ = 1;                 // jobs a worker may have queued
    std::vector<std::optional<scan_outcome>> out_;
    const progress_function* progress_ = nullptr;
    std::size_t next_ = 0, done_ = 0, unsafe_ = 0;
    std::size_t given_ = 0;                 // outcomes handed to each_, a prefix of out_
    const outcome_function* each_ = nullptr;
    std::deque<std::size_t> retry_;         // sent to a worker that ended before reading them
    std::optional<opened_job> held_;        // opened, waiting for a worker that can take it
};

}  // namespace

file_report unreadable_report(const std::string& path, const std::string& reason) {
    return file_report::error(path, rule::unreadable_file, reason);
}

unsigned available_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return static_cast<unsigned>(n);
    }
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<unsigned>(n) : 1;
}

result<std::vector<scan_outcome>> scan_in_workers(const std::vector<scan_job>& jobs, const scan_function& scan,
                                                  const pool_options& options, const progress_function& progress,
                                                  const outcome_function& each) {
    if (jobs.empty()) return std::vector<scan_outcome>{};
    pool p(jobs, scan, options);
    return p.run(progress, each);
}

result<std::vector<scan_outcome>> scan_jobs(const std::vector<scan_job>& jobs, const scan_function& scan,
                                            const pool_options& options, const progress_function& progress,
                                            const outcome_function& each) {
    if (options.sandbox) return scan_in_workers(jobs, scan, options, progress, each);
    return scan_in_process(jobs, scan, progress, options.max_stream_bytes, each);
}

std::vector<scan_outcome> scan_in_process(const std::vector<scan_job>& jobs, const scan_function& scan,
                                          const progress_function& progress, std::uint64_t max_stream_bytes,
                                          const outcome_function& each) {
    std::vector<scan_outcome> out;
    out.reserve(jobs.size());
    std::size_t unsafe = 0;
    for (const scan_job& job : jobs) {
        bool stream = job.path == "-" && job.fd < 0;
        // A descriptor given by the caller is mapped through its /proc name,
        // as the file it is (its offset may be anywhere).
        auto file = stream ? read_stream(0, "standard input", max_stream_bytes)
                           : job.fd >= 0 ? map_regular_file("/proc/self/fd/" + std::to_string(job.fd))
                                         : map_regular_file(job.path, job.no_follow);
        if (!file) out.push_back({stream ? stream_failure_report(job.path, file.error())
                                         : unreadable_report(job.path, file.error().reason), {}});
        else out.push_back(scan(file.value().bytes(), job));
        out.back().report.path = job.path;
        if (!out.back().skip_reason && out.back().report.verdict == verdict::unsafe) ++unsafe;
        if (progress) progress(out.size(), unsafe);
        if (each) each(out.size() - 1, out.back());
    }
    return out;
}

}  // namespace pickleguard
