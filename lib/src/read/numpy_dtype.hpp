// Internal: numpy dtypes as numpy builds them, without numpy.
//
// Whether numpy.load unpickles an .npy payload, and how many bytes an array
// takes, depend on one question: what does numpy.dtype(descr) make of the
// header's descr? `dtype.hasobject` is true not only for 'O' but for any
// structure, subarray or comma string with an object anywhere inside
// ('f8,O', '(2,)O', [('a', [('b', '|O')])], '\x4f' spelled through an escape).
// These functions follow numpy 1.24's own code paths — numpy/lib/format.py
// descr_to_dtype, numpy/core/_internal.py _commastring and
// numpy/core/src/multiarray/descriptor.c (_convert_from_str,
// _convert_from_tuple, _convert_from_dict) — for everything a header can hold,
// and return an error for the rest: `malformed` where numpy raises too,
// `unsupported` where we do not follow numpy (callers must then assume the
// worst). No recursion follows the input.
//
//     auto dt = pickleguard::read::descr_to_dtype(tree, descr_node);
//     if (!dt || dt->has_object) { /* numpy.load may pickle.load what follows */ }
#pragma once

#include "read/py_literal.hpp"

#include <cstdint>
#include <string_view>

namespace pickleguard::read {

struct dtype_info {
    std::uint64_t itemsize = 0;  // dtype.itemsize
    std::uint32_t alignment = 1;  // dtype.alignment
    bool has_object = false;     // dtype.hasobject
    char kind = 0;               // dtype.kind: b i u f c M m O S U V
    bool structured = false;     // dtype.names is not None
    bool subarray = false;       // dtype.subarray is not None
    bool unsized = false;        // a flexible type without a size ('S', 'U0', 'V')
};

// numpy.dtype(s, align) for a str argument, comma strings included.
result<dtype_info> dtype_from_string(std::string_view s, bool align);

// numpy.dtype((base, value)): a subarray shape, a flexible type's size, or
// (refused) a union with another dtype.
result<dtype_info> dtype_with_shape(const dtype_info& base, const py_tree& t, std::uint32_t value);

// numpy.lib.format.descr_to_dtype(descr) for a header's 'descr' value.
result<dtype_info> descr_to_dtype(const py_tree& t, std::uint32_t descr);

}  // namespace pickleguard::read
