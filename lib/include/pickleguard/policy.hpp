// pickleguard/policy.hpp — allow-list policies and the knowledge base.
//
// A policy names every global a pickle may use and what it may do with it.
// It is a TOML file:
//
//     name = "numpy"
//     description = "numpy arrays, dtypes and scalars"
//     include = ["python"]
//
//     [[allow]]
//     module = "numpy.core.multiarray"
//     name = "_reconstruct"
//     uses = ["call", "build"]
//
// `module`/`name` are matched exactly against the name CPython's find_class
// resolves (after fix_imports; a dotted name whole). `module_pattern` and
// `name_pattern` are RE2 expressions matched against the whole module and the
// whole name; a pattern never matches a dotted name, which must be listed
// itself, so allowing all of `numpy` can never allow numpy + "os.system".
//
// Uses beyond appearing at all: "call" (REDUCE, INST, OBJ), "new" (NEWOBJ,
// NEWOBJ_EX), and for objects made from the global: "build" (BUILD),
// "append" (APPEND(S)), "setitem" (SETITEM(S)), "additems" (ADDITEMS).
//
//     auto p = pickleguard::load_shipped_policy("default");
//     auto q = pickleguard::load_policy_file("team.toml");
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/limits.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

namespace uses {
inline constexpr std::uint8_t reference = 0;  // implied by every entry
inline constexpr std::uint8_t call = 1;
inline constexpr std::uint8_t instantiate = 2;  // "new"
inline constexpr std::uint8_t build = 4;
inline constexpr std::uint8_t append = 8;
inline constexpr std::uint8_t setitem = 16;
inline constexpr std::uint8_t additems = 32;
}  // namespace uses

// "call, build" for a set of use bits.
std::string describe_uses(std::uint8_t bits);

struct allow_entry {
    std::string module, name;        // exact, or RE2 patterns when the flags say so
    bool module_is_pattern = false;
    bool name_is_pattern = false;
    std::uint8_t uses = 0;
    // Arguments of calls and instantiations (positional, top level): an
    // integer must be within max_int_arg (either sign), a str must match
    // str_arg_pattern (RE2, whole string); with either set, an argument
    // computed while loading is refused. bytes(n) makes the loader allocate
    // n bytes; Fraction('1e999999999') compute 10**999999999.
    std::optional<std::uint64_t> max_int_arg;
    std::string str_arg_pattern;  // empty: str arguments are not checked
    std::string note;
    std::string origin;              // "policies/numpy.toml:12"
};

// Persistent ids a policy accepts. Two shapes, both PyTorch's:
//   "torch-storage":        ('storage', <storage type>, key: str, location: str, numel: int)
//   "torch-storage-legacy": the same plus view metadata: None or (view_key: str, offset: int, size: int)
struct persistent_id_rule {
    std::string shape;                       // "torch-storage" or "torch-storage-legacy"
    std::vector<std::string> storage_types;  // "torch.FloatStorage", ...
};

class policy {
public:
    policy();
    ~policy();
    policy(policy&&) noexcept;
    policy& operator=(policy&&) noexcept;

    const std::string& name() const { return name_; }
    const std::string& description() const { return description_; }
    const std::vector<std::string>& includes() const { return includes_; }
    const std::vector<allow_entry>& entries() const { return entries_; }
    const std::vector<persistent_id_rule>& persistent_ids() const { return persistent_ids_; }
    const pickleguard::limits& limits() const { return limits_; }

    // The entry allowing (module, name), or nullptr. Exact entries are a hash
    // lookup; patterns are tried only when no exact entry matches.
    const allow_entry* find(std::string_view module, std::string_view name) const;

    bool allows_storage_type(std::string_view qualified) const;

    // Whether `text` matches the str_arg_pattern of `entry` (one of this
    // policy's entries); true when it has none.
    bool accepts_str_arg(const allow_entry& entry, std::string_view text) const;

    struct impl;

private:
    friend result<policy> parse_policy(std::string_view text, const std::string& origin,
                                       const std::string& search_dir);
    std::string name_, description_;
    std::vector<std::string> includes_;
    std::vector<allow_entry> entries_;
    std::vector<persistent_id_rule> persistent_ids_;
    pickleguard::limits limits_{};
    std::unique_ptr<impl> impl_;
};

// Parses policy text; `origin` names it in errors ("file:line: what").
// Includes are resolved against the shipped policies, then `search_dir`.
result<policy> parse_policy(std::string_view text, const std::string& origin, const std::string& search_dir = "");

// A policy file when `name_or_path` is a path (is_policy_path), else the
// shipped policy of that name. A path is never taken for a shipped name.
// Includes in a file are looked for from its folder: a path as that file, a
// name as the shipped policy, else NAME.toml beside the including file.
result<policy> load_policy(const std::string& name_or_path);

// Several policies merged, in order, as if one policy included them all:
// each file is read as itself (`--policy ./numpy.toml --policy team` merges
// that numpy.toml, not the shipped numpy policy, with the shipped `team`).
result<policy> load_policies(const std::vector<std::string>& names_or_paths);

// Whether --policy / include text names a file: it has a '/' or ends in ".toml".
bool is_policy_path(std::string_view name_or_path);

// Shipped policies, compiled into the library from policies/*.toml.
std::vector<std::string> shipped_policy_names();
result<std::string> shipped_policy_text(std::string_view name);
result<policy> load_shipped_policy(std::string_view name);

// ---- the knowledge base ------------------------------------------------------

enum class severity : std::uint8_t { info, low, medium, high, critical };
const char* to_string(severity s) noexcept;
result<severity> parse_severity(std::string_view s);

struct known_global {
    std::string module, name;  // name may be a pattern
    bool name_is_pattern = false;
    pickleguard::severity severity = severity::info;
    std::string category, reason, reference;
};

// Dangerous globals and gadgets, for explaining findings. It never decides
// safety: anything outside the policy is a finding whether or not it is here.
class knowledge_base {
public:
    knowledge_base();
    ~knowledge_base();
    knowledge_base(knowledge_base&&) noexcept;
    knowledge_base& operator=(knowledge_base&&) noexcept;

    const known_global* find(std::string_view module, std::string_view name) const;
    std::size_t size() const;

    struct impl;

private:
    friend result<knowledge_base> parse_knowledge_base(std::string_view text, const std::string& origin);
    friend const knowledge_base& shipped_knowledge_base();
    std::unique_ptr<impl> impl_;
};

result<knowledge_base> parse_knowledge_base(std::string_view text, const std::string& origin);
// The shipped knowledge base (policies/knowledge/dangerous.toml), parsed once,
// on first use (thread-safe).
const knowledge_base& shipped_knowledge_base();

}  // namespace pickleguard
