// seccomp-bpf and rlimits for scanner workers (seccomp_filter.hpp).
#include "seccomp_filter.hpp"

#include <seccomp.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <limits>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define PICKLEGUARD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PICKLEGUARD_ASAN 1
#endif
#endif

namespace pickleguard::sandbox {
namespace {

bool set_limit(int resource, rlim_t soft, rlim_t hard) {
    rlimit rl{soft, hard};
    return ::setrlimit(resource, &rl) == 0;
}

// One argument comparison, all fields given (libseccomp's SCMP_A0..5 macros
// leave datum_b out, which clang's -Wmissing-field-initializers rejects).
scmp_arg_cmp arg(unsigned index, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) { return {index, op, a, b}; }

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err < 0 ? -err : err); }

}  // namespace

std::optional<std::string> enter_sandbox(const sandbox_limits& limits, int channel) {
    // Die with the parent, never outlive it holding a file.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return errno_text("prctl(PR_SET_PDEATHSIG)", errno);
    if (::getppid() == 1) return std::string("the parent exited");

    // No core files: a crash on a 2 GB checkpoint must not write 2 GB. No
    // files written, no processes made (the filter forbids both anyway).
    if (!set_limit(RLIMIT_CORE, 0, 0)) return errno_text("setrlimit(RLIMIT_CORE)", errno);
    if (!set_limit(RLIMIT_FSIZE, 0, 0)) return errno_text("setrlimit(RLIMIT_FSIZE)", errno);
    if (limits.cpu_seconds) {
        // SIGXCPU at the soft limit, SIGKILL at the hard one if it is caught.
        if (!set_limit(RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 5))
            return errno_text("setrlimit(RLIMIT_CPU)", errno);
    }
#ifndef PICKLEGUARD_ASAN
    // The parent lowers RLIMIT_AS again for each file (set_memory_limit);
    // the hard limit stays where it was, so it can also raise it. AddressSanitizer
    // reserves terabytes of shadow memory, so sanitizer builds go without.
    if (limits.memory_bytes) {
        rlimit cur{};
        ::getrlimit(RLIMIT_AS, &cur);
        if (!set_limit(RLIMIT_AS, static_cast<rlim_t>(limits.memory_bytes), cur.rlim_max))
            return errno_text("setrlimit(RLIMIT_AS)", errno);
    }
#endif

    // glibc shrinks a thread arena's heap in place only after it has read
    // /proc/sys/vm/overcommit_memory once (check_may_shrink_heap in
    // malloc/arena.c): an openat the filter kills. A worker forked from any
    // thread but the main one allocates from such an arena, so a scan called
    // on a Python thread (a Dask worker's, whose MALLOC_TRIM_THRESHOLD_ is
    // 64 KiB) died on an ordinary file. heap_trim shrinks only a top chunk
    // of at least M_TRIM_THRESHOLD, and a thread arena's heap is at most
    // 64 MiB (HEAP_MAX_SIZE), so it never does now; the worker keeps what it
    // has freed instead (RLIMIT_AS still bounds it; freed memory is reused).
    // Under AddressSanitizer malloc is the sanitizer's, which never shrinks
    // a glibc heap, and its mallopt refuses the option.
#ifndef PICKLEGUARD_ASAN
    if (::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) != 1)
        return std::string("mallopt(M_TRIM_THRESHOLD) failed");
