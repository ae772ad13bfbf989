// `pickleguard serve`: the scanner as an HTTP/1.1 service (docs/deployment.md),
// for upload gateways written in any language, as clamd is for ClamAV.
//
// One I/O thread runs every connection (Boost.Beast over Asio); the scans run
// on --jobs threads, each of which hands its request's bytes to a fresh
// sandboxed worker process (pickleguard/sandbox.hpp) and waits for its
// outcome, so that nothing of one upload is ever in the process that judges
// the next, and a worker that crashes or hangs is an `error` report for that
// request alone. The server itself never parses a pickle.
//
// Everything it holds is bounded: a request's header (16 KiB), a 64 KiB
// buffer per connection, the connections (--max-connections), and the bodies,
// which are streamed into an anonymous memory file (memfd) as they arrive and
// are at most --max-body bytes each, for at most --jobs + --queue requests at
// once: a request beyond that is refused with 503 before its body is read. A
// body announced as too long is refused with 413 before it is read; a chunked
// one as soon as it passes the limit.
#include "commands.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/json.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/rules.hpp"
#include "pickleguard/sandbox.hpp"
#include "pickleguard/version.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <unordered_set>
#include <vector>

namespace pickleguard::cli {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using local = net::local::stream_protocol;
using clock = std::chrono::steady_clock;

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kChunk = 64 * 1024;

// ---- metrics ------------------------------------------------------------------

// Prometheus text format (version 0.0.4). Updated from the I/O thread and
// the scan threads, so under a lock; a scrape is rare beside a scan.
class metrics {
public:
    void request(std::string_view endpoint, unsigned code) {
        std::lock_guard lock(m_);
        ++requests_[{std::string(endpoint), code}];
    }
    void verdict(std::string_view v) {
        std::lock_guard lock(m_);
        ++verdicts_[std::string(v)];
    }
    void error(std::string_view kind) {
        std::lock_guard lock(m_);
        ++errors_[std::string(kind)];
    }
    void worker_failure(bool timeout) {
        std::lock_guard lock(m_);
        ++(timeout ? timeouts_ : crashes_);
    }
    void latency(double seconds) {
        std::lock_guard lock(m_);
        for (std::size_t i = 0; i < kBuckets.size(); ++i)
            if (seconds <= kBuckets[i]) ++buckets_[i];
        ++count_;
        sum_ += seconds;
    }

    std::string text(std::size_t queued, std::size_t scanning, std::size_t connections, bool draining) const;

private:
    // What a scrape reads besides the counters: the server as it is now.
    struct server_state {
        std::size_t queued, scanning, connections;
        bool draining;
    };
    // A family's samples: what follows its name (a suffix, labels), and the value.
    using sample_list = std::vector<std::pair<std::string, std::string>>;
    // One metric family: its help and type lines, then its samples.
    struct family {
        const char* name;
        const char* help;
        const char* type;
        sample_list (*samples)(const metrics&, const server_state&);
    };
    static sample_list one(std::uint64_t n) { return {{"", std::to_string(n)}}; }
    static sample_list by_label(const char* label, const std::map<std::string, std::uint64_t>& counts) {
        sample_list out;
        for (const auto& [k, n] : counts) out.push_back({std::string("{") + label + "=\"" + k + "\"}", std::to_string(n)});
        return out;
    }
    static constexpr std::array<double, 15> kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,      2.5,   5,    10,    30,   60};
    mutable std::mutex m_;
    std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_;
    std::map<std::string, std::uint64_t> verdicts_, errors_;
    std::uint64_t crashes_ = 0, timeouts_ = 0;
    std::array<std::uint64_t, kBuckets.size()> buckets_{};
    std::uint64_t count_ = 0;
    double sum_ = 0;

    static const family kFamilies[];
};

