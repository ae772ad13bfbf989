// Reports as JSON and SARIF, through nlohmann::json: documents are small
// (findings, not values), so a DOM is the simple, well-tested way.
#include "pickleguard/report.hpp"

#include "pickleguard/report_schema.hpp"
#include "pickleguard/rules.hpp"
#include "pickleguard/version.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <type_traits>

namespace pickleguard {
namespace {

using json = nlohmann::ordered_json;

// Strings from the stream may hold any bytes; JSON needs valid UTF-8
// (nlohmann refuses anything else, overlong forms and surrogates included,
// by throwing). Each invalid byte becomes U+FFFD. Every string goes through
// here, even those the library writes itself (rule ids, formats, opcode
// names, skip reasons): a report may come from a sandboxed worker, whose
// every byte a hostile file could choose (found by wire_fuzzer).
std::string utf8_safe(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    auto u = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = u(i);
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) len = 1;
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) { len = 3; lo = 0xa0; }
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) len = 3;
        else if (c == 0xed) { len = 3; hi = 0x9f; }  // no surrogates
        else if (c == 0xf0) { len = 4; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else if (c == 0xf4) { len = 4; hi = 0x8f; }
        bool ok = len > 0 && i + len <= s.size();
        if (ok && len > 1) ok = u(i + 1) >= lo && u(i + 1) <= hi;
        for (std::size_t k = 2; ok && k < len; ++k) ok = u(i + k) >= 0x80 && u(i + k) <= 0xbf;
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\xef\xbf\xbd";  // U+FFFD
            ++i;
        }
    }
    return out;
}

template <class T>
json object_json(const T& s);

// One member as JSON, by the kind its row in report_schema.hpp gives it.
template <schema::kind K, class Member>
json member_json(const Member& v) {
    using schema::kind;
    if constexpr (K == kind::text) return utf8_safe(v);
    else if constexpr (K == kind::text_or_null) return v.empty() ? json(nullptr) : json(utf8_safe(v));
    else if constexpr (K == kind::number || K == kind::flag) return v;
    else if constexpr (K == kind::optional_number) return v ? json(*v) : json(nullptr);
    else if constexpr (K == kind::uses) return describe_uses(v);
    else if constexpr (K == kind::enumeration) return to_string(v);
    else if constexpr (K == kind::location) {
        std::string text = to_string(v);
        return text.empty() ? json(nullptr) : json(utf8_safe(text));
    } else {
        static_assert(K == kind::list);
        json items = json::array();
        for (const auto& item : v) {
            if constexpr (std::is_same_v<std::decay_t<decltype(item)>, std::string>) items.push_back(utf8_safe(item));
            else items.push_back(object_json(item));
        }
        return items;
    }
}

// A report struct as a JSON object: its table's rows, in order.
template <class T>
json object_json(const T& s) {
    json j = json::object();
    schema::for_each_field<T>([&](const auto& row) {
        j[std::string(row.name)] = member_json<std::decay_t<decltype(row)>::kind_value>(s.*row.member);
    });
    return j;
}

json file_json(const file_report& f) {
    json j = object_json(f);
    // Every reading judged; a report without them (an older worker) had one.
    if (f.readings.empty() && !f.format.empty()) j["readings"].push_back(utf8_safe(f.format));
    return j;
}

}  // namespace

report_summary summarize(const std::vector<file_report>& files, const std::vector<skipped_file>& skipped) {
    report_summary s;
    s.files = files.size();
    s.skipped = skipped.size();
    for (const file_report& f : files) {
        s.bytes += f.bytes;
        if (f.verdict == verdict::safe) ++s.safe;
        else if (f.verdict == verdict::unsafe) ++s.unsafe;
        else ++s.error;
    }
    return s;
}

namespace {

json skipped_json(const skipped_file& s) { return json{{"path", utf8_safe(s.path)}, {"reason", utf8_safe(s.reason)}}; }

json summary_json(const report_summary& s) {
    return json{{"files", s.files}, {"safe", s.safe},       {"unsafe", s.unsafe},
                {"error", s.error}, {"skipped", s.skipped}, {"bytes", s.bytes}};
}

// A line of jsonl: "type" first, then the object's own keys, in order.
std::string jsonl_line(std::string_view type, const json& body) {
    json line;
    line["type"] = type;
    for (const auto& [k, v] : body.items()) line[k] = v;
    return line.dump() + "\n";
}

}  // namespace

std::string report_jsonl_file(const file_report& file) { return jsonl_line("file", file_json(file)); }

std::string report_jsonl_skipped(const skipped_file& skipped) { return jsonl_line("skipped", skipped_json(skipped)); }

std::string report_jsonl_summary(const report_summary& summary, std::string_view policy_name) {
    json head;
    head["schema"] = 1;
    head["tool"] = "pickleguard";
    head["version"] = version();
    head["policy"] = utf8_safe(policy_name);
    const json counts = summary_json(summary);
    for (const auto& [k, v] : counts.items()) head[k] = v;
    return jsonl_line("summary", head);
}

