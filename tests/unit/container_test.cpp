// Pickles where they travel: one test per technique for hiding a pickle in,
// or behind, a container. The inputs are written at build time by
// tests/containers/make_containers.py from byte-built pickles; nothing is
// ever unpickled. zstd and lz4 streams and 7z archives are made here with the
// libraries.
#include "container_fixture.hpp"
#include "pickleguard/read.hpp"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace pickleguard {
namespace {

using testing::kEvil;
using testing::pb;

class Container : public testing::FileScan {
protected:
    static std::string input(const std::string& name) { return testing::read_input(PICKLEGUARD_CONTAINERS_DIR, name); }
    file_report scan(const std::string& name, const std::string& policy_name = "pytorch", scan_options options = {}) {
        return scan_data(input(name), policy_name, options);
    }
    static bool has_violation_other_than(const file_report& r, std::string_view rule) {
        return std::any_of(r.findings.begin(), r.findings.end(),
                           [&](const finding& f) { return f.violation && f.rule != rule; });
    }
};

// ---- PyTorch zip ---------------------------------------------------------------

TEST_F(Container, BenignTorchZipIsSafe) {
    auto r = scan("benign.pt");
    EXPECT_EQ(r.format, "pytorch-zip");
    EXPECT_EQ(r.verdict, verdict::safe);
    for (const finding& f : r.findings) EXPECT_FALSE(f.violation) << f.rule << ": " << f.message;
}

TEST_F(Container, PayloadInDataPkl) {
    auto r = scan("payload_in_data_pkl.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "archive/data.pkl"), nullptr);
}

TEST_F(Container, PayloadInExtraZipEntry) {
    auto r = scan("payload_in_extra_entry.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "archive/extra/notes.bin"), nullptr);
}

TEST_F(Container, Protocol0PayloadUnderDataFolder) {
    // No PROTO to recognise it by, and a name like a storage record's.
    auto r = scan("protocol0_payload_in_extra_entry.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "archive/data/extra"), nullptr);
}

TEST_F(Container, StorageSizeMismatch) {
    auto r = scan("storage_size_mismatch.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "torch-storage-mismatch", "archive/data.pkl");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(f->message.find("6 x 4 = 24"), std::string::npos) << f->message;
}

TEST_F(Container, StorageRecordMissing) {
    auto r = scan("storage_record_missing.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "torch-storage-mismatch"), nullptr);
}

TEST_F(Container, TorchScriptArchiveIsReported) {
    auto r = scan("torchscript.pt");
    EXPECT_EQ(r.format, "torchscript");
    EXPECT_NE(find(r, "torchscript-archive"), nullptr);
}

// ---- ZIP reader disagreements ---------------------------------------------------

TEST_F(Container, CrcMismatch) {
    auto r = scan("crc_mismatch.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "zip-crc-mismatch", "archive/data.pkl"), nullptr);
}

TEST_F(Container, ZipInsideZip) {
    auto r = scan("zip_inside_zip.zip");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "inner.zip > evil.pkl"), nullptr);
}

TEST_F(Container, LocalCentralNameMismatch) {
    auto r = scan("local_central_name_mismatch.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "zip-name-mismatch", "archive/data.pkl"), nullptr);
}

TEST_F(Container, DuplicateNames) {
    // The first copy is benign, the second (which CPython opens) the payload.
    auto r = scan("duplicate_names.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "zip-duplicate-name"), nullptr);
    EXPECT_NE(find(r, "global-not-allowed", "archive/data.pkl"), nullptr);
}

TEST_F(Container, PolyglotPickleZip) {
    // pickle.load reads a harmless dict at the front; zipfile the payload behind it.
    auto r = scan("polyglot_pickle_zip.pkl");
    EXPECT_EQ(r.format, "pickle");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "zip-data-before-archive"), nullptr);
    EXPECT_NE(find(r, "global-not-allowed", "zip reading > archive/data.pkl"), nullptr);
}

TEST_F(Container, UnknownCompressionMethod) {
    auto r = scan("unknown_compression_method.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "zip-unsupported-compression", "archive/data.pkl"), nullptr);
}

TEST_F(Container, EntrySizesLie) {
    auto r = scan("entry_sizes_lie.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "zip-size-mismatch", "archive/data.pkl"), nullptr);
}

TEST_F(Container, DecompressionBomb) {
    scan_options o;
    o.containers.max_decompressed_bytes = 1 << 20;  // the input inflates to 4 MiB
    auto r = scan("bomb.gz", "pytorch", o);
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "decompression-bomb"), nullptr);
    scan_options ratio;
    ratio.containers.max_ratio = 100;  // 4 KiB to 4 MiB is 1000:1
    r = scan("bomb.gz", "pytorch", ratio);
    EXPECT_NE(find(r, "decompression-bomb"), nullptr);
}

TEST_F(Container, NestingDepthLimit) {
    scan_options o;
    o.containers.max_depth = 1;  // zip > zip > pickle needs two
    auto r = scan("zip_inside_zip.zip", "pytorch", o);
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "container-limit"), nullptr);
}

// ---- PyTorch legacy ---------------------------------------------------------------

// A payload inflated into the buffer a harmless member just freed, at the
// same size: readings remembered by address and size made it "not a
// pickle, not scanned". Every member is detected from its own bytes.
TEST_F(Container, PayloadInflatedWhereAHarmlessMemberWasIsJudged) {
    for (const char* name : {"payload_after_same_size_text_200.zip", "payload_after_same_size_text_4000.zip"}) {
        auto r = scan(name, "default");
        EXPECT_EQ(r.verdict, verdict::unsafe) << name;
        EXPECT_NE(find(r, "global-not-allowed", "b.pkl"), nullptr) << name;
    }
    for (const char* name : {"payload_after_same_size_text_200.tar", "payload_after_same_size_text_4000.tar"}) {
        auto r = scan(name, "default");
        EXPECT_EQ(r.verdict, verdict::unsafe) << name;
        EXPECT_NE(find(r, "global-not-allowed", "b.pkl.gz > gzip"), nullptr) << name;
    }
}

// The same, without leaving it to the allocator: bytes rewritten in place
// between two questions are detected anew.
TEST(ReadContext, BytesOutsideTheFileAreDetectedEachTime) {
    struct no_host final : read::reader_host {
        void member(read::bytes_view, const location&, int) override {}
        void pickle(read::bytes_view, const location&, const std::function<void(const decoding&)>*) override {}
        std::uint64_t pickles() const override { return 0; }
    } host;
    scan_options options;
    std::vector<finding> findings;
    read::read_context ctx{host, options, findings};
    const std::string file = "a file that is no pickle";
    ctx.lasting = std::as_bytes(std::span(file.data(), file.size()));
    std::string buffer(kEvil.size(), ' ');  // an inflated member, text for now
    auto view = std::as_bytes(std::span(buffer.data(), buffer.size()));
    EXPECT_TRUE(ctx.readings_once(view).empty());
    buffer.assign(kEvil.begin(), kEvil.end());  // the next member, in the same buffer
    auto readings = ctx.readings_once(view);
    ASSERT_FALSE(readings.empty());
    EXPECT_EQ(readings.front(), format::pickle);
}

TEST_F(Container, BenignLegacyCheckpointIsSafe) {
    auto r = scan("legacy_benign.pt");
    EXPECT_EQ(r.format, "pytorch-legacy");
    EXPECT_EQ(r.verdict, verdict::safe);
}

TEST_F(Container, PayloadInFourthLegacyPickle) {
    auto r = scan("legacy_payload_in_object.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "legacy pickle 4 (object)"), nullptr);
}

TEST_F(Container, PayloadInFifthLegacyPickle) {
    auto r = scan("legacy_payload_in_storage_keys.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "legacy pickle 5 (storage keys)"), nullptr);
}

TEST_F(Container, DataAfterLegacyStorages) {
    auto r = scan("legacy_trailing_data.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "trailing-data"), nullptr);
    EXPECT_NE(find(r, "global-not-allowed", "after the storages"), nullptr);
}

TEST_F(Container, LegacyStorageCountLies) {
    auto r = scan("legacy_storage_count_lies.pt");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "torch-storage-mismatch"), nullptr);
}

TEST_F(Container, PayloadInLegacyTarCheckpoint) {
    auto r = scan("legacy_tar_payload.pt");
    EXPECT_EQ(r.format, "pytorch-legacy-tar");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "pickle"), nullptr);
    EXPECT_EQ(find(r, "container-corrupt"), nullptr);  // storages and tensors were followed to their end
    EXPECT_EQ(find(r, "trailing-data"), nullptr);
}

// ---- numpy ------------------------------------------------------------------------

TEST_F(Container, NpyObjectArrayWithPayload) {
    auto r = scan("npy_object_payload.npy", "numpy");
    EXPECT_EQ(r.format, "npy");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "object array"), nullptr);
}

