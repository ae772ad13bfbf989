// decode_bench FILE... — how fast the decoder reads each file.
//
// Prints one JSON line per file: the best wall time of several decodes, the
// throughput, and the process's peak resident memory so far. The comparison
// with CPython's pickle.loads is done by tools/bench/run_bench.py.
#include "pickleguard/decode.hpp"
#include "pickleguard/input.hpp"

#include <chrono>
#include <malloc.h>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/resource.h>

int main(int argc, char** argv) {
    // Keep freed memory for the next decode instead of handing it back to the
    // kernel and faulting it in again, as CPython's arenas do (see README).
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    int repeat = 5;
    int first = 1;
    if (argc > 2 && std::string(argv[1]) == "--repeat") {
        repeat = std::atoi(argv[2]);
        first = 3;
    }
    if (first >= argc) {
        std::fprintf(stderr, "usage: decode_bench [--repeat N] FILE...\n");
        return 2;
    }
    for (int i = first; i < argc; ++i) {
        auto file = pickleguard::map_file(argv[i]);
        if (!file) {
            std::fprintf(stderr, "decode_bench: %s\n", pickleguard::describe(file.error()).c_str());
            return 2;
        }
        double best = 1e30;
        std::uint64_t opcodes = 0;
        bool ok = true;
        for (int r = 0; r < repeat; ++r) {
            auto t0 = std::chrono::steady_clock::now();
            pickleguard::decoding d = pickleguard::decode(file.value().bytes());
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best = std::min(best, s);
            opcodes = d.opcode_count;
            ok = !d.failure;
        }
        struct rusage ru {};
        getrusage(RUSAGE_SELF, &ru);
        double mb = static_cast<double>(file.value().bytes().size()) / 1e6;
        std::printf("{\"file\": \"%s\", \"ok\": %s, \"bytes\": %zu, \"opcodes\": %llu, \"seconds\": %.6f, "
                    "\"mb_per_s\": %.1f, \"peak_rss_kb\": %ld}\n",
                    argv[i], ok ? "true" : "false", file.value().bytes().size(),
                    static_cast<unsigned long long>(opcodes), best, mb / best, ru.ru_maxrss);
    }
    return 0;
}
