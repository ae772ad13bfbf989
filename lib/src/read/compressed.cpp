// Compressed streams: gzip, zlib, bz2, xz, lzma (alone), zstd, lz4 frames and
// joblib's old ZF files, through the libraries that define them.
//
// Every decompressor writes into one growing buffer through `sink`, which
// enforces the file's budget (container_limits::max_decompressed_bytes,
// summed over every stream in the file) and the per-stream ratio, so a bomb
// ends in a finding after at most one chunk past the limit.
#include "read/container_scan.hpp"

#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include "pickleguard/rules.hpp"

namespace pickleguard::read {
namespace {

constexpr std::size_t kChunk = 1 << 20;
// Below this much output a high ratio is normal (a few bytes of header
// around a run of zeros); the ratio limit applies past it.
constexpr std::uint64_t kRatioFloor = 1 << 20;

class sink {
public:
    sink(read_context& ctx, std::uint64_t input_size, const location& member, const std::string& format)
        : ctx_(ctx), in_(input_size), member_(member), format_(format) {}

    // Room for the next chunk; nullptr once a limit is hit (reported).
    std::byte* reserve(std::size_t& n) {
        if (stopped_) return nullptr;
        n = kChunk;
        std::size_t at = out_.size();
        out_.resize(at + n);
        return out_.data() + at;
    }
    // `used` of the reserved bytes were written.
    bool commit(std::size_t reserved, std::size_t used) {
        out_.resize(out_.size() - (reserved - used));
        const container_limits& lim = ctx_.options.containers;
        std::uint64_t total = ctx_.decompressed + out_.size();
        if (total > lim.max_decompressed_bytes) {
            bomb("the file decompresses to more than " + std::to_string(lim.max_decompressed_bytes) +
                 " bytes in total (container_limits::max_decompressed_bytes)");
            return false;
        }
        if (out_.size() > kRatioFloor && out_.size() / std::max<std::uint64_t>(in_, 1) > lim.max_ratio) {
            bomb("the " + format_ + " stream expands more than " + std::to_string(lim.max_ratio) + " times (" +
                 std::to_string(in_) + " bytes to over " + std::to_string(out_.size()) + ")");
            return false;
        }
        return true;
    }
    void corrupt(const std::string& why) {
        if (stopped_) return;
        stopped_ = true;
        ctx_.add(rule::container_corrupt, severity::high,
                 "the " + format_ + " stream cannot be decompressed (" + why +
                     "); its content was not checked, and a loader reading it would fail or read less",
                 member_);
    }
    std::optional<std::vector<std::byte>> finish() {
        ctx_.decompressed += out_.size();
        if (stopped_) return std::nullopt;
        return std::move(out_);
    }

private:
    void bomb(const std::string& why) {
        stopped_ = true;
        ctx_.add(rule::decompression_bomb, severity::high,
                 why + "; decompression stopped there and the rest was not checked. Raise the container limits if "
                       "the file is trusted to be this large",
                 member_);
    }
    read_context& ctx_;
    std::uint64_t in_;
    const location& member_;
    std::string format_;
    std::vector<std::byte> out_;
    bool stopped_ = false;
};

// zlib and gzip (windowBits 15 / 15+16); concatenated gzip members are read
// on, as Python's gzip module does.
std::optional<std::vector<std::byte>> run_zlib(sink& out, bytes_view in, int window_bits, bool multi_member) {
    z_stream zs{};
    if (inflateInit2(&zs, window_bits) != Z_OK) {
        out.corrupt("zlib init failed");
        return out.finish();
    }
    std::size_t pos = 0;
    while (true) {
        std::size_t n = 0;
        std::byte* buf = out.reserve(n);
        if (!buf) break;
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = static_cast<uInt>(n);
        int rc = Z_OK;
        while (zs.avail_out > 0) {
            std::size_t take = std::min<std::size_t>(in.size() - pos, 1u << 30);
            zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data() + pos));
            zs.avail_in = static_cast<uInt>(take);
            rc = inflate(&zs, Z_NO_FLUSH);
            pos += take - zs.avail_in;
            if (rc == Z_STREAM_END && multi_member && pos < in.size() && in[pos] == std::byte{0x1f}) {
                inflateReset(&zs);
                rc = Z_OK;
                continue;
            }
            if (rc != Z_OK) break;
            if (take == 0) break;
        }
        std::size_t used = n - zs.avail_out;
        if (!out.commit(n, used)) break;
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            out.corrupt(zs.msg ? zs.msg : "inflate error " + std::to_string(rc));
            break;
        }
        if (used == 0 && pos >= in.size()) {
            out.corrupt("truncated stream");
            break;
        }
    }
    inflateEnd(&zs);
    return out.finish();
}