// The families in the order a scrape lists them; text() writes each the same way.
const metrics::family metrics::kFamilies[] = {
    {"pickleguard_requests_total", "HTTP requests answered, by endpoint and status code.", "counter",
     [](const metrics& m, const server_state&) {
         sample_list out;
         for (const auto& [k, n] : m.requests_)
             out.push_back({"{endpoint=\"" + k.first + "\",code=\"" + std::to_string(k.second) + "\"}",
                            std::to_string(n)});
         return out;
     }},
    // Every verdict is listed, a zero too, so that a rate over it exists from the start.
    {"pickleguard_verdicts_total", "Files scanned, by verdict.", "counter",
     [](const metrics& m, const server_state&) {
         sample_list out;
         for (const char* v : {"safe", "unsafe", "error"}) {
             auto it = m.verdicts_.find(v);
             out.push_back({std::string("{verdict=\"") + v + "\"}",
                            std::to_string(it == m.verdicts_.end() ? 0 : it->second)});
         }
         return out;
     }},
    {"pickleguard_errors_total", "Requests that got no scan, by reason.", "counter",
     [](const metrics& m, const server_state&) { return by_label("kind", m.errors_); }},
    {"pickleguard_worker_crashes_total", "Sandboxed scanner processes that crashed or broke a limit.", "counter",
     [](const metrics& m, const server_state&) { return one(m.crashes_); }},
    {"pickleguard_worker_timeouts_total", "Sandboxed scanner processes stopped at the --timeout.", "counter",
     [](const metrics& m, const server_state&) { return one(m.timeouts_); }},
    {"pickleguard_queue_depth", "Uploads read whole and waiting for a scan thread.", "gauge",
     [](const metrics&, const server_state& now) { return one(now.queued); }},
    {"pickleguard_scans_in_progress", "Scans running in sandboxed workers.", "gauge",
     [](const metrics&, const server_state& now) { return one(now.scanning); }},
    {"pickleguard_connections", "Open client connections.", "gauge",
     [](const metrics&, const server_state& now) { return one(now.connections); }},
    {"pickleguard_draining", "1 once SIGTERM was received.", "gauge",
     [](const metrics&, const server_state& now) { return one(now.draining ? 1 : 0); }},
    {"pickleguard_scan_duration_seconds", "Time from a scan request's header to its report.", "histogram",
     [](const metrics& m, const server_state&) {
         sample_list out;
         for (std::size_t i = 0; i < kBuckets.size(); ++i) {
             char le[32];
             std::snprintf(le, sizeof le, "%g", kBuckets[i]);
             out.push_back({std::string("_bucket{le=\"") + le + "\"}", std::to_string(m.buckets_[i])});
         }
         out.push_back({"_bucket{le=\"+Inf\"}", std::to_string(m.count_)});
         char sum[64];
         std::snprintf(sum, sizeof sum, "%.6f", m.sum_);
         out.push_back({"_sum", sum});
         out.push_back({"_count", std::to_string(m.count_)});
         return out;
     }},
};

std::string metrics::text(std::size_t queued, std::size_t scanning, std::size_t connections, bool draining) const {
    std::lock_guard lock(m_);
    const server_state now{queued, scanning, connections, draining};
    std::string s;
    for (const family& f : kFamilies) {
        s += std::string("# HELP ") + f.name + " " + f.help + "\n";
        s += std::string("# TYPE ") + f.name + " " + f.type + "\n";
        for (const auto& [suffix, value] : f.samples(*this, now)) s += f.name + suffix + " " + value + "\n";
    }
    return s;
}

// ---- the scan threads -----------------------------------------------------------

