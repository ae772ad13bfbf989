#include "big_alloc.hpp"

#include <cstdint>
#include <cstring>

#include <sys/mman.h>

namespace pickleguard::big_memory {

// operator new guarantees this much alignment; mapped blocks are page-aligned.
static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ <= 4096);

// Under AddressSanitizer everything stays on its heap, which checks it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMapLargeBlocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMapLargeBlocks = false;
#else
constexpr bool kMapLargeBlocks = true;
#endif
#else
constexpr bool kMapLargeBlocks = true;
#endif

// A huge page backs only a 2 MiB-aligned stretch of a mapping, and the
// kernel places (or mremap moves) a mapping at any page boundary: blocks
// are therefore whole multiples of 2 MiB at 2 MiB-aligned addresses. Before
// this, a growing 5e6-item list was faulted in 4 KiB at a time (3,500
// faults in its memcpy alone). Rounding costs address space, not memory.
constexpr std::size_t kHugePage = std::size_t{2} << 20;

std::size_t mapped_size(std::size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }

// An aligned, unpopulated stretch of `size` bytes (a multiple of kHugePage).
char* map_aligned(std::size_t size) {
    std::size_t span = size + kHugePage;
    void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    char* start = static_cast<char*>(raw);
    char* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(start) + kHugePage - 1) & ~(kHugePage - 1));
    if (aligned > start) ::munmap(start, static_cast<std::size_t>(aligned - start));
    char* end = start + span;
    if (aligned + size < end) ::munmap(aligned + size, static_cast<std::size_t>(end - (aligned + size)));
#ifdef MADV_HUGEPAGE
    // Advice only: where THP is off or unsupported this fails and we go on.
    (void)::madvise(aligned, size, MADV_HUGEPAGE);
#endif
    return aligned;
}

void* allocate(std::size_t bytes) {
    if (!kMapLargeBlocks || bytes < kThreshold) return ::operator new(bytes);
    return map_aligned(mapped_size(bytes));
}

void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (!kMapLargeBlocks || bytes < kThreshold) {
        ::operator delete(p);
        return;
    }
    ::munmap(p, mapped_size(bytes));
}

void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) {
    if (!p) return allocate(new_bytes);
    if (kMapLargeBlocks && old_bytes >= kThreshold && new_bytes >= kThreshold) {
        std::size_t old_size = mapped_size(old_bytes), new_size = mapped_size(new_bytes);
        if (old_size == new_size) return p;
        if (new_size < old_size) {
            ::munmap(static_cast<char*>(p) + new_size, old_size - new_size);
            return p;
        }
        // Move the pages (page tables, not data) into an aligned stretch.
        char* target = map_aligned(new_size);
        void* q = ::mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
        if (q == MAP_FAILED) {
            ::munmap(target, new_size);
            throw std::bad_alloc();
        }
        return q;
    }
    void* q = allocate(new_bytes);
    std::memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    deallocate(p, old_bytes);
    return q;
}

}  // namespace pickleguard::big_memory