TEST_F(Container, NpyArrayBytesThatLookLikeAPickle) {
    auto r = scan("npy_pickle_looking_data.npy", "numpy");
    EXPECT_EQ(r.verdict, verdict::safe);
    EXPECT_TRUE(r.findings.empty());
}

TEST_F(Container, NpyStructuredDtypeSize) {
    auto r = scan("npy_structured.npy", "numpy");
    EXPECT_EQ(r.verdict, verdict::safe);
    EXPECT_TRUE(r.findings.empty()) << r.findings[0].message;
}

TEST_F(Container, NpyPickleAfterArrayData) {
    auto r = scan("npy_trailing_pickle.npy", "numpy");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "npy-size-mismatch"), nullptr);
    EXPECT_NE(find(r, "global-not-allowed", "after the array"), nullptr);
}

TEST_F(Container, NpyShortData) {
    auto r = scan("npy_short_data.npy", "numpy");
    EXPECT_NE(find(r, "npy-size-mismatch"), nullptr);
}

TEST_F(Container, NpzObjectMemberWithPayload) {
    auto r = scan("npz_object_payload.npz", "numpy");
    EXPECT_EQ(r.format, "npz");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "arr_1.npy > object array"), nullptr);
}

// ---- joblib -------------------------------------------------------------------------

