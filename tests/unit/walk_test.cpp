// The directory walk (lib/src/scan/walk.cpp) and the open of what it found
// (lib/src/sandbox/worker_pool.cpp, lib/src/read/mapped_file.cpp), against
// a file system that changes between the two. One test per technique.
//
// The scan function here never parses anything: it reports the bytes it was
// given as its one finding's message, so a test sees which file was read.
#include "pickleguard/sandbox.hpp"
#include "pickleguard/walk.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace pickleguard {
namespace {

namespace fs = std::filesystem;

struct temp_tree {
    fs::path root;
    temp_tree() {
        std::string t = (fs::temp_directory_path() / "pickleguard-walk-XXXXXX").string();
        root = ::mkdtemp(t.data());
        fs::create_directory(root / "d");
    }
    ~temp_tree() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    void write(const std::string& rel, const std::string& text) const { std::ofstream(root / rel) << text; }
};

scan_outcome echo(std::span<const std::byte> bytes, const scan_job& job) {
    file_report r;
    r.path = job.path;
    r.findings.push_back(make_finding("echo", severity::info,
                                      std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), {},
                                      std::nullopt, false));
    return {r, {}};
}

std::vector<scan_outcome> scan_both_ways(const std::vector<scan_job>& jobs, bool sandbox) {
    pool_options options;
    options.sandbox = sandbox;
    options.jobs = 1;
    auto out = scan_jobs(jobs, echo, options, {});
    EXPECT_TRUE(out) << (out ? "" : out.error().reason);
    return out ? std::move(out.value()) : std::vector<scan_outcome>{};
}

// TOCTOU: the walk lists d/a.pkl as a regular file; a symbolic link to a
// file the walk never listed takes its place before the scan opens it. The
// open must not follow it (O_NOFOLLOW) and the file is an `error`, not
// skipped and not the link's target reported under the walked name.
TEST(Walk, LinkSwappedInAfterTheWalkIsAnErrorNotItsTarget) {
    for (bool sandbox : {true, false}) {
        temp_tree t;
        t.write("d/a.pkl", "walked");
        t.write("secret", "not walked");
        walk_result found = walk_paths({(t.root / "d").string()}, {});
        ASSERT_EQ(found.files.size(), 1u);
        EXPECT_TRUE(found.files[0].no_follow);
        fs::remove(t.root / "d/a.pkl");
        fs::create_symlink(t.root / "secret", t.root / "d/a.pkl");

        auto out = scan_both_ways(found.files, sandbox);
        ASSERT_EQ(out.size(), 1u) << "sandbox " << sandbox;
        EXPECT_FALSE(out[0].skip_reason);
        EXPECT_EQ(out[0].report.verdict, verdict::error) << "sandbox " << sandbox;
        ASSERT_EQ(out[0].report.findings.size(), 1u);
        const std::string& message = out[0].report.findings[0].message;
        EXPECT_NE(message.find("symbolic link"), std::string::npos) << message;
        EXPECT_EQ(message.find("not walked"), std::string::npos) << message;
    }
}

// A link named on the command line is followed, as any loader opens it
// (docs/commands.md), and so is one the walk meets under --follow-symlinks.
TEST(Walk, NamedLinksAndFollowedLinksAreStillFollowed) {
    for (bool sandbox : {true, false}) {
        temp_tree t;
        t.write("target", "through the link");
        fs::create_symlink(t.root / "target", t.root / "named.pkl");
        fs::create_symlink(t.root / "target", t.root / "d/link.pkl");
        walk_options follow;
        follow.follow_symlinks = true;
        walk_result found = walk_paths({(t.root / "named.pkl").string(), (t.root / "d").string()}, follow);
        ASSERT_EQ(found.files.size(), 2u);
        for (const scan_job& job : found.files) EXPECT_FALSE(job.no_follow) << job.path;

        auto out = scan_both_ways(found.files, sandbox);
        ASSERT_EQ(out.size(), 2u);
        for (const scan_outcome& o : out) {
            EXPECT_NE(o.report.verdict, verdict::error) << o.report.path << " sandbox " << sandbox;
            ASSERT_EQ(o.report.findings.size(), 1u);
            EXPECT_EQ(o.report.findings[0].message, "through the link");
        }
    }
}

}  // namespace
}  // namespace pickleguard
