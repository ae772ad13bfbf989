// A view's elements, contiguous and little-endian, a bounded buffer at a time.
//
// What Tensor.contiguous() does before the conversion script saves: a
// row-major copy of the view. Contiguous views go from the mapped storage to
// the sink as they are (byte-swapped when the storage is big-endian);
// strided ones are gathered into a buffer of at most kChunk bytes, the last
// two dimensions in square tiles so that a transposed matrix reads and
// writes whole cache lines.
#include "pickleguard/convert.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace pickleguard {
namespace {

constexpr std::size_t kChunk = std::size_t{4} << 20;
constexpr std::uint64_t kTile = 32;

// Tells the kernel it may drop the mapped input's pages we are done with,
// so a 10 GB checkpoint does not become 10 GB of resident memory. Only whole
// pages inside the range; on memory that is not a file mapping, MADV_PAGEOUT
// keeps the content (it may swap it), so this is safe on any span.
void release(const std::byte* p, std::size_t n) {
#ifdef MADV_PAGEOUT
    static const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    auto a = (reinterpret_cast<std::uintptr_t>(p) + page - 1) & ~(page - 1);
    auto b = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(page - 1);
    if (b > a && b - a >= (std::uintptr_t{1} << 20)) madvise(reinterpret_cast<void*>(a), b - a, MADV_PAGEOUT);
#else
    (void)p;
    (void)n;
#endif
}

template <std::size_t N, bool Swap>
inline void put(std::byte* dst, const std::byte* src) {
    if constexpr (Swap) {
        for (std::size_t k = 0; k < N; ++k) dst[k] = src[N - 1 - k];
    } else {
        std::memcpy(dst, src, N);
    }
}

// Removes dimensions of size 1 and merges neighbours that are contiguous
// with each other, so a slice of rows is one run and a transposed matrix two
// dimensions.
void simplify(std::vector<std::uint64_t>& shape, std::vector<std::uint64_t>& stride) {
    std::vector<std::uint64_t> s, st;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 1) continue;
        std::uint64_t span = 0;
        if (!s.empty() && !__builtin_mul_overflow(stride[i], shape[i], &span) && st.back() == span) {
            s.back() *= shape[i];
            st.back() = stride[i];
            continue;
        }
        s.push_back(shape[i]);
        st.push_back(stride[i]);
    }
    shape = std::move(s);
    stride = std::move(st);
}

template <std::size_t N, bool Swap>
bool gather(const tensor_view& t, std::vector<std::uint64_t> shape, std::vector<std::uint64_t> stride,
            const byte_sink& sink) {
    const std::byte* base = t.bytes.data();
    std::vector<std::byte> buf;
    auto flush = [&] {
        bool ok = buf.empty() || sink({buf.data(), buf.size()});
        buf.clear();
        return ok;
    };
    // A vector (or the strided walk of a single row): one element at a time.
    if (shape.size() < 2) {
        std::uint64_t n = shape.empty() ? 1 : shape[0], s = shape.empty() ? 0 : stride[0];
        buf.reserve(std::min<std::uint64_t>(n * N, kChunk));
        for (std::uint64_t i = 0; i < n; ++i) {
            std::size_t at = buf.size();
            buf.resize(at + N);
            put<N, Swap>(buf.data() + at, base + (t.offset + i * s) * N);
            if (buf.size() >= kChunk && !flush()) return false;
        }
        return flush();
    }
    const std::size_t r = shape.size();
    const std::uint64_t rows = shape[r - 2], cols = shape[r - 1], srow = stride[r - 2], scol = stride[r - 1];
    const std::uint64_t row_bytes = cols * N;
    // Rows per buffer: as many whole rows as fit, at least one.
    const std::uint64_t block = std::max<std::uint64_t>(1, std::min<std::uint64_t>(rows, kChunk / std::max<std::uint64_t>(row_bytes, 1)));
    std::vector<std::uint64_t> outer(r - 2, 0);
    for (;;) {
        std::uint64_t start = t.offset;
        for (std::size_t i = 0; i + 2 < r; ++i) start += outer[i] * stride[i];
        for (std::uint64_t r0 = 0; r0 < rows; r0 += block) {
            std::uint64_t r1 = std::min(rows, r0 + block);
            buf.resize(static_cast<std::size_t>((r1 - r0) * row_bytes));
            std::byte* out = buf.data();
            for (std::uint64_t c0 = 0; c0 < cols; c0 += kTile) {
                std::uint64_t c1 = std::min(cols, c0 + kTile);
                for (std::uint64_t t0 = r0; t0 < r1; t0 += kTile) {
                    std::uint64_t t1 = std::min(r1, t0 + kTile);
                    // Within a tile, walk the source along its smaller stride.
                    if (scol <= srow) {
                        for (std::uint64_t i = t0; i < t1; ++i)
                            for (std::uint64_t j = c0; j < c1; ++j)
                                put<N, Swap>(out + ((i - r0) * cols + j) * N, base + (start + i * srow + j * scol) * N);
                    } else {
                        for (std::uint64_t j = c0; j < c1; ++j)
                            for (std::uint64_t i = t0; i < t1; ++i)
                                put<N, Swap>(out + ((i - r0) * cols + j) * N, base + (start + i * srow + j * scol) * N);
                    }
                }
            }
            if (!flush()) return false;
        }
        // The next outer index, last dimension fastest.
        std::size_t d = r - 2;
        while (d > 0) {
            --d;
            if (++outer[d] < shape[d]) break;
            outer[d] = 0;
            if (d == 0) return true;
        }
        if (r == 2) return true;
    }
}

template <std::size_t N>
bool copy_sized(const tensor_view& t, const byte_sink& sink) {
    std::vector<std::uint64_t> shape = t.shape, stride = t.stride;
    simplify(shape, stride);
    const bool swap = t.big_endian && N > 1;
    const bool contiguous = shape.empty() || (shape.size() == 1 && stride[0] == 1);
    if (contiguous) {
        const std::byte* p = t.bytes.data() + t.offset * N;
        std::uint64_t left = t.nbytes();
        if (!swap) {
            while (left > 0) {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
                if (!sink({p, n})) return false;
                release(p, n);
                p += n;
                left -= n;
            }
            return true;
        }
        std::vector<std::byte> buf;
        while (left > 0) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
            buf.resize(n);
            for (std::size_t i = 0; i < n; i += N) put<N, true>(buf.data() + i, p + i);
            if (!sink({buf.data(), n})) return false;
            release(p, n);
            p += n;
            left -= n;
        }
        return true;
    }
    bool ok = swap ? gather<N, true>(t, shape, stride, sink) : gather<N, false>(t, shape, stride, sink);
    if (ok) release(t.bytes.data(), t.bytes.size());
    return ok;
}

}  // namespace

bool copy_tensor(const tensor_view& t, const byte_sink& sink) {
    if (t.numel() == 0) return true;
    switch (element_size(t.dtype)) {
        case 1: return copy_sized<1>(t, sink);
        case 2: return copy_sized<2>(t, sink);
        case 4: return copy_sized<4>(t, sink);
        default: return copy_sized<8>(t, sink);
    }
}

}  // namespace pickleguard