// --jobs threads, each running one sandboxed scan at a time. The queue is
// bounded by admission (server::admit), not here.
class scan_threads {
public:
    explicit scan_threads(unsigned n) {
        for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
    }
    ~scan_threads() { stop(); }
    void post(std::function<void()> task) {
        {
            std::lock_guard lock(m_);
            tasks_.push_back(std::move(task));
        }
        cv_.notify_one();
    }
    // Runs what was posted, then ends the threads.
    void stop() {
        {
            std::lock_guard lock(m_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (std::thread& t : threads_)
            if (t.joinable()) t.join();
    }
    std::size_t queued() const {
        std::lock_guard lock(m_);
        return tasks_.size();
    }
    std::size_t running() const { return running_.load(); }

private:
    void loop() {
        while (true) {
            std::function<void()> task;
            {
                std::unique_lock lock(m_);
                cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
                if (tasks_.empty()) return;
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            ++running_;
            task();
            --running_;
        }
    }
    mutable std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> running_{0};
    bool stopping_ = false;
};

// ---- the server -------------------------------------------------------------------

struct named_policy {
    std::string name;  // as given to --policy, and as ?policy= chooses it
    policy p;
};

using response = http::response<http::string_body>;

class session_base {
public:
    virtual ~session_base() = default;
    virtual void drain() = 0;  // closes the connection if no request is in flight on it
};

class server {
public:
    server(net::io_context& io, const serve_args& args, std::vector<named_policy> policies)
        : io_(io), args_(args), policies_(std::move(policies)), threads_(args.jobs) {}

    net::io_context& io() { return io_; }
    const serve_args& args() const { return args_; }
    metrics& stats() { return stats_; }
    scan_threads& threads() { return threads_; }
    bool draining() const { return draining_; }

    const named_policy* find_policy(std::string_view name) const {
        if (name.empty()) return &policies_.front();
        for (const named_policy& p : policies_)
            if (p.name == name || p.p.name() == name) return &p;
        return nullptr;
    }
    const std::vector<named_policy>& policies() const { return policies_; }

    // A slot for one upload, from its header to its report; false when
    // --jobs + --queue are taken (503).
    bool admit() {
        if (admitted_ >= args_.jobs + args_.queue) return false;
        ++admitted_;
        return true;
    }
    void release() { --admitted_; }
    bool full() const { return admitted_ >= args_.jobs + args_.queue; }

    bool connect(session_base* s) {
        if (sessions_.size() >= args_.max_connections) return false;
        sessions_.insert(s);
        return true;
    }
    void disconnect(session_base* s) { sessions_.erase(s); }
    std::size_t connections() const { return sessions_.size(); }

    std::string metrics_text() const {
        return stats_.text(threads_.queued(), threads_.running(), sessions_.size(), draining_);
    }

    void start_drain() {
        draining_ = true;
        std::vector<session_base*> all(sessions_.begin(), sessions_.end());
        for (session_base* s : all) s->drain();
    }

private:
    net::io_context& io_;
    const serve_args& args_;
    std::vector<named_policy> policies_;
    metrics stats_;
    std::unordered_set<session_base*> sessions_;  // the I/O thread's only
    std::size_t admitted_ = 0;                     // the I/O thread's only
    bool draining_ = false;
    scan_threads threads_;  // last: joined first, while the rest still exists
};

std::string error_body(std::string_view message) {
    return "{\"error\": " + json_string_literal(message) + "}\n";
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// application/x-www-form-urlencoded, as a query string is; nullopt when an
// escape is broken.
std::optional<std::string> url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

struct target {
    std::string path;
    std::map<std::string, std::string> query;
    bool ok = true;
};

target parse_target(std::string_view t) {
    target out;
    std::size_t q = t.find('?');
    out.path = std::string(t.substr(0, q));
    if (q == std::string_view::npos) return out;
    std::string_view rest = t.substr(q + 1);
    while (!rest.empty()) {
        std::size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;
        std::size_t eq = pair.find('=');
        auto key = url_decode(pair.substr(0, eq));
        auto value = url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!key || !value) {
            out.ok = false;
            return out;
        }
        out.query[*key] = *value;
    }
    return out;
}

// What a request becomes once its scan is done: a report, as `scan --format
// json` writes it for that one file.
struct scan_result {
    unsigned status = 200;
    std::string body;
};

scan_result run_scan_request(server& srv, int fd, const std::string& name, const named_policy& np) {
    scan_options options;
    options.decode = srv.args().decode;
    // A request is always judged, as a file named on the command line is:
    // content we do not know is an error, never skipped.
    scan_function scan_one = [&](std::span<const std::byte> bytes, const scan_job& job) -> scan_outcome {
        return {scan_target(bytes, np.p, options, job.path), {}};
    };
    std::vector<scan_job> jobs{{name, true, fd}};
    pool_options pool = srv.args().pool(1);
    pool.start_timeout_seconds = srv.args().worker_start_timeout_seconds;
    auto scanned = scan_jobs(jobs, scan_one, pool, [](std::size_t, std::size_t) {});
    if (!scanned || scanned.value().empty()) {
        srv.stats().error("sandbox");
        return {500, error_body(scanned ? "no report" : scanned.error().reason)};
    }
    const file_report& r = scanned.value()[0].report;
    for (const finding& f : r.findings) {
        if (f.rule == rule::scanner_crashed) srv.stats().worker_failure(false);
        if (f.rule == rule::scan_timeout) srv.stats().worker_failure(true);
    }
    srv.stats().verdict(to_string(r.verdict));
    return {200, report_json({r}, {}, np.name)};
}

template <class Stream>
class session : public session_base, public std::enable_shared_from_this<session<Stream>> {
public:
    session(server& srv, Stream stream) : srv_(srv), stream_(std::move(stream)) {
        // Reads are as large as the buffer's free capacity: reserved, or a
        // body arrives a kilobyte per system call.
    }
    ~session() override {
        close_upload();
        if (registered_) srv_.disconnect(this);
    }

    void start() {
        registered_ = srv_.connect(this);
        if (!registered_) {
            // Answered and closed at once, without the linger of close():
            // a connection beyond --max-connections must cost nothing for
            // long, or a flood of them (each lingering two seconds) would
            // hold the memory and descriptors the limit is there to bound.
            lingering_ = true;
            srv_.stats().error("too_many_connections");
            respond_error(http::status::service_unavailable, "too many connections", true, "other", 1);
            return;
        }
        buffer_.reserve(kChunk);
        read_header();
    }

    void drain() override {
        if (idle_) {
            beast::error_code ec;
            beast::get_lowest_layer(stream_).socket().shutdown(net::socket_base::shutdown_both, ec);
            beast::get_lowest_layer(stream_).cancel();
        }
    }

private:
    void read_header() {
        if (srv_.draining()) return close();
        idle_ = true;
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(srv_.args().max_body);
        beast::get_lowest_layer(stream_).expires_after(io_timeout());
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                    self->on_header(ec);
                                });
    }

    std::chrono::steady_clock::duration io_timeout() const {
        return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(srv_.args().io_timeout_seconds));
    }

