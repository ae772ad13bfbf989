// Every reading of a file is judged (issue 12, classes 3-7): one test per
// technique. The inputs are written at build time by
// tests/containers/make_readings.py (byte-built pickles, tar headers and zip
// records); tests/containers/readings_loaders_test.py proves with the
// loaders' own reading code that the malicious ones reach their payload.
// The 7z inputs are made here with libarchive, and checked against
// libarchive's own extractor.
#include "pickleguard/report.hpp"

#include "container_fixture.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>
#include <vector>

namespace pickleguard {
namespace {

using testing::kEvil;
using testing::pb;

class Readings : public testing::FileScan {
protected:
    static std::string input(const std::string& name) { return testing::read_input(PICKLEGUARD_READINGS_DIR, name); }
    file_report scan(const std::string& name, const std::string& policy_name = "pytorch") {
        return scan_data(input(name), policy_name);
    }
    static bool global_found(const file_report& r, std::string_view member) {
        const finding* f = find(r, "global-not-allowed", member);
        return f && f->module == "os" && f->name == "system";
    }
    static bool no_violation(const file_report& r) {
        for (const finding& f : r.findings)
            if (f.violation) {
                ADD_FAILURE() << f.rule << " " << to_string(f.member) << ": " << f.message;
                return false;
            }
        return r.verdict == verdict::safe;
    }
    std::string data_;
};

// ---- class 3: polyglots --------------------------------------------------------

// A valid tar whose first header's name field is PROTO + BINBYTES (the rest
// of the tar is the BINBYTES argument), followed by os.system('id').
// tarfile and libarchive read a tar of one text file; pickle.load runs it.
TEST_F(Readings, TarThatIsAlsoAPickleIsJudgedAsBoth) {
    auto r = scan("polyglot_tar_pickle.tar");
    EXPECT_EQ(r.format, "tar");
    EXPECT_EQ(r.readings, (std::vector<std::string>{"tar", "pickle"}));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "polyglot", ""), nullptr);
    EXPECT_TRUE(global_found(r, "pickle reading"));
}

// The same with a malformed pax record first: Python's tarfile raises
// ReadError, so torch.load takes its pickle path; libarchive reads the tar.
TEST_F(Readings, TarThatTarfileRefusesButLibarchiveReadsIsJudgedAsBoth) {
    auto r = scan("polyglot_tar_pickle_tarfile_refuses.tar");
    EXPECT_EQ(r.readings, (std::vector<std::string>{"tar", "pickle"}));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(global_found(r, "pickle reading"));
    EXPECT_EQ(find(r, "container-corrupt"), nullptr) << "libarchive reads this tar";
}

// A pickle with a zip behind it (tests/containers/make_containers.py): the
// zip reading CPython's zipfile takes is listed with the pickle's.
TEST_F(Readings, PickleWithAZipBehindItListsBothReadings) {
    std::ifstream f(std::string(PICKLEGUARD_CONTAINERS_DIR) + "/polyglot_pickle_zip.pkl", std::ios::binary);
    auto r = scan_data({std::istreambuf_iterator<char>(f), {}});
    EXPECT_EQ(r.readings, (std::vector<std::string>{"pickle", "zip"}));
    EXPECT_EQ(r.verdict, verdict::unsafe);
}

TEST_F(Readings, PlainTarHasOneReading) {
    auto r = scan("benign_notes.tar");
    EXPECT_EQ(r.readings, (std::vector<std::string>{"tar"}));
    EXPECT_TRUE(no_violation(r));
    std::vector<std::byte> zip_like = {std::byte{'P'}, std::byte{'K'}, std::byte{3}, std::byte{4}};
    EXPECT_EQ(detect_readings(zip_like).size(), 1u);
}

// ---- class 4: torch's record lookup ----------------------------------------------

