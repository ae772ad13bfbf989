// The text report goes to a terminal, and much of what it prints was chosen
// by whoever made the file: its path, archive entry names, the global names
// in messages. None of it may reach the terminal as a control sequence.
#include "pickleguard/report.hpp"

#include <gtest/gtest.h>

namespace pickleguard {
namespace {

// An entry named to erase the unsafe line and print a safe one over it.
TEST(ReportText, EscapeSequencesInNamesAndMessagesArePrintedAsText) {
    file_report r;
    r.path = "up\x1b[1Aload.pkl";
    r.verdict = verdict::unsafe;
    finding f;
    f.rule = "global-not-allowed";
    f.member = location{}.member("a\x1b[2K\rsafe    model.pkl\n");
    f.message = std::string("os.system\x9b is not allowed \xc2\x9b") + "\x7f";
    r.findings.push_back(f);
    const std::string text = report_text({r}, {{"x\x07y", "bell\x1b"}}, {.verbose = true});
    for (char c : text) {
        const auto b = static_cast<unsigned char>(c);
        EXPECT_TRUE(b == '\n' || (b >= 0x20 && b != 0x7f && b != 0x9b)) << "raw byte " << int(b) << " in:\n" << text;
    }
    EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos) << "a C1 control (CSI) as UTF-8";
    EXPECT_NE(text.find("up\\x1b[1Aload.pkl"), std::string::npos) << text;
    EXPECT_NE(text.find("a\\x1b[2K\\x0dsafe    model.pkl\\x0a: "), std::string::npos) << text;
    EXPECT_NE(text.find("os.system\\x9b is not allowed \\u009b\\x7f"), std::string::npos) << text;
    EXPECT_NE(text.find("skipped x\\x07y: bell\\x1b"), std::string::npos) << text;
}

TEST(ReportText, PrintableKeepsUtf8Text) {
    EXPECT_EQ(printable("données/modèle.pkl → 日本"), "données/modèle.pkl → 日本");
    EXPECT_EQ(printable("\xe6\x97"), "\\xe6\\x97");  // a cut sequence is bytes, not text
    EXPECT_EQ(printable("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
}

}  // namespace
}  // namespace pickleguard
