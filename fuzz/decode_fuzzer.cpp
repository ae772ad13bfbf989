// libFuzzer target: the decoder and the JSON writer on arbitrary bytes.
// Anything may come back as an error; nothing may crash, hang or leak.
#include "pickleguard/decode.hpp"
#include "pickleguard/disasm.hpp"
#include "pickleguard/json.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto bytes = std::as_bytes(std::span(data, size));
    pickleguard::decode_options options;
    // Small limits keep each run fast; the limits themselves are under test too.
    options.limit.max_nodes = 1u << 20;
    options.limit.max_json_bytes = 1u << 22;
    pickleguard::decoding d = pickleguard::decode(bytes, options);
    if (d.root) {
        pickleguard::json_options jopt;
        jopt.max_bytes = options.limit.max_json_bytes;
        (void)pickleguard::write_value_json(d.graph, *d.root, [](std::string_view) {}, jopt);
    }
    if (size < 4096) (void)pickleguard::disassemble(bytes, options, 0, [](std::string_view) {});
    return 0;
}
