// Sandboxed worker processes for `pickleguard scan` (worker_pool.hpp).
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
// Protocol on each worker's socket (SOCK_STREAM, one job in flight):
//   parent -> worker: job_header + path bytes, the file's descriptor attached
//   worker -> parent: u64 length, then a message: 'R' ready | 'F' reason
//                     (the sandbox failed) | 'O' retire-flag outcome
#include "worker_pool.hpp"

#include "sandbox.hpp"

#include "pickleguard/input.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
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

namespace pickleguard::cli {
namespace {

using clock = std::chrono::steady_clock;

struct job_header {
    std::uint64_t index;
    std::uint64_t size;      // of a regular file; 0 for a stream
    std::uint32_t path_len;
    std::uint8_t regular;    // map it; otherwise read it to the end
    std::uint8_t named;
    std::uint8_t pad[2];
};

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
    while (n) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
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
bool receive_job(int channel, job_header& h, std::string& path, int& fd) {
    fd = -1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{&h, sizeof h};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = ::recvmsg(channel, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    if (static_cast<std::size_t>(n) < sizeof h &&
        !read_all(channel, reinterpret_cast<char*>(&h) + n, sizeof h - static_cast<std::size_t>(n)))
        return false;
    if (fd < 0 || h.path_len > (1u << 20)) return false;
    path.assign(h.path_len, '\0');
    return read_all(channel, path.data(), path.size());
}

file_report out_of_memory_report(const scan_job& job, const pool_options& options) {
    file_report r;
    r.path = job.path;
    r.verdict = verdict::error;
    finding f;
    f.rule = "scanner-crashed";
    f.message = "the scanner process ran out of memory while reading this file (its limit is " +
                std::to_string(options.memory_bytes >> 20) +
                " MB plus the file's size, --max-memory); the file is not judged";
    r.findings.push_back(std::move(f));
    return r;
}

scan_outcome scan_descriptor(int fd, const job_header& h, const scan_job& job, const scan_function& scan,
                             const pool_options& options) {
    try {
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
        auto file = read_stream(fd, job.path);
        if (!file) return {unreadable_report(job.path, file.error().reason), {}};
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
    ::close_range(4, ~0u, 0);
    if (!hooks.crash_on.empty()) std::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would print, not crash

    sandbox_limits limits;
    // Workers are reused, and RLIMIT_CPU counts a process's whole life: a
    // worker retires once it has used half its budget, so every file gets at
    // least the other half, more than the wall-clock deadline allows.
    limits.cpu_seconds = options.timeout_seconds > 0 ? static_cast<std::uint64_t>(options.timeout_seconds) * 2 + 10 : 0;
    limits.memory_bytes = options.memory_bytes;
    if (auto failed = enter_sandbox(limits, channel)) {
        send_message(channel, kFatal, *failed);
        worker_exit(120);
    }
    if (!send_message(channel, kReady, {})) worker_exit(0);

    job_header h{};
    std::string path;
    int fd = -1;
    while (receive_job(channel, h, path, fd)) {
        scan_job job{path, h.named != 0};
        std::string name = base_name(path);
        if (!hooks.crash_on.empty() && name == hooks.crash_on) crash_now();
        if (!hooks.open_on.empty() && name == hooks.open_on) (void)::open("/etc/hostname", O_RDONLY);
        if (!hooks.hang_on.empty() && name == hooks.hang_on) {
            volatile unsigned long spin = 0;
            while (true) spin = spin + 1;
        }
        scan_outcome outcome = scan_descriptor(fd, h, job, scan, options);
        ::close(fd);
        bool retire = limits.cpu_seconds && cpu_seconds_used() > static_cast<double>(limits.cpu_seconds) / 2;
        std::string body(1, retire ? '\1' : '\0');
        body += serialize(outcome);
        if (!send_message(channel, kOutcome, body) || retire) break;
    }
    worker_exit(0);
}

// ---- the parent ---------------------------------------------------------------

struct worker {
    pid_t pid = -1;
    int fd = -1;
    bool busy = false;
    std::size_t job = 0;
    clock::time_point deadline{};
    std::string inbuf;
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
            int left = 10'000 - static_cast<int>(waited);
            pollfd p{w.fd, POLLIN, 0};
            int n = left > 0 ? ::poll(&p, 1, left) : 0;
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                stop(w, true);
                return std::string("the worker did not start within 10 s");
            }
            open = fill(w);
        }
    }

