// The subcommands of `pickleguard`, one file each.
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/sandbox.hpp"
#include "pickleguard/scan.hpp"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace pickleguard::cli {

// Exit codes, as ClamAV's clamscan: 0 clean, 1 found, 2 error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFound = 1;
inline constexpr int kExitError = 2;

// The options of the commands that read untrusted files in sandboxed worker
// processes (pickleguard/sandbox.hpp): --timeout, --max-memory, --no-sandbox.
struct worker_args {
    bool sandbox = true;                // scan in seccomp-sandboxed worker processes
    double timeout_seconds = 60;        // per file, wall clock, in a worker; 0: none
    std::uint64_t max_memory_mb = 8192; // address space per worker, plus the file's size

    pool_options pool(unsigned jobs = 0) const {
        pool_options p;
        p.sandbox = sandbox;
        p.jobs = jobs;
        p.timeout_seconds = timeout_seconds;
        p.memory_bytes = max_memory_mb << 20;
        return p;
    }
};
void add_worker_options(CLI::App* cmd, worker_args& args);
// --max-opcodes and the other limits' own options, and --limit NAME=VALUE
// for any limit (main.cpp).
void add_limit_options(CLI::App* cmd, limits& lim);

struct scan_args : worker_args {
    std::vector<std::string> paths;
    std::vector<std::string> policies;  // shipped names or files (load_policies); several are merged
    std::string format = "text";        // text | json | jsonl | sarif
    std::string output;                 // file, or stdout
    std::optional<severity> fail_on;
    bool quiet = false;
    bool verbose = false;               // also informational findings and skipped files
    bool follow_symlinks = false;
    std::vector<std::string> include, exclude;  // globs for files found by walking directories
    bool skip_unknown = false;          // named files that are not pickle containers are skipped, not errors
    bool stdin_paths = false;           // paths from standard input, one JSON report line each
    std::string stdin_name = "<stdin>"; // how reports name the file `scan -` reads from standard input
    bool fail_on_empty = false;         // exit 2 when no file was scanned (globs or paths matched nothing)
    unsigned jobs = 0;                  // worker processes; 0: one per available core
    decode_options decode;
};

int run_scan(const scan_args& args);
int run_policy_list();
int run_policy_show(const std::string& name);

// `scan --stdin-paths` (scan_stdin.cpp): a worker loop over paths read from
// standard input, one report line per path, flushed.
int run_scan_stdin_paths(const scan_args& args, const policy& p, const std::string& policy_name,
                         const scan_options& options);

// How the tool's subcommands turn a file into a report (scan_target.cpp).
file_report scan_target(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                        const std::string& path);
bool is_known_container(std::span<const std::byte> bytes);

// What `decode` and `disasm` read (member_input.cpp): --member NAME picks a
// member of a container by the name scan reports give it; --list-members
// prints them instead; --raw reads the file's own bytes as a pickle (the
// differential test's view: pickle.loads of the bytes). `options` bound the
// readers as a scan's do.
struct member_args {
    std::optional<std::string> member;
    bool list = false;
    bool raw = false;  // the bytes themselves, as pickle.loads(data) reads them, whatever container they are
};
void add_member_options(CLI::App* cmd, member_args& args);
// Reads one path's chosen bytes; returns its exit status.
using stream_function = std::function<int(const std::string& path, std::span<const std::byte> bytes)>;
// Told of a path that gave no bytes (after the error line on stderr).
using stream_failure = std::function<void(const std::string& path, const error& e)>;
// The file loop of decode and disasm: opens each path, lists its members or
// picks its bytes (the file, or --member's), refuses a container without
// --member (a usage error naming its pickle streams) and hands the rest to
// `each`. Returns the worst status (2 over 1 over 0).
int for_each_stream(const std::vector<std::string>& paths, const member_args& m, const scan_options& options,
                    const stream_function& each, const stream_failure& failed = {});

