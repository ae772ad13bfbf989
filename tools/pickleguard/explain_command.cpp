// `pickleguard explain`: the findings of a scan with the decoded context a
// person wants before deciding: the opcodes around each finding's offset, as
// `disasm` prints them, and the values involved (what a REDUCE calls, with
// which arguments) as JSON, truncated.
#include "commands.hpp"

#include "pickleguard/disasm.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/json.hpp"
#include "pickleguard/location.hpp"
#include "pickleguard/members.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/sandbox.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>

namespace pickleguard::cli {
namespace {

struct stream_at {
    std::span<const std::byte> bytes;
    std::size_t start = 0;
};

std::string qualified(const global_name& g) { return std::string(g.module) + "." + std::string(g.name); }

// The stream a finding's location names. The member and part steps at its
// front name a member the readers hand on (read_members: the file itself
// when there are none); the steps the scan itself takes follow: a pickle
// after STOP (its start offset) and the bytes a call at an offset hands to a
// nested loader (its argument). The steps say which is which, whatever a
// member is named: a zip entry named like a nested argument stays a member.
class stream_locator {
public:
    stream_locator(std::span<const std::byte> file, const decode_options& options, const scan_options& readers)
        : file_(file), options_(options), readers_(readers) {}

    // The file's members, read once, when a finding first needs them.
    const file_members& members() {
        if (!members_) members_ = read_members(file_, readers_);
        return *members_;
    }

    // Why find() has no stream for a member the readers did hand on.
    std::optional<std::string> not_a_stream(const location& where) {
        const file_member* m = members().find(where);
        if (!m || m->pickle || m->readings.empty()) return std::nullopt;
        std::string readings;
        for (format f : m->readings) readings += (readings.empty() ? "" : "+") + std::string(to_string(f));
        return (where.steps.empty() ? std::string("the file") : "'" + m->name + "'") + " is a container (" + readings +
               "), not a pickle stream";
    }

    std::optional<stream_at> find(const location& where) {
        std::size_t k = 0;  // the member and part steps in front
        while (k < where.steps.size() &&
               (where.steps[k].kind == step_kind::member || where.steps[k].kind == step_kind::part))
            ++k;
        stream_at at{file_, 0};
        if (k > 0 || !file_is_pickle()) {
            const file_member* m = members().find(location{{where.steps.begin(), where.steps.begin() + k}});
            if (!m || !m->pickle) return std::nullopt;
            at = stream_at{m->bytes, 0};
        }
        for (std::size_t i = k; i < where.steps.size(); ++i) {
            const location_step& step = where.steps[i];
            switch (step.kind) {
                case step_kind::member:
                case step_kind::part: return std::nullopt;  // no reader opens a container inside a nested stream
                case step_kind::pickle: at.start = static_cast<std::size_t>(step.offset); break;
                case step_kind::argument: {
                    auto inner = argument(at, step.index, step.offset);
                    if (!inner) return std::nullopt;
                    at = *inner;
                    break;
                }
            }
        }
        return at;
    }

    // The bytes argument `index` of the call at `offset` in `s` holds, as the
    // judge handed them to the nested loader.
    std::optional<stream_at> argument(const stream_at& s, std::uint64_t index, std::uint64_t offset) {
        const decoding& d = decoded(s);
        for (const event& e : d.events) {
            if (e.offset != offset || e.kind != event_kind::call) continue;
            if (d.graph.kind(e.operand) != value_kind::tuple) continue;
            auto args = d.graph.items(e.operand);
            if (index >= args.size()) continue;
            value_kind k = d.graph.kind(args[index]);
            if (k != value_kind::bytes && k != value_kind::bytearray) continue;
            std::string_view text = d.graph.text(args[index]);
            return stream_at{std::as_bytes(std::span(text.data(), text.size())), 0};
        }
        return std::nullopt;
    }