// Concatenated bz2 streams are read on, as Python's bz2 module does.
std::optional<std::vector<std::byte>> run_bz2(sink& out, bytes_view in) {
    bz_stream bs{};
    bool live = BZ2_bzDecompressInit(&bs, 0, 0) == BZ_OK;
    if (!live) {
        out.corrupt("bz2 init failed");
        return out.finish();
    }
    std::size_t pos = 0;
    bool done = false;
    while (!done) {
        std::size_t n = 0;
        std::byte* buf = out.reserve(n);
        if (!buf) break;
        std::size_t used = 0;
        int rc = BZ_OK;
        while (used < n) {
            std::size_t take = std::min<std::size_t>(in.size() - pos, 1u << 30);
            bs.next_in = reinterpret_cast<char*>(const_cast<std::byte*>(in.data() + pos));
            bs.avail_in = static_cast<unsigned>(take);
            bs.next_out = reinterpret_cast<char*>(buf + used);
            bs.avail_out = static_cast<unsigned>(n - used);
            rc = BZ2_bzDecompress(&bs);
            pos += take - bs.avail_in;
            used = n - bs.avail_out;
            if (rc == BZ_STREAM_END) {
                BZ2_bzDecompressEnd(&bs);
                live = false;
                if (pos >= in.size()) {
                    done = true;
                    break;
                }
                bs = bz_stream{};
                if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) {
                    rc = BZ_CONFIG_ERROR;
                    break;
                }
                live = true;
                rc = BZ_OK;
                continue;
            }
            if (rc != BZ_OK || take == 0) break;
        }
        if (!out.commit(n, used)) break;
        if (done) break;
        if (rc != BZ_OK) {
            out.corrupt("bz2 error " + std::to_string(rc));
            break;
        }
        if (pos >= in.size() && used < n) {
            out.corrupt("truncated stream");
            break;
        }
    }
    if (live) BZ2_bzDecompressEnd(&bs);
    return out.finish();
}

std::optional<std::vector<std::byte>> run_lzma(sink& out, bytes_view in, bool alone) {
    lzma_stream ls = LZMA_STREAM_INIT;
    // The header names the dictionary size, and liblzma allocates it: cap it,
    // or 16 hostile bytes ask for gigabytes (file fuzzer). xz -9 needs 64 MiB.
    constexpr std::uint64_t kLzmaMemlimit = std::uint64_t{256} << 20;
    lzma_ret init = alone ? lzma_alone_decoder(&ls, kLzmaMemlimit)
                          : lzma_stream_decoder(&ls, kLzmaMemlimit, LZMA_CONCATENATED);
    if (init != LZMA_OK) {
        out.corrupt("lzma init failed");
        return out.finish();
    }
    ls.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    ls.avail_in = in.size();
    while (true) {
        std::size_t n = 0;
        std::byte* buf = out.reserve(n);
        if (!buf) break;
        ls.next_out = reinterpret_cast<std::uint8_t*>(buf);
        ls.avail_out = n;
        lzma_ret rc = lzma_code(&ls, LZMA_FINISH);
        std::size_t used = n - ls.avail_out;
        if (!out.commit(n, used)) break;
        if (rc == LZMA_STREAM_END) break;
        if (rc != LZMA_OK) {
            out.corrupt("lzma error " + std::to_string(static_cast<int>(rc)));
            break;
        }
    }
    lzma_end(&ls);
    return out.finish();
}

