// pickleguard/limits.hpp — resource limits for decoding untrusted pickles.
//
// Every limit has a safe default and can be changed. Reaching one ends
// decoding with an error of kind `error_kind::limit` (never a crash, an
// exception or an allocation failure), and everything decoded before it is
// kept. Memory stays proportional to what the pickle really stores: a memo
// index near 2^32 costs one entry, not a 2^32-slot array as in CPython.
#pragma once

#include <cstdint>

namespace pickleguard {

struct limits {
    std::uint64_t max_input_bytes = std::uint64_t{1} << 40;   // 1 TiB: mapped, not copied
    std::uint64_t max_opcodes = std::uint64_t{1} << 32;
    std::uint32_t max_stack_depth = 1u << 22;           // items on the stack at once
    std::uint32_t max_mark_depth = 100'000;             // MARKs open at once
    std::uint32_t max_nesting_depth = 100'000;          // containers inside containers
    std::uint64_t max_memo_entries = std::uint64_t{1} << 28;
    std::uint64_t max_memo_index = std::uint64_t{1} << 28;
    std::uint64_t max_container_items = std::uint64_t{1} << 30;  // items in one container
    std::uint64_t max_nodes = std::uint64_t{1} << 31;            // values created in total
    std::uint64_t max_decoded_bytes = std::uint64_t{1} << 40;    // str/bytes lengths, summed
    // CPython refuses decimal text integers longer than this (sys.int_info,
    // CVE-2020-10735); we mirror its default. Hex/octal/binary text has no
    // such rule in CPython, so it gets a separate, generous limit.
    std::uint32_t max_decimal_int_digits = 4300;
    std::uint32_t max_text_int_chars = 1u << 20;
    std::uint64_t max_json_bytes = std::uint64_t{1} << 34;       // decode output
    // CPython hash collisions among the keys of one dict or set: each key
    // counts the keys already there with the same hash() (for keys whose
    // hash does not depend on PYTHONHASHSEED: int, float, bool, None and
    // tuples/frozensets of them), which is how many probes CPython's
    // insertion makes. 300,000 multiples of 2**61-1 all hash to 0 and cost
    // 4.5e10 probes (minutes); the default is about a second's work.
    std::uint64_t max_hash_collisions = std::uint64_t{1} << 24;
    // Items a loader may draw from lazy values (range) that allowed calls
    // and __setstate__ consume, per call and in total per pickle, unless
    // the entry sets max_iter_len: set(range(10**12)) builds 10**12 items.
    std::uint64_t max_lazy_items = std::uint64_t{1} << 24;
};

}  // namespace pickleguard
