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

#include <functional>
#include <span>
#include <string>

namespace pickleguard {

// Bytes a call of a nested loader receives, and the location to report what
// they hold at: the pickle's, and an argument step ("data.pkl > argument 0 of
// pickle.loads at offset 12").
using nested_pickle_sink = std::function<void(std::span<const std::byte> bytes, const location& member)>;

struct judge_input {
    const decoding& decoded;
    std::span<const std::byte> bytes;  // what was decoded (for the opcode at a finding's offset)
    const policy& p;
    const knowledge_base& kb;
    const limits& limit;               // the decode limits in force, the policy's [limits] applied
    const location& member;
};

void judge_pickle(const judge_input& in, file_report& out, const nested_pickle_sink& nested);

}  // namespace pickleguard
