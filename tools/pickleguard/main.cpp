// pickleguard — decide whether a Python pickle is safe to load, without Python.
//
// This file only parses the command line and prints; everything it knows
// about pickles comes from the library's public headers.
#include "pickleguard/decode.hpp"
#include "pickleguard/disasm.hpp"
#include "pickleguard/json.hpp"
#include "pickleguard/opcodes.hpp"
#include "pickleguard/read.hpp"
#include "pickleguard/version.hpp"

#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <malloc.h>
#include <string>
#include <utility>
#include <vector>

namespace pickleguard::cli {

void add_worker_options(CLI::App* cmd, worker_args& args) {
    cmd->add_option("--timeout", args.timeout_seconds, "Seconds one file may take before it is an error (0: none)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--max-memory", args.max_memory_mb,
                    "Address space of a scanner process, in MB, plus the size of the file it reads");
    // A callback rather than CLI11's "!--no-sandbox" negated flag, whose help
    // line reads "--no-sandbox{false}".
    cmd->add_flag_callback("--no-sandbox", [&args] { args.sandbox = false; },
                           "Read files in this process, without the seccomp sandbox, the process limits and the "
                           "timeout (for systems without seccomp)");
}

// The limit options, from the limits table (pickleguard/limits.hpp): each
// limit with an option of its own gets it, typed as its member is (so CLI11
// refuses a value its type cannot hold, as it always has), and `--limit
// NAME=VALUE` sets any limit by its [limits] name, as a policy would. CLI11
// runs option callbacks in the order options are added, so a `--limit` for
// a limit that also has its own option wins over it.
void add_limit_options(CLI::App* cmd, limits& lim) {
    for (const limit_info& li : all_limits()) {
        if (li.option.empty()) continue;
        std::string help = std::string(li.doc) + " (" + std::string(li.name) + "; default " +
                           limit_value_text(li.default_value()) + ")";
        help[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(help[0])));
        if (li.wide) cmd->add_option(std::string(li.option), lim.*li.wide, help);
        else cmd->add_option(std::string(li.option), lim.*li.narrow, help);
    }
    cmd->add_option_function<std::vector<std::string>>(
           "--limit",
           [&lim](const std::vector<std::string>& settings) {
               for (const std::string& s : settings) {
                   std::string_view text = s;
                   std::size_t eq = text.find('=');
                   if (eq == std::string_view::npos)
                       throw CLI::ValidationError("--limit", "'" + s + "' is not NAME=VALUE");
                   std::string_view name = text.substr(0, eq);
                   const limit_info* li = find_limit(name);
                   if (!li)
                       throw CLI::ValidationError("--limit", "unknown limit '" + std::string(name) + "' (expected " +
                                                                 limit_names() + ")");
                   std::string_view value = text.substr(eq + 1);
                   std::uint64_t n = 0;
                   auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
                   if (ec != std::errc{} || end != value.data() + value.size() || n == 0)
                       throw CLI::ValidationError("--limit", "limit '" + std::string(name) +
                                                                 "' must be a positive integer");
                   li->set(lim, n);
               }
           },
           "Set any limit by its [limits] name to a positive integer, as a policy does (repeatable; wins over the "
           "limit's own option; above a 32-bit limit's range means its largest). NAME: " +
               limit_names() + " (docs/policies.md, Limits)")
        ->type_name("NAME=VALUE")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

}  // namespace pickleguard::cli

namespace {

using pickleguard::cli::kExitError;
using pickleguard::cli::kExitFound;
using pickleguard::cli::kExitOk;

void write_out(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); }

void print_error(const std::string& path, const pickleguard::error& e) {
    std::fprintf(stderr, "pickleguard: %s: %s\n", path.c_str(), pickleguard::describe(e).c_str());
}

