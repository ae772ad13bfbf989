// libFuzzer target: policy and knowledge-base parsing on arbitrary text.
#include "pickleguard/policy.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto p = pickleguard::parse_policy(text, "fuzz.toml", "/nonexistent");
    if (p) (void)p.value().find("os", "system");
    (void)pickleguard::parse_knowledge_base(text, "fuzz.toml");
    return 0;
}