TEST_F(Container, JoblibArrayBytesThatLookLikeAPickle) {
    // The raw float bytes spell os.system in protocol 0: joblib never decodes them.
    auto r = scan("joblib_pickle_looking_array.joblib", "sklearn");
    EXPECT_EQ(r.format, "joblib");
    EXPECT_EQ(r.verdict, verdict::safe) << (r.findings.empty() ? "" : r.findings[0].message);
}

TEST_F(Container, JoblibArrayBytesThatRunUnderPlainPickleLoad) {
    // joblib.load skips padding and array; pickle.load reads them as opcodes
    // and calls os.system. Found by replaying the fuzzing corpus through CPython.
    auto r = scan("joblib_array_runs_under_pickle_load.joblib", "sklearn");
    EXPECT_EQ(r.format, "joblib");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "global-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->module, "os");
    EXPECT_NE(f->message.find("pickle.load rather than joblib.load"), std::string::npos) << f->message;
}

TEST_F(Container, PayloadInJoblibObjectArray) {
    auto r = scan("joblib_object_array_payload.joblib", "sklearn");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    const finding* f = find(r, "global-not-allowed");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(to_string(f->member).find("object array at offset"), std::string::npos) << to_string(f->member);
}

TEST_F(Container, PayloadInJoblibArrayBytes) {
    // The wrapper claims no elements, so joblib reads the "array bytes" as opcodes.
    auto r = scan("joblib_shape_lies.joblib", "sklearn");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed"), nullptr);
}

TEST_F(Container, CompressedJoblib) {
    for (const char* name : {"joblib_object_array_payload.joblib.z", "joblib_object_array_payload.joblib.lz4"}) {
        auto r = scan(name, "sklearn");
        EXPECT_EQ(r.verdict, verdict::unsafe) << name;
        EXPECT_NE(find(r, "global-not-allowed"), nullptr) << name;
    }
}

// ---- compressed streams and archives ---------------------------------------------

TEST_F(Container, CompressedPickles) {
    for (const char* name : {"pickle.gz", "pickle.bz2", "pickle.xz", "pickle.lzma"}) {
        auto r = scan(name);
        EXPECT_EQ(r.verdict, verdict::unsafe) << name;
        EXPECT_NE(find(r, "global-not-allowed"), nullptr) << name;
    }
}

TEST_F(Container, ZstdPickle) {
    std::string z(ZSTD_compressBound(kEvil.size()), '\0');
    z.resize(ZSTD_compress(z.data(), z.size(), kEvil.data(), kEvil.size(), 3));
    auto r = scan_data(z);
    EXPECT_EQ(r.format, "zstd");
    EXPECT_NE(find(r, "global-not-allowed", "zstd"), nullptr);
}