    result<std::vector<scan_outcome>> run(const progress_function& progress) {
        std::vector<std::optional<scan_outcome>> out(jobs_.size());
        unsigned n = options_.jobs ? options_.jobs : available_cores();
        n = static_cast<unsigned>(std::min<std::size_t>(n, jobs_.size()));
        workers_.resize(n);
        for (std::size_t i = 0; i < n; ++i)
            if (auto why = spawn(i)) return fail(*why);

        std::size_t next = 0, done = 0, unsafe = 0;
        auto finish = [&](std::size_t job, scan_outcome o) {
            o.report.path = jobs_[job].path;  // the parent names files, not the worker
            if (!o.skip_reason && o.report.verdict == verdict::unsafe) ++unsafe;
            out[job] = std::move(o);
            ++done;
            if (progress) progress(done, unsafe);
        };
        while (done < jobs_.size()) {
            // Hand out work to idle workers.
            for (std::size_t i = 0; i < workers_.size() && next < jobs_.size(); ++i) {
                worker& w = workers_[i];
                if (w.busy) continue;
                if (w.pid < 0)
                    if (auto why = spawn(i)) return fail(*why);
                std::size_t j = next++;
                if (auto unreadable = dispatch(w, j)) finish(j, {std::move(*unreadable), {}});
                else if (!w.busy) {
                    // The worker died while idle: replace it, and retry this file.
                    --next;
                    stop(w, true);
                }
            }
            // Wait for a result, a death or a deadline.
            std::vector<pollfd> fds;
            std::vector<std::size_t> slots;
            auto now = clock::now();
            auto wait = std::chrono::milliseconds(200);
            for (std::size_t i = 0; i < workers_.size(); ++i) {
                if (!workers_[i].busy) continue;
                fds.push_back({workers_[i].fd, POLLIN, 0});
                slots.push_back(i);
                if (options_.timeout_seconds > 0)
                    wait = std::min(wait, std::max(std::chrono::milliseconds(0),
                                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       workers_[i].deadline - now) + std::chrono::milliseconds(1)));
            }
            if (fds.empty()) continue;
            int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
            if (ready < 0 && errno != EINTR) return fail(std::string("poll: ") + std::strerror(errno));
            for (std::size_t k = 0; k < fds.size(); ++k) {
                worker& w = workers_[slots[k]];
                if (ready > 0 && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                    bool alive = fill(w);
                    if (auto msg = take_message(w)) {
                        std::optional<scan_outcome> o;
                        bool retire = false;
                        if (msg->size() >= 2 && (*msg)[0] == kOutcome) {
                            retire = (*msg)[1] == '\1';
                            o = deserialize(std::string_view(*msg).substr(2));
                        }
                        std::size_t j = w.job;
                        w.busy = false;
                        if (!o) {
                            stop(w, true);
                            finish(j, {failure_report(j, "the scanner process sent a malformed result for this file"), {}});
                        } else {
                            if (retire) stop(w, false);
                            finish(j, std::move(*o));
                        }
                        continue;
                    }
                    if (!alive) {
                        std::size_t j = w.job;
                        w.busy = false;
                        std::string death = death_of(w);
                        finish(j, {failure_report(j, "the scanner process " + death + " while reading this file: " +
                                                         "it may be built to attack pickleguard itself; the file is "
                                                         "not judged (please report it, see SECURITY.md)"),
                                   {}});
                        continue;
                    }
                }
                if (w.busy && options_.timeout_seconds > 0 && clock::now() >= w.deadline) {
                    std::size_t j = w.job;
                    w.busy = false;
                    stop(w, true);
                    char secs[32];
                    std::snprintf(secs, sizeof secs, "%g", options_.timeout_seconds);
                    file_report r = failure_report(j, std::string("the scan of this file took longer than ") + secs +
                                                          " s (--timeout); the scanner process was stopped and "
                                                          "the file is not judged");
                    r.findings.back().rule = "scan-timeout";
                    finish(j, {std::move(r), {}});
                }
            }
        }
        std::vector<scan_outcome> result;
        result.reserve(out.size());
        for (auto& o : out) result.push_back(std::move(*o));
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
        file_report r;
        r.path = jobs_[job].path;
        r.verdict = verdict::error;
        finding f;
        f.rule = "scanner-crashed";
        f.severity = severity::high;
        f.message = message;
        r.findings.push_back(std::move(f));
        return r;
    }