    // Decoded once per stream; kept, since nested streams point into them.
    const decoding& decoded(const stream_at& s) {
        auto key = std::make_pair(static_cast<const void*>(s.bytes.data()), s.start);
        auto it = cache_.find(key);
        if (it != cache_.end()) return *it->second;
        decodings_.push_back(decode(s.bytes, options_, s.start));
        cache_[key] = &decodings_.back();
        return decodings_.back();
    }

private:
    // A bare pickle, or bytes no reader knows (decoded as far as they go,
    // as `disasm` does): the file is its own stream.
    bool file_is_pickle() {
        if (!file_readings_) file_readings_ = read::detect_readings(file_);
        return file_readings_->empty() || file_readings_->front() == format::pickle;
    }

    std::span<const std::byte> file_;
    decode_options options_;
    const scan_options& readers_;
    std::optional<file_members> members_;
    std::optional<std::vector<format>> file_readings_;
    std::list<decoding> decodings_;
    std::map<std::pair<const void*, std::size_t>, const decoding*> cache_;
};

// Collects, in one disassembly pass, the lines around each wanted offset.
class window_sink {
public:
    window_sink(const std::set<std::uint64_t>& offsets, std::size_t context) : wanted_(offsets), context_(context) {}

    void operator()(std::string_view line) {
        std::optional<std::uint64_t> off = offset_of(line);
        for (auto& [o, w] : windows_)
            if (w.after > 0) {
                w.lines.emplace_back(line);
                --w.after;
            }
        if (off && wanted_.count(*off) && !windows_.count(*off)) {
            window& w = windows_[*off];
            w.lines.assign(recent_.begin(), recent_.end());
            w.hit = w.lines.size();
            w.lines.emplace_back(line);
            w.after = context_;
        }
        recent_.emplace_back(line);
        if (recent_.size() > context_) recent_.pop_front();
    }

    // The lines around `offset`, the one at it marked; or, when decoding
    // never reached it, the last lines (where it stopped).
    std::string render(std::uint64_t offset) const {
        std::string out;
        auto it = windows_.find(offset);
        if (it == windows_.end()) {
            out += "      (no opcode starts at offset " + std::to_string(offset) + "; the last opcodes decoded:)\n";
            for (const std::string& l : recent_) out += "         " + l;
            return out;
        }
        for (std::size_t i = 0; i < it->second.lines.size(); ++i)
            out += (i == it->second.hit ? "   >> " : "      ") + it->second.lines[i];
        return out;
    }

private:
    static std::optional<std::uint64_t> offset_of(std::string_view line) {
        std::size_t i = 0;
        while (i < line.size() && line[i] == ' ') ++i;
        std::uint64_t v = 0;
        std::size_t digits = 0;
        for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i, ++digits) v = v * 10 + (line[i] - '0');
        if (!digits || i >= line.size() || line[i] != ':') return std::nullopt;
        return v;
    }

