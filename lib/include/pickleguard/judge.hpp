// pickleguard/judge.hpp — one decoded pickle against a policy.
//
// The judge is a function of a decoding, a policy and the knowledge base:
// it checks every global, call, instantiation, mutation, persistent id and
// extension code the decoder recorded, and appends findings and the globals
// the pickle needs to a report. It never reads bytes beyond the decoding,
// never opens a container and never decodes: bytes the pickle hands to a
// nested loader (pickle.loads) go to `nested`, for the caller to decode and
// judge (the scan stage does, pickleguard/scan.hpp).
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/location.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/scan.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace pickleguard {

// Bytes a call of a nested loader receives, and the location to report what
// they hold at: the pickle's, and an argument step ("data.pkl > argument 0 of
// pickle.loads at offset 12").
using nested_pickle_sink = std::function<void(std::span<const std::byte> bytes, const location& member)>;

// The cost of the allowed calls, instantiations and BUILDs judged so far
// (allow_entry::cost, [limits] max_call_cost), shared by the streams one
// load runs: a pickle, those after its STOP (a reader calling pickle.load
// again) and those it hands to nested loaders. One counter, no allocation.
struct call_cost_budget {
    std::uint64_t spent = 0;  // saturates at 2^64 - 1
    bool reported = false;
    // What a call is handed costs on top of its entry's cost: a unit per
    // item of each container argument (set, Counter, deque, list, tuple,
    // dict, OrderedDict iterate their argument one level: shallow), and a
    // unit per kBytesPerUnit bytes of each str/bytes argument and of each
    // integer argument of an entry with max_int_arg (bytes(n), bytearray(n)
    // allocate n bytes). The memo hands one argument to any number of
    // calls; so the budget (2**21 units) also bounds the memory those calls
    // copy or allocate, at 128 MiB.
    static constexpr std::uint64_t kBytesPerUnit = 64;
    static constexpr std::uint64_t plus(std::uint64_t a, std::uint64_t b) noexcept {
        return b > ~std::uint64_t{0} - a ? ~std::uint64_t{0} : a + b;
    }
    static constexpr std::uint64_t byte_units(std::uint64_t bytes) noexcept { return bytes / kBytesPerUnit; }
    // Adds `units`; true once, when the sum first goes past `limit` (which
    // 2^64 - 1 never is: the sum saturates there).
    constexpr bool charge(std::uint64_t units, std::uint64_t limit) noexcept {
        spent = plus(spent, units);
        if (reported || spent <= limit) return false;
        reported = true;
        return true;
    }
};

struct judge_input {
    const decoding& decoded;
    std::span<const std::byte> bytes;  // what was decoded (for the opcode at a finding's offset)
    const policy& p;
    const knowledge_base& kb;
    const limits& limit;               // the decode limits in force, the policy's [limits] applied
    const location& member;
    call_cost_budget* budget = nullptr;  // shared with the other streams of one load; nullptr: this stream's own
};

void judge_pickle(const judge_input& in, file_report& out, const nested_pickle_sink& nested);

}  // namespace pickleguard
