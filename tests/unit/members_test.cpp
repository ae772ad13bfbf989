// read_members (pickleguard/members.hpp): the members and pickle streams a
// scan would see, named as its findings name them, with bytes that outlive
// the readers' buffers. Containers are written here with libarchive around
// byte-built pickles; nothing is unpickled.
#include "pickleguard/members.hpp"

#include "container_fixture.hpp"

#include <algorithm>
#include <set>

namespace pickleguard::testing {
namespace {

std::span<const std::byte> as_bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string text(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// A gzip'd tar holding a zip (deflated) holding the evil pickle: three
// containers, two of whose buffers (the gunzipped tar, the inflated entry)
// the readers free before read_members returns.
std::string zip_in_tar_gz() {
    std::string zip = archive_of(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE,
                                 {{"model/data.pkl", kEvil}, {"README", "not a pickle\n"}});
    return archive_of(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_GZIP, {{"inner.zip", zip}});
}

// Entry "x" holds gzip(P), entry "x > gzip" holds P: two members whose
// names render alike, with equal bytes. Picking either would show the
// findings of one for the other, so the name is refused; each location
// still finds its own.
TEST(ReadMembers, NamesThatRenderAlikeAtTwoLocationsAreRefused) {
    const std::string gz = archive_of(ARCHIVE_FORMAT_RAW, ARCHIVE_FILTER_GZIP, {{"x", kEvil}});
    const std::string file = archive_of(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, {{"x", gz}, {"x > gzip", kEvil}});
    file_members m = read_members(as_bytes_of(file));
    auto by_name = m.find("x > gzip");
    ASSERT_FALSE(by_name);
    EXPECT_NE(by_name.error().reason.find("cannot tell which one"), std::string::npos) << by_name.error().reason;
    const file_member* nested = m.find(location{}.member("x").member("gzip"));
    const file_member* entry = m.find(location{}.member("x > gzip"));
    ASSERT_NE(nested, nullptr);
    ASSERT_NE(entry, nullptr);
    EXPECT_NE(nested, entry);
}

TEST(ReadMembers, NestedContainersAreFollowedAndTheirBytesOwned) {
    const std::string file = zip_in_tar_gz();
    file_members m = read_members(as_bytes_of(file));
    ASSERT_FALSE(m.all().empty());
    EXPECT_EQ(m.all().front().name, "");
    EXPECT_EQ(m.all().front().readings, std::vector<format>{format::gzip});
    EXPECT_FALSE(m.all().front().pickle);

    auto tar = m.find("gzip");
    ASSERT_TRUE(tar) << tar.error().reason;
    EXPECT_EQ(tar.value()->readings, std::vector<format>{format::tar});

    auto pkl = m.find("gzip > inner.zip > model/data.pkl");
    ASSERT_TRUE(pkl) << pkl.error().reason;
    EXPECT_TRUE(pkl.value()->pickle);
    // The inflated entry's buffer is gone; the result's copy is the pickle.
    EXPECT_EQ(text(pkl.value()->bytes), kEvil);
    // The stored zip's end record is inside the tar, so CPython's zipfile
    // finds it there too: a second reading, as scan_file judges it.
    auto behind = m.find("gzip > zip reading > model/data.pkl");
    ASSERT_TRUE(behind) << behind.error().reason;
    EXPECT_EQ(text(behind.value()->bytes), kEvil);
    EXPECT_EQ(m.pickles().size(), 2u);

    // Moved, the copies stay where the spans point.
    file_members moved = std::move(m);
    auto again = moved.find("gzip > inner.zip > model/data.pkl");
    ASSERT_TRUE(again);
    EXPECT_EQ(text(again.value()->bytes), kEvil);
}

TEST(ReadMembers, NamesAreTheScanReportsMembers) {
    const std::string file = zip_in_tar_gz();
    policy p = load_shipped_policy("default").value();
    file_report r = scan_file(as_bytes_of(file), p, {}, "input");
    file_members m = read_members(as_bytes_of(file));
    std::set<std::string> members;
    for (const finding& f : r.findings)
        if (f.rule == "global-not-allowed") members.insert(to_string(f.member));
    ASSERT_EQ(members, (std::set<std::string>{"gzip > inner.zip > model/data.pkl", "gzip > zip reading > model/data.pkl"}));
    for (const std::string& name : members) {
        auto found = m.find(name);
        ASSERT_TRUE(found) << name;
        EXPECT_TRUE(found.value()->pickle);
    }
    // The readers' own findings are the scan's: the README was not scanned.
    auto skipped = [](const std::vector<finding>& fs) {
        return std::count_if(fs.begin(), fs.end(), [](const finding& f) { return f.rule == "members-skipped"; });
    };
    EXPECT_EQ(skipped(m.findings()), skipped(r.findings));
    EXPECT_GT(skipped(m.findings()), 0);
}

TEST(ReadMembers, UnknownNameIsAnErrorListingTheNames) {
    const std::string file = zip_in_tar_gz();
    file_members m = read_members(as_bytes_of(file));
    auto missing = m.find("inner.zip > model/data.pkl");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, error_kind::usage);
    EXPECT_NE(missing.error().reason.find("no member named 'inner.zip > model/data.pkl'"), std::string::npos);
    EXPECT_NE(missing.error().reason.find("'gzip > inner.zip > model/data.pkl'"), std::string::npos)
        << missing.error().reason;
}

TEST(ReadMembers, GzippedPickleIsOneStream) {
    const std::string file = archive_of(ARCHIVE_FORMAT_RAW, ARCHIVE_FILTER_GZIP, {{"x", kEvil}});
    file_members m = read_members(as_bytes_of(file));
    ASSERT_EQ(m.pickles().size(), 1u);
    EXPECT_EQ(m.pickles().front()->name, "gzip");
    EXPECT_EQ(text(m.pickles().front()->bytes), kEvil);
}

TEST(ReadMembers, BarePickleIsTheFileItself) {
    file_members m = read_members(as_bytes_of(kEvil));
    ASSERT_EQ(m.all().size(), 1u);
    EXPECT_TRUE(m.all().front().pickle);
    EXPECT_EQ(m.all().front().bytes.data(), reinterpret_cast<const std::byte*>(kEvil.data()))
        << "bytes in the file are not copied";
}

TEST(ReadMembers, TwoEntriesOfOneNameAreAmbiguous) {
    const std::string file = archive_of(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE,
                                        {{"a.pkl", kEvil}, {"a.pkl", pb(R"(\x80\x04K\x01.)")}});
    file_members m = read_members(as_bytes_of(file));
    auto a = m.find("a.pkl");
    ASSERT_FALSE(a);
    EXPECT_NE(a.error().reason.find("2 different members are named 'a.pkl'"), std::string::npos) << a.error().reason;
}

}  // namespace
}  // namespace pickleguard::testing
