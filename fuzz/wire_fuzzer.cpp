// libFuzzer target: the parser of the worker wire format (lib/src/sandbox/
// wire.hpp), which reads what a sandboxed scanner process sends back, so a
// worker a hostile file has taken over controls every byte of it. Whatever
// the bytes, deserialize must return a value or an error without crashing,
// over-reading or allocating without bound; and a record it accepts must be
// exactly what serializing the result writes (one reading per record).
#include "sandbox/wire.hpp"

#include "pickleguard/report.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view wire(reinterpret_cast<const char*>(data), size);
    auto outcome = pickleguard::sandbox::deserialize(wire);
    if (!outcome) return 0;
    if (pickleguard::sandbox::serialize(outcome.value()) != wire) __builtin_trap();
    // What the parent does next with an accepted record: render it.
    (void)pickleguard::report_json({outcome.value().report}, {}, "fuzz");
    (void)pickleguard::report_sarif({outcome.value().report}, "fuzz");
    return 0;
}
