// `pickleguard policy infer`: the policy that allows exactly what some
// trusted files need.
//
// The files are scanned with a policy that allows nothing (or only the
// included shipped policies), so the judge itself says which globals each
// file names and what it does with them (call, new, build, ...), with the
// same rules `scan` applies later: copyreg._reconstructor's class argument
// gets "new", BUILD on a call's result gets "build" on the callable, and so
// on. Whatever the judge refuses in a way no policy can allow (calls of
// computed values, extension codes, malformed streams) is reported and no
// policy is written. Globals the knowledge base calls dangerous are refused
// too, unless --allow-dangerous is given. The policy written is checked by
// scanning the files with it before it is printed.
#include "commands.hpp"
#include "policy_write.hpp"

#include "pickleguard/input.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/sandbox.hpp"
#include "pickleguard/version.hpp"
#include "pickleguard/rules.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pickleguard::cli {
namespace {

constexpr std::size_t kOriginsShown = 3;

struct origin {
    std::string file, member, opcode;
    std::uint64_t offset = 0;
};

struct needed_global {
    std::string module, name;
    std::uint8_t uses = 0;
    std::vector<origin> origins;  // the first few
    std::size_t seen = 0;         // files (and members) naming it
    const known_global* known = nullptr;
    std::string reached_as;       // a dotted name whose tail is the known global
    bool dangerous = false;
    std::string danger;           // why, in words
};

// A trusted file as named, and where workers read it: standard input is
// copied to an unlinked temporary file first, since each round reads it again.
struct input_file {
    std::string path;
    std::string scan_path;
};

std::string uses_array(std::uint8_t bits) {
    std::string s = "[";
    for (const use_word& u : use_words)
        if (bits & u.bit) s += (s.size() > 1 ? ", \"" : "\"") + std::string(u.word) + "\"";
    return s + "]";
}

std::string where(const origin& o) {
    std::string s = o.file;
    if (!o.member.empty()) s += " [" + o.member + "]";
    s += " offset " + std::to_string(o.offset);
    if (!o.opcode.empty()) s += " (" + o.opcode + ")";
    return s;
}

std::string where(const finding& f) {
    std::string s;
    if (std::string member = to_string(f.member); !member.empty()) s += " [" + member + "]";
    if (f.offset) s += " offset " + std::to_string(*f.offset);
    if (!f.opcode.empty()) s += " (" + f.opcode + ")";
    return s;
}

// Rules a policy entry can satisfy; every other violation no policy can allow.
bool allowable(const finding& f) {
    return f.rule == rule::global_not_allowed || f.rule == rule::use_not_allowed ||
           f.rule == rule::persistent_id_not_allowed || f.rule == rule::state_not_allowed;
}

bool function_pickler(std::string_view module) {
    for (std::string_view m : {"dill", "cloudpickle"})
        if (module == m || (module.starts_with(m) && module.size() > m.size() && module[m.size()] == '.')) return true;
    return false;
}

void classify(needed_global& g, const knowledge_base& kb) {
    g.known = kb.find(g.module, g.name);
    std::size_t dot = g.name.rfind('.');
    if (!g.known && dot != std::string::npos) {
        // find_class walks a dotted name: shutil + "os.system" is os.system.
        std::string_view path = g.name;
        g.known = kb.find(path.substr(0, dot), path.substr(dot + 1));
        if (g.known) g.reached_as = g.name + " through " + g.module;
    }
    if (g.known && g.known->severity >= severity::high) {
        g.dangerous = true;
        std::string reason = g.known->reason;
        while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.pop_back();
        g.danger = std::string(to_string(g.known->severity)) + ", " + g.known->category + ": " + reason;
        if (!g.reached_as.empty()) g.danger += " (reached as " + g.reached_as + ")";
    } else if (function_pickler(g.module)) {
        g.dangerous = true;
        g.danger = "function pickling: " + g.module +
                   " rebuilds functions, classes and code objects, so loading runs whatever code the file holds";
    }
}

// Standard input copied into an anonymous memory file, readable again by
// path (/proc/self/fd/N) for each round of scans; gone when this goes.
class stdin_copy {
public:
    static result<stdin_copy> make() {
        auto in = read_stream(0, "<stdin>");
        if (!in) return in.error();
        int fd = ::memfd_create("pickleguard-stdin", MFD_CLOEXEC);
        if (fd < 0) return error{error_kind::io, error::no_offset, error::no_opcode, "cannot create a memory file"};
        stdin_copy copy(fd);
        auto bytes = in.value().bytes();
        for (std::size_t done = 0; done < bytes.size();) {
            ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return error{error_kind::io, error::no_offset, error::no_opcode, "cannot copy standard input"};
            done += static_cast<std::size_t>(w);
        }
        return copy;
    }
    stdin_copy(stdin_copy&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    stdin_copy& operator=(stdin_copy&&) = delete;
    ~stdin_copy() {
        if (fd_ >= 0) ::close(fd_);
    }
    std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

private:
    explicit stdin_copy(int fd) : fd_(fd) {}
    int fd_;
};

// Scans the files under one candidate policy. The files are untrusted until
// the policy is written, so each round reads them in sandboxed workers (forked
// with that policy), as `scan` does, unless --no-sandbox.
struct scan_set {
    const std::vector<input_file>& files;
    const scan_options& options;
    bool sandbox = true;