    void on_header(beast::error_code ec) {
        idle_ = false;
        if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::operation_aborted ||
            ec == net::error::connection_reset)
            return close();
        if (ec == beast::error::timeout) {
            // The stream has closed the socket (as Beast's timeouts do): an
            // idle keep-alive connection ends, a slow client is dropped.
            if (buffer_.size() != 0) srv_.stats().error("client_timeout");
            return close();
        }
        if (ec == http::error::body_limit) {
            srv_.stats().error("body_too_large");
            return respond_error(http::status::payload_too_large,
                                 "the body is longer than --max-body (" + std::to_string(srv_.args().max_body) +
                                     " bytes)",
                                 true, "scan");
        }
        if (ec == http::error::header_limit) {
            srv_.stats().error("bad_request");
            return respond_error(http::status::request_header_fields_too_large, "the header is over 16 KiB", true,
                                 "other");
        }
        if (ec) {
            srv_.stats().error("bad_request");
            return respond_error(http::status::bad_request, "malformed request: " + ec.message(), true, "other");
        }
        started_ = clock::now();
        auto& req = parser_->get();
        keep_alive_ = req.keep_alive();
        target t = parse_target(std::string_view(req.target().data(), req.target().size()));
        if (!t.ok) {
            srv_.stats().error("bad_request");
            return respond_error(http::status::bad_request, "malformed query string", true, "other");
        }
        bool has_body = parser_->chunked() || (parser_->content_length() && *parser_->content_length() > 0);
        if (t.path == "/v1/scan") return begin_scan(t);
        std::string endpoint = t.path == "/healthz" || t.path == "/readyz" || t.path == "/metrics" ||
                                       t.path == "/v1/policies"
                                   ? t.path.substr(t.path.rfind('/') + 1)
                                   : "other";
        if (endpoint == "other") return respond_error(http::status::not_found, "no such endpoint: " + t.path,
                                                      has_body, endpoint);
        if (req.method() != http::verb::get)
            return respond_error(http::status::method_not_allowed, t.path + " takes GET", true, endpoint, 0, "GET");
        if (has_body) return respond_error(http::status::bad_request, "a GET request has no body", true, endpoint);
        if (t.path == "/healthz" || t.path == "/readyz") {
            // healthz: the process serves. readyz: it also takes uploads now
            // (not draining, queue not full), for a load balancer's check.
            bool ready = !srv_.draining() && (t.path == "/healthz" || !srv_.full());
            std::string status = srv_.draining() ? "draining" : ready ? "ok" : "busy";
            return respond(ready ? http::status::ok : http::status::service_unavailable,
                           "{\"status\": \"" + status + "\", \"version\": \"" + std::string(version()) + "\"}\n",
                           "application/json", endpoint);
        }
        if (t.path == "/metrics")
            return respond(http::status::ok, srv_.metrics_text(), "text/plain; version=0.0.4; charset=utf-8",
                           endpoint);
        std::string body = "{\"default\": " + json_string_literal(srv_.policies().front().name) + ", \"policies\": [";
        for (std::size_t i = 0; i < srv_.policies().size(); ++i) {
            const named_policy& p = srv_.policies()[i];
            body += (i ? ", " : "") + std::string("{\"name\": ") + json_string_literal(p.name) +
                    ", \"description\": " + json_string_literal(p.p.description()) +
                    ", \"entries\": " + std::to_string(p.p.entries().size()) + "}";
        }
        body += "]}\n";
        respond(http::status::ok, body, "application/json", endpoint);
    }

    void begin_scan(const target& t) {
        auto& req = parser_->get();
        if (req.method() != http::verb::post)
            return respond_error(http::status::method_not_allowed, "/v1/scan takes POST", true, "scan", 0, "POST");
        if (!parser_->chunked() && !parser_->content_length()) {
            srv_.stats().error("bad_request");
            return respond_error(http::status::length_required,
                                 "the upload needs a Content-Length or chunked transfer encoding", true, "scan");
        }
        auto policy_it = t.query.find("policy");
        policy_ = srv_.find_policy(policy_it == t.query.end() ? std::string_view{} : policy_it->second);
        if (!policy_) {
            srv_.stats().error("bad_request");
            return respond_error(http::status::bad_request,
                                 "no policy '" + policy_it->second + "' on this server (GET /v1/policies)", true,
                                 "scan");
        }
        auto name_it = t.query.find("name");
        name_ = name_it == t.query.end() || name_it->second.empty() ? std::string("upload") : name_it->second;
        if (name_.size() > 4096 || name_.find('\0') != std::string::npos) {
            srv_.stats().error("bad_request");
            return respond_error(http::status::bad_request, "the name is over 4096 bytes or holds a NUL", true,
                                 "scan");
        }
        if (srv_.draining()) {
            srv_.stats().error("draining");
            return respond_error(http::status::service_unavailable, "the server is shutting down", true, "scan", 5);
        }
        if (!srv_.admit()) {
            srv_.stats().error("queue_full");
            return respond_error(http::status::service_unavailable,
                                 "every scanner is busy and the queue is full (--queue)", true, "scan", 1);
        }
        admitted_ = true;
        upload_ = ::memfd_create("pickleguard-upload", MFD_CLOEXEC);
        if (upload_ < 0) {
            srv_.stats().error("internal");
            return respond_error(http::status::internal_server_error,
                                 std::string("cannot hold the upload: memfd_create: ") + std::strerror(errno), true,
                                 "scan");
        }
        received_ = 0;
        if (beast::iequals(req[http::field::expect], "100-continue")) {
            // curl waits a second for this before it sends a large body.
            auto res = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
            beast::get_lowest_layer(stream_).expires_after(io_timeout());
            http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
                if (ec) return self->close();
                self->read_body();
            });
            return;
        }
        read_body();
    }

    void read_body() {
        // An empty upload (Content-Length: 0) is whole before any read: one
        // more read would wait for bytes that never come, holding the slot
        // until --io-timeout and answering nothing.
        if (parser_->is_done()) return scan_upload();
        parser_->get().body().data = chunk_.data();
        parser_->get().body().size = chunk_.size();
        // Each read must bring something within the I/O timeout; the whole
        // body within the timeout plus a second per MiB (a slow client
        // cannot hold a slot for ever by dripping bytes).
        auto now = clock::now();
        if (body_deadline_ == clock::time_point{}) body_deadline_ = now + io_timeout();
        if (now >= body_deadline_) return body_timed_out();
        beast::get_lowest_layer(stream_).expires_after(std::min(io_timeout(), body_deadline_ - now));
        http::async_read_some(stream_, buffer_, *parser_,
                              [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                                  self->on_body(ec);
                              });
    }

    // A body too slow is dropped without an answer: Beast's timeout has
    // closed the socket already (and a client that slow would not read one).
    void body_timed_out() {
        srv_.stats().error("client_timeout");
        close_upload();
        beast::get_lowest_layer(stream_).close();
    }

    void on_body(beast::error_code ec) {
        if (ec == http::error::need_buffer) ec = {};
        std::size_t got = chunk_.size() - parser_->get().body().size;
        if (got) {
            const char* p = chunk_.data();
            std::size_t left = got;
            while (left) {
                ssize_t w = ::write(upload_, p, left);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) {
                    srv_.stats().error("internal");
                    return respond_error(http::status::insufficient_storage, "cannot hold the upload in memory",
                                         true, "scan");
                }
                p += w;
                left -= static_cast<std::size_t>(w);
            }
            received_ += got;
            body_deadline_ += std::chrono::duration_cast<clock::duration>(
                std::chrono::duration<double>(static_cast<double>(got) / (1 << 20)));
        }
        if (ec == http::error::body_limit) {
            srv_.stats().error("body_too_large");
            return respond_error(http::status::payload_too_large,
                                 "the body is longer than --max-body (" + std::to_string(srv_.args().max_body) +
                                     " bytes)",
                                 true, "scan");
        }
        if (ec == beast::error::timeout) return body_timed_out();
        if (ec) {
            // The client went away mid-upload (or sent a broken chunk):
            // nothing is scanned, and there may be no one to tell.
            srv_.stats().error(ec == http::error::partial_message || ec == net::error::eof ||
                                       ec == http::error::end_of_stream || ec == net::error::connection_reset
                                   ? "truncated_upload"
                                   : "bad_request");
            return respond_error(http::status::bad_request, "the upload was cut short or malformed: " + ec.message(),
                                 true, "scan");
        }
        if (!parser_->is_done()) return read_body();
        scan_upload();
    }

    void scan_upload() {
        body_deadline_ = {};
        // The upload is whole: a scan thread runs it in a sandboxed worker,
        // and the I/O thread writes the report when it is done. The work
        // guard keeps the I/O loop alive meanwhile (a drain waits for it).
        auto guard = net::make_work_guard(srv_.io());
        srv_.threads().post([self = this->shared_from_this(), guard]() mutable {
            scan_result r = run_scan_request(self->srv_, self->upload_, self->name_, *self->policy_);
            // Moved, not copied: the session must end on the I/O thread,
            // which alone touches the server's connection and slot counts.
            net::io_context& io = self->srv_.io();
            net::post(io, [self = std::move(self), r = std::move(r), guard = std::move(guard)]() mutable {
                self->close_upload();
                self->srv_.stats().latency(std::chrono::duration<double>(clock::now() - self->started_).count());
                self->respond(static_cast<http::status>(r.status), std::move(r.body), "application/json", "scan");
                guard.reset();
            });
        });
    }

    void close_upload() {
        if (upload_ >= 0) ::close(upload_);
        upload_ = -1;
        if (admitted_) srv_.release();
        admitted_ = false;
    }

    void respond_error(http::status status, const std::string& message, bool close_after, std::string_view endpoint,
                       unsigned retry_after = 0, const char* allow = nullptr) {
        if (close_after) keep_alive_ = false;
        auto res = make_response(status, error_body(message), "application/json");
        if (retry_after) res->set(http::field::retry_after, std::to_string(retry_after));
        if (allow) res->set(http::field::allow, allow);
        send(std::move(res), endpoint);
    }

    void respond(http::status status, std::string body, const char* type, std::string_view endpoint) {
        send(make_response(status, std::move(body), type), endpoint);
    }

    std::shared_ptr<response> make_response(http::status status, std::string body, const char* type) {
        auto res = std::make_shared<response>(status, 11);
        res->set(http::field::server, "pickleguard/" + std::string(version()));
        res->set(http::field::content_type, type);
        res->body() = std::move(body);
        return res;
    }

    void send(std::shared_ptr<response> res, std::string_view endpoint) {
        close_upload();
        if (srv_.draining()) keep_alive_ = false;
        res->keep_alive(keep_alive_);
        res->prepare_payload();
        srv_.stats().request(endpoint, static_cast<unsigned>(res->result_int()));
        idle_ = false;
        // A client that stops reading holds its connection no longer than
        // the I/O timeout.
        beast::get_lowest_layer(stream_).expires_after(io_timeout());
        http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
            if (ec || !self->keep_alive_) return self->close();
            self->read_header();
        });
    }

    // Ends the connection. After an answer given before the request was read
    // whole (413, 503, 400), what the client is still sending is read and
    // dropped for up to two seconds first: closing a socket with unread data
    // resets it, and the client would lose the answer.
    void close() {
        close_upload();
        beast::error_code ec;
        auto& s = beast::get_lowest_layer(stream_);
        s.socket().shutdown(net::socket_base::shutdown_send, ec);
        if (!lingering_ && s.socket().is_open() && !srv_.draining()) {
            lingering_ = true;
            linger_until_ = clock::now() + std::chrono::seconds(2);
            return linger();
        }
        if (!registered_ && s.socket().is_open()) {
            // What the client already sent is dropped without waiting for
            // more, so that the 503 is not lost to a reset.
            s.socket().non_blocking(true, ec);
            while (!ec && s.socket().read_some(net::buffer(chunk_), ec) > 0) {
            }
        }
        s.close();
    }

    void linger() {
        auto now = clock::now();
        auto& s = beast::get_lowest_layer(stream_);
        if (now >= linger_until_) return s.close();
        s.expires_after(linger_until_ - now);
        s.async_read_some(net::buffer(chunk_), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return beast::get_lowest_layer(self->stream_).close();
            self->linger();
        });
    }

    server& srv_;
    Stream stream_;
    beast::flat_buffer buffer_{kHeaderLimit + kChunk};
    std::optional<http::request_parser<http::buffer_body>> parser_;
    std::array<char, kChunk> chunk_{};
    int upload_ = -1;
    std::uint64_t received_ = 0;
    bool admitted_ = false, registered_ = false, keep_alive_ = true, idle_ = false, lingering_ = false;
    clock::time_point started_{}, body_deadline_{}, linger_until_{};
    const named_policy* policy_ = nullptr;
    std::string name_;
};

