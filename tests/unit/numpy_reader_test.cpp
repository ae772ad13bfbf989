// The .npy header reader's parts: Python literals (py_literal.cpp) and numpy
// dtypes (numpy_dtype.cpp), each case checked against numpy 1.24 and
// Python 3.11 by hand (the differential test numpy_header_differential does
// it by the thousand).
#include "read/npy_header.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pickleguard::read {
namespace {

result<py_tree> lit(std::u32string_view s, bool drop_long = false) { return parse_py_literal(s, drop_long); }

std::string str_of(std::u32string_view s) {
    auto t = lit(s);
    EXPECT_TRUE(t) << (t ? "" : t.error().reason);
    if (!t) return {};
    EXPECT_EQ(t.value().at(t.value().root).k, py_node::kind::str);
    return t.value().at(t.value().root).text;
}

TEST(PyLiteral, EscapesSpellTheObjectTypeCode) {
    EXPECT_EQ(str_of(U"'\\x4f'"), "O");
    EXPECT_EQ(str_of(U"'\\117'"), "O");
    EXPECT_EQ(str_of(U"'\\u004f'"), "O");
    EXPECT_EQ(str_of(U"'\\U0000004F'"), "O");
    EXPECT_EQ(str_of(U"r'\\x4f'"), "\\x4f");  // raw: no escapes
    EXPECT_EQ(str_of(U"'\\q'"), "\\q");       // unknown escapes keep the backslash
}

TEST(PyLiteral, ImplicitConcatenationAndPrefixes) {
    EXPECT_EQ(str_of(U"'<' \"f8\""), "<f8");
    EXPECT_EQ(str_of(U"('|'\n  # comment\n 'O')"), "|O");
    EXPECT_EQ(str_of(U"u'O'"), "O");
    EXPECT_EQ(str_of(U"'''O'''"), "O");
    EXPECT_FALSE(lit(U"'f8' b''"));  // str and bytes do not mix
    EXPECT_FALSE(lit(U"ur'O'"));
}

TEST(PyLiteral, Python2LongSuffixOnlyWhenFiltered) {
    EXPECT_TRUE(lit(U"(3L, 0x10 L)", true));
    EXPECT_FALSE(lit(U"(3L,)", false));
    EXPECT_FALSE(lit(U"(3Lx,)", true));  // tokenize sees the NAME 'Lx'
}

TEST(PyLiteral, WhatIsNotFollowedIsRefusedNotGuessed) {
    auto named = lit(U"'\\N{LATIN CAPITAL LETTER O}'");
    ASSERT_FALSE(named);
    EXPECT_EQ(named.error().kind, error_kind::unsupported);
    auto nul = lit(std::u32string(U"'O'\0", 4));
    ASSERT_FALSE(nul);
    EXPECT_EQ(nul.error().kind, error_kind::malformed);
    EXPECT_FALSE(lit(U"--3"));
    EXPECT_TRUE(lit(U"-(3)"));
    EXPECT_FALSE(lit(U"{[1]: 2}"));  // unhashable key
}

dtype_info dt(std::string_view s) {
    auto d = dtype_from_string(s, false);
    EXPECT_TRUE(d) << s << ": " << (d ? "" : d.error().reason);
    return d ? d.value() : dtype_info{};
}

TEST(NumpyDtype, ObjectsInsideStructuresAndSubarrays) {
    EXPECT_TRUE(dt("f8,O").has_object);
    EXPECT_EQ(dt("f8,O").itemsize, 16u);
    EXPECT_TRUE(dt("(2,)O").has_object);
    EXPECT_EQ(dt("(2,)O").itemsize, 16u);
    EXPECT_TRUE(dt("2O").has_object);
    EXPECT_EQ(dt("i1,(2,3)O").itemsize, 49u);
    EXPECT_TRUE(dt("object_").has_object);
    EXPECT_TRUE(dt("O4").has_object);  // accepted for old pickles
    EXPECT_FALSE(dt("<U3").has_object);
    EXPECT_EQ(dt("<U3").itemsize, 12u);
    EXPECT_EQ(dt("M8[ns]").itemsize, 8u);
}

TEST(NumpyDtype, StrtolQuirksAreRefused) {
    for (std::string_view s : {"f 8", "f+8", "U-1"}) {
        auto d = dtype_from_string(s, false);
        ASSERT_FALSE(d) << s;
        EXPECT_EQ(d.error().kind, error_kind::unsupported) << s;
    }
    EXPECT_FALSE(dtype_from_string("<float64", false));  // type names are looked up whole
}

dtype_info descr(std::u32string_view s) {
    auto t = lit(s);
    EXPECT_TRUE(t);
    auto d = descr_to_dtype(t.value(), t.value().root);
    EXPECT_TRUE(d) << (d ? "" : d.error().reason);
    return d ? d.value() : dtype_info{};
}

TEST(NumpyDtype, DescrToDtypeFollowsNumpy) {
    EXPECT_TRUE(descr(U"[('a', '<f8'), ('b', [('c', '|O')])]").has_object);
    EXPECT_TRUE(descr(U"['aO']").has_object);     // a 2-character string unpacks as (name, descr)
    EXPECT_TRUE(descr(U"{'aO': 1}").has_object);  // iterating a dict gives its keys
    // A field named '' of a void type is padding: dropped, its bytes kept —
    // and a subarray of objects is a void type.
    dtype_info pad = descr(U"[('', '(2,)O')]");
    EXPECT_FALSE(pad.has_object);
    EXPECT_EQ(pad.itemsize, 16u);
    EXPECT_EQ(descr(U"('S', 5)").itemsize, 5u);
    auto t = lit(U"[('a', 'f8'), ('a', 'O')]");
    EXPECT_FALSE(descr_to_dtype(t.value(), t.value().root));  // name already used
}

}  // namespace
}  // namespace pickleguard::read
