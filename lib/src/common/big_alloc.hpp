// Internal: memory for the decoder's large arrays (value nodes, the stack,
// the memo, container items).
//
// A 25 MB op-dense pickle makes ~100 MB of such arrays, and with 4 KiB pages
// the kernel's page-fault path cost as much as decoding itself (26,000 faults
// for 5e6 ints). Blocks of 1 MiB and more are therefore mapped directly and
// marked for transparent huge pages, which cuts the faults ~500x where THP is
// enabled ("madvise" is Debian's default) and changes nothing where it is
// not. Smaller blocks use operator new as before. madvise and munmap are in
// the sandbox's allow-list.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>

namespace pickleguard {

namespace big_memory {
inline constexpr std::size_t kThreshold = std::size_t{1} << 20;
void* allocate(std::size_t bytes);
void deallocate(void* p, std::size_t bytes) noexcept;
// Grows or shrinks a block, keeping its first min(old, new) bytes; mapped
// blocks move with mremap, which copies page tables, not pages.
void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes);
}  // namespace big_memory

// Where a pod_vector keeps its elements: big_memory by default.
struct big_memory_source {
    static constexpr std::size_t initial_capacity = 16;
    void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) const {
        return big_memory::reallocate(p, old_bytes, new_bytes);
    }
    void deallocate(void* p, std::size_t bytes) const noexcept { big_memory::deallocate(p, bytes); }
};

// A vector of trivially copyable values, with the few operations the decoder
// needs. Unlike std::vector its push_back is small enough to inline into
// every handler (growth is out of line), appending a batch is one memcpy,
// and growing a mapped block does not copy it. `Memory` supplies the blocks
// (big_memory_source, or the value graph's item arena).
template <class T, class Memory = big_memory_source>
class pod_vector {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

public:
    explicit pod_vector(Memory memory = {}) : memory_(memory) {}
    pod_vector(const pod_vector&) = delete;
    pod_vector& operator=(const pod_vector&) = delete;
    pod_vector(pod_vector&& o) noexcept : memory_(o.memory_), data_(o.data_), size_(o.size_), cap_(o.cap_) {
        o.data_ = nullptr, o.size_ = o.cap_ = 0;
    }
    pod_vector& operator=(pod_vector&& o) noexcept {
        if (this != &o) {
            release();
            memory_ = o.memory_, data_ = o.data_, size_ = o.size_, cap_ = o.cap_;
            o.data_ = nullptr, o.size_ = o.cap_ = 0;
        }
        return *this;
    }
    ~pod_vector() { release(); }

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return cap_; }
    bool empty() const { return size_ == 0; }
    T* data() { return data_; }
    const T* data() const { return data_; }
    T* begin() { return data_; }
    T* end() { return data_ + size_; }
    const T* begin() const { return data_; }
    const T* end() const { return data_ + size_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    T& back() { return data_[size_ - 1]; }
    const T& back() const { return data_[size_ - 1]; }
    operator std::span<const T>() const { return {data_, size_}; }

    [[gnu::always_inline]] void push_back(const T& v) {
        if (size_ == cap_) [[unlikely]] grow(size_ + 1);
        data_[size_++] = v;
    }
    [[gnu::always_inline]] T& emplace_back() {
        if (size_ == cap_) [[unlikely]] grow(size_ + 1);
        return *new (data_ + size_++) T{};
    }
    void append(const T* first, std::size_t count) {
        if (count > cap_ - size_) grow(size_ + count);
        // Dict pairs and single items are the common case: no memcpy call for them.
        if (count <= 2) {
            for (std::size_t k = 0; k < count; ++k) data_[size_ + k] = first[k];
        } else if (count) {
            std::memcpy(data_ + size_, first, count * sizeof(T));
        }
        size_ += count;
    }
    void pop_back() { --size_; }
    void reserve(std::size_t n) {
        if (n > cap_) set_capacity(n);
    }
    void resize(std::size_t n, const T& fill = T{}) {
        if (n > cap_) grow(n);
        for (std::size_t k = size_; k < n; ++k) data_[k] = fill;
        size_ = n;
    }

private:
    [[gnu::noinline]] void grow(std::size_t need) {
        std::size_t n = cap_ ? cap_ * 2 : Memory::initial_capacity;
        set_capacity(n < need ? need : n);
    }
    void set_capacity(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
        data_ = static_cast<T*>(memory_.reallocate(data_, cap_ * sizeof(T), n * sizeof(T)));
        cap_ = n;
    }
    void release() noexcept {
        if (data_) memory_.deallocate(data_, cap_ * sizeof(T));
        data_ = nullptr;
    }

    [[no_unique_address]] Memory memory_;
    T* data_ = nullptr;
    std::size_t size_ = 0, cap_ = 0;
};

// A std::allocator whose large arrays are mapped as above.
template <class T>
struct big_allocator {
    using value_type = T;
    big_allocator() noexcept = default;
    template <class U>
    big_allocator(const big_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
        return static_cast<T*>(big_memory::allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { big_memory::deallocate(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const big_allocator<U>&) const noexcept { return true; }
};


}  // namespace pickleguard