// `serve` (serve_command.cpp): the scanner as an HTTP/1.1 service.
inline constexpr unsigned kDefaultServePort = 8484;
struct serve_args : worker_args {
    std::vector<std::string> listen;    // unix:PATH or HOST:PORT; default 127.0.0.1:kDefaultServePort
    std::string socket_mode = "0600";   // octal permissions of a unix:PATH socket, whatever the umask
    std::vector<std::string> policies;  // each one a choice for ?policy=; the first is the default
    unsigned jobs = 0;                  // scans at once; 0: one per available core
    unsigned queue = 16;                // uploads waiting for a scanner beyond those
    std::uint64_t max_body = std::uint64_t{1} << 30;
    double io_timeout_seconds = 30;     // for each read and write of a client
    double worker_start_timeout_seconds = 10;  // for a scanner process to be ready (pool_options)
    std::size_t max_connections = 1024;
    decode_options decode;
};
int run_serve(serve_args args);
// Empty, or why `text` is not a --socket-mode (octal, 0 to 0777).
std::string socket_mode_error(const std::string& text);

// `policy infer` (policy_infer.cpp).
struct infer_args {
    std::vector<std::string> paths;
    std::string output;                 // file, or stdout
    std::string name;                   // default: the output file's stem, or "inferred"
    std::vector<std::string> includes;  // shipped policy names the inferred policy includes
    bool generalize = false;            // also include the generated policies of the libraries the files use
    bool allow_dangerous = false;
    bool sandbox = true;                // read files in sandboxed worker processes, as `scan` does
    decode_options decode;
};
CLI::App* add_policy_infer_command(CLI::App& policy_cmd, infer_args& args);
int run_policy_infer(const infer_args& args);

// `policy generate` (policy_generate.cpp; the inspector it runs is
// policy_generate.py, compiled in).
struct generate_args {
    std::vector<std::string> libraries;
    std::string output;                 // file, or stdout
    std::string name;                   // default: the output file's stem, or the first library
    std::string python = "/usr/bin/python3";
    std::vector<std::string> paths;     // put first on the inspector's sys.path
    std::vector<std::string> includes;  // default: python
    std::string reviewed;               // entries a person reviewed, merged in (--reviewed FILE)
    bool explain = false;               // list refusals on standard error
};
CLI::App* add_policy_generate_command(CLI::App& policy_cmd, generate_args& args);
int run_policy_generate(const generate_args& args);

// `explain` (explain_command.cpp).
struct explain_args : worker_args {
    std::vector<std::string> paths;
    std::vector<std::string> policies;
    std::size_t context = 5;            // opcodes shown before and after each finding
    std::size_t max_value_chars = 400;  // JSON of the values involved, truncated
    bool verbose = false;               // also informational findings
    std::optional<std::string> member;  // only this member's findings (and its nested streams')
    decode_options decode;
};
CLI::App* add_explain_command(CLI::App& app, explain_args& args);
int run_explain(const explain_args& args);

// `convert` (convert_command.cpp).
struct convert_args : worker_args {
    std::string input, output;
    std::vector<std::string> policies;  // default: pytorch, or numpy-data for .npy/.npz
    std::string key_prefix;
    bool skip_non_tensors = false;
    bool force = false;
    decode_options decode;
};
CLI::App* add_convert_command(CLI::App& app, convert_args& args);
int run_convert(const convert_args& args);

// A policy from --policy options as `scan` combines them (load_policies:
// several are merged as if one policy included them all, each file read as
// the file it is, never replaced by a shipped policy of the same name);
// `name` receives how reports name it: the options as given, joined by '+'.
result<policy> load_policy_options(const std::vector<std::string>& policies, std::string& name);

// The man page and the bash and zsh completions, from the App tree that
// prints --help (manual.cpp). print_manual answers the hidden first
// arguments --generate-man, --generate-completion bash|zsh and
// --list-options with them, once every command is on `app` (nullopt: the
// arguments are none of these).
std::string man_page(CLI::App& app);
std::string bash_completion(CLI::App& app);
std::string zsh_completion(CLI::App& app);
std::string option_list(CLI::App& app);
std::optional<int> print_manual(CLI::App& app, int argc, char** argv);

// Writes a subcommand's output to the file --output names, or to standard
// output when it names none (output_file.cpp). The file is created or
// truncated only once the text is complete; false when it cannot be written
// (opened, written or closed), said on standard error.
bool write_output(const std::string& path, std::string_view text);

}  // namespace pickleguard::cli