// miniz compares record names case-insensitively: torch.load unpickles
// archive/DATA.PKL as data.pkl (a 2 MiB protocol 0 pickle without PROTO).
TEST_F(Readings, TorchFindsDataPklCaseInsensitively) {
    auto r = scan("torch_upper_case_data_pkl.pt");
    EXPECT_EQ(r.format, "pytorch-zip");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(global_found(r, "archive/DATA.PKL"));
}

TEST_F(Readings, BenignCheckpointWithUpperCaseNamesIsSafe) {
    // Its storage record archive/DATA/0 is torch's data/0: sized, not scanned.
    auto r = scan("benign_torch_upper_case.pt");
    EXPECT_EQ(r.format, "pytorch-zip");
    EXPECT_TRUE(no_violation(r));
    EXPECT_EQ(find(r, "torch-storage-mismatch"), nullptr);
}

// A large member that starts with a protocol 0 opcode, no PROTO: the C
// unpickler needs none, so it is read.
TEST_F(Readings, LargeMemberWithoutProtoIsRead) {
    auto r = scan("zip_big_entry_without_proto.zip");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(global_found(r, "model.bin"));
}

// ---- class 5: entries without type bits --------------------------------------------

std::uint32_t crc32_of(std::string_view b) {
    std::uint32_t c = 0xffffffffu;
    for (unsigned char x : b) {
        c ^= x;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

void put_le(std::string& s, std::size_t at, std::uint64_t v, int n) {
    for (int k = 0; k < n; ++k) s[at + k] = static_cast<char>(v >> (8 * k));
}

// A 7z entry whose attributes carry the Unix extension with permission bits
// and no file-type bits (FILE_ATTRIBUTE_ARCHIVE | 0x8000 | 0644 << 16):
// libarchive reports file type 0 for it. Written by libarchive (stored,
// plain header), then the attribute word patched and both CRCs redone.
std::string seven_zip_without_type_bits(const std::string& data) {
    std::string s = testing::seven_zip({{"model.pkl", data}}, "compression=store");
    // kAttributes (0x15), 6 bytes: all defined, not external, one UInt32.
    std::size_t at = s.rfind(std::string("\x15\x06\x01\x00", 4));
    EXPECT_NE(at, std::string::npos);
    if (at == std::string::npos) return s;
    put_le(s, at + 4, 0x20u | 0x8000u | (0644u << 16), 4);
    std::uint64_t next_offset = 0, next_size = 0;
    for (int k = 7; k >= 0; --k) {
        next_offset = (next_offset << 8) | static_cast<unsigned char>(s[12 + k]);
        next_size = (next_size << 8) | static_cast<unsigned char>(s[20 + k]);
    }
    put_le(s, 28, crc32_of(std::string_view(s).substr(32 + next_offset, next_size)), 4);
    put_le(s, 8, crc32_of(std::string_view(s).substr(12, 20)), 4);
    return s;
}

TEST_F(Readings, SevenZipEntryWithoutTypeBitsIsReadAsAFile) {
    std::string seven = seven_zip_without_type_bits(kEvil);
    // What libarchive reports for the entry, and what its own extractor
    // makes of it (a regular file holding the pickle), as 7-Zip and py7zr do.
    {
        archive* a = archive_read_new();
        archive_read_support_format_7zip(a);
        ASSERT_EQ(archive_read_open_memory(a, seven.data(), seven.size()), ARCHIVE_OK);
        archive_entry* e = nullptr;
        ASSERT_EQ(archive_read_next_header(a, &e), ARCHIVE_OK);
        EXPECT_EQ(archive_entry_filetype(e), 0u) << "the input must carry no type bits";
        auto dir = std::filesystem::temp_directory_path() / ("pg_readings_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        std::string target = (dir / "model.pkl").string();
        archive_entry_set_pathname(e, target.c_str());
        archive* disk = archive_write_disk_new();
        EXPECT_EQ(archive_read_extract2(a, e, disk), ARCHIVE_OK);
        archive_write_free(disk);
        archive_read_free(a);
        EXPECT_TRUE(std::filesystem::is_regular_file(target));
        std::ifstream f(target, std::ios::binary);
        EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), kEvil);
        std::filesystem::remove_all(dir);
    }
    auto r = scan_data(seven);
    EXPECT_EQ(r.format, "7z");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_TRUE(global_found(r, "model.pkl"));
}

// ---- class 6: nothing skipped silently ------------------------------------------------

TEST_F(Readings, ContainerWithoutPickleSaysSoInEveryFormat) {
    auto r = scan("zip_text_only.zip");
    EXPECT_EQ(r.verdict, verdict::safe);
    const finding* none = find(r, "container-without-pickle", "");
    const finding* skipped = find(r, "members-skipped", "");
    ASSERT_NE(none, nullptr);
    ASSERT_NE(skipped, nullptr);
    EXPECT_NE(skipped->message.find("'README.txt', 'notes.txt'"), std::string::npos) << skipped->message;
    // Shown without --verbose (not info), as notes in SARIF, and in JSON.
    EXPECT_GT(none->severity, severity::info);
    EXPECT_GT(skipped->severity, severity::info);
    std::string json = report_json({r}, {}, "pytorch");
    std::string sarif = report_sarif({r}, "pytorch");
    for (const std::string& doc : {json, sarif}) {
        EXPECT_NE(doc.find("container-without-pickle"), std::string::npos);
        EXPECT_NE(doc.find("README.txt"), std::string::npos);
    }
}

// LZMA (method 14): CPython's zipfile reads it, pickleguard does not decode
// it. Not safe, and the member is named.
TEST_F(Readings, MemberALoaderCouldUnpickleButNotReadIsNeverSafe) {
    auto r = scan("zip_unknown_method.zip");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "member-not-read", "");
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->violation);
    EXPECT_NE(f->message.find("'model.pkl'"), std::string::npos);
    std::string sarif = report_sarif({r}, "pytorch");
    EXPECT_NE(sarif.find("member-not-read"), std::string::npos);
}

