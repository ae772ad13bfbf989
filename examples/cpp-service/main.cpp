// pickle_verdict: the smallest useful C++ service around pickleguard.
//
//     pickle_verdict [--policy NAME_OR_FILE] [FILE | -]
//
// Reads a pickle (or a PyTorch checkpoint, numpy or joblib file) from FILE
// or standard input, judges it against the policy (default: "default") and
// prints the verdict, then one line per finding that breaks the policy.
// Exit status as `pickleguard scan`: 0 safe, 1 unsafe, 2 error.
//
// Decode only what was judged safe: `decode` builds the value graph a pickle
// describes without running it, but a graph of an unsafe pickle describes
// exactly the calls an attacker wanted made.
#include <pickleguard/container.hpp>
#include <pickleguard/decode.hpp>
#include <pickleguard/input.hpp>
#include <pickleguard/policy.hpp>
#include <pickleguard/scan.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    std::string policy_name = "default";
    std::string path = "-";
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--policy" && i + 1 < argc) policy_name = argv[++i];
        else path = arg;
    }

    pickleguard::result<pickleguard::policy> policy = pickleguard::load_policy(policy_name);
    if (!policy) {
        std::fprintf(stderr, "pickle_verdict: %s\n", pickleguard::describe(policy.error()).c_str());
        return 2;
    }
    pickleguard::result<pickleguard::mapped_file> file =
        path == "-" ? pickleguard::read_stream(0, "<stdin>") : pickleguard::map_file(path);
    if (!file) {
        std::fprintf(stderr, "pickle_verdict: %s: %s\n", path.c_str(), pickleguard::describe(file.error()).c_str());
        return 2;
    }

    pickleguard::file_report report = pickleguard::scan_file(file.value().bytes(), policy.value(), {}, path);
    std::printf("%s: %s (%s, policy %s)\n", path.c_str(), pickleguard::to_string(report.verdict),
                report.format.c_str(), policy.value().name().c_str());
    for (const pickleguard::finding& f : report.findings)
        if (f.violation) std::printf("  %s: %s\n", f.rule.c_str(), f.message.c_str());

    if (report.verdict == pickleguard::verdict::safe && report.format == "pickle") {
        // Safe: the value graph may now be read (here, only its size).
        pickleguard::decoding d = pickleguard::decode(file.value().bytes());
        std::printf("  %zu values decoded\n", d.graph.node_count());
    }
    return report.verdict == pickleguard::verdict::safe ? 0 : report.verdict == pickleguard::verdict::unsafe ? 1 : 2;
}
