// The one place the tool's own subcommands (policy infer, explain, scan
// --stdin-paths) turn a file's bytes into a report, so they judge exactly as
// `scan` does.
#include "commands.hpp"

#include "pickleguard/container.hpp"

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
    for (const std::string& p : policies) name += (name.empty() ? "" : "+") + p;
    if (name.empty()) name = "default";
    return load_policies(policies);
}

}  // namespace pickleguard::cli
