// libFuzzer target: whole files of any format through scan_file — container
// detection, zip/tar/7z readers, decompressors with their bomb limits, numpy,
// joblib and PyTorch layouts, then every pickle inside.
#include "pickleguard/container.hpp"
#include "pickleguard/report.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const pickleguard::policy policy = pickleguard::load_shipped_policy("pytorch").value();
    pickleguard::scan_options options;
    options.decode.limit.max_nodes = 1u << 20;
    // Small container limits keep each run fast and make the limits reachable.
    options.containers.max_decompressed_bytes = 64u << 20;
    options.containers.max_entries = 1000;
    auto report = pickleguard::scan_file(std::as_bytes(std::span(data, size)), policy, options, "fuzz.bin");
    (void)pickleguard::report_json({report}, {}, "pytorch");
    return 0;
}
