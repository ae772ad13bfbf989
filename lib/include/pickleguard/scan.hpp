// pickleguard/scan.hpp — judging pickles against a policy.
//
// The scanner decodes, then checks every global, call, instantiation,
// mutation, persistent id and extension code against the policy. It is an
// allow-list: anything the policy does not name is a finding, and the
// knowledge base only adds why it is dangerous. Anything that could not be
// fully decoded makes the file unsafe, and every finding before the error is
// still reported, since CPython has already executed all of it by then.
//
//     auto policy = pickleguard::load_shipped_policy("default").value();
//     pickleguard::file_report r = pickleguard::scan_bytes(bytes, policy, {}, "model.pkl");
//     if (r.verdict != pickleguard::verdict::safe) reject(r);
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/location.hpp"
#include "pickleguard/policy.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pickleguard {

enum class verdict : std::uint8_t { safe, unsafe, error };
const char* to_string(verdict v) noexcept;

struct finding {
    std::string rule;         // stable identifier, e.g. "global-not-allowed"
    pickleguard::severity severity = severity::high;
    std::string message;      // what, where, why, and how to fix
    location member;          // where in the file (a container member "archive/data.pkl", a nested pickle); no steps for a bare pickle
    std::optional<std::uint64_t> offset;  // byte offset of the opcode, within the member
    std::string opcode;       // opcode name, when one is at fault
    std::string module, name; // the global, when the finding is about one (as find_class resolves it)
    bool violation = true;    // breaks the policy: the file is unsafe
};

// A finding as every stage builds one (`rule` a pickleguard::rule constant);
// the stage adds what only it knows, such as the opcode.
finding make_finding(std::string rule, pickleguard::severity sev, std::string message, location member = {},
                     std::optional<std::uint64_t> offset = std::nullopt, bool violation = true);

struct global_report {
    std::string module, name;          // as CPython's find_class resolves them
    std::string raw_module, raw_name;  // as the stream spells them
    location member;                   // as finding::member
    bool allowed = false;
    std::uint8_t uses = 0;             // pickleguard::uses bits the pickle needs
    std::uint64_t offset = 0;          // first occurrence
    std::string opcode;
    std::uint8_t protocol = 0;
};

struct file_report {
    std::string path;
    std::string format;                // "pickle", "pytorch-zip", ...: the first of `readings`
    std::vector<std::string> readings; // every reading judged, container first ("tar", "pickle" for a polyglot)
    pickleguard::verdict verdict = verdict::safe;
    std::vector<finding> findings;
    std::vector<global_report> globals;
    std::uint64_t bytes = 0;
    std::uint64_t pickles = 0;         // pickle streams decoded

    // Recomputes the verdict from the findings (error stays error).
    void settle();

    // A file that was not judged (unreadable, refused, its scanner failed):
    // verdict error, and one high finding under `rule` says why.
    static file_report error(const std::string& path, std::string rule, std::string message);
};

// Bounds for containers: archives and compressed streams are opened
// recursively, and decompression bombs end in a finding, not in memory.
struct container_limits {
    std::uint64_t max_decompressed_bytes = std::uint64_t{8} << 30;  // per file, all members summed
    std::uint64_t max_ratio = 1000;                                 // decompressed / compressed, per stream
    std::uint64_t max_entries = 100'000;                            // archive members per file
    int max_depth = 4;                                              // containers inside containers
};

struct scan_options {
    decode_options decode{};           // limits; a policy's [limits] are applied over these
    bool scan_trailing_pickles = true; // decode what follows STOP as further pickles
    int max_nested_depth = 3;          // pickles inside pickles (bytes passed to pickle.loads)
    container_limits containers{};
};

// Judges the pickle streams in `bytes` (one, then any that follow STOP) and
// appends findings and globals to `out`, located at `member`.
void scan_pickle_stream(std::span<const std::byte> bytes, const policy& p, const knowledge_base& kb,
                        const scan_options& options, const location& member, file_report& out);

// A bare pickle, without looking for a container around it (scan_file,
// container.hpp, does): decode, judge, settle.
file_report scan_bytes(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                       const std::string& path, const knowledge_base& kb = shipped_knowledge_base());

}  // namespace pickleguard
