// What `decode` and `disasm` read from each path: the file itself when it is
// a pickle, or with --member one of the pickle streams a container holds, as
// the readers hand it on (pickleguard/members.hpp). A container given
// without --member is a usage error that names its pickle streams, never
// its bytes decoded as opcodes; --list-members prints every member.
#include "commands.hpp"

#include "pickleguard/input.hpp"
#include "pickleguard/members.hpp"
#include "pickleguard/report.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

namespace pickleguard::cli {
namespace {

result<mapped_file> open_input(const std::string& path) {
    if (path == "-") return read_stream(0, "<stdin>");
    return map_file(path);
}

// The readings of a member, as reports spell them ("tar+pickle").
std::string readings_text(const file_member& m) {
    std::string out;
    for (format f : m.readings) out += (out.empty() ? "" : "+") + std::string(to_string(f));
    return out.empty() ? "unknown" : out;
}

// "a container (pytorch-zip), not a pickle stream: ..." for bytes a loader does not
// unpickle from offset 0.
error not_a_stream(const file_member& m, const file_members& members, const std::string& what) {
    std::string names;
    std::size_t shown = 0, more = 0;
    for (const file_member* p : members.pickles()) {
        if (p == &m) continue;
        if (shown == 10) {
            ++more;
            continue;
        }
        names += (shown++ ? ", '" : "'") + printable(p->name) + "'";
    }
    if (more) names += " and " + std::to_string(more) + " more";
    error e;
    e.kind = error_kind::usage;
    e.reason = what + " is a container (" + readings_text(m) + "), not a pickle stream; " +
               (names.empty() ? std::string("it holds no pickle stream pickleguard can read")
                              : "its pickle streams are " + names + "; choose one with --member NAME") +
               " (--list-members lists every member)";
    return e;
}

// One line per member, in the order the readers found them: what it is
// ("pickle", or the container it was read as), its size, and its name
// ('' for the file itself), which --member takes as it is printed.
void list_members(const std::string& path, const file_members& members, bool several) {
    std::string out = several ? "== " + path + "\n" : std::string();
    for (const file_member& m : members.all()) {
        std::string kind = m.pickle ? "pickle" : readings_text(m);
        std::string size = std::to_string(m.bytes.size());
        out += kind + std::string(kind.size() < 20 ? 20 - kind.size() : 1, ' ') +
               std::string(size.size() < 10 ? 10 - size.size() : 0, ' ') + size + "  " +
               (m.name.empty() ? std::string("''") : printable(m.name)) + "\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_member_options(CLI::App* cmd, member_args& args) {
    CLI::Option* member = cmd->add_option("--member", args.member,
                                          "Read this member of a container, named as scan reports name it "
                                          "('archive/data.pkl'; --list-members lists them)");
    CLI::Option* list = cmd->add_flag(
        "--list-members", args.list, "List each file's members and pickle streams (kind, size, name) instead of reading one");
    CLI::Option* raw = cmd->add_flag("--raw", args.raw,
                                     "Read the file's own bytes as a pickle, as pickle.loads(data) would, even when "
                                     "they are a container");
    member->excludes(list)->excludes(raw);
    list->excludes(raw);
}

int for_each_stream(const std::vector<std::string>& paths, const member_args& m, const scan_options& options,
                    const stream_function& each, const stream_failure& failed) {
    int status = kExitOk;
    auto fail = [&](const std::string& path, const error& e) {
        std::fprintf(stderr, "pickleguard: %s: %s\n", path.c_str(), printable(describe(e)).c_str());
        if (failed) failed(path, e);
        status = kExitError;
    };
    for (const std::string& path : paths) {
        auto file = open_input(path);
        if (!file) {
            fail(path, file.error());
            continue;
        }
        std::span<const std::byte> bytes = file.value().bytes();
        if (m.raw) {
            status = std::max(status, each(path, bytes));
            continue;
        }
        // A bare pickle (or bytes no reader knows, which decode as far as
        // they go) is read as it is, as before containers had members.
        std::vector<format> readings = read::detect_readings(bytes);
        const bool container = !readings.empty() && readings.front() != format::pickle;
        if (!m.list && !m.member && !container) {
            status = std::max(status, each(path, bytes));
            continue;
        }
        const file_members members = read_members(bytes, options);
        if (m.list) {
            list_members(path, members, paths.size() > 1);
            continue;
        }
        const file_member* chosen = &members.all().front();
        if (m.member) {
            auto found = members.find(*m.member);
            if (!found) {
                fail(path, found.error());
                continue;
            }
            chosen = found.value();
        }
        if (!chosen->pickle && !chosen->readings.empty()) {
            fail(path, not_a_stream(*chosen, members, chosen->name.empty() ? "the file" : "'" + chosen->name + "'"));
            continue;
        }
        status = std::max(status, each(path, chosen->bytes));
    }
    return status;
}

}  // namespace pickleguard::cli