std::string error_json(const pickleguard::error& e) {
    std::string s = "{\"kind\": \"" + std::string(pickleguard::to_string(e.kind)) + "\", \"offset\": ";
    s += e.offset == pickleguard::error::no_offset ? "null" : std::to_string(e.offset);
    s += ", \"opcode\": ";
    if (e.opcode == pickleguard::error::no_opcode) {
        s += "null";
    } else {
        const pickleguard::opcode_info* op = pickleguard::find_opcode(static_cast<std::uint8_t>(e.opcode));
        s += op ? "\"" + std::string(op->name) + "\"" : "null";
    }
    s += ", \"reason\": " + pickleguard::json_string_literal(e.reason) + "}";
    return s;
}

pickleguard::scan_options reader_options(const pickleguard::decode_options& options) {
    pickleguard::scan_options o;
    o.decode = options;
    return o;
}

int run_decode(const std::vector<std::string>& paths, const pickleguard::cli::member_args& member, bool lines,
               std::size_t offset, const pickleguard::decode_options& options) {
    auto decode_one = [&](const std::string& path, std::span<const std::byte> bytes) {
        pickleguard::decoding d = pickleguard::decode(bytes, options, offset);
        if (lines) write_out("{\"file\": " + pickleguard::json_string_literal(path) + ", ");
        if (d.failure || !d.root) {
            pickleguard::error e = d.failure ? *d.failure : pickleguard::error{};
            if (lines) write_out("\"error\": " + error_json(e) + "}\n");
            else print_error(path, e);
            return kExitFound;
        }
        if (lines) write_out("\"value\": ");
        pickleguard::json_options jopt;
        jopt.max_bytes = options.limit.max_json_bytes;
        int status = kExitOk;
        auto written = pickleguard::write_value_json(d.graph, *d.root, write_out, jopt);
        if (!written) {
            print_error(path, written.error());
            if (lines) write_out("null, \"error\": " + error_json(written.error()));
            status = kExitError;
        }
        write_out(lines ? "}\n" : "\n");
        if (!lines && d.end < bytes.size())
            std::fprintf(stderr, "pickleguard: %s: note: %llu bytes follow the STOP at offset %llu\n", path.c_str(),
                         static_cast<unsigned long long>(bytes.size() - d.end),
                         static_cast<unsigned long long>(d.end - 1));
        return status;
    };
    auto failed = [&](const std::string& path, const pickleguard::error& e) {
        if (lines)
            write_out("{\"file\": " + pickleguard::json_string_literal(path) + ", \"error\": " + error_json(e) +
                      "}\n");
    };
    return pickleguard::cli::for_each_stream(paths, member, reader_options(options), decode_one, failed);
}

// A reader host for disasm's joblib reading: the object arrays joblib
// unpickles on their own are named in the listing, not disassembled inline.
struct disasm_host final : pickleguard::read::reader_host {
    void member(pickleguard::read::bytes_view, const pickleguard::location&, int) override {}
    void pickle(pickleguard::read::bytes_view, const pickleguard::location&,
                const std::function<void(const pickleguard::decoding&)>*) override {}
    std::uint64_t pickles() const override { return 0; }
};

