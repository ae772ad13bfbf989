// pickleguard/members.hpp — a file's members and pickle streams, by name.
//
// What the readers hand on, as `scan_file` would see it: every member a
// container holds (followed into nested containers with the same detection
// and the same container_limits) and every pickle stream a loader would
// unpickle, each named exactly as a finding's `member` names it ("" is the
// file itself, "archive/data.pkl", "inner.tar > gzip", ...). Nothing is
// judged. For tools that want one member's bytes: `disasm --member`,
// `explain` on a container, a converter.
//
//     auto file = pickleguard::map_file("model.pt").value();
//     pickleguard::file_members m = pickleguard::read_members(file.bytes());
//     auto data = m.find("archive/data.pkl");   // result: the member, or why not
//     if (!data) std::fprintf(stderr, "%s\n", data.error().reason.c_str());
//     else pickleguard::disassemble(data.value()->bytes, {}, 0, print);
//
// Bytes of members stored as they are (an uncompressed zip entry, a tar
// member) point into the file, which must outlive the result; decompressed
// ones are owned by the result.
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/read.hpp"
#include "pickleguard/scan.hpp"

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

struct file_member {
    std::string name;                  // as findings' `member` spell it (to_string(where)); "" is the file itself
    location where;                    // the steps a finding's `member` holds
    std::span<const std::byte> bytes;  // into the file, or into the file_members that holds it
    std::vector<format> readings;      // what the bytes were read as (detect_readings); empty: none known
    bool pickle = false;               // a loader unpickles these bytes from their start: findings' offsets count here
};

class file_members {
public:
    // In the order the readers handed them on: the file first.
    const std::vector<file_member>& all() const { return members_; }
    // Only the pickle streams.
    std::vector<const file_member*> pickles() const;
    // The member named `name`; an error (kind usage) that lists the names
    // there are when none is, or when two different byte ranges share it
    // (a zip may hold two entries of one name).
    result<const file_member*> find(std::string_view name) const;
    // The member at `where`, step for step; nullptr when the readers made
    // none, or when two different entries share it (as find(name)).
    const file_member* find(const location& where) const;
    // The readers' own findings (a corrupt archive, a bomb, a member not
    // read), as scan_file would report them.
    const std::vector<finding>& findings() const { return findings_; }

private:
    friend file_members read_members(std::span<const std::byte>, const scan_options&);
    std::vector<file_member> members_;
    std::vector<finding> findings_;
    std::deque<std::vector<std::byte>> owned_;  // decompressed bytes; a deque, so they never move
};

// Reads `bytes` as scan_file does, without judging, and returns what the
// readers handed on. Never fails: what could not be read is a finding.
file_members read_members(std::span<const std::byte> bytes, const scan_options& options = {});

}  // namespace pickleguard
