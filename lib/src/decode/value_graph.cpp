#include "graph_storage.hpp"

namespace pickleguard {

const char* to_string(value_kind kind) noexcept {
    switch (kind) {
        case value_kind::none: return "NoneType";
        case value_kind::boolean: return "bool";
        case value_kind::integer:
        case value_kind::big_integer: return "int";
        case value_kind::floating: return "float";
        case value_kind::str: return "str";
        case value_kind::bytes: return "bytes";
        case value_kind::bytearray: return "bytearray";
        case value_kind::list: return "list";
        case value_kind::tuple: return "tuple";
        case value_kind::dict: return "dict";
        case value_kind::set: return "set";
        case value_kind::frozenset: return "frozenset";
        case value_kind::global: return "global";
        case value_kind::reduce: return "reduce";
        case value_kind::newobj: return "newobj";
        case value_kind::persid: return "persistent id";
        case value_kind::ext: return "extension";
        case value_kind::buffer: return "buffer";
        case value_kind::memoryview: return "memoryview";
    }
    return "?";
}

value_graph::value_graph() : s_(std::make_unique<storage>()) {
    node none_node;
    node true_node;
    true_node.kind = value_kind::boolean;
    true_node.i = 1;
    node false_node;
    false_node.kind = value_kind::boolean;
    false_node.i = 0;
    s_->nodes.push_back(none_node);
    s_->nodes.push_back(true_node);
    s_->nodes.push_back(false_node);
}
value_graph::~value_graph() = default;
value_graph::value_graph(value_graph&&) noexcept = default;
value_graph& value_graph::operator=(value_graph&&) noexcept = default;

value_kind value_graph::kind(value_ref v) const {
    if (v.is_small_int()) return value_kind::integer;
    return s_->nodes[v.index()].kind;
}

bool value_graph::held(value_ref v) const { return s_->nodes[v.index()].flags & node_flag::held; }

std::uint64_t value_graph::builds_before_change(value_ref v) const {
    const node& n = s_->nodes[v.index()];
    if (n.kind != value_kind::list && n.kind != value_kind::dict && n.kind != value_kind::set) return 0;
    return static_cast<std::uint64_t>(n.i);
}

bool value_graph::as_bool(value_ref v) const { return s_->nodes[v.index()].i != 0; }

std::int64_t value_graph::as_int(value_ref v) const {
    if (v.is_small_int()) return v.small_value();
    return s_->nodes[v.index()].i;
}

std::span<const std::uint8_t> value_graph::big_int_bytes(value_ref v) const {
    const node& n = s_->nodes[v.index()];
    return {reinterpret_cast<const std::uint8_t*>(n.p), static_cast<std::size_t>(n.len)};
}

double value_graph::as_float(value_ref v) const { return s_->nodes[v.index()].f; }

std::string_view value_graph::text(value_ref v) const {
    const node& n = s_->nodes[v.index()];
    return {n.p, static_cast<std::size_t>(n.len)};
}

std::span<const value_ref> value_graph::items(value_ref v) const {
    if (v.is_small_int()) return {};
    const node& n = s_->nodes[v.index()];
    switch (n.kind) {
        case value_kind::list: case value_kind::tuple: case value_kind::dict:
        case value_kind::set: case value_kind::frozenset: case value_kind::reduce:
        case value_kind::newobj: case value_kind::persid:
            return s_->containers[n.aux].items;
        default:
            return {};
    }
}

const global_name& value_graph::global(value_ref v) const {
    return s_->globals[static_cast<std::size_t>(s_->nodes[v.index()].i)];
}

std::int64_t value_graph::ext_code(value_ref v) const { return s_->nodes[v.index()].i; }

const applied_ops* value_graph::applied(value_ref v) const {
    if (v.is_small_int()) return nullptr;
    const node& n = s_->nodes[v.index()];
    if (!is_symbolic(n.kind)) return nullptr;
    const container& c = s_->containers[n.aux];
    if (c.applied == container::kNoApplied) return nullptr;
    return &s_->applied[c.applied];
}

std::size_t value_graph::node_count() const { return s_->nodes.size(); }

std::span<const global_name> value_graph::globals() const { return s_->globals; }

}  // namespace pickleguard