std::optional<std::vector<std::byte>> run_zstd(sink& out, bytes_view in) {
    ZSTD_DStream* zs = ZSTD_createDStream();
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    std::size_t last = 1;
    while (true) {
        std::size_t n = 0;
        std::byte* buf = out.reserve(n);
        if (!buf) break;
        ZSTD_outBuffer ob{buf, n, 0};
        while (ob.pos < ob.size && ib.pos < ib.size) {
            last = ZSTD_decompressStream(zs, &ob, &ib);
            if (ZSTD_isError(last)) break;
        }
        if (!out.commit(n, ob.pos)) break;
        if (ZSTD_isError(last)) {
            out.corrupt(ZSTD_getErrorName(last));
            break;
        }
        if (ib.pos >= ib.size && ob.pos < ob.size) {
            if (last != 0) out.corrupt("truncated stream");
            break;
        }
    }
    ZSTD_freeDStream(zs);
    return out.finish();
}

std::optional<std::vector<std::byte>> run_lz4(sink& out, bytes_view in) {
    LZ4F_dctx* dctx = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        out.corrupt("lz4 init failed");
        return out.finish();
    }
    std::size_t pos = 0, hint = 1;
    while (true) {
        std::size_t n = 0;
        std::byte* buf = out.reserve(n);
        if (!buf) break;
        std::size_t used = 0;
        while (used < n && pos < in.size()) {
            std::size_t dst = n - used, src = in.size() - pos;
            hint = LZ4F_decompress(dctx, buf + used, &dst, in.data() + pos, &src, nullptr);
            used += dst;
            pos += src;
            if (LZ4F_isError(hint) || (dst == 0 && src == 0)) break;
        }
        if (!out.commit(n, used)) break;
        if (LZ4F_isError(hint)) {
            out.corrupt(LZ4F_getErrorName(hint));
            break;
        }
        if (pos >= in.size() && used < n) {
            if (hint != 0) out.corrupt("truncated stream");
            break;
        }
    }
    LZ4F_freeDecompressionContext(dctx);
    return out.finish();
}

}  // namespace

std::optional<std::vector<std::byte>> decompress(read_context& ctx, format f, bytes_view bytes,
                                                 const location& member) {
    sink out(ctx, bytes.size(), member, std::string(to_string(f)));
    if (f == format::gzip) return run_zlib(out, bytes, 15 + 16, true);
    if (f == format::zlib) return run_zlib(out, bytes, 15, false);
    if (f == format::bz2) return run_bz2(out, bytes);
    if (f == format::xz) return run_lzma(out, bytes, false);
    if (f == format::lzma) return run_lzma(out, bytes, true);
    if (f == format::zstd) return run_zstd(out, bytes);
    if (f == format::lz4) return run_lz4(out, bytes);
    if (f == format::joblib_zf) {
        // joblib < 0.10 (numpy_pickle_compat.read_zfile): "ZF", the length in
        // hex padded to 19 characters (and one more space from Python 2), then zlib.
        constexpr std::size_t kHeader = 2 + 19;
        if (bytes.size() < kHeader) {
            out.corrupt("short ZF header");
            return out.finish();
        }
        std::size_t at = kHeader;
        if (at < bytes.size() && bytes[at] == std::byte{' '}) ++at;
        return run_zlib(out, bytes.subspan(at), 15, false);
    }
    out.corrupt("unknown compression " + std::string(to_string(f)));
    return out.finish();
}

std::optional<std::vector<std::byte>> inflate_raw(read_context& ctx, bytes_view bytes, std::uint64_t /*expected*/,
                                                  const location& member) {
    sink out(ctx, bytes.size(), member, "deflate");
    return run_zlib(out, bytes, -MAX_WBITS, false);
}

}  // namespace pickleguard::read