std::string report_json(const std::vector<file_report>& files, const std::vector<skipped_file>& skipped,
                        std::string_view policy_name) {
    json doc;
    doc["schema"] = 1;
    doc["tool"] = "pickleguard";
    doc["version"] = version();
    doc["policy"] = utf8_safe(policy_name);
    json arr = json::array();
    for (const file_report& f : files) arr.push_back(file_json(f));
    doc["files"] = std::move(arr);
    json sk = json::array();
    for (const skipped_file& s : skipped) sk.push_back(skipped_json(s));
    doc["skipped"] = std::move(sk);
    doc["summary"] = summary_json(summarize(files, skipped));
    return doc.dump(2) + "\n";
}

namespace {

// SARIF's artifact URIs (RFC 3986): unreserved characters and '/' as they
// are, every other byte percent-encoded, so a path with spaces, '#', '%' or
// bytes that are not UTF-8 is still one valid URI that names it.
std::string uri_encode(std::string_view path) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : path) {
        auto b = static_cast<unsigned char>(c);
        if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '.' ||
            b == '_' || b == '~' || b == '/') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[b >> 4]);
            out.push_back(hex[b & 15]);
        }
    }
    return out;
}

// `path` without "." segments, empty segments, and ".." that a segment
// before it cancels, as std::filesystem::path::lexically_normal does (but
// on the bytes, with no locale).
std::string normal_path(std::string_view path) {
    const bool absolute = !path.empty() && path[0] == '/';
    std::vector<std::string_view> parts;
    std::size_t i = 0;
    while (i <= path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        std::string_view seg = path.substr(i, j - i);
        if (seg == "..") {
            if (!parts.empty() && parts.back() != "..") parts.pop_back();
            else if (!absolute) parts.push_back(seg);
        } else if (!seg.empty() && seg != ".") {
            parts.push_back(seg);
        }
        i = j + 1;
    }
    std::string out = absolute ? "/" : "";
    for (std::size_t k = 0; k < parts.size(); ++k) out += (k ? "/" : "") + std::string(parts[k]);
    return out;
}

// Where a report's path is, as an artifactLocation: relative to %SRCROOT%
// (the scan root) when it is inside it, an absolute file: URI otherwise.
json artifact_location(const std::string& path, const std::string& root) {
    std::string p = normal_path(path);
    if (!p.empty() && p[0] != '/' && p.rfind("..", 0) == 0 && !root.empty()) p = normal_path(root + "/" + p);
    if (!p.empty() && p[0] == '/' && !root.empty()) {
        std::string r = normal_path(root);
        if (r == "/") return json{{"uri", uri_encode(p.substr(1))}, {"uriBaseId", "%SRCROOT%"}};
        if (p.size() > r.size() && p.compare(0, r.size(), r) == 0 && p[r.size()] == '/')
            return json{{"uri", uri_encode(p.substr(r.size() + 1))}, {"uriBaseId", "%SRCROOT%"}};
    }
    if (!p.empty() && p[0] == '/') return json{{"uri", "file://" + uri_encode(p)}};
    return json{{"uri", uri_encode(p.empty() ? path : p)}, {"uriBaseId", "%SRCROOT%"}};
}

const char* security_severity(severity s) {
    switch (s) {
        case severity::critical: return "9.5";
        case severity::high: return "8.0";
        case severity::medium: return "5.5";
        case severity::low: return "3.0";
        default: return "0.0";
    }
}

const char* level_of(severity s, bool violation) {
    if (!violation) return "note";
    return s >= severity::high ? "error" : "warning";
}

// Files that could not be read at all are no finding about their content:
// SARIF has tool execution notifications for them. Everything that read
// the file (a scanner that crashed or timed out on it included: a file can
// be built to do that) stays a result.
bool not_read(const finding& f) {
    return f.rule == rule::unreadable_file || f.rule == rule::unreadable_directory || f.rule == rule::not_a_regular_file;
}

// FNV-1a, 64 bits: a fingerprint that stays the same from run to run and
// release to release (std::hash promises neither).
std::string fingerprint_hash(std::string_view key) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : key) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace

