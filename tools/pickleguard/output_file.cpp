// Where a subcommand's output goes (commands.hpp, write_output).
#include "commands.hpp"

#include <cstdio>

namespace pickleguard::cli {

bool write_output(const std::string& path, std::string_view text) {
    if (path.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        return true;
    }
    FILE* f = std::fopen(path.c_str(), "wb");
    bool ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f && std::fclose(f) != 0) ok = false;  // a full disk shows at the last flush
    if (!ok) std::fprintf(stderr, "pickleguard: cannot write %s\n", path.c_str());
    return ok;
}

}  // namespace pickleguard::cli