#endif

    // Default: kill the whole process. What decoding needs is listed; opening
    // anything (open, openat, socket, connect), running anything (execve,
    // fork, clone) and changing limits or the filter itself are not.
    scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) return std::string("seccomp_init failed (is seccomp available in this kernel?)");
    struct guard {
        scmp_filter_ctx c;
        ~guard() { ::seccomp_release(c); }
    } release{ctx};

    const unsigned ch = static_cast<unsigned>(channel);
    const pid_t self = ::getpid();
    int rc = 0;
    auto allow = [&](int nr) {
        if (rc == 0) rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    };
    auto allow_if = [&](int nr, scmp_arg_cmp cmp) {
        if (rc == 0) rc = ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, cmp);
    };

    // Reading: the job (and its descriptor) from the channel, then the file
    // from that descriptor; pipes given as named paths are read, not mapped.
    allow(SCMP_SYS(read));
    allow(SCMP_SYS(pread64));
    allow_if(SCMP_SYS(recvmsg), arg(0, SCMP_CMP_EQ, ch));
    allow(SCMP_SYS(close));
    // Writing: results to the channel, diagnostics to stderr; nothing else.
    allow_if(SCMP_SYS(write), arg(0, SCMP_CMP_EQ, ch));
    allow_if(SCMP_SYS(sendto), arg(0, SCMP_CMP_EQ, ch));  // send(): no SIGPIPE if the parent is gone
    allow_if(SCMP_SYS(write), arg(0, SCMP_CMP_EQ, 2));
    // Memory: the allocator and mapping the file, never executable pages.
    allow_if(SCMP_SYS(mmap), arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    allow_if(SCMP_SYS(mprotect), arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    allow(SCMP_SYS(munmap));
    allow(SCMP_SYS(mremap));
    allow(SCMP_SYS(brk));
    allow(SCMP_SYS(madvise));
    allow(SCMP_SYS(futex));
    // Time: the worker measures its own CPU time to retire before RLIMIT_CPU.
    allow(SCMP_SYS(clock_gettime));
    allow(SCMP_SYS(gettimeofday));
    // Ending: normally, or by abort() (raise: mask signals, signal itself only).
    allow(SCMP_SYS(exit));
    allow(SCMP_SYS(exit_group));
    allow(SCMP_SYS(rt_sigreturn));
    allow(SCMP_SYS(rt_sigprocmask));
    allow(SCMP_SYS(getpid));
    allow(SCMP_SYS(gettid));
    allow_if(SCMP_SYS(tgkill), arg(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(self)));
#ifdef PICKLEGUARD_SANITIZER_BUILD
    // The sanitizer runtimes probe whether memory is readable by writing it
    // into a pipe (IsAccessibleMemoryRange): sanitizer builds only, which
    // are for finding bugs, not for scanning hostile files in production.
    allow(SCMP_SYS(pipe2));
    allow(SCMP_SYS(sigaltstack));  // on thread and process exit
    allow(SCMP_SYS(write));
#endif
    if (rc != 0) return errno_text("seccomp_rule_add", rc);
    rc = ::seccomp_load(ctx);  // sets no_new_privs first
    if (rc != 0) return errno_text("seccomp_load", rc);
    return std::nullopt;
}

bool set_memory_limit(int pid, std::uint64_t bytes) {
#ifdef PICKLEGUARD_ASAN
    (void)pid;
    (void)bytes;
    return true;
#else
    rlimit cur{};
    if (::prlimit(pid, RLIMIT_AS, nullptr, &cur) != 0) return false;
    rlimit rl{bytes ? static_cast<rlim_t>(bytes) : cur.rlim_max, cur.rlim_max};
    if (rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    return ::prlimit(pid, RLIMIT_AS, &rl, nullptr) == 0;
#endif
}

std::string signal_name(int sig) {
    switch (sig) {
        case SIGSEGV: return "SIGSEGV";
        case SIGBUS: return "SIGBUS";
        case SIGABRT: return "SIGABRT";
        case SIGILL: return "SIGILL";
        case SIGFPE: return "SIGFPE";
        case SIGKILL: return "SIGKILL";
        case SIGSYS: return "SIGSYS";
        case SIGXCPU: return "SIGXCPU";
        case SIGTRAP: return "SIGTRAP";
        case SIGTERM: return "SIGTERM";
        default: return "signal " + std::to_string(sig);
    }
}

}  // namespace pickleguard::sandbox