int run_disasm(const std::vector<std::string>& paths, const pickleguard::cli::member_args& member,
               std::size_t offset, const pickleguard::decode_options& options) {
    auto disasm_one = [&](const std::string& path, std::span<const std::byte> bytes) {
        if (paths.size() > 1) write_out("== " + path + "\n");
        // joblib.load reads an array's bytes (raw data, or an object array
        // pickled on its own) straight from the stream after each
        // NumpyArrayWrapper's BUILD, then unpickles on after them: listed as
        // joblib reads them, since as opcodes they are noise (pickle.load
        // would execute them; `scan` judges both readings).
        disasm_host host;
        pickleguard::scan_options scan_opts;
        std::vector<pickleguard::finding> notes;
        pickleguard::read::read_context ctx{host, scan_opts, notes};
        bool wrappers = false;
        std::string pending;
        auto arrays = pickleguard::read::joblib_array_reader(ctx, bytes, pickleguard::location{}, wrappers);
        pickleguard::decode_options o = options;
        o.after_build = [&](std::span<const std::byte> input, const pickleguard::value_graph& g, pickleguard::value_ref node,
                            std::uint64_t at) {
            std::uint64_t skip = arrays(input, g, node, at);
            if (skip)
                pending = "          (joblib.load reads bytes " + std::to_string(at) + ".." + std::to_string(at + skip) +
                          " itself: the array's data, or an object array pickled on its own; pickle.load would "
                          "execute them as opcodes)\n";
            return skip;
        };
        // The decoder calls the hook before it lists the BUILD: the note goes after that line.
        auto sink = [&](std::string_view line) {
            write_out(line);
            if (!pending.empty()) write_out(std::exchange(pending, std::string()));
        };
        pickleguard::decoding d = pickleguard::disassemble(bytes, o, offset, sink);
        for (const pickleguard::finding& f : notes) write_out("note: " + f.message + "\n");
        return d.failure ? kExitFound : kExitOk;
    };
    return pickleguard::cli::for_each_stream(paths, member, reader_options(options), disasm_one);
}

}  // namespace

