// pickleguard/error.hpp — errors as values.
//
// Every failure in pickleguard is an `error` value carrying where it happened
// (a byte offset into the input and, when one was being read, the opcode) and
// why, in words a person can act on. Functions that can fail return
// `result<T>`, a Boost.Outcome result holding either a T or an error:
//
//     pickleguard::result<pickleguard::mapped_file> file = pickleguard::map_file(path);
//     if (!file) {
//         std::fprintf(stderr, "%s\n", pickleguard::describe(file.error()).c_str());
//         return 2;
//     }
//
// No exception crosses the library's public API.
#pragma once

#include <boost/outcome/result.hpp>
#include <boost/outcome/policy/terminate.hpp>

#include <cstdint>
#include <string>

namespace pickleguard {

// What went wrong, coarsely: callers branch on this, people read `reason`.
enum class error_kind : std::uint8_t {
    malformed,    // CPython's unpickler rejects this input too
    truncated,    // the input ends inside an opcode or before STOP
    limit,        // a configured resource limit was reached (CPython might accept)
    unsupported,  // CPython may accept this, but we cannot follow it statically
    io,           // the input could not be read
    usage,        // the caller asked for something impossible (bad policy file, ...)
};

const char* to_string(error_kind kind) noexcept;

struct error {
    static constexpr std::uint64_t no_offset = ~std::uint64_t{0};
    static constexpr int no_opcode = -1;

    error_kind kind = error_kind::malformed;
    std::uint64_t offset = no_offset;  // byte offset of the opcode (or record) at fault
    int opcode = no_opcode;            // opcode byte being executed, if any
    std::string reason;                // one line: what and why
};

// "offset 12 (BINPUT): reason" — the form used on stderr and in reports.
std::string describe(const error& e);

template <class T>
using result = boost::outcome_v2::result<T, error, boost::outcome_v2::policy::terminate>;

}  // namespace pickleguard