TEST_F(Readings, Bzip2MemberIsDecompressedAsZipfileDoes) {
    auto r = scan("zip_bzip2_member.zip");
    EXPECT_TRUE(global_found(r, "model.pkl"));
}

// Flag bit 0 set, bytes stored in clear: decoded as if in clear, so the
// report names what a reader ignoring the flag would run.
TEST_F(Readings, EncryptedFlagOverClearBytesIsDecoded) {
    auto r = scan("zip_encrypted_flag_in_clear.zip");
    EXPECT_NE(find(r, "zip-encrypted", "model.pkl"), nullptr);
    EXPECT_TRUE(global_found(r, "model.pkl"));
}

// ---- class 7: TorchScript source ---------------------------------------------------------

TEST_F(Readings, TorchScriptSourceIsNotDecodedAsAPickle) {
    auto r = scan("torchscript_with_source.pt");
    EXPECT_EQ(r.format, "torchscript");
    EXPECT_NE(find(r, "torchscript-archive"), nullptr);
    for (const finding& f : r.findings) {
        EXPECT_EQ(f.module.find("lass"), std::string::npos) << f.rule << ": " << f.message;
        EXPECT_NE(to_string(f.member), "archive/code/__torch__/Linear.py") << f.rule << ": " << f.message;
    }
    for (const global_report& g : r.globals) EXPECT_EQ(to_string(g.member).find("code/"), std::string::npos) << g.module;
    const finding* skipped = find(r, "members-skipped", "");
    ASSERT_NE(skipped, nullptr);
    EXPECT_NE(skipped->message.find("archive/code/__torch__/Linear.py"), std::string::npos);
    // The only violation is the archive being TorchScript.
    for (const finding& f : r.findings) {
        if (f.violation) {
            EXPECT_EQ(f.rule, "torchscript-archive");
        }
    }
}

TEST_F(Readings, PickleNamedLikeTorchScriptSourceIsStillJudged) {
    auto r = scan("torchscript_pickle_named_py.pt");
    EXPECT_TRUE(global_found(r, "archive/code/__torch__/evil.py"));
}

}  // namespace
}  // namespace pickleguard