std::string report_sarif(const std::vector<file_report>& files, std::string_view policy_name,
                         const sarif_options& options) {
    // The rules this run refers to, in catalogue order, each ranked by the
    // worst of its results here (GitHub ranks alerts by the rule's
    // security-severity, and a rule's findings differ: os.system is
    // critical, an unknown global medium).
    struct rule_use {
        bool used = false;
        severity worst = severity::info;
        bool violation = false;
    };
    std::map<std::string, rule_use> used;
    for (const file_report& f : files)
        for (const finding& x : f.findings) {
            rule_use& u = used[x.rule];
            if (!u.used || x.severity > u.worst) u.worst = x.severity;
            u.used = true;
            u.violation = u.violation || x.violation;
        }
    json rules = json::array();
    std::map<std::string, std::size_t> rule_index;
    for (const rule_info& r : all_rules()) {
        auto it = used.find(std::string(r.id));
        if (it == used.end()) continue;
        rule_index[std::string(r.id)] = rules.size();
        json jr;
        jr["id"] = r.id;
        jr["name"] = r.title;
        jr["shortDescription"] = json{{"text", r.title}};
        jr["fullDescription"] = json{{"text", r.help}};
        jr["help"] = json{{"text", r.help}, {"markdown", std::string(r.help)}};
        jr["helpUri"] = std::string(repository_url()) + "/blob/main/docs/rules.md#" + std::string(r.id);
        jr["defaultConfiguration"] = json{{"level", level_of(it->second.worst, it->second.violation)}};
        jr["properties"] = json{{"tags", json::array({"security", "pickle"})},
                                {"security-severity", security_severity(it->second.worst)},
                                {"precision", "high"}};
        rules.push_back(std::move(jr));
    }
    auto rule_reference = [&](const std::string& id) {
        json ref{{"id", utf8_safe(id)}};
        if (auto it = rule_index.find(id); it != rule_index.end()) ref["index"] = it->second;
        return ref;
    };

    json results = json::array();
    json notifications = json::array();
    std::map<std::string, std::size_t> seen_keys;  // fingerprint key -> results with it so far
    for (const file_report& f : files) {
        const json artifact = artifact_location(utf8_safe(f.path), options.root);
        for (const finding& x : f.findings) {
            if (f.verdict == verdict::error && not_read(x)) {
                json n;
                n["level"] = "error";
                n["message"] = json{{"text", utf8_safe(x.message)}};
                n["locations"] = json::array({json{{"physicalLocation", json{{"artifactLocation", artifact}}}}});
                n["associatedRule"] = rule_reference(x.rule);
                notifications.push_back(std::move(n));
                continue;
            }
            json res;
            res["ruleId"] = utf8_safe(x.rule);
            if (auto it = rule_index.find(x.rule); it != rule_index.end()) res["ruleIndex"] = it->second;
            res["level"] = level_of(x.severity, x.violation);
            std::string member = to_string(x.member);
            std::string where = member.empty() ? "" : " [" + member + "]";
            res["message"] = json{{"text", utf8_safe(x.message + where)}};
            // A byte offset is the outer file's only for a bare pickle; a
            // member's offset is within the member, said by the logical
            // location and the properties instead.
            json region{{"startLine", 1}};
            if (x.offset && member.empty()) {
                region["byteOffset"] = *x.offset;
                region["byteLength"] = 1;
            }
            json loc{{"physicalLocation", json{{"artifactLocation", artifact}, {"region", region}}}};
            if (!member.empty())
                loc["logicalLocations"] = json::array({json{{"name", utf8_safe(x.member.steps.back().name.empty()
                                                                                      ? member
                                                                                      : x.member.steps.back().name)},
                                                            {"fullyQualifiedName", utf8_safe(member)},
                                                            {"kind", "resource"}}});
            res["locations"] = json::array({std::move(loc)});
            // What identifies the alert across scans: the rule, the file, the
            // member and the global or opcode, not the offset (a file written
            // again moves it); the n-th result with the same key gets ":n".
            std::string key = x.rule + '\0' + artifact.value("uri", "") + '\0' + member + '\0' + x.module + '\0' +
                              x.name + '\0' + (x.module.empty() ? x.opcode : "");
            std::size_t n = seen_keys[key]++;
            res["partialFingerprints"] = json{{"pickleguard/v1", fingerprint_hash(key) + ":" + std::to_string(n)}};
            json props{{"security-severity", security_severity(x.severity)},
                       {"severity", to_string(x.severity)},
                       {"policy", utf8_safe(policy_name)}};
            if (x.offset && !member.empty()) props["memberOffset"] = *x.offset;
            res["properties"] = std::move(props);
            results.push_back(std::move(res));
        }
    }
    json run;
    run["tool"] = json{{"driver", json{{"name", "pickleguard"},
                                       {"version", version()},
                                       {"semanticVersion", version()},
                                       {"informationUri", repository_url()},
                                       {"rules", std::move(rules)}}}};
    json invocation{{"executionSuccessful", notifications.empty()}};
    if (!notifications.empty()) invocation["toolExecutionNotifications"] = std::move(notifications);
    run["invocations"] = json::array({std::move(invocation)});
    if (!options.root.empty()) {
        std::string root = normal_path(options.root);
        if (root.back() != '/') root += '/';
        run["originalUriBaseIds"] = json{{"%SRCROOT%", json{{"uri", "file://" + uri_encode(utf8_safe(root))}}}};
    }
    run["results"] = std::move(results);
    json doc;
    doc["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json";
    doc["version"] = "2.1.0";
    doc["runs"] = json::array({std::move(run)});
    return doc.dump(2) + "\n";
}

}  // namespace pickleguard