template <class Protocol>
class listener : public std::enable_shared_from_this<listener<Protocol>> {
public:
    using acceptor_type = typename Protocol::acceptor;
    using stream_type = beast::basic_stream<Protocol>;
    listener(server& srv, acceptor_type acceptor) : srv_(srv), acceptor_(std::move(acceptor)) {}
    void accept() {
        acceptor_.async_accept([self = this->shared_from_this()](beast::error_code ec, typename Protocol::socket s) {
            if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
            if (!ec) {
                std::make_shared<session<stream_type>>(self->srv_, stream_type(std::move(s)))->start();
                return self->accept();
            }
            // Out of descriptors (EMFILE) or memory: the connection stays in
            // the backlog, and accepting again at once would spin the I/O
            // thread until a descriptor is freed. A pause lets it serve.
            self->retry_.expires_after(std::chrono::milliseconds(50));
            self->retry_.async_wait([self](beast::error_code wait_ec) {
                if (!wait_ec) self->accept();
            });
        });
    }
    void stop() {
        beast::error_code ec;
        acceptor_.close(ec);
        retry_.cancel();
    }

private:
    server& srv_;
    acceptor_type acceptor_;
    net::steady_timer retry_{acceptor_.get_executor()};
};

// "unix:PATH", "HOST:PORT" or "[V6]:PORT".
struct listen_address {
    bool unix_socket = false;
    std::string path;
    tcp::endpoint endpoint;
};