int main(int argc, char** argv) {
    // A scan decodes file after file: keep freed memory for reuse instead of
    // returning it to the kernel and faulting it in again for the next file.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    CLI::App app{"pickleguard " + std::string(pickleguard::version()) +
                 " — decide whether a Python pickle is safe to load, without running Python.\n\n"
                 "Exit codes: 0 success, 1 an input was rejected (malformed, unsafe or over a limit),\n"
                 "2 usage error or an input could not be read."};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(pickleguard::version()));

    pickleguard::decode_options options;
    auto add_limits = [&](CLI::App* cmd) {
        pickleguard::cli::add_limit_options(cmd, options.limit);
        cmd->add_flag("--allow-buffers", options.allow_out_of_band_buffers,
                      "Accept NEXT_BUFFER (out-of-band buffers) as symbolic values");
    };

    std::vector<std::string> paths;
    std::size_t offset = 0;
    bool lines = false;

    CLI::App* decode = app.add_subcommand("decode", "Print the value a pickle describes, as JSON (see docs/decode.md)");
    decode->add_option("files", paths, "Pickle files or containers ('-' for standard input)")->required();
    decode->add_flag("--lines", lines,
                     "One JSON object per file and line: {\"file\": ..., \"value\": ...} or {\"file\": ..., \"error\": ...}");
    decode->add_option("--offset", offset, "Start decoding at this byte offset (of the member, with --member)");
    pickleguard::cli::member_args member;
    pickleguard::cli::add_member_options(decode, member);
    add_limits(decode);

    CLI::App* disasm = app.add_subcommand("disasm", "Show every opcode the loader would execute");
    disasm->add_option("files", paths, "Pickle files or containers ('-' for standard input)")->required();
    disasm->add_option("--offset", offset, "Start at this byte offset (of the member, with --member)");
    pickleguard::cli::add_member_options(disasm, member);
    add_limits(disasm);

    pickleguard::cli::scan_args scan_args;
    std::string fail_on;
    CLI::App* scan = app.add_subcommand("scan", "Judge pickles against an allow-list policy");
    scan->add_option("paths", scan_args.paths,
                     "Regular files and directories (walked; symlinks not followed), and '-' for one file read from "
                     "standard input (bounded by max_input_bytes). FIFOs, devices and sockets are refused; a "
                     "directory that cannot be listed is an error");
    CLI::Option* stdin_name = scan->add_option("--stdin-name", scan_args.stdin_name,
                     "How reports name the file '-' reads from standard input (default: <stdin>, as ripgrep's)");
    scan->add_option("--policy", scan_args.policies,
                     "Shipped policy name, or a TOML file when it has a '/' or ends in .toml (never a shipped "
                     "name); repeat to merge (default: default)")
        ->type_name("NAME|FILE")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    scan->add_option("--format", scan_args.format,
                     "text, json, jsonl (one line per file as it is done, then a summary line) or sarif")
        ->type_name("FORMAT")
        ->check(CLI::IsMember({"text", "json", "jsonl", "sarif"}));
    scan->add_option("--output,-o", scan_args.output, "Write the report to this file")->type_name("FILE");
    scan->add_option("--fail-on", fail_on, "Also exit 1 on any finding of this severity or above")
        ->type_name("SEVERITY")
        ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
    scan->add_flag("--quiet,-q", scan_args.quiet, "Only unsafe files and policy violations");
    scan->add_flag("--verbose,-v", scan_args.verbose, "Also informational findings and skipped files");
    scan->add_flag("--follow-symlinks", scan_args.follow_symlinks,
                   "Follow symbolic links when walking directories; each directory is walked once, and a link "
                   "back to one that contains it (a loop) is a warning, not walked again");
    scan->add_option("--include", scan_args.include,
                     "Only scan walked files matching this fnmatch glob (repeatable; '*.pt' matches names, 'dir/*.pt' "
                    "paths as printed or below the directory given; an invalid glob is an error)")
        ->type_name("GLOB")
        ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    scan->add_option("--exclude", scan_args.exclude, "Skip walked files and prune directories matching this glob (repeatable; 'dir/' directories only)")
        ->type_name("GLOB")
        ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    scan->add_flag("--fail-on-empty", scan_args.fail_on_empty,
                   "Exit 2 when no file was scanned: the paths hold no file, or --include/--exclude left none "
                   "(standard error says so either way)");
    scan->add_flag("--skip-unknown", scan_args.skip_unknown,
                   "Skip named files that are not pickle containers, as a directory walk does, instead of failing");
    scan->add_flag("--stdin-paths", scan_args.stdin_paths,
                   "Read paths from standard input, one per line; write one JSON report line per path, flushed");
    scan->add_option("--jobs,-j", scan_args.jobs, "Scanner processes working in parallel (default: one per core)");
    add_worker_options(scan, scan_args);
    add_limits(scan);

    CLI::App* policy_cmd = app.add_subcommand("policy", "List and show the shipped policies; infer one from trusted files, or generate one from a library");
    policy_cmd->require_subcommand(1);
    CLI::App* policy_list = policy_cmd->add_subcommand("list", "List the shipped policies");
    std::string policy_name;
    CLI::App* policy_show = policy_cmd->add_subcommand("show", "Print a shipped policy");
    policy_show->add_option("name", policy_name, "Policy name")->required();
    pickleguard::cli::infer_args infer_args;
    CLI::App* policy_infer = pickleguard::cli::add_policy_infer_command(*policy_cmd, infer_args);
    add_limits(policy_infer);
    pickleguard::cli::generate_args generate_args;
    CLI::App* policy_generate = pickleguard::cli::add_policy_generate_command(*policy_cmd, generate_args);

    pickleguard::cli::explain_args explain_args;
    CLI::App* explain = pickleguard::cli::add_explain_command(app, explain_args);
    add_limits(explain);

    pickleguard::cli::serve_args serve_args;
    CLI::App* serve = app.add_subcommand(
        "serve", "Scan uploads over HTTP/1.1: POST /v1/scan, GET /v1/policies, /healthz, /readyz, /metrics "
                 "(docs/deployment.md)");
    serve->add_option("--listen", serve_args.listen,
                      "unix:PATH or HOST:PORT (an IP address; port 0 picks a free one); repeatable (default: "
                      "127.0.0.1:" + std::to_string(pickleguard::cli::kDefaultServePort) +
                          "; an address other than loopback only when given)")
        ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    serve->add_option("--socket-mode", serve_args.socket_mode,
                      "Permissions of a unix:PATH socket, in octal, whatever the umask: who may connect to it "
                      "(default: 0600, the server's user only)")
        ->check([](const std::string& text) { return pickleguard::cli::socket_mode_error(text); });
    serve->add_option("--policy", serve_args.policies,
                      "Shipped policy name or TOML file a request may choose with ?policy=; repeatable, the first "
                      "is the default (default: default)")
        ->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    serve->add_option("--jobs,-j", serve_args.jobs, "Uploads scanned at once, each in its own sandboxed process "
                                                    "(default: one per core)");
    serve->add_option("--queue", serve_args.queue,
                      "Uploads that may wait for a scanner; beyond --jobs + --queue a request gets 503 with "
                      "Retry-After (default: 16)");
    serve->add_option("--max-body", serve_args.max_body,
                      "Largest upload in bytes; a longer one gets 413 and is not read (default: 1 GiB)")
        ->check(CLI::PositiveNumber);
    serve->add_option("--timeout", serve_args.timeout_seconds,
                      "Seconds one scan may take before its report is an error (0: none; default: 60)")
        ->check(CLI::NonNegativeNumber);
    serve->add_option("--io-timeout", serve_args.io_timeout_seconds,
                      "Seconds a client has for its request header, and for each read and write (default: 30)")
        ->check(CLI::PositiveNumber);
    serve->add_option("--worker-start-timeout", serve_args.worker_start_timeout_seconds,
                      "Seconds a scanner process has to start and enter its sandbox; past it the request gets "
                      "500 (default: 10; more for a sanitizer build under load)")
        ->check(CLI::PositiveNumber);
    serve->add_option("--max-connections", serve_args.max_connections,
                      "Open connections at most; one more gets 503 (default: 1024)")
        ->check(CLI::PositiveNumber);
    serve->add_option("--max-memory", serve_args.max_memory_mb,
                      "Address space of a scanner process, in MB, plus the size of the upload it reads");
    add_limits(serve);

    pickleguard::cli::convert_args convert_args;
    CLI::App* convert = pickleguard::cli::add_convert_command(app, convert_args);
    add_limits(convert);
    // Every command is registered by now: the man page and completions are written from all of them.
    if (auto printed = pickleguard::cli::print_manual(app, argc, argv)) return *printed;

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? kExitOk : kExitError;
    }

    if (decode->parsed()) return run_decode(paths, member, lines, offset, options);
    if (disasm->parsed()) return run_disasm(paths, member, offset, options);
    if (scan->parsed()) {
        scan_args.decode = options;
        if (!fail_on.empty()) scan_args.fail_on = pickleguard::parse_severity(fail_on).value();
        if (scan_args.paths.empty() != scan_args.stdin_paths) {
            std::fprintf(stderr, "pickleguard scan: give paths, or --stdin-paths, not both\n");
            return kExitError;
        }
        if (stdin_name->count() &&
            std::find(scan_args.paths.begin(), scan_args.paths.end(), "-") == scan_args.paths.end()) {
            std::fprintf(stderr, "pickleguard scan: --stdin-name names standard input, which is read only with '-'\n");
            return kExitError;
        }
        return pickleguard::cli::run_scan(scan_args);
    }
    if (serve->parsed()) {
        serve_args.decode = options;
        return pickleguard::cli::run_serve(serve_args);
    }
    if (policy_list->parsed()) return pickleguard::cli::run_policy_list();
    if (policy_show->parsed()) return pickleguard::cli::run_policy_show(policy_name);
    if (policy_infer->parsed()) {
        infer_args.decode = options;
        return pickleguard::cli::run_policy_infer(infer_args);
    }
    if (policy_generate->parsed()) return pickleguard::cli::run_policy_generate(generate_args);
    if (explain->parsed()) {
        explain_args.decode = options;
        return pickleguard::cli::run_explain(explain_args);
    }
    if (convert->parsed()) {
        convert_args.decode = options;
        return pickleguard::cli::run_convert(convert_args);
    }
    return kExitError;
}