    // Opens job j and sends it to w; returns a report instead if the file
    // cannot be opened. Leaves w idle if w is gone.
    std::optional<file_report> dispatch(worker& w, std::size_t j) {
        const std::string& path = jobs_[j].path;
        // "-" is standard input, which the worker reads as a stream.
        int fd = path == "-" ? ::fcntl(0, F_DUPFD_CLOEXEC, 0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) return unreadable_report(path, path + ": " + std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            int err = errno;
            ::close(fd);
            return unreadable_report(path, path + ": " + std::strerror(err));
        }
        if (S_ISDIR(st.st_mode)) {
            ::close(fd);
            return unreadable_report(path, path + ": is a directory");
        }
        job_header h{};
        h.index = j;
        h.regular = S_ISREG(st.st_mode) ? 1 : 0;
        h.size = h.regular ? static_cast<std::uint64_t>(st.st_size) : 0;
        h.path_len = static_cast<std::uint32_t>(path.size());
        h.named = jobs_[j].named ? 1 : 0;
        set_memory_limit(w.pid, options_.memory_bytes ? options_.memory_bytes + h.size : 0);

        std::string payload(reinterpret_cast<const char*>(&h), sizeof h);
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
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
        ssize_t n;
        do n = ::sendmsg(w.fd, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        bool sent = n == static_cast<ssize_t>(payload.size()) ||
                    (n > 0 && write_all(w.fd, payload.data() + n, payload.size() - static_cast<std::size_t>(n)));
        ::close(fd);  // the worker has its own copy now
        if (!sent) return std::nullopt;
        w.busy = true;
        w.job = j;
        w.deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                        std::chrono::duration<double>(options_.timeout_seconds));
        return std::nullopt;
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
        w.busy = false;
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
};

}  // namespace

file_report unreadable_report(const std::string& path, const std::string& reason) {
    file_report r;
    r.path = path;
    r.verdict = verdict::error;
    finding f;
    f.rule = "unreadable-file";
    f.severity = severity::high;
    f.message = reason;
    r.findings.push_back(std::move(f));
    return r;
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
                                                  const pool_options& options, const progress_function& progress) {
    if (jobs.empty()) return std::vector<scan_outcome>{};
    pool p(jobs, scan, options);
    return p.run(progress);
}

result<std::vector<scan_outcome>> scan_jobs(const std::vector<scan_job>& jobs, const scan_function& scan,
                                            const pool_options& options, const progress_function& progress) {
    if (options.sandbox) return scan_in_workers(jobs, scan, options, progress);
    return scan_in_process(jobs, scan, progress);
}

std::vector<scan_outcome> scan_in_process(const std::vector<scan_job>& jobs, const scan_function& scan,
                                          const progress_function& progress) {
    std::vector<scan_outcome> out;
    out.reserve(jobs.size());
    std::size_t unsafe = 0;
    for (const scan_job& job : jobs) {
        auto file = job.path == "-" ? read_stream(0, "<stdin>") : map_file(job.path);
        if (!file) out.push_back({unreadable_report(job.path, file.error().reason), {}});
        else out.push_back(scan(file.value().bytes(), job));
        out.back().report.path = job.path;
        if (!out.back().skip_reason && out.back().report.verdict == verdict::unsafe) ++unsafe;
        if (progress) progress(out.size(), unsafe);
    }
    return out;
}

}  // namespace pickleguard::cli
