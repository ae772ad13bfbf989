// A one-line progress count on stderr for long scans, as ripgrep-style
// tools do: only on a terminal, only once a scan is long (more than 100
// files, or running over a second), redrawn at most ten times a second, and
// erased at the end so the report starts on a clean line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <unistd.h>

namespace pickleguard::cli {

class progress_line {
public:
    explicit progress_line(std::size_t total, bool enabled = ::isatty(2) != 0) : total_(total), enabled_(enabled) {}
    ~progress_line() { finish(); }
    progress_line(const progress_line&) = delete;
    progress_line& operator=(const progress_line&) = delete;

    void update(std::size_t done, std::size_t unsafe) {
        if (!enabled_) return;
        auto now = std::chrono::steady_clock::now();
        if (!shown_ && total_ <= 100 && now - start_ < std::chrono::seconds(1)) return;
        if (shown_ && done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        shown_ = true;
        std::fprintf(stderr, "\rscanned %zu/%zu %s, %zu unsafe\033[K", done, total_, total_ == 1 ? "file" : "files",
                     unsafe);
        std::fflush(stderr);
    }

    void finish() {
        if (shown_) std::fputs("\r\033[K", stderr);
        shown_ = false;
    }

private:
    std::size_t total_;
    bool enabled_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace pickleguard::cli