    struct window {
        std::vector<std::string> lines;
        std::size_t hit = 0;
        std::size_t after = 0;
    };
    const std::set<std::uint64_t>& wanted_;
    std::size_t context_;
    std::deque<std::string> recent_;
    std::map<std::uint64_t, window> windows_;
};

std::string truncated_json(const value_graph& g, value_ref v, std::size_t max_chars) {
    std::string s;
    bool cut = false;
    json_options opt;
    opt.max_bytes = max_chars * 4 + 4096;  // stop the writer soon after we stop keeping
    auto r = write_value_json(
        g, v,
        [&](std::string_view chunk) {
            if (s.size() >= max_chars) {
                cut = true;
                return;
            }
            s.append(chunk.substr(0, max_chars - s.size()));
            if (s.size() >= max_chars) cut = true;
        },
        opt);
    if (!r) cut = true;
    if (cut) s += " …(truncated)";
    return s;
}

// The values a finding is about: what the opcode at its offset calls, makes,
// builds or asks for; for a global, what the stream later does with it.
std::string describe_values(const decoding& d, std::uint64_t offset, std::size_t max_chars) {
    const value_graph& g = d.graph;
    std::string out;
    auto target_name = [&](value_ref t) {
        return g.kind(t) == value_kind::global ? qualified(g.global(t)) : std::string("a computed ") + to_string(g.kind(t));
    };
    std::vector<value_ref> globals_here;
    for (const event& e : d.events) {
        if (e.offset != offset) continue;
        switch (e.kind) {
            case event_kind::global: globals_here.push_back(e.target); break;
            case event_kind::call:
                out += "      calls " + target_name(e.target) + " with arguments " + truncated_json(g, e.operand, max_chars) + "\n";
                break;
            case event_kind::instantiate:
                out += "      makes a new " + target_name(e.target) + " with arguments " +
                       truncated_json(g, e.operand, max_chars) + "\n";
                break;
            case event_kind::build:
            case event_kind::append:
            case event_kind::setitem:
            case event_kind::additems:
                out += "      " + std::string(to_string(e.kind)) + " on " + truncated_json(g, e.target, max_chars / 2) +
                       "\n        with " + truncated_json(g, e.operand, max_chars) + "\n";
                break;
            case event_kind::persistent_id:
                out += "      persistent id " + truncated_json(g, e.operand, max_chars) + "\n";
                break;
            case event_kind::extension:
                out += "      extension code " + std::to_string(g.ext_code(e.target)) + "\n";
                break;
            case event_kind::buffer: break;
        }
    }
    // A global named here: how the rest of the stream uses it.
    std::size_t shown = 0, more = 0;
    for (value_ref gv : globals_here) {
        for (const event& e : d.events) {
            if (e.target != gv || e.kind == event_kind::global) continue;
            if (shown == 3) {
                ++more;
                continue;
            }
            ++shown;
            const char* verb = e.kind == event_kind::call ? "called" : e.kind == event_kind::instantiate ? "instantiated"
                                                                                                        : to_string(e.kind);
            out += "      then " + std::string(verb) + " at offset " + std::to_string(e.offset) + " with " +
                   truncated_json(g, e.operand, max_chars) + "\n";
        }
    }
    if (more) out += "      and used " + std::to_string(more) + " more times\n";
    return out;
}

}  // namespace

CLI::App* add_explain_command(CLI::App& app, explain_args& args) {
    CLI::App* cmd = app.add_subcommand(
        "explain", "Scan, and show each finding with the opcodes around it and the values involved");
    cmd->add_option("files", args.paths, "Pickle files")->required();
    cmd->add_option("--policy", args.policies, "Shipped policy name or TOML file; repeat to combine (default: default)")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--context,-C", args.context, "Opcodes shown before and after each finding (default 5)");
    cmd->add_option("--max-value-chars", args.max_value_chars, "Truncate each value's JSON here (default 400)");
    cmd->add_flag("--verbose,-v", args.verbose, "Also informational findings");
    cmd->add_option("--member", args.member,
                    "Only the findings in this member of a container (and in the streams nested in it), named as "
                    "scan reports name it");
    add_worker_options(cmd, args);
    return cmd;
}

