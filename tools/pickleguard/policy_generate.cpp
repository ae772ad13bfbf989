// `pickleguard policy generate`: the allow-list for a library's picklable
// classes and functions, derived from the library's code rather than from
// files (docs/policies.md, "Generated policies").
//
// The analysis runs in Python, on the library and never on a pickle: the
// inspector (policy_generate.py, compiled into this binary) imports the
// library, reads the code unpickling would run for each class (its reduction,
// __new__, __setstate__, setters, __del__, ...) and prints candidates and
// refusals as JSON. This side adds what only pickleguard knows: every
// candidate, and every callee outside the library that its loading code
// calls, is looked up in the knowledge base, and refused when it is named
// there. Entries a person reviewed (--reviewed FILE: native reconstructors
// and helper reductions the inspector cannot read) are merged in, winning
// over the derived entry or refusal of the same name but not over the
// knowledge base. The policy text is parsed before it is written, as
// `infer` does.
#include "commands.hpp"
#include "policy_write.hpp"

#include "pickleguard/policy.hpp"
#include "pickleguard/version.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pickleguard::cli {

std::string_view policy_generate_inspector();  // policy_generate_script.cpp, generated from the .py

namespace {

// Runs the inspector and returns what it printed on standard output. Its
// standard error (the library's own messages) goes to ours.
result<std::string> run_inspector(const generate_args& args) {
    // The inspector is read from standard input ("-"), a memory file holding
    // it: as a -c argument it would be bound by the kernel's 128 KiB limit on
    // one argument (MAX_ARG_STRLEN; posix_spawn fails with E2BIG).
    std::string_view script = policy_generate_inspector();
    std::vector<std::string> argv_s = {args.python, "-B", "-"};
    for (const std::string& p : args.paths) {
        argv_s.push_back("--path");
        argv_s.push_back(std::filesystem::absolute(p).string());
    }
    for (const std::string& lib : args.libraries) argv_s.push_back(lib);
    std::vector<char*> argv;
    for (std::string& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);

    auto fail = [](std::string what) {
        return error{error_kind::io, error::no_offset, error::no_opcode, std::move(what)};
    };
    int in = ::memfd_create("pickleguard-inspector", MFD_CLOEXEC);
    if (in < 0) return fail(std::string("cannot hold the inspector: memfd_create: ") + std::strerror(errno));
    for (std::size_t done = 0; done < script.size();) {
        ssize_t n = ::write(in, script.data() + done, script.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(in);
            return fail(std::string("cannot write the inspector: ") + std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::lseek(in, 0, SEEK_SET) != 0) {
        ::close(in);
        return fail("cannot rewind the inspector's memory file");
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in);
        return fail("cannot create a pipe");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, args.python.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        return fail("cannot run " + args.python + ": " + std::strerror(rc));
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(args.python + " (the inspector) failed" +
                    (WIFEXITED(status) ? " with status " + std::to_string(WEXITSTATUS(status)) : std::string(" (killed)")));
    return text;
}

struct candidate {
    std::string module, name, kind, note;
    std::vector<std::string> uses;
    std::vector<std::pair<std::string, std::string>> calls;
    // Constraints on BUILD's dict state under which the inspector's reading
    // holds (its dispatch summaries: nn.Module.__call__ with empty hook tables).
    // forbidden_state_keys: keys whose presence sends __setstate__ down the
    // one branch the inspector found unsafe (and did not read).
    std::vector<std::string> empty_state_keys, required_state_keys, forbidden_state_keys;
    // For `C.__new__` called through functools.partial (protocol 2's form of
    // NEWOBJ_EX): it instantiates argument 0, which must be C itself.
    std::vector<invoked_arg> invokes;
    std::vector<arg_rule> args;
    // Stored values its forward calls, where a __getattr__ finds them, and
    // whether its instances may be stored where another entry calls them.
    std::vector<std::string> called_state_keys, called_state_values, attribute_tables;
    bool callable_instances = false;
};

struct refusal {
    std::string module, name, reason;
};

// Knowledge-base entries at or above this severity are refused, as names and
// as callees: medium is "reads files, changes interpreter state, denial of
// service", which a loading path must not do either.
constexpr severity kRefuseFrom = severity::medium;

const known_global* dangerous(const knowledge_base& kb, const std::string& module, const std::string& name) {
    const known_global* k = kb.find(module, name);
    if (!k) {
        // A dotted name is walked by find_class: its last part on the path before it.
        std::size_t dot = name.rfind('.');
        if (dot != std::string::npos) k = kb.find(module + "." + name.substr(0, dot), name.substr(dot + 1));
    }
    return k && k->severity >= kRefuseFrom ? k : nullptr;
}

std::string kb_reason(const known_global& k) {
    std::string r = k.reason;
    while (!r.empty() && (r.back() == '.' || r.back() == ' ')) r.pop_back();
    return std::string(to_string(k.severity)) + ", " + k.category + ": " + r;
}

// "reference" first, then the report's order, as every generated entry lists them.
std::vector<std::string> use_list(std::uint8_t bits) {
    std::vector<std::string> words;
    if (bits & uses::reference) words.emplace_back("reference");
    for (const use_word& u : use_words)
        if (u.bit != uses::reference && (bits & u.bit)) words.emplace_back(u.word);
    return words;
}

// The reviewed entries (--reviewed FILE): what the inspector cannot derive
// (native code, helpers that call or instantiate an argument), each written
// by a person with the bounds and `invokes` that make it safe. The file is a
// policy file, parsed as one (a misspelt key is an error), with exact names
// only, so that each can be looked up in the knowledge base and set against
// the derived entry of the same name; every entry needs a note.
result<policy> load_reviewed(const std::string& path) {
    auto fail = [&](std::string what) {
        return error{error_kind::usage, error::no_offset, error::no_opcode, path + ": " + std::move(what)};
    };
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot read the reviewed entries");
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = parse_policy(text.str(), path, std::filesystem::path(path).parent_path().string());
    if (!parsed) return parsed;
    const policy& p = parsed.value();
    if (!p.includes().empty() || !p.persistent_ids().empty())
        return fail("a reviewed-entries file lists [[allow]] entries only (no include, no [[persistent_id]])");
    for (const allow_entry& e : p.entries()) {
        if (e.module_is_pattern || e.name_is_pattern)
            return fail(e.origin + ": a reviewed entry names one global exactly (module and name, no patterns)");
        if (e.note.empty()) return fail(e.origin + ": a reviewed entry needs a note saying what loading runs and why its arguments are bounded");
    }
    return parsed;
}

// A candidate's invokes and args lines (only `C.__new__` entries have them).
std::string candidate_bounds(const candidate& c) {
    allow_entry e;
    e.args = c.args;
    std::string out = c.args.empty() ? "" : bound_lines(e);
    if (!c.invokes.empty()) {
        out += "invokes = [";
        for (std::size_t i = 0; i < c.invokes.size(); ++i)
            out += std::string(i ? ", " : "") + "{ arg = " + std::to_string(c.invokes[i].arg) + ", use = " +
                   (c.invokes[i].use == uses::instantiate ? "\"new\"" : "\"call\"") + " }";
        out += "]\n";
    }
    return out;
}
// One reviewed entry as policy text, every key it has, in a fixed order.
std::string reviewed_text(const allow_entry& e, const std::string& note) {
    std::string out = "\n[[allow]]\nmodule = " + toml_string(e.module) + "\nname = " + toml_string(e.name) +
                      "\nuses = " + toml_array(use_list(e.uses)) + "\n";
    out += bound_lines(e);  // the same bound keys policy infer writes
    if (!e.invokes.empty()) {
        out += "invokes = [";
        for (std::size_t i = 0; i < e.invokes.size(); ++i) {
            const invoked_arg& v = e.invokes[i];
            out += std::string(i ? ", " : "") + "{ arg = " + std::to_string(v.arg) +
                   ", use = " + (v.use == uses::instantiate ? "\"new\"" : "\"call\"");
            if (v.pass_arg) out += ", pass_arg = " + std::to_string(*v.pass_arg);
            if (v.star_args) out += ", star_args = " + std::to_string(*v.star_args);
            if (v.rest_args) out += ", rest_args = " + std::to_string(*v.rest_args);
            if (v.star_kwargs) out += ", star_kwargs = " + std::to_string(*v.star_kwargs);
            out += " }";
        }
        out += "]\n";
    }
    if (e.state_arg) out += "state_arg = " + std::to_string(*e.state_arg) + "\n";
    return out + "note = " + toml_string(note) + "\n";
}

}  // namespace

CLI::App* add_policy_generate_command(CLI::App& policy_cmd, generate_args& args) {
    CLI::App* cmd = policy_cmd.add_subcommand(
        "generate",
        "Write the allow-list for installed libraries' classes and functions, from their code (imports the "
        "libraries, never a pickle; run it where they are trusted)");
    cmd->add_option("libraries", args.libraries, "Top-level packages to inspect (import names: networkx, scipy)")
        ->required();
    cmd->add_option("--output,-o", args.output, "Write the policy to this file (default: standard output)");
    cmd->add_option("--name", args.name, "The policy's name (default: the output file's stem, or the first library)");
    cmd->add_option("--python", args.python, "The Python interpreter that has the libraries (default: /usr/bin/python3)");
    cmd->add_option("--path", args.paths, "Put this directory first on the inspector's sys.path; repeat for several")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--include", args.includes,
                    "Include this shipped policy (default: python); repeat for several")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--reviewed", args.reviewed,
                    "Merge these reviewed entries (a policy file of exact names, each with a note) into the "
                    "derived ones; a reviewed entry replaces a derived or refused one of the same name");
    cmd->add_flag("--explain", args.explain, "Also list every refused class and function, with the reason, on standard error");
    return cmd;
}

