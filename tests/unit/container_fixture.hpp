// Test helper: what the container and readings tests share. Their inputs are
// files written at build time by tests/containers/*.py, or 7z archives
// written here with libarchive (Python's standard library has no 7z writer),
// and each is scanned as a file (scan_file) under a shipped policy.
#pragma once

#include "pickleguard/container.hpp"

#include "pickle_bytes.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pickleguard::testing {

// os.system('id') under protocol 2: the payload the tests hide.
inline const std::string kEvil = pb(R"(\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.)");

// The bytes of `dir`/`name`, an input written at build time.
inline std::string read_input(const std::string& dir, const std::string& name) {
    std::ifstream f(dir + "/" + name, std::ios::binary);
    EXPECT_TRUE(f.good()) << name;
    return {std::istreambuf_iterator<char>(f), {}};
}

// An archive of `members` (name, bytes) written by libarchive in `format`
// (ARCHIVE_FORMAT_*), through `filter` (ARCHIVE_FILTER_*), with its write
// `options` ("compression=store", ...) when given.
inline std::string archive_of(int format, int filter, const std::vector<std::pair<std::string, std::string>>& members,
                              const char* options = nullptr) {
    std::vector<char> buf(1 << 20);
    std::size_t used = 0;
    archive* a = archive_write_new();
    EXPECT_EQ(archive_write_set_format(a, format), ARCHIVE_OK);
    EXPECT_EQ(archive_write_add_filter(a, filter), ARCHIVE_OK);
    if (options) {
        EXPECT_EQ(archive_write_set_options(a, options), ARCHIVE_OK);
    }
    EXPECT_EQ(archive_write_open_memory(a, buf.data(), buf.size(), &used), ARCHIVE_OK);
    for (const auto& [name, data] : members) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, name.c_str());
        archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK);
        EXPECT_EQ(archive_write_data(a, data.data(), data.size()), static_cast<la_ssize_t>(data.size()));
        archive_entry_free(e);
    }
    EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return std::string(buf.data(), used);
}

// A 7z archive of `members`, with libarchive's write `options` when given.
inline std::string seven_zip(const std::vector<std::pair<std::string, std::string>>& members,
                             const char* options = nullptr) {
    return archive_of(ARCHIVE_FORMAT_7ZIP, ARCHIVE_FILTER_NONE, members, options);
}

// A fixture that scans bytes as a file, keeping them alive for the report.
class FileScan : public ::testing::Test {
protected:
    file_report scan_data(std::string data, const std::string& policy_name = "pytorch", scan_options options = {}) {
        data_ = std::move(data);
        policy p = load_shipped_policy(policy_name).value();
        return scan_file(std::as_bytes(std::span(data_.data(), data_.size())), p, options, "input");
    }
    // The first finding of `rule`, in `member` unless that is "*".
    static const finding* find(const file_report& r, std::string_view rule, std::string_view member = "*") {
        auto it = std::find_if(r.findings.begin(), r.findings.end(), [&](const finding& f) {
            return f.rule == rule && (member == "*" || to_string(f.member) == member);
        });
        return it == r.findings.end() ? nullptr : &*it;
    }
    std::string data_;
};

}  // namespace pickleguard::testing
