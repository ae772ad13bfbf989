// Internal: what the container readers share.
//
// Each reader below is one format; what it holds goes back to the host
// (read_context::host, pickleguard/read.hpp), so containers nest (a gzip
// inside a tar inside a zip) up to `container_limits::max_depth` through the
// scan stage, and every decompressed byte is counted against one budget per
// file.
#pragma once

#include "pickleguard/read.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard::read {

// The format of `bytes` (see container.hpp), by content: its container
// format if it has one, else pickle/pytorch-legacy, else none.
std::optional<format> detect(bytes_view bytes);
// The container format by magic alone, none when none.
std::optional<format> detect_container(bytes_view bytes);
// True when pickle.load from offset 0 would do something before it stops:
// reach STOP, or an operation other than a persistent id.
bool pickle_reading_acts(bytes_view bytes);

// Decompresses a whole stream of compressed format `f` (gzip, bz2, xz, lzma,
// zstd, lz4, zlib, joblib-zf), or nullopt after a finding (bomb, corrupt
// stream).
std::optional<std::vector<std::byte>> decompress(read_context& ctx, format f, bytes_view bytes,
                                                 const location& member);
// Raw deflate (zip method 8), at most `expected` bytes are wanted; bounded by
// the same budget.
std::optional<std::vector<std::byte>> inflate_raw(read_context& ctx, bytes_view bytes, std::uint64_t expected,
                                                  const location& member);

// Formats with a reader each.
void read_zip(read_context& ctx, bytes_view bytes, const location& member, int depth);
void read_torch_legacy(read_context& ctx, bytes_view bytes, const location& member);
void read_npy(read_context& ctx, bytes_view bytes, const location& member);
void read_archive(read_context& ctx, bytes_view bytes, format f, const location& member, int depth);

// True when a pickle could start here the way pickle.load would read it:
// PROTO with a known protocol, or an opcode whose decoding gets somewhere.
bool starts_like_pickle(bytes_view bytes);
// The first pickle is torch's legacy magic number (0x1950a86a20f9469cfc6c).
bool is_torch_legacy(bytes_view bytes);

// Bytes per element of a torch storage class ("torch.FloatStorage"), or 0.
std::uint64_t torch_element_size(std::string_view storage_class);

}  // namespace pickleguard::read