namespace {

// Everything `explain` says about one file. It reads the untrusted bytes
// (scan, disassembly, decoded values), so it runs inside a sandboxed worker
// like `scan`, and returns its text with the report.
scan_outcome explain_file(std::span<const std::byte> bytes, const std::string& path, const policy& pol,
                          const std::string& policy_name, const scan_options& options, const explain_args& args) {
    file_report r = scan_target(bytes, pol, options, path);
    stream_locator locate(bytes, args.decode, options);
    // --member: its findings and those of the streams inside it (a pickle
    // after its STOP, bytes it hands a nested loader, members of a
    // container it is): every location that begins with its steps.
    std::optional<location> chosen;
    if (args.member && !args.member->empty()) {
        auto m = locate.members().find(*args.member);
        if (!m) {
            scan_outcome o;
            o.text = "error " + path + "  (" + r.format + "): " + m.error().reason + "\n\n";
            o.report = std::move(r);
            o.report.verdict = verdict::error;
            return o;
        }
        chosen = m.value()->where;
    }
    auto in_member = [&](const finding& f) {
        if (!chosen) return true;
        return f.member.steps.size() >= chosen->steps.size() &&
               std::equal(chosen->steps.begin(), chosen->steps.end(), f.member.steps.begin());
    };
    std::string out = to_string(r.verdict) + std::string(" ") + path + "  (" + r.format + ", " +
                      std::to_string(r.bytes) + " bytes, policy " + policy_name +
                      (args.member ? ", member '" + *args.member + "'" : std::string()) + ")\n";
    std::vector<const finding*> shown;
    for (const finding& f : r.findings)
        if ((f.violation || args.verbose || f.severity > severity::info) && in_member(f)) shown.push_back(&f);
    if (shown.empty()) out += "  no findings\n";

    // One disassembly pass per stream, collecting every window it needs.
    std::map<location, std::set<std::uint64_t>> wanted;
    for (const finding* f : shown)
        if (f->offset) wanted[f->member].insert(*f->offset);
    std::map<location, std::unique_ptr<window_sink>> windows;
    for (auto& [member, offsets] : wanted) {
        auto s = locate.find(member);
        if (!s) continue;
        auto w = std::make_unique<window_sink>(offsets, args.context);
        window_sink* raw = w.get();
        disassemble(s->bytes, args.decode, s->start, [raw](std::string_view line) { (*raw)(line); });
        windows[member] = std::move(w);
    }

    std::size_t n = 0;
    for (const finding* f : shown) {
        out += "\n  [" + std::to_string(++n) + "] " + to_string(f->severity) + " " + f->rule +
               (f->violation ? "" : " (not a violation)");
        if (std::string member = to_string(f->member); !member.empty()) out += "  in " + printable(member);
        if (f->offset) out += "  at offset " + std::to_string(*f->offset);
        if (!f->opcode.empty()) out += " (" + f->opcode + ")";
        out += "\n      " + printable(f->message) + "\n";
        if (!f->offset) continue;
        auto w = windows.find(f->member);
        if (w == windows.end()) {
            auto why = locate.not_a_stream(f->member);
            out += "      (no disassembly: " +
                   (why ? *why : std::string("pickleguard cannot tell which bytes this member is")) + ")\n";
            continue;
        }
        auto s = locate.find(f->member);
        std::string values = describe_values(locate.decoded(*s), *f->offset, args.max_value_chars);
        if (!values.empty()) out += values;
        out += "    disassembly:\n" + w->second->render(*f->offset);
    }
    out += "\n";
    scan_outcome o;
    o.report = std::move(r);
    o.text = std::move(out);
    return o;
}

}  // namespace

int run_explain(const explain_args& args) {
    std::string policy_name;
    auto pol = load_policy_options(args.policies, policy_name);
    if (!pol) {
        std::fprintf(stderr, "pickleguard: %s\n", pol.error().reason.c_str());
        return kExitError;
    }
    scan_options options;
    options.decode = args.decode;
    scan_function explain_one = [&](std::span<const std::byte> bytes, const scan_job& job) {
        return explain_file(bytes, job.path, pol.value(), policy_name, options, args);
    };
    std::vector<scan_job> jobs;
    for (const std::string& path : args.paths) jobs.push_back({path, true});
    auto done = scan_jobs(jobs, explain_one, args.pool(), [](std::size_t, std::size_t) {});
    if (!done) {
        std::fprintf(stderr, "pickleguard: %s\n", done.error().reason.c_str());
        return kExitError;
    }
    std::vector<scan_outcome> outcomes = std::move(done).value();

    int status = kExitOk;
    for (const scan_outcome& o : outcomes) {
        const file_report& r = o.report;
        if (r.verdict == verdict::error) status = kExitError;
        else if (r.verdict == verdict::unsafe && status == kExitOk) status = kExitFound;
        if (!o.text.empty()) {
            std::fwrite(o.text.data(), 1, o.text.size(), stdout);
            continue;
        }
        // No text: the file could not be opened, or the worker crashed or
        // timed out; the report says which.
        std::string out = to_string(r.verdict) + std::string(" ") + r.path + "\n";
        for (const finding& f : r.findings) out += "  " + f.rule + ": " + f.message + "\n";
        out += "\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
    }
    return status;
}

}  // namespace pickleguard::cli