std::optional<listen_address> parse_listen(const std::string& text, std::string& why) {
    listen_address a;
    if (text.rfind("unix:", 0) == 0) {
        a.unix_socket = true;
        a.path = text.substr(5);
        if (a.path.empty() || a.path.size() >= sizeof(sockaddr_un::sun_path)) {
            why = "a Unix socket path must be 1 to " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
            return std::nullopt;
        }
        return a;
    }
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
        why = "expected unix:PATH or HOST:PORT";
        return std::nullopt;
    }
    std::string host = text.substr(0, colon), port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    beast::error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec) {
        why = "'" + host + "' is not an IP address (give one: the server resolves no names)";
        return std::nullopt;
    }
    unsigned long p = 0;
    try {
        std::size_t used = 0;
        p = std::stoul(port, &used);
        if (used != port.size() || p > 65535) throw std::out_of_range("port");
    } catch (...) {
        why = "'" + port + "' is not a port number";
        return std::nullopt;
    }
    a.endpoint = tcp::endpoint(addr, static_cast<unsigned short>(p));
    return a;
}

}  // namespace

std::string socket_mode_error(const std::string& text) {
    if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos ||
        std::stoul(text, nullptr, 8) > 0777)
        return "'" + text + "' is not a file mode: give octal permissions, 0 to 0777 (e.g. 0660)";
    return {};
}

