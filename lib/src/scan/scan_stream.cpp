// Pickle streams as pickle.load reads them: the first, then any pickle after
// its STOP (a reader that calls pickle.load again runs it), and the bytes a
// pickle hands to a nested loader. Each stream is decoded once and judged.
#include "scan/scan_stream.hpp"

#include "pickleguard/judge.hpp"
#include "pickleguard/limits.hpp"
#include "pickleguard/rules.hpp"

#include <algorithm>

namespace pickleguard::scan {

void scan_streams(const stream_context& ctx, std::span<const std::byte> bytes, const location& member, int depth,
                  const std::function<void(const decoding&)>* first_stream, call_cost_budget* budget) {
    // One load: the pickle, those after its STOP (a reader calling
    // pickle.load again in the same process) and the nested ones share the
    // budget, so that spreading the calls over streams gains nothing.
    call_cost_budget own;
    if (!budget) budget = &own;
    const scan_options& options = ctx.options;
    file_report& out = ctx.report;
    decode_options dopt = options.decode;
    dopt.limit = tighter(options.decode.limit, ctx.p.limits());
    const nested_pickle_sink nested = [&](std::span<const std::byte> inner, const location& name) {
        if (depth < options.max_nested_depth) scan_streams(ctx, inner, name, depth + 1, nullptr, budget);
    };
    std::size_t offset = 0;
    for (int index = 1;; ++index) {
        location name = index == 1 ? member : member.pickle(static_cast<std::uint64_t>(index), offset);
        decoding d = decode(bytes, dopt, offset);
        if (index > 1 && d.failure && d.events.empty()) {
            // Not a pickle: pickle.load stops at the first STOP and never reads it.
            return;
        }
        ++out.pickles;
        judge_pickle({d, bytes, ctx.p, ctx.kb, dopt.limit, name, budget}, out, nested);
        if (index == 1 && first_stream) (*first_stream)(d);
        if (d.failure || d.end >= bytes.size() || !options.scan_trailing_pickles) return;
        finding f;
        f.rule = rule::data_after_stop;
        f.severity = severity::low;
        f.violation = false;
        f.member = member;
        f.offset = d.end;
        f.message = std::to_string(bytes.size() - d.end) + " bytes follow the STOP at offset " + std::to_string(d.end - 1) +
                    ". pickle.load ignores them, but a reader that calls it again runs them: any pickle there is "
                    "scanned too";
        out.findings.push_back(std::move(f));
        offset = d.end;
    }
}

}  // namespace pickleguard::scan

namespace pickleguard {

void scan_pickle_stream(std::span<const std::byte> bytes, const policy& p, const knowledge_base& kb,
                        const scan_options& options, const location& member, file_report& out) {
    scan::scan_streams({p, kb, options, out}, bytes, member, 0, nullptr);
}

file_report scan_bytes(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                       const std::string& path, const knowledge_base& kb) {
    file_report r;
    r.path = path;
    r.format = "pickle";
    r.bytes = bytes.size();
    scan_pickle_stream(bytes, p, kb, options, {}, r);
    r.settle();
    return r;
}

}  // namespace pickleguard
