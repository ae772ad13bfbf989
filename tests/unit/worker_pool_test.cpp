// The sandboxed worker pool (lib/src/sandbox/worker_pool.cpp): what a worker
// process holds besides its channel. One test per technique.
//
// The scan functions here parse nothing: they report what the worker sees
// (its pid, what fd 0 reads) as their one finding's message.
#include "pickleguard/sandbox.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace pickleguard {
namespace {

scan_outcome say(const std::string& path, std::string message) {
    file_report r;
    r.path = path;
    r.findings.push_back(make_finding("said", severity::info, std::move(message), {}, std::nullopt, false));
    return {r, {}};
}

std::string link_of(const std::string& proc_path) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(proc_path.c_str(), buf, sizeof buf);
    return n < 0 ? "(readlink: " + std::to_string(errno) + ")" : std::string(buf, static_cast<std::size_t>(n));
}

// A worker with the parent's standard input could read what the parent
// reads there (`scan --stdin-paths` takes its paths from it), and one with
// its standard output could write into the report the parent prints: both
// are /dev/null in a worker. Standard error is kept, for a sanitizer's or
// abort()'s last words. Looked at from the parent, through /proc, while the
// worker is alive (it waits for its next job when `each` is called), and
// from inside: what the worker reads on fd 0 is nothing.
TEST(WorkerPool, WorkerStandardInputAndOutputAreDevNull) {
    // The parent's standard input: a pipe holding bytes a worker must not get.
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    ASSERT_EQ(::write(p[1], "parent's input", 14), 14);
    ::close(p[1]);
    int saved_stdin = ::dup(0);
    ASSERT_GE(saved_stdin, 0);
    ASSERT_EQ(::dup2(p[0], 0), 0);
    ::close(p[0]);

    std::string seen_0, seen_1, seen_2;
    scan_function look = [](std::span<const std::byte>, const scan_job& job) {
        char buf[64];
        ssize_t n = ::read(0, buf, sizeof buf);  // read(2) of any descriptor is allowed in the sandbox
        return say(job.path, std::to_string(::getpid()) + " " +
                                 (n < 0 ? std::string("error") : std::string(buf, static_cast<std::size_t>(n))));
    };
    outcome_function each = [&](std::size_t, const scan_outcome& o) {
        const std::string& m = o.report.findings.at(0).message;
        std::string pid = m.substr(0, m.find(' '));
        seen_0 = link_of("/proc/" + pid + "/fd/0");
        seen_1 = link_of("/proc/" + pid + "/fd/1");
        seen_2 = link_of("/proc/" + pid + "/fd/2");
    };
    char file[] = "/tmp/pickleguard-pool-XXXXXX";  // a regular file to scan: the pool refuses others
    int fd = ::mkstemp(file);
    ASSERT_GE(fd, 0);
    ::close(fd);
    pool_options options;
    options.jobs = 1;
    auto out = scan_in_workers({{file, true}}, look, options, {}, each);
    ::dup2(saved_stdin, 0);
    ::close(saved_stdin);
    ::unlink(file);

    ASSERT_TRUE(out) << out.error().reason;
    ASSERT_EQ(out.value().size(), 1u);
    ASSERT_EQ(out.value()[0].report.findings.size(), 1u) << out.value()[0].report.findings[0].message;
    const std::string& message = out.value()[0].report.findings[0].message;
    EXPECT_EQ(message.substr(message.find(' ') + 1), "") << "the worker read its parent's standard input";
    EXPECT_EQ(seen_0, "/dev/null");
    EXPECT_EQ(seen_1, "/dev/null");
    EXPECT_EQ(seen_2, link_of("/proc/self/fd/2"));
}

}  // namespace
}  // namespace pickleguard