int run_serve(serve_args args) {
    if (args.listen.empty()) args.listen.push_back("127.0.0.1:" + std::to_string(kDefaultServePort));
    if (args.jobs == 0) args.jobs = available_cores();
    if (args.policies.empty()) args.policies.push_back("default");
    std::vector<named_policy> policies;
    for (const std::string& given : args.policies) {
        std::string name;
        auto p = load_policy_options({given}, name);
        if (!p) {
            std::fprintf(stderr, "pickleguard serve: %s\n", p.error().reason.c_str());
            return kExitError;
        }
        policies.push_back({name, std::move(p).value()});
    }
    // The worker pool's test hooks match a file's base name, which here is
    // the request's ?name=: set, they let any client crash a worker or spin
    // it for --timeout. They only ever make error reports, never a verdict
    // of safe, but a server must not run with them unnoticed.
    for (const char* hook : {"PICKLEGUARD_TEST_CRASH_ON", "PICKLEGUARD_TEST_HANG_ON", "PICKLEGUARD_TEST_OPEN_ON"})
        if (const char* v = std::getenv(hook); v && *v)
            std::fprintf(stderr,
                         "pickleguard serve: warning: %s is set: a request named '%s' (?name=) makes its worker "
                         "fail; a test hook, never for production (SECURITY.md)\n",
                         hook, v);
    // Parsed here, before any worker is forked, so that no worker pays for
    // it per request (a fresh worker scans each upload).
    (void)shipped_knowledge_base().size();

    // Asio's signal handling needs these blocked in no thread; SIGPIPE is
    // ignored so that a client gone mid-write is an error code, not death.
    std::signal(SIGPIPE, SIG_IGN);
    net::io_context io(1);
    server srv(io, args, std::move(policies));
    std::vector<std::function<void()>> stoppers;
    std::vector<std::string> unix_paths;
    for (const std::string& text : args.listen) {
        std::string why;
        auto a = parse_listen(text, why);
        if (!a) {
            std::fprintf(stderr, "pickleguard serve: --listen %s: %s\n", text.c_str(), why.c_str());
            return kExitError;
        }
        beast::error_code ec;
        if (a->unix_socket) {
            // A socket file left by a server that died is replaced; anything
            // else at that path is not touched.
            struct stat st {};
            if (::lstat(a->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(a->path.c_str());
            local::acceptor acc(io);
            acc.open(local(), ec);
            if (!ec) {
                // bind(2) creates the socket file 0777 less the umask, and
                // whoever may write to it may ask for scans: created under
                // the umask that leaves exactly --socket-mode, so there is
                // no moment at which it is more open (a chmod after bind
                // would leave one, and follow a link put at the path).
                auto mode = static_cast<mode_t>(std::stoul(args.socket_mode, nullptr, 8));
                mode_t was = ::umask(~mode & 0777);
                acc.bind(local::endpoint(a->path), ec);
                ::umask(was);
            }
            if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
            if (ec) {
                std::fprintf(stderr, "pickleguard serve: cannot listen on %s: %s\n", text.c_str(), ec.message().c_str());
                return kExitError;
            }
            unix_paths.push_back(a->path);
            std::fprintf(stderr, "pickleguard serve: listening on unix:%s\n", a->path.c_str());
            auto l = std::make_shared<listener<local>>(srv, std::move(acc));
            l->accept();
            stoppers.push_back([l] { l->stop(); });
        } else {
            tcp::acceptor acc(io);
            acc.open(a->endpoint.protocol(), ec);
            if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
            if (!ec) acc.bind(a->endpoint, ec);
            if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
            if (ec) {
                std::fprintf(stderr, "pickleguard serve: cannot listen on %s: %s\n", text.c_str(), ec.message().c_str());
                return kExitError;
            }
            tcp::endpoint bound = acc.local_endpoint(ec);
            std::string host = bound.address().to_string();
            if (bound.address().is_v6()) host = "[" + host + "]";
            std::fprintf(stderr, "pickleguard serve: listening on http://%s:%u%s\n", host.c_str(),
                         static_cast<unsigned>(bound.port()),
                         bound.address().is_loopback() ? "" : " (not loopback: reachable from the network)");
            auto l = std::make_shared<listener<tcp>>(srv, std::move(acc));
            l->accept();
            stoppers.push_back([l] { l->stop(); });
        }
    }
    std::fprintf(stderr, "pickleguard serve: ready (%u scanners, queue %u, max body %llu bytes)\n", args.jobs,
                 args.queue, static_cast<unsigned long long>(args.max_body));
    std::fflush(stderr);

    // SIGTERM (and SIGINT): stop accepting, finish the requests in flight,
    // close idle connections, exit 0.
    net::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](beast::error_code ec, int sig) {
        if (ec) return;
        std::fprintf(stderr, "pickleguard serve: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        for (auto& stop : stoppers) stop();
        stoppers.clear();
        srv.start_drain();
    });
    io.run();
    srv.threads().stop();
    for (const std::string& p : unix_paths) ::unlink(p.c_str());
    std::fprintf(stderr, "pickleguard serve: stopped\n");
    return kExitOk;
}

}  // namespace pickleguard::cli
