// libFuzzer target: the converter's tensor extraction (pickleguard/convert.hpp)
// on arbitrary data.pkl streams. The first byte picks how the storage
// records lie: 0 each record holds exactly what its persistent id asks for,
// 1 a few bytes fewer, 2 a few more. Each record is its own heap buffer of
// exactly that size, so a view that reads one byte past its storage is an
// AddressSanitizer report, not a silent read. Every extracted tensor is
// copied out and must equal, byte for byte, a plain element-by-element
// row-major walk (the reference for the tiled copy).
#include "pickleguard/convert.hpp"
#include "pickleguard/decode.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

// Element by element, in row-major order: what the tiled copy must produce.
std::vector<std::byte> reference(const pickleguard::tensor_view& t) {
    const std::size_t es = pickleguard::element_size(t.dtype);
    std::vector<std::byte> out;
    std::vector<std::uint64_t> idx(t.shape.size(), 0);
    for (std::uint64_t n = 0; n < t.numel(); ++n) {
        std::uint64_t at = t.offset;
        for (std::size_t i = 0; i < idx.size(); ++i) at += idx[i] * t.stride[i];
        const std::byte* p = t.bytes.data() + at * es;
        for (std::size_t k = 0; k < es; ++k) out.push_back(p[t.big_endian ? es - 1 - k : k]);
        for (std::size_t i = idx.size(); i-- > 0;) {
            if (++idx[i] < t.shape[i]) break;
            idx[i] = 0;
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const unsigned mode = data[0] % 3;
    auto bytes = std::as_bytes(std::span(data + 1, size - 1));
    pickleguard::decode_options options;
    options.limit.max_nodes = 1u << 20;
    pickleguard::decoding d = pickleguard::decode(bytes, options);
    if (!d.complete()) return 0;
    std::map<std::string, std::unique_ptr<std::byte[]>> records;
    const pickleguard::storage_source storages =
        [&](std::string_view key, pickleguard::tensor_dtype dtype,
            std::uint64_t numel) -> pickleguard::result<pickleguard::storage_bytes> {
        std::uint64_t n = 0;
        if (__builtin_mul_overflow(numel, pickleguard::element_size(dtype), &n) || n > (1u << 20))
            return pickleguard::error{pickleguard::error_kind::limit, 0, -1, "record too large for the fuzzer"};
        if (mode == 1) n = n >= 3 ? n - 3 : 0;
        if (mode == 2) n += 5;
        auto buf = std::make_unique<std::byte[]>(n ? n : 1);
        for (std::uint64_t i = 0; i < n; ++i) buf[i] = static_cast<std::byte>(i * 31 + key.size());
        std::span<const std::byte> view(buf.get(), n);
        records[std::string(key)] = std::move(buf);
        return pickleguard::storage_bytes{view, (numel & 1) != 0};
    };
    auto x = pickleguard::extract_tensors(d.graph, *d.root, storages);
    if (!x) return 0;
    std::vector<const pickleguard::tensor_view*> all;
    for (const pickleguard::tensor_view& t : x.value().tensors) {
        // Outputs are bounded by their storages (no expanded views), so this stays small.
        if (t.nbytes() > t.bytes.size()) std::abort();
        std::vector<std::byte> got;
        bool ok = pickleguard::copy_tensor(t, [&](std::span<const std::byte> b) {
            got.insert(got.end(), b.begin(), b.end());
            return true;
        });
        if (!ok || got.size() != t.nbytes()) std::abort();
        if (t.nbytes() <= (1u << 16) && got != reference(t)) std::abort();
        all.push_back(&t);
    }
    std::string header = pickleguard::safetensors_header(all, {});
    if (header.size() % 8 != 0) std::abort();
    return 0;
}
