// The one place the tool's own subcommands (policy infer, explain, scan
// --stdin-paths) turn a file's bytes into a report, so they judge exactly as
// `scan` does.
#include "commands.hpp"

#include "pickleguard/container.hpp"

#include <filesystem>

namespace pickleguard::cli {

file_report scan_target(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                        const std::string& path) {
    return scan_file(bytes, p, options, path);
}

// As `scan` decides what a directory walk (or --skip-unknown) skips: by
// content, never by name.
bool is_known_container(std::span<const std::byte> bytes) { return !detect_format(bytes).empty(); }

result<policy> load_policy_options(const std::vector<std::string>& policies, std::string& name) {
    name.clear();
    if (policies.empty()) {
        name = "default";
        return load_shipped_policy("default");
    }
    if (policies.size() == 1) {
        name = policies[0];
        return load_policy(policies[0]);
    }
    std::string text = "name = \"command-line\"\ninclude = [";
    std::string dir;
    for (const std::string& p : policies) {
        std::string stem = p;
        if (p.find('/') != std::string::npos || p.ends_with(".toml")) {
            std::filesystem::path fp(p);
            dir = fp.parent_path().string();
            stem = fp.stem().string();
        }
        text += (name.empty() ? "\"" : ", \"") + stem + "\"";
        name += (name.empty() ? "" : "+") + stem;
    }
    text += "]\n";
    return parse_policy(text, "--policy", dir.empty() ? "." : dir);
}

}  // namespace pickleguard::cli
