#include "big_alloc.hpp"

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

void* allocate(std::size_t bytes) {
    if (!kMapLargeBlocks || bytes < kThreshold) return ::operator new(bytes);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    // Advice only: where THP is off or unsupported this fails and we go on.
    (void)::madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void deallocate(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (!kMapLargeBlocks || bytes < kThreshold) {
        ::operator delete(p);
        return;
    }
    ::munmap(p, bytes);
}

void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) {
    if (!p) return allocate(new_bytes);
    if (kMapLargeBlocks && old_bytes >= kThreshold && new_bytes >= kThreshold) {
        void* q = ::mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        if (new_bytes > old_bytes) (void)::madvise(q, new_bytes, MADV_HUGEPAGE);
#endif
        return q;
    }
    void* q = allocate(new_bytes);
    std::memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    deallocate(p, old_bytes);
    return q;
}

}  // namespace pickleguard::big_memory
