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
// A global placed anywhere but the stack and the memo: in a container, an
// argument tuple, state or items applied to an object, a persistent id.
// Being called (REDUCE) or instantiated (NEWOBJ, OBJ) does not set it. Set
// on REDUCE results too: what builtins.getattr fetched, stored as a value.
inline constexpr std::uint8_t held = 4;
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
    // The arena's chunks double in size; from 1 MiB on they come from
    // big_memory, huge-page backed, rather than from the malloc heap, where
    // 300k small dicts cost 3,500 page faults of 4 KiB.
    struct chunk_source final : std::pmr::memory_resource {
        void* do_allocate(std::size_t bytes, std::size_t align) override {
            if (align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(bytes, std::align_val_t(align));
            return big_memory::allocate(bytes);
        }
        void do_deallocate(void* p, std::size_t bytes, std::size_t align) noexcept override {
            if (align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator delete(p, std::align_val_t(align));
            big_memory::deallocate(p, bytes);
        }
        bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }
    };
    chunk_source chunks_;
    std::pmr::monotonic_buffer_resource small_{std::size_t{1} << 16, &chunks_};
};

// A container's items: handles in arena memory.
struct arena_memory {
    static constexpr std::size_t initial_capacity = 4;
    item_arena* arena;
    void* reallocate(void* p, std::size_t old_bytes, std::size_t new_bytes) const {
        return arena->reallocate(p, old_bytes, new_bytes);
    }
    void deallocate(void* p, std::size_t bytes) const noexcept { arena->deallocate(p, bytes); }
};
using item_vector = pod_vector<value_ref, arena_memory>;

struct container {
    explicit container(item_arena* arena) : items(arena_memory{arena}) {}
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
