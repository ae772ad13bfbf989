// `pickleguard convert`: checkpoints to safetensors without unpickling them
// (pickleguard/convert.hpp). One file to one file, or a folder of shards to
// a folder of safetensors shards with model.safetensors.index.json, as
// transformers writes sharded checkpoints.
#include "commands.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/convert.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/json.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/sandbox.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace pickleguard::cli {
namespace {

namespace fs = std::filesystem;

void say(const char* fmt, const std::string& a, const std::string& b = {}) {
    std::fprintf(stderr, fmt, printable(a).c_str(), printable(b).c_str());
}

// Converts one file to `output`; prints what happened. Returns the exit
// status and fills `result`.
int convert_one(const convert_args& args, const std::string& input, const std::string& output, bool force,
                conversion& result, bool quiet) {
    // The descriptor the kernel copies tensors from, and the mapping the
    // scan reads, are of one file: the mapping is made through it.
    int fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const char* kind = fd >= 0 ? special_file_kind(st.st_mode) : nullptr;
        say("pickleguard convert: %s: %s\n", input, kind ? std::string("not a regular file: ") + kind : std::strerror(errno));
        if (fd >= 0) ::close(fd);
        return kExitError;
    }
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } close_fd{fd};
    auto file = map_regular_file("/proc/self/fd/" + std::to_string(fd));
    if (!file) {
        say("pickleguard convert: %s: %s\n", input, describe(file.error()));
        return kExitError;
    }
    std::vector<std::string> names = args.policies;
    if (names.empty()) {
        std::string f = detect_format(file.value().bytes());
        names.push_back(f == "npy" || f == "npz" ? "numpy-data" : "pytorch");
    }
    std::string policy_name;
    auto p = load_policy_options(names, policy_name);
    if (!p) {
        say("pickleguard convert: %s\n", describe(p.error()));
        return kExitError;
    }
    convert_options o;
    o.scan_policy = &p.value();
    o.scan.decode = args.decode;
    // The first reading of the file is the scan's, in a sandboxed worker as
    // `scan` does it; only a file that passes is read again here, to convert.
    if (args.sandbox) {
        const scan_options scan = o.scan;
        const policy& judged = p.value();
        scan_function judge = [&](std::span<const std::byte> bytes, const scan_job& job) {
            return scan_outcome{scan_file(bytes, judged, scan, job.path), {}};
        };
        auto outcomes = scan_in_workers({{input, true}}, judge, args.pool(1), {});
        if (!outcomes) {
            say("pickleguard convert: the sandbox could not be set up (--no-sandbox scans in this process): %s%s\n",
                describe(outcomes.error()));
            return kExitError;
        }
        const file_report& r = outcomes.value().front().report;
        if (r.verdict != verdict::safe) {
            std::string text = report_text({r}, {}, text_options{});
            std::fwrite(text.data(), 1, text.size(), stderr);
            say("pickleguard convert: %s: refused: the scan found the file %s; nothing was converted\n", input,
                to_string(r.verdict));
            return r.verdict == verdict::unsafe ? kExitFound : kExitError;
        }
    }
    o.input_name = input;
    o.key_prefix = args.key_prefix;
    o.skip_non_tensors = args.skip_non_tensors;
    o.force = force;
    o.array_name = fs::path(input).stem().string();
    o.input_fd = fd;
    result = convert_file(file.value().bytes(), output, o);
    if (result.failure) {
        bool refused = result.report.verdict != verdict::safe;
        if (refused) {
            text_options t;
            std::string text = report_text({result.report}, {}, t);
            std::fwrite(text.data(), 1, text.size(), stderr);
        }
        say("pickleguard convert: %s: %s\n", input, result.failure->reason);
        // As clamscan: 1 for what was found (an unsafe file, storage records
        // that lie), 2 for what could not be done (a dtype safetensors lacks,
        // values that are not tensors, a file that could not be written).
        if (refused) return result.report.verdict == verdict::unsafe ? kExitFound : kExitError;
        return result.failure->kind == error_kind::malformed ? kExitFound : kExitError;
    }
    for (const std::string& d : result.dropped) say("pickleguard convert: %s: dropped %s\n", input, d);
    if (!quiet)
        std::printf("%s -> %s: %zu tensors, %llu bytes (%s, policy %s)\n", printable(input).c_str(),
                    printable(output).c_str(), result.written.size(),
                    static_cast<unsigned long long>(result.tensor_bytes), result.format.c_str(),
                    printable(policy_name).c_str());
    for (const auto& [alias, kept] : result.shared)
        if (!quiet) std::printf("  %s shares the storage of %s (in __metadata__)\n", printable(alias).c_str(), printable(kept).c_str());
    return kExitOk;
}