TEST_F(Container, Lz4FramePickle) {
    std::string z(LZ4F_compressFrameBound(kEvil.size(), nullptr), '\0');
    z.resize(LZ4F_compressFrame(z.data(), z.size(), kEvil.data(), kEvil.size(), nullptr));
    auto r = scan_data(z);
    EXPECT_EQ(r.format, "lz4");
    EXPECT_NE(find(r, "global-not-allowed", "lz4"), nullptr);
}

TEST_F(Container, TruncatedCompressedStream) {
    std::string z = input("pickle.xz");
    auto r = scan_data(z.substr(0, z.size() / 2));
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "container-corrupt"), nullptr);
}

TEST_F(Container, GzipInsideTar) {
    auto r = scan("archive.tar");
    EXPECT_EQ(r.format, "tar");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "model/evil.pkl.gz > gzip"), nullptr);
}

// A 7z archive (written with libarchive): each member is read and scanned
// like a tar's.
using testing::seven_zip;

TEST_F(Container, PayloadIn7zArchive) {
    const std::string benign = pb(R"(\x80\x04]\x94(K\x01K\x02e.)");
    auto r = scan_data(seven_zip({{"notes.txt", "not a pickle\n"}, {"model/ok.pkl", benign}, {"model/evil.pkl", kEvil}}));
    EXPECT_EQ(r.format, "7z");
    EXPECT_EQ(r.verdict, verdict::unsafe);
    EXPECT_NE(find(r, "global-not-allowed", "model/evil.pkl"), nullptr);
    EXPECT_FALSE(has_violation_other_than(r, "global-not-allowed"));
    auto ok = scan_data(seven_zip({{"model/ok.pkl", benign}}));
    EXPECT_EQ(ok.format, "7z");
    EXPECT_EQ(ok.verdict, verdict::safe);
}

TEST_F(Container, Truncated7zArchiveIsNeverSafe) {
    std::string whole = seven_zip({{"model/ok.pkl", pb(R"(\x80\x04]\x94(K\x01K\x02e.)")}});
    auto r = scan_data(whole.substr(0, whole.size() - 20));
    EXPECT_NE(r.verdict, verdict::safe);
    EXPECT_NE(find(r, "container-corrupt"), nullptr);
}

TEST_F(Container, UnknownFormatIsError) {
    auto r = scan("unknown.bin");
    EXPECT_EQ(r.format, "");
    EXPECT_EQ(r.verdict, verdict::error);
    const finding* f = find(r, "unknown-format");
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->violation);
}

TEST_F(Container, DetectFormatByContent) {
    auto fmt = [](const std::string& s) { return detect_format(std::as_bytes(std::span(s.data(), s.size()))); };
    EXPECT_EQ(fmt(kEvil), "pickle");
    EXPECT_EQ(fmt(pb(R"(cos\nsystem\n(S'id'\ntR.)")), "pickle");  // protocol 0: no PROTO
    EXPECT_EQ(fmt("little"), "");                                     // a torch byteorder record
    EXPECT_EQ(fmt(input("benign.pt")), "pytorch-zip");
    EXPECT_EQ(fmt(input("legacy_benign.pt")), "pytorch-legacy");
    EXPECT_EQ(fmt(input("npz_object_payload.npz")), "npz");
    EXPECT_EQ(fmt(input("pickle.bz2")), "bz2");
    EXPECT_EQ(fmt(input("pickle.lzma")), "lzma");
    EXPECT_EQ(fmt(input("joblib_object_array_payload.joblib.z")), "zlib");
}

}  // namespace
}  // namespace pickleguard

namespace pickleguard {
namespace {

TEST(Detect, LongFirstOpcodeArgumentIsStillAPickle) {
    // A protocol 0 GLOBAL whose module line is longer than the sniffing
    // window must not make the file "not a pickle" (directory scans skip those).
    std::string p = "c" + std::string(70 * 1024, 'a') + "\nsystem\n(S'id'\ntR.";
    auto bytes = std::as_bytes(std::span(p.data(), p.size()));
    EXPECT_EQ(detect_format(bytes), "pickle");
    auto r = scan_file(bytes, load_shipped_policy("python").value(), {}, "long.pkl");
    EXPECT_EQ(r.verdict, verdict::unsafe);
}

TEST(Detect, TextThatStartsWithAnOpcodeLetterIsNotAPickle) {
    std::string t = "Some notes about the model\nand more lines\n";
    EXPECT_EQ(detect_format(std::as_bytes(std::span(t.data(), t.size()))), "");
}

}  // namespace
}  // namespace pickleguard