int run_policy_generate(const generate_args& args) {
    std::string name = policy_name(args.name, args.output, args.libraries.front());
    std::vector<std::string> includes = args.includes.empty() ? std::vector<std::string>{"python"} : args.includes;
    std::optional<policy> reviewed;
    if (!args.reviewed.empty()) {
        auto r = load_reviewed(args.reviewed);
        if (!r) {
            std::fprintf(stderr, "pickleguard: policy generate: %s\n", r.error().reason.c_str());
            return kExitError;
        }
        reviewed.emplace(std::move(r).value());
    }

    auto printed = run_inspector(args);
    if (!printed) {
        std::fprintf(stderr, "pickleguard: policy generate: %s\n", printed.error().reason.c_str());
        return kExitError;
    }
    nlohmann::json doc = nlohmann::json::parse(printed.value(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || doc.value("inspector", 0) != 1) {
        std::fprintf(stderr, "pickleguard: policy generate: the inspector's output is not what this version reads\n");
        return kExitError;
    }

    std::string versions;
    for (const auto& lib : doc["libraries"]) {
        if (lib.contains("error")) {
            std::fprintf(stderr, "pickleguard: policy generate: %s\n", lib["error"].get<std::string>().c_str());
            return kExitError;
        }
        versions += (versions.empty() ? "" : ", ") + lib["name"].get<std::string>() + " " +
                    lib["version"].get<std::string>();
    }

    const knowledge_base& kb = shipped_knowledge_base();
    std::vector<candidate> allowed;
    std::vector<refusal> refused;
    for (const auto& r : doc["refused"]) refused.push_back({r["module"], r["name"], r["reason"]});
    for (const auto& e : doc["entries"]) {
        candidate c{e["module"], e["name"], e["kind"], e["note"], e["uses"].get<std::vector<std::string>>(), {}, {}, {}, {}, {}, {}, {}, {}, {}, false};
        for (const auto& call : e["calls"]) c.calls.emplace_back(call[0].get<std::string>(), call[1].get<std::string>());
        if (e.contains("empty_state_keys")) c.empty_state_keys = e["empty_state_keys"].get<std::vector<std::string>>();
        if (e.contains("required_state_keys"))
            c.required_state_keys = e["required_state_keys"].get<std::vector<std::string>>();
        for (auto [key, out] : {std::pair{"called_state_keys", &c.called_state_keys},
                                std::pair{"called_state_values", &c.called_state_values},
                                std::pair{"attribute_tables", &c.attribute_tables}})
            if (e.contains(key)) *out = e[key].get<std::vector<std::string>>();
        c.callable_instances = e.value("callable_instances", false);
        if (e.contains("forbidden_state_keys"))
            c.forbidden_state_keys = e["forbidden_state_keys"].get<std::vector<std::string>>();
        if (e.contains("invokes"))
            for (const auto& v : e["invokes"]) {
                invoked_arg ia;
                ia.arg = v["arg"].get<std::size_t>();
                ia.use = use_bit(v["use"].get<std::string>());
                c.invokes.push_back(ia);
            }
        if (e.contains("args"))
            for (const auto& v : e["args"]) {
                arg_rule r;
                r.pos = v["pos"].get<std::size_t>();
                r.global_module = v.value("module", std::string{});
                r.global_name = v.value("name", std::string{});
                c.args.push_back(std::move(r));
            }
        // functools.partial, which the knowledge base names for hiding the
        // callable it binds: the judge calls a partial only as the call of a
        // named global it binds (rule exact-partial, that global's entry and
        // bounds), and refuses every other partial, so the entry hides none.
        // Admitted for the protocol-2 form of NEWOBJ_EX (the inspector writes
        // it only with a `C.__new__` entry), with no reference use.
        const bool exact_partial = c.kind == "bound-partial" && c.module == "functools" && c.name == "partial" &&
                                   c.calls.empty() && c.uses == std::vector<std::string>{"call", "build"};
        if (const known_global* k = exact_partial ? nullptr : dangerous(kb, c.module, c.name)) {
            refused.push_back({c.module, c.name, "the knowledge base names it (" + kb_reason(*k) + ")"});
            continue;
        }
        std::string why;
        for (const auto& [m, n] : c.calls)
            if (const known_global* k = dangerous(kb, m, n)) {
                why = "loading it calls " + m + "." + n + ", which the knowledge base names (" + kb_reason(*k) + ")";
                break;
            }
        if (!why.empty()) {
            refused.push_back({c.module, c.name, why});
            continue;
        }
        allowed.push_back(std::move(c));
    }

    // Reviewed entries win over derived ones and refusals of the same name
    // (the note says which it replaced), but never over the knowledge base.
    struct written {
        std::string module, name, text;
    };
    std::vector<written> entries;
    std::size_t n_reviewed = 0;
    if (reviewed) {
        for (const allow_entry& e : reviewed->entries()) {
            if (const known_global* k = dangerous(kb, e.module, e.name)) {
                std::fprintf(stderr, "pickleguard: policy generate: reviewed entry %s.%s refused: the knowledge base names it\n",
                             comment_safe_ascii(e.module).c_str(), comment_safe_ascii(e.name).c_str());
                refused.push_back({e.module, e.name, "reviewed in " + args.reviewed + ", but the knowledge base names it (" + kb_reason(*k) + ")"});
                continue;
            }
            auto same = [&](const auto& x) { return x.module == e.module && x.name == e.name; };
            std::string note = "Reviewed (" + args.reviewed + "): " + e.note;
            auto d = std::find_if(allowed.begin(), allowed.end(), same);
            if (d != allowed.end()) {
                std::string was;
                for (const std::string& u : d->uses) was += (was.empty() ? "" : ", ") + u;
                note += " [It replaces the derived entry (uses " + was + ").]";
                allowed.erase(d);
            }
            for (auto r = std::find_if(refused.begin(), refused.end(), same); r != refused.end();
                 r = std::find_if(refused.begin(), refused.end(), same)) {
                note += " [The generator refused it: " + r->reason + ".]";
                refused.erase(r);
            }
            entries.push_back({e.module, e.name, reviewed_text(e, note)});
            ++n_reviewed;
        }
    }
    auto by_name = [](const auto& a, const auto& b) { return std::tie(a.module, a.name) < std::tie(b.module, b.name); };
    std::sort(allowed.begin(), allowed.end(), by_name);
    std::sort(refused.begin(), refused.end(), by_name);
    for (const candidate& c : allowed) {
        std::uint8_t bits = 0;
        for (const std::string& u : c.uses) bits |= use_bit(u);
        entries.push_back({c.module, c.name,
                           "\n[[allow]]\nmodule = " + toml_string(c.module) + "\nname = " + toml_string(c.name) +
                               "\nuses = " + toml_array(use_list(bits)) + "\n" +
                               (c.empty_state_keys.empty() ? "" : "empty_state_keys = " + toml_array(c.empty_state_keys) + "\n") +
                               (c.required_state_keys.empty() ? ""
                                                              : "required_state_keys = " + toml_array(c.required_state_keys) + "\n") +
                               (c.forbidden_state_keys.empty()
                                    ? ""
                                    : "forbidden_state_keys = " + toml_array(c.forbidden_state_keys) + "\n") +
                               (c.called_state_keys.empty() ? "" : "called_state_keys = " + toml_array(c.called_state_keys) + "\n") +
                               (c.called_state_values.empty() ? ""
                                                              : "called_state_values = " + toml_array(c.called_state_values) + "\n") +
                               (c.attribute_tables.empty() ? "" : "attribute_tables = " + toml_array(c.attribute_tables) + "\n") +
                               (c.callable_instances ? "callable_instances = true\n" : "") +
                               candidate_bounds(c) + "note = " + toml_string(c.note) + "\n"});
    }
    std::sort(entries.begin(), entries.end(), by_name);

    std::string out;
    out += "# GENERATED by `pickleguard policy generate` (pickleguard " + std::string(version()) + ") from " +
           comment_safe_ascii(versions) + ", Python " + comment_safe_ascii(doc["python"].get<std::string>()) + ".\n";
    for (const auto& lib : doc["libraries"])
        out += "# " + comment_safe_ascii(lib["name"].get<std::string>()) + ": " +
               std::to_string(lib["modules"].get<int>()) + " modules inspected, " + std::to_string(lib["skipped"].size()) + " skipped (tests, build tools, failed imports).\n";
    if (doc.contains("companions"))
        for (const auto& c : doc["companions"])
            out += "# companion " + comment_safe_ascii(c["name"].get<std::string>()) + ": " +
                   std::to_string(c["modules"].get<int>()) + " modules inspected for subclasses of " +
                   comment_safe_ascii(c["base"].get<std::string>()) + ", which the libraries' classes build on.\n";
    out += "# " + std::to_string(entries.size()) + " entries allowed, " + std::to_string(refused.size()) +
           " classes and functions refused (listed at the end with the reason).\n";
    if (reviewed)
        out += "# " + std::to_string(n_reviewed) + " of the entries are reviewed ones, merged from --reviewed " +
               comment_safe_ascii(args.reviewed) + " (their notes say so).\n";
    out += "# Each entry was derived from the code unpickling runs for it (docs/policies.md, \"Generated\n"
           "# policies\"); review it before trusting it: every allowed global is code a pickle can run.\n\n";
    out += "name = " + toml_string(name) + "\n";
    out += "description = " + toml_string("Generated by pickleguard policy generate from " + versions) + "\n";
    out += "include = " + toml_array(includes) + "\n";

    for (const written& w : entries) out += w.text;
    if (!refused.empty()) {
        out += "\n# --- refused -------------------------------------------------------------------\n";
        for (const refusal& r : refused)
            out += "# " + comment_safe_ascii(r.module + "." + r.name) + ": " + comment_safe_ascii(r.reason) + "\n";
    }

    auto parsed = parse_policy(out, "generated policy", policy_dir(args.output));
    if (!parsed) {
        std::fprintf(stderr, "pickleguard: policy generate: the generated policy does not parse (%s); nothing was written\n",
                     parsed.error().reason.c_str());
        return kExitError;
    }

    if (args.explain)
        for (const refusal& r : refused)
            std::fprintf(stderr, "refused %s.%s: %s\n", comment_safe_ascii(r.module).c_str(),
                         comment_safe_ascii(r.name).c_str(), comment_safe_ascii(r.reason).c_str());

    if (!write_output(args.output, out)) return kExitError;
    std::fprintf(stderr, "pickleguard: policy generate: %zu entr%s allowed, %zu refused (%s)%s%s\n", entries.size(),
                 entries.size() == 1 ? "y" : "ies", refused.size(), versions.c_str(), args.output.empty() ? "" : " -> ",
                 args.output.c_str());
    return kExitOk;
}

}  // namespace pickleguard::cli
