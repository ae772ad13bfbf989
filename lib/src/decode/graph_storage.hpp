// Internal: how the value graph is stored.
//
// Nodes are 24-byte records in one vector; containers keep their items in a
// side table so that scalars stay small. Handles of small ints carry the value
// themselves (see value_ref). Text decoded from escapes lives in `owned`; all
// other text points into the input, which must outlive the graph.
#pragma once

#include "pickleguard/value.hpp"

#include "../common/big_alloc.hpp"

#include <cstring>
#include <deque>
#include <span>
#include <memory_resource>
#include <string>
#include <vector>

namespace pickleguard {

namespace node_flag {
inline constexpr std::uint8_t unhashable = 1;  // list, dict, set, bytearray, or a tuple holding one
inline constexpr std::uint8_t hash_cached = 2;  // tuple: `len` holds its hash (value_equality)
}

struct node {
    value_kind kind = value_kind::none;
    std::uint8_t flags = 0;
    std::uint16_t reserved = 0;
    std::uint32_t aux = 0;  // container index for containers and symbolic nodes
    union {
        std::int64_t i;     // integer, ext code, global index, boolean
        double f;           // floating
        const char* p;      // str, bytes, bytearray, big_integer
    };
    std::uint64_t len = 0;  // byte length for p
};
static_assert(sizeof(node) == 24);

// Container items: small blocks come from a bump arena (a pickle makes
// hundreds of thousands of small dicts and lists; each then costs a pointer
// bump, and the whole graph one release), large ones from big_memory, so the
// buffers a growing 5-million-item list leaves behind are returned, and a
// mapped buffer grows without being copied.
class item_arena {
public:
    static constexpr std::size_t kSmall = 4096;

    void* allocate(std::size_t bytes) {
        if (bytes <= kSmall) return small_.allocate(bytes, alignof(value_ref));
        return big_memory::allocate(bytes);
    }
    void deallocate(void* p, std::size_t bytes) noexcept {
        if (bytes > kSmall) big_memory::deallocate(p, bytes);
    }
    void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) {
        if (p && old_bytes > kSmall && new_bytes > kSmall) return big_memory::reallocate(p, old_bytes, new_bytes);
        void* q = allocate(new_bytes);
        if (p) std::memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
        deallocate(p, old_bytes);
        return q;
    }

private:
    std::pmr::monotonic_buffer_resource small_{std::size_t{1} << 16};
};

// A container's items: handles in arena memory. Appending is a bounds check
// and a memcpy (std::vector with a pmr allocator copied item by item).
class item_vector {
public:
    explicit item_vector(item_arena* arena) : arena_(arena) {}
    item_vector(const item_vector&) = delete;
    item_vector& operator=(const item_vector&) = delete;
    item_vector(item_vector&& o) noexcept : arena_(o.arena_), data_(o.data_), size_(o.size_), cap_(o.cap_) {
        o.data_ = nullptr, o.size_ = o.cap_ = 0;
    }
    item_vector& operator=(item_vector&&) = delete;
    ~item_vector() { arena_->deallocate(data_, cap_ * sizeof(value_ref)); }

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return cap_; }
    bool empty() const { return size_ == 0; }
    value_ref* data() { return data_; }
    const value_ref* data() const { return data_; }
    value_ref* begin() { return data_; }
    value_ref* end() { return data_ + size_; }
    const value_ref* begin() const { return data_; }
    const value_ref* end() const { return data_ + size_; }
    value_ref& operator[](std::size_t i) { return data_[i]; }
    const value_ref& operator[](std::size_t i) const { return data_[i]; }
    operator std::span<const value_ref>() const { return {data_, size_}; }

    void append(const value_ref* first, std::size_t count) {
        if (count > cap_ - size_) grow(size_ + count);
        // Dict pairs and single items are the common case: no memcpy call for them.
        if (count <= 2) {
            for (std::size_t k = 0; k < count; ++k) data_[size_ + k] = first[k];
        } else {
            std::memcpy(data_ + size_, first, count * sizeof(value_ref));
        }
        size_ += count;
    }
    void push_back(value_ref v) { append(&v, 1); }
    void reserve(std::size_t n) {
        if (n > cap_) set_capacity(n);
    }

private:
    void grow(std::size_t need) {
        std::size_t n = cap_ ? cap_ * 2 : 4;
        set_capacity(n < need ? need : n);
    }
    void set_capacity(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(value_ref)) throw std::bad_array_new_length();
        data_ = static_cast<value_ref*>(arena_->reallocate(data_, cap_ * sizeof(value_ref), n * sizeof(value_ref)));
        cap_ = n;
    }

    item_arena* arena_;
    value_ref* data_ = nullptr;
    std::size_t size_ = 0, cap_ = 0;
};

struct container {
    explicit container(item_arena* arena) : items(arena) {}
    item_vector items;
    std::uint32_t depth = 1;                 // nesting depth, at least 1
    std::uint32_t applied = kNoApplied;      // index into storage::applied
    static constexpr std::uint32_t kNoApplied = ~0u;
};

struct value_graph::storage {
    item_arena arena;
    pod_vector<node> nodes;
    std::vector<container, big_allocator<container>> containers;
    std::vector<global_name> globals;
    std::vector<applied_ops> applied;
    std::deque<std::string> owned;  // deque: element addresses stay put as it grows

    // Node 0 is None, 1 is True, 2 is False: constants need no allocation.
    static constexpr std::uint32_t kNone = 0, kTrue = 1, kFalse = 2;
    // A node index never handed out, used as "empty" in the memo.
    static constexpr std::uint32_t kInvalidIndex = 0xffffffffu;
    static constexpr std::uint32_t kMaxNodes = 0xfffffff0u;

    std::string_view keep(std::string s) {
        owned.push_back(std::move(s));
        return owned.back();
    }
};

}  // namespace pickleguard