// pytorch_model-00001-of-00002.bin -> model-00001-of-00002.safetensors, as
// the conversion script and transformers name shards.
std::string shard_name(const fs::path& in) {
    std::string stem = in.stem().string();
    if (stem.starts_with("pytorch_model")) stem = "model" + stem.substr(13);
    return stem + ".safetensors";
}

bool is_checkpoint_name(const fs::path& p) {
    static const char* kExt[] = {".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".pkl", ".tar"};
    std::string e = p.extension().string();
    return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

// Which files of a folder are its checkpoint, as the conversion script
// chooses: the shards pytorch_model.bin.index.json names, else
// pytorch_model.bin, else every file that looks like a checkpoint. An empty
// result with `why` set is an error.
std::vector<fs::path> choose_inputs(const fs::path& dir, std::vector<std::string>& skipped, std::string& why,
                                    std::error_code& ec) {
    std::vector<fs::path> inputs;
    const fs::path index = dir / "pytorch_model.bin.index.json";
    std::set<std::string> chosen;
    if (fs::exists(index)) {
        std::ifstream in(index);
        nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
            why = index.string() + " is not a shard index (no weight_map)";
            return {};
        }
        for (const auto& [name, file] : j["weight_map"].items()) {
            // A name from the file itself: a shard in this folder, never a path elsewhere.
            if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos ||
                file.get<std::string>().empty() || file.get<std::string>()[0] == '.') {
                why = index.string() + " names a shard that is not a file of the folder";
                return {};
            }
            chosen.insert(file.get<std::string>());
        }
    } else if (fs::exists(dir / "pytorch_model.bin")) {
        chosen.insert("pytorch_model.bin");
    }
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.is_regular_file()) continue;
        std::string name = entry.path().filename().string();
        if (!chosen.empty()) {
            if (chosen.count(name)) inputs.push_back(entry.path());
            else skipped.push_back(name);
            continue;
        }
        if (is_checkpoint_name(entry.path())) {
            inputs.push_back(entry.path());
            continue;
        }
        // A pickle or checkpoint under another name is converted (or refused) too.
        auto f = map_regular_file(entry.path().string());
        std::string fmt = f ? detect_format(f.value().bytes()) : "";
        if (!fmt.empty() && fmt != "zip" && fmt != "tar") inputs.push_back(entry.path());
        else skipped.push_back(name);
    }
    if (!chosen.empty() && inputs.size() != chosen.size()) why = "a shard the index names is not in " + dir.string();
    return inputs;
}

