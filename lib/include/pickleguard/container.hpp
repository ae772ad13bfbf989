// pickleguard/container.hpp — pickles where they travel.
//
// Almost nobody uploads a bare .pkl: pickles arrive inside PyTorch
// checkpoints, numpy files, joblib dumps, compressed streams and archives.
// `scan_file` recognises the container by its content (magic bytes, never the
// file name), opens it the way the loader that will read it does, and scans
// every pickle inside, naming each finding's `member`. What it cannot open is
// a finding, never "clean".
//
//     auto file = pickleguard::map_file("model.pt").value();
//     pickleguard::file_report r = pickleguard::scan_file(file.bytes(), policy, {}, "model.pt");
//     // r.format == "pytorch-zip", findings name members like "archive/data.pkl"
#pragma once

#include "pickleguard/scan.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

// The container format of `bytes`, by content: "pickle", "pytorch-zip",
// "torchscript", "pytorch-legacy", "pytorch-legacy-tar", "npy", "npz", "zip",
// "tar", "7z", "gzip", "bz2", "xz", "lzma", "zstd", "lz4", "joblib-zf", ... or
// "" when it is none we know.
std::string detect_format(std::span<const std::byte> bytes);

// Every reading of `bytes` a loader could take, the container first: a tar
// whose offset 0 also starts a pickle CPython would act on gives
// {"tar", "pickle"}. scan_file judges each (file_report::readings).
std::vector<std::string> detect_readings(std::span<const std::byte> bytes);

// Scans a whole file of any known format. An unknown format gives verdict
// `error` with an "unknown-format" finding.
file_report scan_file(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                      const std::string& path, const knowledge_base& kb = shipped_knowledge_base());

// Does, once, what reading containers otherwise does lazily with system
// calls a sandbox forbids: libarchive converts 7z and pax tar member names
// with iconv, whose first use opens glibc's gconv cache. Call it before
// entering a sandbox that forbids opening files (pickleguard's workers do).
void prepare_for_sandbox();

}  // namespace pickleguard
