// scan_file: the orchestrator. It detects every reading of a file once,
// hands each container reading to its reader, and decodes and judges every
// pickle the readers hand back, as the loader that will read the file would.
// Readers never see the policy (pickleguard/read.hpp); the judge never sees
// a container (pickleguard/judge.hpp).
#include "scan/open_member.hpp"
#include "scan/scan_stream.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/read.hpp"
#include "pickleguard/rules.hpp"

#include <algorithm>

namespace pickleguard::scan {
namespace {

class file_scan final : public read::reader_host {
public:
    file_scan(const policy& p, const knowledge_base& kb, const scan_options& options, file_report& report)
        : streams_{p, kb, options, report}, ctx_{*this, options, report.findings}, report_(report) {}

    read::read_context& context() { return ctx_; }

    // Every reading of `bytes`: each reader that could accept them gets
    // them (detect_readings), and two readings make a polyglot, a finding of
    // its own. A zip's end record is looked for behind every other reading,
    // as CPython's zipfile does.
    void member(read::bytes_view bytes, const location& name, int depth) override {
        const bool zip_behind = open_member(ctx_, bytes, name, depth, [this](read::bytes_view b, const location& n) {
            joblib_pickle(b, n);
        });
        if (depth == 0 && zip_behind) zip_behind_at_top_ = true;
        if (depth == 0 && ctx_.readings_once(bytes).empty()) report_.verdict = verdict::error;  // unknown-format
    }

    void pickle(read::bytes_view bytes, const location& name,
                const std::function<void(const decoding&)>* decoded) override {
        scan_streams(streams_, bytes, name, 0, decoded);
    }

    std::uint64_t pickles() const override { return report_.pickles; }

    bool zip_behind_at_top() const { return zip_behind_at_top_; }

private:
    // A pickle stream as its loaders read it: joblib.load skips the raw
    // array bytes after each NumpyArrayWrapper (object arrays are nested
    // pickles); pickle.load, pandas.read_pickle and a plain load of a .pkl
    // joblib wrote skip nothing. A stream with a wrapper is judged both ways.
    void joblib_pickle(read::bytes_view bytes, const location& name) {
        bool wrappers = false;
        scan_options options = streams_.options;
        options.decode.after_build = read::joblib_array_reader(ctx_, bytes, name, wrappers);
        stream_context joblib_streams{streams_.p, streams_.kb, options, report_};
        scan_streams(joblib_streams, bytes, name, 0, nullptr);
        if (wrappers) judge_as_plain_pickle(bytes, name);
    }

    // The same stream as pickle.load reads it: nothing is skipped, so the
    // bytes after each NumpyArrayWrapper are opcodes. A file can be benign
    // under joblib.load and run code under pickle.load (the differential fuzz
    // target found such streams), so whatever that reading resolves or calls
    // beyond the policy is a finding too. Its decode errors are not: real
    // array bytes are not opcodes, and pickle.load stops at them with an
    // exception.
    void judge_as_plain_pickle(read::bytes_view bytes, const location& name) {
        file_report plain;
        stream_context plain_streams{streams_.p, streams_.kb, streams_.options, plain};
        scan_streams(plain_streams, bytes, name, 0, nullptr);
        file_report& out = report_;
        auto known = [&](const finding& f) {
            return std::any_of(out.findings.begin(), out.findings.end(), [&](const finding& g) {
                return g.rule == f.rule && g.member == f.member && g.offset == f.offset && g.module == f.module &&
                       g.name == f.name;
            });
        };
        for (finding& f : plain.findings) {
            if (!f.violation || f.rule == rule::malformed_pickle || f.rule == rule::limit_exceeded ||
                f.rule == rule::data_after_stop || known(f))
                continue;
            f.message = "if read with pickle.load rather than joblib.load (array bytes are then opcodes): " + f.message;
            out.findings.push_back(std::move(f));
        }
        for (global_report& g : plain.globals) {
            bool listed = std::any_of(out.globals.begin(), out.globals.end(), [&](const global_report& h) {
                return h.member == g.member && h.module == g.module && h.name == g.name &&
                       h.raw_module == g.raw_module && h.raw_name == g.raw_name;
            });
            if (!listed) out.globals.push_back(std::move(g));
        }
    }

    stream_context streams_;
    read::read_context ctx_;
    file_report& report_;
    bool zip_behind_at_top_ = false;
};

}  // namespace
}  // namespace pickleguard::scan

namespace pickleguard {

file_report scan_file(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                      const std::string& path, const knowledge_base& kb) {
    file_report r;
    r.path = path;
    r.bytes = bytes.size();
    scan::file_scan scan(p, kb, options, r);
    scan.context().lasting = bytes;
    for (format f : scan.context().readings_once(bytes)) r.readings.emplace_back(to_string(f));
    r.format = r.readings.empty() ? std::string() : r.readings.front();
    scan.member(bytes, {}, 0);
    if (scan.zip_behind_at_top()) r.readings.push_back("zip");
    if (r.format == "pickle" && scan.context().joblib_seen) r.format = "joblib";
    r.settle();
    return r;
}

}  // namespace pickleguard