int convert_dir(const convert_args& args) {
    std::error_code ec;
    std::vector<std::string> skipped;
    std::string why;
    std::vector<fs::path> inputs = choose_inputs(args.input, skipped, why, ec);
    if (!why.empty()) {
        say("pickleguard convert: %s%s\n", why);
        return kExitError;
    }
    if (ec) {
        say("pickleguard convert: %s: %s\n", args.input, ec.message());
        return kExitError;
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
        say("pickleguard convert: %s: no checkpoint in the folder%s\n", args.input);
        return kExitError;
    }
    fs::create_directories(args.output, ec);
    std::vector<std::pair<std::string, std::string>> plan;  // temporary, final
    for (const fs::path& in : inputs) {
        std::string out = (fs::path(args.output) / shard_name(in)).string();
        if (!args.force && fs::exists(out)) {
            say("pickleguard convert: %s exists (--force replaces it)\n", out);
            return kExitError;
        }
        plan.emplace_back((fs::path(args.output) / ("." + shard_name(in) + ".partial")).string(), out);
    }
    std::string index_path = (fs::path(args.output) / "model.safetensors.index.json").string();
    if (inputs.size() > 1 && !args.force && fs::exists(index_path)) {
        say("pickleguard convert: %s exists (--force replaces it)\n", index_path);
        return kExitError;
    }
    // Every shard is written under a temporary name first: one refused
    // shard leaves no output at all.
    auto discard = [&](std::size_t upto) {
        for (std::size_t k = 0; k < upto; ++k) ::unlink(plan[k].first.c_str());
    };
    std::map<std::string, std::string> weight_map;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        conversion c;
        ::unlink(plan[i].first.c_str());
        int rc = convert_one(args, inputs[i].string(), plan[i].first, true, c, true);
        if (rc != kExitOk) {
            discard(i);
            say("pickleguard convert: %s: nothing was written%s\n", args.output);
            return rc;
        }
        std::string shard = fs::path(plan[i].second).filename().string();
        for (const std::string& n : c.written) {
            if (!weight_map.emplace(n, shard).second) {
                discard(i + 1);
                say("pickleguard convert: the tensor %s is in two shards\n", n);
                return kExitError;
            }
        }
        total += c.tensor_bytes;
        std::printf("%s -> %s: %zu tensors, %llu bytes\n", printable(inputs[i].string()).c_str(),
                    printable(plan[i].second).c_str(), c.written.size(), static_cast<unsigned long long>(c.tensor_bytes));
    }
    for (const auto& [tmp, out] : plan) {
        if (::rename(tmp.c_str(), out.c_str()) != 0) {
            say("pickleguard convert: cannot create %s\n", out);
            return kExitError;
        }
    }
    if (inputs.size() > 1) {
        std::string j = "{\n  \"metadata\": {\n    \"total_size\": " + std::to_string(total) + "\n  },\n  \"weight_map\": {";
        bool first = true;
        for (const auto& [n, f] : weight_map) {
            j += std::string(first ? "\n" : ",\n") + "    " + json_string_literal(n) + ": " + json_string_literal(f);
            first = false;
        }
        j += "\n  }\n}\n";
        if (!write_output(index_path, j)) return kExitError;
        std::printf("%s: %zu tensors in %zu shards\n", printable(index_path).c_str(), weight_map.size(), inputs.size());
    }
    for (const std::string& s : skipped) say("pickleguard convert: skipped %s (not a checkpoint, or not a shard the index names)%s\n", s);
    return kExitOk;
}

}  // namespace

CLI::App* add_convert_command(CLI::App& app, convert_args& args) {
    CLI::App* cmd = app.add_subcommand(
        "convert", "Turn a PyTorch checkpoint or numpy .npy/.npz into safetensors without unpickling it (scanned first)");
    cmd->add_option("input", args.input, "A checkpoint file, or a folder of shards")->required();
    cmd->add_option("--output,-o", args.output, "The .safetensors file (a folder when INPUT is one)")->required();
    cmd->add_option("--policy", args.policies,
                    "Policy the input must pass first, as for scan (default: pytorch, or numpy-data for .npy/.npz)")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("--key-prefix", args.key_prefix, "Put this before every tensor name");
    cmd->add_flag("--skip-non-tensors", args.skip_non_tensors,
                  "Drop values that are not tensors (listed on standard error) instead of failing");
    cmd->add_flag("--force", args.force, "Replace existing output files");
    add_worker_options(cmd, args);
    return cmd;
}

int run_convert(const convert_args& args) {
    struct stat st {};
    if (::stat(args.input.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return convert_dir(args);
    conversion c;
    return convert_one(args, args.input, args.output, args.force, c, false);
}

}  // namespace pickleguard::cli