    result<std::vector<file_report>> run(const policy& p, const std::vector<std::size_t>& which) const {
        std::vector<scan_job> jobs;
        for (std::size_t i : which) jobs.push_back({files[i].scan_path, true});
        scan_function scan_one = [&](std::span<const std::byte> bytes, const scan_job& job) -> scan_outcome {
            return {scan_target(bytes, p, options, job.path), {}, {}};
        };
        pool_options pool;
        pool.sandbox = sandbox;
        auto done = scan_jobs(jobs, scan_one, pool, [](std::size_t, std::size_t) {});
        if (!done) return done.error();
        std::vector<scan_outcome>& outcomes = done.value();
        std::vector<file_report> out;
        for (std::size_t k = 0; k < outcomes.size(); ++k) {
            out.push_back(std::move(outcomes[k].report));
            out.back().path = files[which[k]].path;
        }
        return out;
    }
};

std::size_t pid_findings(const std::vector<file_report>& reports) {
    std::size_t n = 0;
    for (const file_report& r : reports)
        for (const finding& f : r.findings)
            if (f.rule == rule::persistent_id_not_allowed) ++n;
    return n;
}

std::string probe_text(const std::string& base, const std::vector<std::string>& shapes,
                       const std::vector<std::string>& types) {
    std::string text = base;
    for (const std::string& shape : shapes) {
        text += "[[persistent_id]]\nshape = " + toml_string(shape) + "\nstorage_types = " + toml_array(types) + "\n";
    }
    return text;
}

}  // namespace

CLI::App* add_policy_infer_command(CLI::App& policy_cmd, infer_args& args) {
    CLI::App* cmd = policy_cmd.add_subcommand(
        "infer",
        "Write a policy allowing exactly the globals and uses some trusted files need (refuses dangerous ones)");
    cmd->add_option("files", args.paths, "Trusted pickle files the policy must pass")->required();
    cmd->add_option("--output,-o", args.output, "Write the policy to this file (default: standard output)");
    cmd->add_option("--name", args.name, "The policy's name (default: the output file's stem, or 'inferred')");
    cmd->add_option("--include", args.includes,
                    "Include this shipped policy and list only what it lacks; repeat for several")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_flag("--generalize", args.generalize,
                  "Widen what the files use to their libraries: include the shipped generated policy (policy "
                  "generate) of each library a needed global belongs to, then infer only what those lack");
    cmd->add_flag_callback("--no-sandbox", [&args] { args.sandbox = false; },
                           "Read the files in this process, without the seccomp sandbox (for systems without seccomp)");
    cmd->add_flag("--allow-dangerous", args.allow_dangerous,
                  "Also allow globals the knowledge base calls dangerous (high/critical, function and code "
                  "pickling); they are marked DANGEROUS in the policy");
    return cmd;
}

int run_policy_infer(const infer_args& args) {
    std::string name = policy_name(args.name, args.output, "inferred");

    std::vector<input_file> files;
    std::optional<stdin_copy> stdin_file;
    for (const std::string& path : args.paths) {
        if (path != "-") {
            // Opened here only to fail early and plainly; workers read it.
            // O_NONBLOCK: open() of a FIFO would wait for a writer.
            int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
            if (fd < 0) {
                std::fprintf(stderr, "pickleguard: %s: %s\n", path.c_str(), std::strerror(errno));
                return kExitError;
            }
            struct stat st {};
            const char* kind = ::fstat(fd, &st) == 0 ? special_file_kind(st.st_mode) : "not to be looked at";
            ::close(fd);
            if (kind) {
                std::fprintf(stderr, "pickleguard: %s: is %s, not a regular file\n", path.c_str(), kind);
                return kExitError;
            }
            files.push_back({path, path});
            continue;
        }
        if (!stdin_file) {
            auto copied = stdin_copy::make();
            if (!copied) {
                std::fprintf(stderr, "pickleguard: <stdin>: %s\n", describe(copied.error()).c_str());
                return kExitError;
            }
            stdin_file.emplace(std::move(copied).value());
        }
        files.push_back({path, stdin_file->path()});
    }

    std::vector<std::string> includes = args.includes;
    std::string base = "name = " + toml_string(name + "-probe") + "\ninclude = " + toml_array(includes) + "\n";
    auto base_policy = parse_policy(base, "--include", ".");
    if (!base_policy) {
        std::fprintf(stderr, "pickleguard: %s\n", base_policy.error().reason.c_str());
        return kExitError;
    }

    scan_options options;
    options.decode = args.decode;
    scan_set set{files, options, args.sandbox};
    std::vector<std::size_t> all(files.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    auto first_round = set.run(base_policy.value(), all);
    if (!first_round) {
        std::fprintf(stderr, "pickleguard: %s\n", first_round.error().reason.c_str());
        return kExitError;
    }
    std::vector<file_report> reports = std::move(first_round).value();

    // --generalize: a global the files need from library L widens to L's
    // generated policy, which allows only what `policy generate` showed
    // loading runs no code a pickle could turn into arbitrary code, and the
    // reviewed entries merged into it (numpy's, pandas', sklearn's native
    // reconstructors). Only shipped policies that say they were generated
    // count (not hand-written ones such as python or pytorch), and the files
    // are read again under them.
    if (args.generalize) {
        std::set<std::string> wanted;
        for (const file_report& r : reports)
            for (const global_report& g : r.globals)
                if (!g.allowed) wanted.insert(g.module.substr(0, g.module.find('.')));
        std::vector<std::string> shipped = shipped_policy_names();
        bool widened = false;
        for (const std::string& lib : wanted) {
            if (std::find(shipped.begin(), shipped.end(), lib) == shipped.end()) continue;
            if (std::find(includes.begin(), includes.end(), lib) != includes.end()) continue;
            auto text = shipped_policy_text(lib);
            if (!text || text.value().find("\ndescription = \"Generated by pickleguard policy generate from ") ==
                             std::string::npos)
                continue;
            includes.push_back(lib);
            widened = true;
        }
        if (widened) {
            base = "name = " + toml_string(name + "-probe") + "\ninclude = " + toml_array(includes) + "\n";
            base_policy = parse_policy(base, "--include", ".");
            if (!base_policy) {
                std::fprintf(stderr, "pickleguard: %s\n", base_policy.error().reason.c_str());
                return kExitError;
            }
            auto again = set.run(base_policy.value(), all);
            if (!again) {
                std::fprintf(stderr, "pickleguard: %s\n", again.error().reason.c_str());
                return kExitError;
            }
            reports = std::move(again).value();
        }
    }

    // What the files need, and what no policy could allow.
    const knowledge_base& kb = shipped_knowledge_base();
    std::map<std::pair<std::string, std::string>, needed_global> needed;
    std::set<std::pair<std::string, std::string>> filled_state_keys, forbidden_keys_set;
    std::vector<std::string> blocking;
    std::vector<std::size_t> pid_files;
    for (std::size_t i = 0; i < reports.size(); ++i) {
        const file_report& r = reports[i];
        bool has_pid = false;
        for (const finding& f : r.findings) {
            if (!f.violation) continue;
            if (f.rule == rule::persistent_id_not_allowed) has_pid = true;
            // The files need state an included entry's empty_state_keys
            // refuses: the entry written for them does not repeat the keys.
            if (f.rule == rule::state_not_allowed && f.message.find("empty_state_keys") != std::string::npos)
                filled_state_keys.insert({f.module, f.name});
            // Likewise forbidden_state_keys: the files (which whoever runs
            // infer trusts) set a key the included entry forbids.
            if (f.rule == rule::state_not_allowed && f.message.find("forbidden_state_keys") != std::string::npos)
                forbidden_keys_set.insert({f.module, f.name});
            if (allowable(f)) continue;
            blocking.push_back(comment_safe(r.path + where(f) + ": " + f.rule + ": " + f.message));
        }
        if (r.verdict == verdict::error && blocking.empty())
            blocking.push_back(comment_safe(r.path + ": the file could not be read as a pickle"));
        if (has_pid) pid_files.push_back(i);
        for (const global_report& g : r.globals) {
            if (g.allowed) continue;
            needed_global& n = needed[{g.module, g.name}];
            n.module = g.module;
            n.name = g.name;
            n.uses |= g.uses;
            ++n.seen;
            if (n.origins.size() < kOriginsShown) n.origins.push_back({r.path, to_string(g.member), g.opcode, g.offset});
        }
    }
    if (!blocking.empty()) {
        std::fprintf(stderr,
                     "pickleguard: policy infer: no policy can allow these files; nothing was written.\n"
                     "These are refused whatever a policy says (see docs/rules.md):\n");
        for (const std::string& b : blocking) std::fprintf(stderr, "  %s\n", b.c_str());
        return kExitFound;
    }

    // Persistent ids: only PyTorch's storage shapes can be allowed. Find the
    // shapes and the smallest set of storage types the files need by scanning
    // them again under candidate rules.
    std::vector<std::string> shapes, storage_types;
    if (!pid_files.empty()) {
        std::vector<std::string> candidates;
        for (const auto& [key, n] : needed)
            if ((n.uses & ~uses::reference) == 0) candidates.push_back(n.module + "." + n.name);
        auto passes = [&](const std::vector<std::string>& sh, const std::vector<std::string>& types) {
            auto p = parse_policy(probe_text(base, sh, types), "probe", ".");
            if (!p) return false;
            auto reports = set.run(p.value(), pid_files);
            return reports && pid_findings(reports.value()) == 0;
        };
        const std::vector<std::string> both = {"torch-storage", "torch-storage-legacy"};
        if (passes({both[0]}, candidates)) shapes = {both[0]};
        else if (passes({both[1]}, candidates)) shapes = {both[1]};
        else if (passes(both, candidates)) shapes = both;
        if (shapes.empty()) {
            std::fprintf(stderr,
                         "pickleguard: policy infer: persistent ids in these files are not PyTorch storages "
                         "('storage', <storage type>, key, location, numel[, view]), the only shape a policy can "
                         "allow; nothing was written:\n");
            for (std::size_t i : pid_files)
                for (const finding& f : reports[i].findings)
                    if (f.rule == rule::persistent_id_not_allowed)
                        std::fprintf(stderr, "  %s\n", comment_safe(reports[i].path + where(f)).c_str());
            return kExitFound;
        }
        storage_types = candidates;
        for (const std::string& c : candidates) {
            std::vector<std::string> fewer;
            for (const std::string& t : storage_types)
                if (t != c) fewer.push_back(t);
            if (passes(shapes, fewer)) storage_types = std::move(fewer);
        }
        // Storage types are allowed by the [[persistent_id]] rule, not by entries.
        for (const std::string& t : storage_types)
            for (auto it = needed.begin(); it != needed.end(); ++it)
                if ((it->second.uses & ~uses::reference) == 0 && it->second.module + "." + it->second.name == t) {
                    needed.erase(it);
                    break;
                }
    }

    std::vector<const needed_global*> dangerous;
    for (auto& [key, n] : needed) {
        classify(n, kb);
        if (n.dangerous) dangerous.push_back(&n);
    }
    if (!dangerous.empty() && !args.allow_dangerous) {
        std::fprintf(stderr,
                     "pickleguard: policy infer: refused: these files need %zu global%s that the knowledge base "
                     "calls dangerous; loading them runs code the files choose, so no policy was written:\n",
                     dangerous.size(), dangerous.size() == 1 ? "" : "s");
        for (const needed_global* n : dangerous)
            std::fprintf(stderr, "  %s.%s (%s): %s\n      first at %s\n", comment_safe(n->module).c_str(),
                         comment_safe(n->name).c_str(), describe_uses(n->uses).c_str(), comment_safe(n->danger).c_str(),
                         comment_safe(where(n->origins.front())).c_str());
        std::fprintf(stderr,
                     "Pickles of functions and code cannot be checked, only trusted. If you wrote these files "
                     "yourself and accept that, re-run with --allow-dangerous.\n");
        return kExitFound;
    }

    // The policy text.
    std::string out;
    out += "# Policy inferred by `pickleguard policy infer` (pickleguard " + std::string(version()) + ") from " +
           std::to_string(files.size()) + " file" + (files.size() == 1 ? "" : "s") + ":\n";
    for (std::size_t i = 0; i < files.size(); ++i)
        out += "#   " + comment_safe(files[i].path) + " (" + std::to_string(reports[i].bytes) + " bytes)\n";
    out += "# It allows exactly the globals and uses those files need, and nothing else.\n"
           "# Each entry says where it was first seen. Review them before trusting this policy:\n"
           "# every allowed global is code that runs when a pickle is loaded.\n";
    if (!dangerous.empty())
        out += "#\n# WARNING: " + std::to_string(dangerous.size()) +
               " entr" + (dangerous.size() == 1 ? "y is" : "ies are") +
               " marked DANGEROUS below, allowed only because --allow-dangerous was given.\n"
               "# Any pickle that passes this policy may run arbitrary code through " +
               (dangerous.size() == 1 ? "it" : "them") + ".\n";
    out += "\nname = " + toml_string(name) + "\n";
    out += "description = " +
           toml_string("Inferred by pickleguard policy infer from " + std::to_string(files.size()) + " trusted file" +
                       (files.size() == 1 ? "" : "s") +
                       (dangerous.empty() ? std::string() : "; allows DANGEROUS globals (--allow-dangerous)")) +
           "\n";
    out += "include = " + toml_array(includes) + "\n";

    if (!shapes.empty()) {
        out += "\n# --- persistent ids: PyTorch storages ---------------------------------------\n";
        for (const std::string& shape : shapes) {
            out += "\n[[persistent_id]]\nshape = " + toml_string(shape) + "\n";
            out += "# storage types these files use; persistent ids first at:\n";
            std::size_t shown = 0;
            for (std::size_t i : pid_files)
                for (const finding& f : reports[i].findings)
                    if (f.rule == rule::persistent_id_not_allowed && shown++ < kOriginsShown)
                        out += "#   " + comment_safe(reports[i].path + where(f)) + "\n";
            out += "storage_types = " + toml_array(storage_types) + "\n";
        }
    }

    if (!needed.empty()) out += "\n# --- globals -----------------------------------------------------------------\n";
    for (const auto& [key, n] : needed) {
        out += "\n";
        if (n.dangerous) {
            out += "# DANGEROUS: " + comment_safe(n.module + "." + n.name) + " — " + comment_safe(n.danger) + "\n";
            out += "# DANGEROUS: allowed only because of --allow-dangerous. A pickle that uses this entry\n"
                   "# DANGEROUS: can run code of its choosing when loaded; remove it unless you must.\n";
        } else if (n.known) {
            out += "# CAUTION (knowledge base, " + std::string(to_string(n.known->severity)) + ", " +
                   comment_safe(n.known->category) + "): " + comment_safe(n.known->reason) + "\n";
        }
        if (n.name.find('.') != std::string::npos)
            out += "# dotted name: find_class walks it attribute by attribute (protocol 4+)\n";
        out += "# " + std::string(n.uses ? describe_uses(n.uses) : "referenced") + "; first at " +
               comment_safe(where(n.origins.front())) + "\n";
        for (std::size_t i = 1; i < n.origins.size(); ++i) out += "#   also " + comment_safe(where(n.origins[i])) + "\n";
        if (n.seen > n.origins.size()) out += "#   and " + std::to_string(n.seen - n.origins.size()) + " more\n";
        out += "[[allow]]\nmodule = " + toml_string(n.module) + "\nname = " + toml_string(n.name) + "\n";
        if (n.uses) out += "uses = " + uses_array(n.uses) + "\n";
        // A global an include lists for other uses keeps its bounds (the
        // union of two entries drops those only one of them has).
        if (const allow_entry* prior = base_policy.value().find(n.module, n.name)) {
            allow_entry bounds = *prior;
            if (filled_state_keys.contains({n.module, n.name})) bounds.empty_state_keys.clear();
            if (forbidden_keys_set.contains({n.module, n.name})) bounds.forbidden_state_keys.clear();
            out += bound_lines(bounds);
        }
        if (n.dangerous)
            out += "note = " + toml_string("DANGEROUS (" + n.danger + "); allowed by policy infer --allow-dangerous") + "\n";
    }

    // The policy must pass the files it was made from; if it does not, the
    // inference is wrong and nothing is written.
    auto written = parse_policy(out, "inferred policy", policy_dir(args.output));
    if (!written) {
        std::fprintf(stderr, "pickleguard: policy infer: the inferred policy does not parse (%s); nothing was written\n",
                     written.error().reason.c_str());
        return kExitError;
    }
    auto check = set.run(written.value(), all);
    if (!check) {
        std::fprintf(stderr, "pickleguard: %s\n", check.error().reason.c_str());
        return kExitError;
    }
    for (const file_report& r : check.value()) {
        if (r.verdict == verdict::safe) continue;
        std::fprintf(stderr, "pickleguard: policy infer: internal error: the inferred policy does not pass %s:\n",
                     r.path.c_str());
        for (const finding& f : r.findings)
            if (f.violation) std::fprintf(stderr, "  %s: %s\n", f.rule.c_str(), comment_safe(f.message).c_str());
        return kExitError;
    }

    if (!write_output(args.output, out)) return kExitError;
    std::fprintf(stderr, "pickleguard: policy infer: %zu entr%s%s%s from %zu file%s%s%s\n", needed.size(),
                 needed.size() == 1 ? "y" : "ies", shapes.empty() ? "" : ", persistent ids: ",
                 shapes.empty() ? "" : std::to_string(storage_types.size()).append(" storage types").c_str(),
                 files.size(), files.size() == 1 ? "" : "s", args.output.empty() ? "" : " -> ",
                 args.output.c_str());
    if (!dangerous.empty())
        std::fprintf(stderr, "pickleguard: policy infer: WARNING: %zu DANGEROUS entr%s allowed (--allow-dangerous)\n",
                     dangerous.size(), dangerous.size() == 1 ? "y" : "ies");
    return kExitOk;
}

}  // namespace pickleguard::cli
