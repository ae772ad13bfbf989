// Internal: pickle streams as pickle.load reads them, for the scan stage.
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/judge.hpp"
#include "pickleguard/scan.hpp"

#include <functional>
#include <span>
#include <string>

namespace pickleguard::scan {

// What judging a file's pickle streams needs.
struct stream_context {
    const policy& p;
    const knowledge_base& kb;
    const scan_options& options;
    file_report& report;
};

// Decodes and judges the pickle at the start of `bytes`, then (with
// scan_options::scan_trailing_pickles) each pickle after its STOP, as a
// reader calling pickle.load again would; bytes the pickles hand to a nested
// loader (pickle.loads) are judged too, `depth` of them deep already.
// `first_stream`, when given, receives the first stream's decoding once it
// is judged. The streams share one budget of call cost ([limits]
// max_call_cost): `budget`, or one of their own when it is null (depth 0).
void scan_streams(const stream_context& ctx, std::span<const std::byte> bytes, const location& member, int depth,
                  const std::function<void(const decoding&)>* first_stream, call_cost_budget* budget = nullptr);

}  // namespace pickleguard::scan
