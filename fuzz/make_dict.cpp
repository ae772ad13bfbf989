// Writes the libFuzzer dictionary fuzz/pickle.dict from the opcode table, so
// the fuzzers know every opcode byte and the magic bytes of every container
// pickles travel in. `make_dict --check FILE` fails when FILE is not what it
// would write (a ctest, so a new opcode row cannot leave the dictionary behind).
#include "pickleguard/opcodes.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

namespace {

// libFuzzer dictionary syntax: printable ASCII as is, the rest as \xNN.
std::string quoted(std::string_view bytes) {
    std::string out = "\"";
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02X", c);
            out += hex;
        }
    }
    return out + "\"";
}

std::string dictionary() {
    std::ostringstream out;
    out << "# libFuzzer dictionary for pickleguard, written by fuzz/make_dict.cpp from the\n"
           "# opcode table (lib/src/decode/opcode_table.hpp). Do not edit: regenerate with\n"
           "#   build-fuzz/fuzz/make_dict > fuzz/pickle.dict\n\n"
           "# One entry per opcode byte.\n";
    for (const pickleguard::opcode_info& op : pickleguard::all_opcodes())
        out << "op_" << op.name << "=" << quoted(std::string(1, static_cast<char>(op.code))) << "\n";

    struct entry {
        const char* name;
        std::string_view bytes;
    };
    using namespace std::string_view_literals;
    static const entry extras[] = {
        // Openings as pickle.dumps writes them: PROTO n, then FRAME with its 8-byte length.
        {"proto_2", "\x80\x02"sv},
        {"proto_3", "\x80\x03"sv},
        {"proto_4_frame", "\x80\x04\x95"sv},
        {"proto_5_frame", "\x80\x05\x95"sv},
        {"empty_dict_memoize", "}\x94"sv},
        {"stop", "."sv},
        // Globals the judge treats specially, as GLOBAL spells them.
        {"global_builtins", "c__builtin__\n"sv},
        {"global_os_system", "cos\nsystem\n"sv},
        {"name_builtins", "builtins"sv},
        {"name_reconstruct", "numpy.core.multiarray\n_reconstruct\n"sv},
        {"name_torch_rebuild", "torch._utils\n_rebuild_tensor_v2\n"sv},
        {"persid_storage", "storage"sv},
        // Containers (detected by content).
        {"zip_local", "PK\x03\x04"sv},
        {"zip_central", "PK\x01\x02"sv},
        {"zip_end", "PK\x05\x06"sv},
        {"zip64_end", "PK\x06\x06"sv},
        {"zip_data_pkl", "archive/data.pkl"sv},
        {"zip_constants_pkl", "archive/constants.pkl"sv},
        {"npy_magic", "\x93NUMPY"sv},
        {"npy_header", "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"sv},
        {"gzip_magic", "\x1f\x8b\x08"sv},
        {"bz2_magic", "BZh9"sv},
        {"xz_magic", "\xfd" "7zXZ\x00"sv},
        {"lzma_alone", "\x5d\x00\x00\x80\x00"sv},
        {"zstd_magic", "\x28\xb5\x2f\xfd"sv},
        {"lz4_magic", "\x04\x22\x4d\x18"sv},
        {"sevenzip_magic", "7z\xbc\xaf\x27\x1c"sv},
        {"tar_ustar", "ustar\x00" "00"sv},
        {"torch_legacy_magic", "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"sv},
        {"joblib_zf", "ZF0x"sv},
    };
    out << "\n# Prefixes, names and container magic bytes.\n";
    for (const entry& e : extras) out << e.name << "=" << quoted(e.bytes) << "\n";
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::string dict = dictionary();
    if (argc == 3 && std::string_view(argv[1]) == "--check") {
        std::ifstream in(argv[2], std::ios::binary);
        std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (have == dict) return 0;
        std::fprintf(stderr, "%s is out of date with the opcode table: regenerate it with make_dict\n", argv[2]);
        return 1;
    }
    std::fwrite(dict.data(), 1, dict.size(), stdout);
    return 0;
}
