// journeyctl deliver: the sender. Claims messages from the outbox
// (journey.claim_messages), delivers e-mail over SMTP and any channel over
// HTTP webhooks (libcurl), and reports each outcome (journey.complete_message).
// Per channel: N workers, each with its own database connection and its own
// SMTP/HTTP connection, sharing a rate limit. Transient failures (SMTP 4xx,
// HTTP 5xx/408/429, timeouts, refused connections) are retried with
// exponential backoff; permanent ones (SMTP 5xx, other HTTP 4xx) and
// exhausted retries complete the message as failed. docs/delivery.md.
#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/delivery.hpp"
#include "cli/journeyctl.hpp"

#ifndef PGJ_VERSION
#define PGJ_VERSION "dev"
#endif

namespace pgj::cli {
namespace {

using namespace std::chrono;
using delivery::read_config;

std::atomic<int> g_signals{0};  // 1: finish what is claimed and stop; 2: stop now

void on_deliver_signal(int) {
  g_signals.fetch_add(1);
}
bool stopping() {
  return g_signals.load() >= 1;
}
bool stopping_now() {
  return g_signals.load() >= 2;
}

// Sleeps up to d, waking early when `wake` says so (checked every 50 ms).
template <typename F>
void sleep_unless(milliseconds d, F wake) {
  auto until = steady_clock::now() + d;
  while (!wake() && steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<milliseconds>(
        milliseconds(50), duration_cast<milliseconds>(until - steady_clock::now())));
}

// Options from the command line, else from the configuration file (--config).
struct Settings {
  Context& ctx;
  std::multimap<std::string, std::string> file;

  std::optional<std::string> get(const std::string& name) const {
    if (auto v = ctx.option(name)) return v;
    std::optional<std::string> last;
    for (auto [a, b] = file.equal_range(name); a != b; ++a) last = a->second;
    return last;
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> v = ctx.option_values(name);
    if (!v.empty()) return v;
    for (auto [a, b] = file.equal_range(name); a != b; ++a) v.push_back(a->second);
    return v;
  }
  bool flag(const std::string& name) const {
    if (ctx.flag(name)) return true;
    auto v = get(name);
    return v && (*v == "" || *v == "true" || *v == "yes" || *v == "on" || *v == "1");
  }
  long number(const std::string& name, long lo, long hi, long fallback) const {
    auto v = get(name);
    if (!v) return fallback;
    char* end = nullptr;
    long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end || n < lo || n > hi)
      throw usage_error("--" + name + " must be a whole number from " + std::to_string(lo) +
                        " to " + std::to_string(hi) + ", not \"" + *v + "\"");
    return n;
  }
};

// "CHANNEL=VALUE" or "VALUE" (for every channel) options.
std::map<std::string, std::string> per_channel(const std::vector<std::string>& values,
                                               const std::string& option) {
  std::map<std::string, std::string> out;
  for (const std::string& v : values) {
    size_t eq = v.find('=');
    if (eq == std::string::npos)
      out["*"] = v;
    else if (eq == 0)
      throw usage_error("--" + option + " " + v + ": the channel name is missing");
    else
      out[v.substr(0, eq)] = v.substr(eq + 1);
  }
  return out;
}

// Spaces requests of one channel out to at most `per_second` (0: no limit).
class RateLimit {
 public:
  explicit RateLimit(double per_second) : interval_(per_second > 0 ? 1.0 / per_second : 0) {}
  // Waits for the next slot; false when told to stop now while waiting.
  bool acquire() {
    if (interval_ <= 0) return true;
    steady_clock::time_point slot;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto now = steady_clock::now();
      if (next_ < now) next_ = now;
      slot = next_;
      next_ += duration_cast<steady_clock::duration>(duration<double>(interval_));
    }
    while (steady_clock::now() < slot) {
      if (stopping_now()) return false;
      std::this_thread::sleep_for(
          std::min<steady_clock::duration>(milliseconds(50), slot - steady_clock::now()));
    }
    return true;
  }

 private:
  double interval_;
  std::mutex mutex_;
  steady_clock::time_point next_{};
};

// The database trouble of one channel's workers, told once: a worker reports
// each failure here, a line is printed when its text changes or a minute has
// passed, and one line when the database answers again.
class Outage {
 public:
  void failed(const std::string& channel, const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = steady_clock::now();
    if (!failing_) since_ = now;
    failing_ = true;
    if (what == last_ && now - printed_ < seconds(60)) return;
    std::cerr << "journeyctl deliver: " << channel << ": " << what << std::endl;
    last_ = what;
    printed_ = now;
  }
  void recovered(const std::string& channel) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failing_) return;
    failing_ = false;
    last_.clear();
    std::cerr << "journeyctl deliver: " << channel << ": the database answers again (after "
              << duration_cast<seconds>(steady_clock::now() - since_).count() << " s)" << std::endl;
  }

 private:
  std::mutex mutex_;
  bool failing_ = false;
  std::string last_;
  steady_clock::time_point since_, printed_;
};

struct Channel {
  std::string name;
  std::string webhook;  // empty: SMTP (the email channel only)
  int concurrency = 4;
  double rate = 0;  // messages per second, 0: unlimited
  std::unique_ptr<RateLimit> limit;
  std::unique_ptr<Outage> outage = std::make_unique<Outage>();
};

struct Config {
  std::string conninfo;
  std::vector<Channel> channels;
  // SMTP
  std::string smtp_url;
  long use_ssl = CURLUSESSL_TRY;
  std::string smtp_user, smtp_password, ca_file;
  std::string from, unsubscribe_mailto;
  // webhooks
  std::string webhook_secret;
  // tracking
  std::string tracking_base;
  std::vector<std::string> tracking_secrets;
  bool track_opens = true, track_clicks = true;
  // loop
  int batch = 10;
  int max_attempts = 5;
  long backoff_ms = 1000, max_backoff_ms = 60000;
  long timeout_ms = 30000;
  long poll_ms = 1000;
  long requeue_after_s = 900;
  long progress_s = 10;
  bool exit_when_idle = false;
  // Database calls failing that long in a row (claims, reports) end the run
  // with exit 1 (server errors) or 3 (no connection); 0: never. 60 with
  // --exit-when-idle, so that a scripted run does not hang while a node is down.
  long give_up_s = 0;
};

// Why a run ended early: the message and the exit status.
struct Fatal {
  std::mutex mutex;
  std::string message;
  int code = kServerError;
};

// Thrown by a worker whose database calls failed for --give-up-after seconds.
struct GiveUp : std::runtime_error {
  GiveUp(const std::string& m, int c) : std::runtime_error(m), code(c) {}
  int code;
};

// The wait before the next try after n failures in a row: 1, 2, 4, 8, 16,
// then 30 s.
milliseconds db_backoff(int failures) {
  return milliseconds(std::min(30000L, 1000L << std::min(std::max(failures - 1, 0), 5)));
}

struct Stats {
  std::atomic<long> sent{0}, failed{0}, retried{0}, claimed{0};
  std::atomic<long> claim_us{0}, complete_us{0}, deliver_us{0};
};

// What one attempt came to.
struct Outcome {
  enum Kind { Ok, Transient, Permanent, Fatal };
  Outcome(Kind k = Ok, std::string e = "", long retry_after = 0, std::string b = "", long code = 0)
      : kind(k),
        error(std::move(e)),
        retry_after_ms(retry_after),
        bounce(std::move(b)),
        smtp_code(code) {}
  Kind kind;
  std::string error;
  long retry_after_ms;  // from a 429/503 Retry-After, when given
  // SMTP: the recipient's server refused the recipient (RCPT): "hard" for a
  // 5xx, "soft" for a 4xx past --max-attempts; reported as message event
  // "bounced" (a hard bounce suppresses the address).
  std::string bounce;
  long smtp_code;
  // The SMTP relay could not be reached at all (connection refused, unknown
  // host): the message never left, so the attempt does not count against
  // --max-attempts; it is retried with backoff until the relay is back (or
  // the sender stops, leaving it claimed for requeue_claimed).
  bool unreachable = false;
};

size_t read_message(char* buffer, size_t size, size_t n, void* user) {
  auto* s = static_cast<std::pair<const std::string*, size_t>*>(user);
  size_t left = s->first->size() - s->second;
  size_t len = std::min(left, size * n);
  std::memcpy(buffer, s->first->data() + s->second, len);
  s->second += len;
  return len;
}

size_t write_body(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() < 4096) body->append(data, std::min(size * n, 4096 - body->size()));
  return size * n;
}

size_t read_header(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  if (strncasecmp(line.c_str(), "Retry-After:", 12) == 0)
    *static_cast<long*>(user) = std::atol(line.c_str() + 12) * 1000;
  return size * n;
}

// Text of a JSON field that may be missing or null.
std::string text_of(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// One worker: a database connection and a curl handle, delivering one channel.
class Worker {
 public:
  Worker(const Config& config, Channel& channel, Stats& stats, std::atomic<int>& running,
         Fatal& fatal)
      : c_(config), ch_(channel), stats_(stats), running_(running), fatal_(fatal) {}

  void run() {
    CURL* curl = curl_easy_init();
    try {
      loop(curl);
    } catch (const GiveUp& e) {
      set_fatal(e.what(), e.code);
    } catch (const std::exception& e) {
      set_fatal(e.what());
    }
    curl_easy_cleanup(curl);
    holding_since_ms_ = 0;
    running_.fetch_sub(1);
  }

  // Milliseconds since this worker claimed the messages it still holds
  // (delivering them or reporting their outcomes), 0 when it holds none: the
  // requeue waits while a worker holds claims about --requeue-after old, so
  // that this sender never hands out again what it delivered but has not
  // reported yet.
  int64_t held_for_ms() const {
    int64_t since = holding_since_ms_.load();
    return since == 0 ? 0 : std::max<int64_t>(now_ms() - since, 1);
  }

 private:
  static int64_t now_ms() {
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count() + 1;
  }

  void set_fatal(const std::string& m, int code = kServerError) {
    std::lock_guard<std::mutex> lock(fatal_.mutex);
    if (fatal_.message.empty()) {
      fatal_.message = m;
      fatal_.code = code;
    }
    g_signals.store(std::max(g_signals.load(), 1));
  }

  // A database call failed: lost connections are dropped (the next call opens
  // a new one), the failure is told once per channel, and the worker waits
  // before the next try. False when it is not worth retrying (the caller
  // rethrows it) or when `stop` says so meanwhile; throws GiveUp after
  // --give-up-after seconds of failures in a row (`since`: when this run of
  // failures began).
  bool db_failed(const std::exception& e, const std::string& what,
                 std::optional<steady_clock::time_point>& since, int& failures, bool (*stop)()) {
    delivery::DbFailure f = delivery::db_failure(e, db_.get());
    if (f.lost) db_.reset();
    if (!f.transient) return false;
    auto now = steady_clock::now();
    if (!since) since = now;
    long failing_s = duration_cast<seconds>(now - *since).count();
    if (c_.give_up_s > 0 && failing_s >= c_.give_up_s)
      throw GiveUp(ch_.name + ": " + what + " failed for " + std::to_string(failing_s) +
                       " s (--give-up-after " + std::to_string(c_.give_up_s) + "): " + f.message,
                   f.lost ? kConnection : kServerError);
    ch_.outage->failed(ch_.name,
                       f.lost ? what + ": lost the database connection; reconnecting: " + f.message
                              : what + " failed (the database connection is fine): " + f.message +
                                    "; trying again");
    milliseconds wait = db_backoff(++failures);
    if (c_.give_up_s > 0)
      wait = std::min(wait, duration_cast<milliseconds>(seconds(c_.give_up_s - failing_s)));
    sleep_unless(wait, stop);
    return !stop();
  }

  // Claims, delivers and completes until told to stop (or idle with --exit-when-idle).
  void loop(CURL* curl) {
    std::optional<steady_clock::time_point> failing_since;  // claims failing since
    int failures = 0;
    while (!stopping()) {
      auto t0 = steady_clock::now();
      std::vector<Json> batch;
      pqxx::result r;
      try {
        if (!db_) connect();
        pqxx::work tx(*db_);
        r = tx.exec_params("SELECT to_jsonb(m)::text FROM journey.claim_messages($1, $2) m",
                           ch_.name, c_.batch);
        tx.commit();
      } catch (const std::exception& e) {
        // The database went away (a restart, a failover, the coordinator of a
        // Citus cluster killed): claim again once it is back; a claim that did
        // commit meanwhile is given back by requeue_claimed. Or the server
        // failed the claim on a live connection (a Citus worker node down):
        // its message names the node; claim again on the same connection.
        // Anything else (no privilege, no pg_journey) ends the run.
        if (!db_failed(e, "claiming", failing_since, failures, stopping)) {
          if (stopping()) break;
          throw;
        }
        continue;
      }
      if (failing_since) ch_.outage->recovered(ch_.name);
      failing_since.reset();
      failures = 0;
      for (const auto& row : r) batch.push_back(Json::parse(row[0].c_str()));
      if (!batch.empty()) holding_since_ms_ = now_ms();
      stats_.claim_us += duration_cast<microseconds>(steady_clock::now() - t0).count();
      stats_.claimed += static_cast<long>(batch.size());
      if (batch.empty()) {
        if (c_.exit_when_idle) return;
        sleep_unless(milliseconds(c_.poll_ms), stopping);
        continue;
      }
      // Every message claimed is delivered (or left claimed on a second signal).
      // Outcomes are reported together, at the end of the batch or when the
      // oldest has waited 100 ms (one transaction for many messages).
      for (const Json& m : batch) {
        if (stopping_now()) break;
        Outcome o = deliver_with_retries(curl, m);
        if (o.kind == Outcome::Fatal) {
          set_fatal(o.error);
          break;  // left claimed: requeue_claimed gives it back
        }
        if (o.kind == Outcome::Transient && stopping()) continue;  // left claimed, see above
        if (outcomes_.empty()) oldest_ = steady_clock::now();
        outcomes_.emplace_back(m["id"].get<int64_t>(), std::move(o));
        if (steady_clock::now() - oldest_ >= milliseconds(100)) flush();
      }
      flush();
      holding_since_ms_ = 0;
      if (stopping_now()) return;  // a fatal error or a signal also ends the while loop
    }
  }

  // Reports the outcomes delivered so far in one transaction; one by one when
  // that fails (a message no longer claimed).
  void flush() {
    if (outcomes_.empty()) return;
    std::vector<std::pair<int64_t, Outcome>> list;
    list.swap(outcomes_);
    Json all = Json::array();
    bool bounces = false;
    for (auto& [id, o] : list) {
      bool ok = o.kind == Outcome::Ok;
      all.push_back(
          {{"id", id}, {"ok", ok}, {"error", ok ? Json() : Json(o.error.substr(0, 1000))}});
      bounces = bounces || !o.bounce.empty();
    }
    if (list.size() > 1 && !bounces) {
      try {
        auto t0 = steady_clock::now();
        if (!db_) connect();
        pqxx::work tx(*db_);
        tx.exec_prepared("complete_all", all.dump());
        tx.commit();
        stats_.complete_us += duration_cast<microseconds>(steady_clock::now() - t0).count();
        for (auto& [id, o] : list) (o.kind == Outcome::Ok ? stats_.sent : stats_.failed) += 1;
        return;
      } catch (const std::exception&) {
        // One by one below; complete() judges the connection and reconnects
        // (after a COMMIT of unknown outcome, one that did commit is then
        // "not claimed").
      }
    }
    for (auto& [id, o] : list) complete(id, o);
  }

  void connect() {
    db_.reset();
    db_ = std::make_unique<pqxx::connection>(c_.conninfo);
    db_->prepare("complete", "SELECT journey.complete_message($1, $2, $3)");
    db_->prepare("complete_all",
                 "SELECT count(journey.complete_message((e->>'id')::bigint, (e->>'ok')::boolean, "
                 "e->>'error')) FROM jsonb_array_elements($1::jsonb) e");
    db_->prepare("bounced", "SELECT journey.message_event($1, 'bounced', $2::jsonb)");
  }

  // Reports an outcome; reconnects when the connection broke, and tries
  // again while the database fails (the message stays claimed until this
  // succeeds: given up, a requeue would deliver it a second time), until a
  // second signal or --give-up-after.
  void complete(int64_t id, const Outcome& o) {
    bool ok = o.kind == Outcome::Ok;
    std::string error = o.error.substr(0, 1000);
    std::optional<steady_clock::time_point> failing_since;
    int failures = 0;
    std::string what = "reporting message " + std::to_string(id);
    for (;;) {
      try {
        auto t0 = steady_clock::now();
        if (!db_) connect();
        pqxx::work tx(*db_);
        tx.exec_prepared("complete", id, ok, ok ? nullptr : error.c_str());
        if (!o.bounce.empty())
          tx.exec_prepared(
              "bounced", id,
              Json{{"type", o.bounce}, {"smtp_code", o.smtp_code}, {"diagnostic", error}}.dump());
        tx.commit();
        stats_.complete_us += duration_cast<microseconds>(steady_clock::now() - t0).count();
        (ok ? stats_.sent : stats_.failed) += 1;
        if (failing_since) ch_.outage->recovered(ch_.name);
        return;
      } catch (const std::exception& e) {
        // The message is no longer claimed (requeued by another sender after
        // --requeue-after, or withdrawn; or this report did commit before a
        // COMMIT of unknown outcome): nothing to report.
        auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
        std::string code = sql ? sqlstate_of(*sql) : "";
        if (code == "55000" || code == "42704") {
          std::cerr << "journeyctl deliver: message " << id << ": " << error_message(*sql)
                    << std::endl;
          return;
        }
        // The connection broke (reconnect), or the server failed on a live
        // connection (a Citus node down): try again. A second signal leaves
        // it claimed.
        if (!db_failed(e, what, failing_since, failures, stopping_now)) {
          if (stopping_now()) throw;
          std::cerr << "journeyctl deliver: message " << id
                    << ": cannot report its outcome: " << error_text(e.what()) << std::endl;
          return;
        }
      }
    }
  }

  Outcome deliver_with_retries(CURL* curl, const Json& m) {
    Outcome o;
    bool warned = false;
    int counted = 0;  // attempts that count against --max-attempts
    for (int attempt = 1;; ++attempt) {
      if (!ch_.limit->acquire()) return {Outcome::Transient, "stopped", 0};
      auto t0 = steady_clock::now();
      o = ch_.webhook.empty() ? send_smtp(curl, m) : send_webhook(curl, m);
      stats_.deliver_us += duration_cast<microseconds>(steady_clock::now() - t0).count();
      if (o.kind != Outcome::Transient) {
        if (o.kind == Outcome::Ok) o.bounce.clear();
        return o;
      }
      if (o.unreachable) {
        // Not the message's fault: wait for the relay without giving up on it.
        if (!warned)
          std::cerr << "journeyctl deliver: " << ch_.name << ": message " << m["id"].get<int64_t>()
                    << ": " << o.error << "; retrying until it is back" << std::endl;
        warned = true;
      } else if (++counted >= c_.max_attempts) {
        o.kind = Outcome::Permanent;  // keeps a soft bounce: the recipient's server deferred it
        o.error = "gave up after " + std::to_string(counted) + " attempts: " + o.error;
        return o;
      }
      if (stopping()) return o;
      long wait = c_.backoff_ms;
      for (int k = 1; k < attempt && wait < c_.max_backoff_ms; ++k) wait *= 2;
      wait = std::min(std::max(wait, o.retry_after_ms), c_.max_backoff_ms);
      stats_.retried += 1;
      sleep_unless(milliseconds(wait), stopping);
      if (stopping()) return o;
    }
  }

  void common_options(CURL* curl, char* error) {
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c_.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(c_.timeout_ms, 10000L));
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    if (!c_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, c_.ca_file.c_str());
  }

  Outcome send_smtp(CURL* curl, const Json& m) {
    const Json& payload = m["payload"];
    std::string to = text_of(m, "recipient");
    if (to.empty()) to = text_of(payload, "to");
    if (to.empty()) return {Outcome::Permanent, "no recipient address", 0};
    // One plain address only: a column holding "a@x, b@y" would otherwise
    // reach every address in it (curl sends RCPT TO as written).
    if (!delivery::single_address(to))
      return {Outcome::Permanent,
              "invalid recipient address \"" + to + "\": expected one address (local@domain)", 0};
    delivery::Email e;
    e.message_id = m["id"].get<int64_t>();
    e.from = c_.from;
    e.to = to;
    e.subject = text_of(payload, "subject");
    e.body = text_of(payload, "body");
    if (payload.is_object() && payload.contains("format") && payload["format"].is_string())
      e.html = payload["format"].get<std::string>() == "html";
    if (payload.is_object() && payload.contains("tracked_links") &&
        payload["tracked_links"].is_array())
      for (const Json& l : payload["tracked_links"])
        if (l.is_string()) e.tracked_links.push_back(l.get<std::string>());
    e.domain = delivery::domain_of(delivery::address_of(c_.from));
    e.tracking_base = c_.tracking_base;
    e.tracking_secret = c_.tracking_secrets.empty() ? "" : c_.tracking_secrets.front();
    e.track_opens = c_.track_opens;
    e.track_clicks = c_.track_clicks;
    e.unsubscribe_mailto = c_.unsubscribe_mailto;
    std::string message = delivery::render_email(e);

    char error[CURL_ERROR_SIZE] = "";
    curl_easy_reset(curl);
    common_options(curl, error);
    std::string from = "<" + delivery::address_of(c_.from) + ">";
    std::string rcpt = "<" + to + ">";
    curl_slist* rcpts = curl_slist_append(nullptr, rcpt.c_str());
    std::pair<const std::string*, size_t> reader(&message, 0);
    curl_easy_setopt(curl, CURLOPT_URL, c_.smtp_url.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE, static_cast<long>(message.size()));
    curl_easy_setopt(curl, CURLOPT_USE_SSL, c_.use_ssl);
    if (!c_.smtp_user.empty()) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, c_.smtp_user.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, c_.smtp_password.c_str());
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(rcpts);
    if (rc == CURLE_OK) return {};
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    std::string what = std::string(error[0] ? error : curl_easy_strerror(rc));
    if (code) what = "smtp " + std::to_string(code) + ": " + what;
    // The sender's own configuration is wrong: stop rather than fail every message.
    if (rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED ||
        rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
        rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
      return {Outcome::Fatal, "SMTP: " + what, 0};
    // libcurl names the command the server refused ("RCPT failed: 550").
    bool refused_rcpt = what.find("RCPT") != std::string::npos;
    if (code == 0 && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                      rc == CURLE_COULDNT_RESOLVE_PROXY)) {
      Outcome o{Outcome::Transient, "SMTP relay unreachable: " + what, 0};
      o.unreachable = true;
      return o;
    }
    if (code >= 500 && code < 600) {
      // MAIL FROM refused (530 authentication required, a sender address the
      // server will not relay for): every message would fail the same way.
      if (what.find("MAIL failed") != std::string::npos)
        return {Outcome::Fatal, "SMTP: " + what, 0};
      return {Outcome::Permanent, what, 0, refused_rcpt ? "hard" : "", code};
    }
    return {Outcome::Transient, what, 0, refused_rcpt ? "soft" : "", code};
  }

  Outcome send_webhook(CURL* curl, const Json& m) {
    int64_t id = m["id"].get<int64_t>();
    Json body = {{"id", id},
                 {"channel", m["channel"]},
                 {"customer_id", m["customer_id"]},
                 {"journey_id", m["journey_id"]},
                 {"step_key", m["step_key"]},
                 {"payload", m["payload"]}};
    if (m.contains("recipient")) body["recipient"] = m["recipient"];
    if (!c_.tracking_base.empty() && !c_.tracking_secrets.empty()) {
      const std::string& s = c_.tracking_secrets.front();
      body["tracking"] = {{"open_url", delivery::open_url(c_.tracking_base, s, id)},
                          {"unsubscribe_url", delivery::unsubscribe_url(c_.tracking_base, s, id)}};
    }
    std::string text = body.dump();
    int64_t now = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
    std::vector<std::string> headers = {
        "Content-Type: application/json",
        "Idempotency-Key: " + std::to_string(id),
        "X-Journey-Message-ID: " + std::to_string(id),
        "User-Agent: journeyctl/" PGJ_VERSION,
    };
    if (!c_.webhook_secret.empty())
      headers.push_back("X-Journey-Signature: " +
                        delivery::webhook_signature(c_.webhook_secret, now, text));
    curl_slist* list = nullptr;
    for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());

    char error[CURL_ERROR_SIZE] = "";
    std::string response;
    long retry_after = 0;
    curl_easy_reset(curl);
    common_options(curl, error);
    curl_easy_setopt(curl, CURLOPT_URL, ch_.webhook.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(text.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(list);
    if (rc != CURLE_OK) {
      std::string what = error[0] ? error : curl_easy_strerror(rc);
      if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
          rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        return {Outcome::Fatal, "webhook " + ch_.webhook + ": " + what, 0};
      return {Outcome::Transient, "http: " + what, 0};
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return {};
    while (!response.empty() && std::isspace(static_cast<unsigned char>(response.back())))
      response.pop_back();
    std::string what =
        "http " + std::to_string(status) + (response.empty() ? "" : ": " + response.substr(0, 200));
    if (status >= 500 || status == 408 || status == 425 || status == 429)
      return {Outcome::Transient, what, retry_after};
    return {Outcome::Permanent, what, 0};
  }

  const Config& c_;
  Channel& ch_;
  Stats& stats_;
  std::atomic<int>& running_;
  Fatal& fatal_;
  std::unique_ptr<pqxx::connection> db_;
  std::atomic<int64_t> holding_since_ms_{0};           // see held_for_ms
  std::vector<std::pair<int64_t, Outcome>> outcomes_;  // delivered, not reported yet
  steady_clock::time_point oldest_;
};

// The channels to deliver (--channel, else those --smtp-url and --webhook
// name) with their webhook, concurrency and rate, into c.channels.
void add_channels(Settings& s, Config& c) {
  auto webhooks = per_channel(s.all("webhook"), "webhook");
  if (webhooks.count("*")) throw usage_error("--webhook takes CHANNEL=URL");
  auto concurrency = per_channel(s.all("concurrency"), "concurrency");
  auto rates = per_channel(s.all("rate"), "rate");
  std::vector<std::string> names;
  for (const std::string& list : s.all("channel")) {
    std::stringstream in(list);
    std::string n;
    while (std::getline(in, n, ','))
      if (!n.empty()) names.push_back(n);
  }
  if (names.empty()) {
    if (!c.smtp_url.empty() || webhooks.count("email")) names.push_back("email");
    for (const auto& [name, url] : webhooks)
      if (name != "email") names.push_back(name);
  }
  if (names.empty())
    throw usage_error("nothing to deliver: give --smtp-url (e-mail) or --webhook CHANNEL=URL");
  if (!webhooks.empty() && c.webhook_secret.empty())
    throw usage_error(
        "--webhook needs a secret to sign the requests (--webhook-secret-file or "
        "JOURNEYCTL_WEBHOOK_SECRET)");
  for (const std::string& n : names) {
    Channel ch;
    ch.name = n;
    if (webhooks.count(n)) ch.webhook = webhooks[n];
    if (ch.webhook.empty()) {
      if (n != "email") throw usage_error("channel \"" + n + "\" has no --webhook " + n + "=URL");
      if (c.smtp_url.empty())
        throw usage_error("the email channel needs --smtp-url (or --webhook email=URL)");
      if (c.from.empty()) throw usage_error("the email channel needs --from ADDRESS");
    }
    auto number = [&](std::map<std::string, std::string>& m, const char* opt, double lo, double hi,
                      double fallback) {
      std::string v = m.count(n) ? m[n] : m.count("*") ? m["*"] : "";
      if (v.empty()) return fallback;
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (*end || !(d >= lo && d <= hi))
        throw usage_error(std::string("--") + opt + " for channel \"" + n + "\" must be from " +
                          std::to_string(static_cast<long>(lo)) + " to " +
                          std::to_string(static_cast<long>(hi)) + ", not \"" + v + "\"");
      return d;
    };
    ch.concurrency = static_cast<int>(number(concurrency, "concurrency", 1, 256, 4));
    ch.rate = number(rates, "rate", 0, 1e6, 0);
    ch.limit = std::make_unique<RateLimit>(ch.rate);
    c.channels.push_back(std::move(ch));
  }
}

// Reads the settings into a Config; usage errors for what is wrong or missing.
Config configure(Context& ctx) {
  Settings s{ctx, {}};
  if (auto path = ctx.option("config")) s.file = read_config(*path);
  for (const auto& [key, value] : s.file) {
    // The connection options, and track-server's (one file may configure both).
    bool known = key == "dbname" || key == "host" || key == "port" || key == "username" ||
                 key == "listen" || key == "http-port";
    for (const OptionSpec& o : ctx.command().options) known = known || o.name == key;
    if (!known || key == "config")
      throw usage_error("unknown setting \"" + key + "\" in " + *ctx.option("config"));
  }
  Config c;
  c.conninfo = build_conninfo(s.get("dbname").value_or(""), s.get("host").value_or(""),
                              s.get("port").value_or(""), s.get("username").value_or(""), "");
  c.smtp_url = s.get("smtp-url").value_or("");
  std::string tls = s.get("smtp-tls").value_or("try");
  if (tls == "off")
    c.use_ssl = CURLUSESSL_NONE;
  else if (tls == "try")
    c.use_ssl = CURLUSESSL_TRY;
  else if (tls == "required")
    c.use_ssl = CURLUSESSL_ALL;
  else
    throw usage_error("--smtp-tls must be off, try or required, not \"" + tls + "\"");
  c.smtp_user = s.get("smtp-user").value_or("");
  c.smtp_password = delivery::read_secret(s.get("smtp-password-file"), "JOURNEYCTL_SMTP_PASSWORD");
  c.ca_file = s.get("ca-file").value_or("");
  c.from = s.get("from").value_or("");
  c.unsubscribe_mailto = s.get("unsubscribe-mailto").value_or("");
  c.webhook_secret =
      delivery::read_secret(s.get("webhook-secret-file"), "JOURNEYCTL_WEBHOOK_SECRET");
  c.tracking_base = s.get("tracking-url").value_or("");
  while (!c.tracking_base.empty() && c.tracking_base.back() == '/') c.tracking_base.pop_back();
  c.tracking_secrets =
      delivery::read_secrets(s.get("tracking-secret-file"), "JOURNEYCTL_TRACKING_SECRET");
  if (!c.tracking_base.empty() && c.tracking_secrets.empty())
    throw usage_error(
        "--tracking-url needs a secret (--tracking-secret-file or JOURNEYCTL_TRACKING_SECRET)");
  c.track_opens = !s.flag("no-open-tracking");
  c.track_clicks = !s.flag("no-click-tracking");
  c.batch = static_cast<int>(s.number("batch", 1, 10000, 10));
  c.max_attempts = static_cast<int>(s.number("max-attempts", 1, 100, 5));
  c.backoff_ms = s.number("backoff-ms", 0, 3600000, 1000);
  c.max_backoff_ms = s.number("max-backoff-ms", 0, 3600000, 60000);
  c.timeout_ms = s.number("timeout-ms", 100, 600000, 30000);
  c.poll_ms = s.number("poll-ms", 10, 600000, 1000);
  c.requeue_after_s = s.number("requeue-after", 0, 7 * 86400, 900);
  c.progress_s = s.number("progress", 0, 86400, 10);
  c.exit_when_idle = s.flag("exit-when-idle");
  c.give_up_s = s.number("give-up-after", 0, 7 * 86400, c.exit_when_idle ? 60 : 0);

  add_channels(s, c);
  return c;
}

// Puts back what a sender that died had claimed (journey.requeue_claimed),
// when this role may; warns once and stops trying when it may not.
class StaleClaims {
 public:
  explicit StaleClaims(const Config& c) : c_(c), may_requeue_(c.requeue_after_s > 0) {}
  void operator()() {
    if (!may_requeue_) return;
    try {
      if (!admin_) admin_ = std::make_unique<pqxx::connection>(c_.conninfo);
      pqxx::result r = run_sql(*admin_, "SELECT journey.requeue_claimed(make_interval(secs => $1))",
                               c_.requeue_after_s);
      long n = r[0][0].as<long>();
      if (n > 0)
        std::cerr << "journeyctl deliver: requeued " << n << " messages claimed more than "
                  << c_.requeue_after_s << " s ago (a sender that stopped)" << std::endl;
    } catch (const std::exception& e) {
      // A database that is down or failing (a restart, a Citus node down):
      // next time. Only an error that will not go away (no privilege) stops it.
      delivery::DbFailure f = delivery::db_failure(e, admin_.get());
      if (f.lost) admin_.reset();
      if (f.transient) return;
      std::cerr << "journeyctl deliver: warning: cannot requeue stale claims (" << f.message
                << "); run journey.requeue_claimed() from pg_cron as an admin" << std::endl;
      may_requeue_ = false;
    }
  }

 private:
  const Config& c_;
  bool may_requeue_;
  std::unique_ptr<pqxx::connection> admin_;
};

// The last line of a run: what was sent and failed, and the time per message.
void report_done(const Stats& stats, steady_clock::time_point started) {
  double secs = duration<double>(steady_clock::now() - started).count();
  long done = stats.sent.load() + stats.failed.load();
  char timing[200];
  std::snprintf(timing, sizeof timing,
                "; %ld messages in %.2f s (%.1f/s); per message: claim %.3f ms, complete %.3f "
                "ms, delivery %.3f ms",
                done, secs, secs > 0 ? done / secs : 0.0,
                done ? stats.claim_us.load() / 1000.0 / done : 0.0,
                done ? stats.complete_us.load() / 1000.0 / done : 0.0,
                done ? stats.deliver_us.load() / 1000.0 / done : 0.0);
  std::cerr << "journeyctl deliver: done: sent " << stats.sent.load() << ", failed "
            << stats.failed.load() << ", retried " << stats.retried.load() << timing << std::endl;
}

int deliver(Context& ctx) {
  Config c = configure(ctx);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) throw local_error("libcurl did not initialise");
  {
    pqxx::connection probe(c.conninfo);  // cannot connect: exit 3 before anything starts
    delivery::check_privileges(
        probe, "deliver",
        {"journey.claim_messages(text,integer)", "journey.complete_message(bigint,boolean,text)",
         "journey.message_event(bigint,text,jsonb,timestamptz)"});
  }
  g_signals = 0;
  struct sigaction sa {};
  sa.sa_handler = on_deliver_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Stats stats;
  std::atomic<int> running{0};
  Fatal fatal;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  std::cerr << "journeyctl deliver: delivering";
  for (Channel& ch : c.channels) {
    std::cerr << " " << ch.name << " (" << (ch.webhook.empty() ? "smtp" : "webhook") << ", "
              << ch.concurrency << (ch.concurrency == 1 ? " worker" : " workers")
              << (ch.rate > 0 ? ", at most " + std::to_string(static_cast<long>(ch.rate)) + "/s"
                              : "")
              << ")";
    for (int i = 0; i < ch.concurrency; ++i) {
      workers.push_back(std::make_unique<Worker>(c, ch, stats, running, fatal));
      running.fetch_add(1);
    }
  }
  std::cerr << std::endl;
  StaleClaims requeue(c);
  requeue();  // before the first claim
  auto started = steady_clock::now();
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  auto last_requeue = steady_clock::now(), last_progress = steady_clock::now();
  long last_sent = 0;
  auto progress = [&](const char* label) {
    double secs = duration<double>(steady_clock::now() - started).count();
    long sent = stats.sent.load();
    double recent = duration<double>(steady_clock::now() - last_progress).count();
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.1f/s (%.1f/s overall)",
                  recent > 0 ? (sent - last_sent) / recent : 0.0, secs > 0 ? sent / secs : 0.0);
    std::cerr << "journeyctl deliver: " << label << "sent " << sent << ", failed "
              << stats.failed.load() << ", retried " << stats.retried.load() << ", " << rate
              << std::endl;
    last_sent = sent;
    last_progress = steady_clock::now();
  };
  bool announced = false, postponed = false;
  auto requeue_every = seconds(std::clamp(c.requeue_after_s, 1L, 60L));
  while (running.load() > 0) {
    std::this_thread::sleep_for(milliseconds(100));
    if (stopping() && !announced) {
      announced = true;
      std::cerr << "journeyctl deliver: stopping: finishing the messages already claimed"
                << (stopping_now() ? "" : " (signal again to stop at once)") << std::endl;
    }
    if (c.progress_s > 0 && steady_clock::now() - last_progress >= seconds(c.progress_s))
      progress("");
    // Every minute (or every --requeue-after seconds when shorter), unless a
    // worker of this sender still holds claims about that old (held_for_ms;
    // a second of margin: the claim's time is the database's).
    if (!stopping() && c.requeue_after_s > 0 &&
        steady_clock::now() - last_requeue >= requeue_every) {
      int64_t held = 0;
      for (auto& w : workers) held = std::max(held, w->held_for_ms());
      if (held == 0 || held + 1000 < c.requeue_after_s * 1000) {
        requeue();
        postponed = false;
      } else if (!postponed) {
        postponed = true;
        std::cerr << "journeyctl deliver: requeue postponed: this sender still holds messages "
                     "it claimed "
                  << held / 1000 << " s ago (delivering them or reporting their outcomes)"
                  << std::endl;
      }
      last_requeue = steady_clock::now();
    }
  }
  for (auto& t : threads) t.join();
  report_done(stats, started);
  curl_global_cleanup();
  if (!fatal.message.empty()) throw CliError(fatal.code, fatal.message);
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "deliver",
    "send the outbox: e-mail over SMTP, any channel over HTTP webhooks",
    "",
    "Claims messages from journey.messages (journey.claim_messages), delivers them and reports\n"
    "each outcome (journey.complete_message). E-mail goes over SMTP (--smtp-url) as an RFC 5322\n"
    "message; a channel with --webhook CHANNEL=URL is POSTed as JSON, signed with HMAC-SHA256\n"
    "(X-Journey-Signature: t=UNIX,v1=HEX over \"UNIX.BODY\"), Idempotency-Key = message id.\n"
    "Transient failures (SMTP 4xx, HTTP 5xx/408/429, timeouts) are retried with exponential\n"
    "backoff (--backoff-ms, doubling, at most --max-backoff-ms) up to --max-attempts; permanent\n"
    "ones (SMTP 5xx, other HTTP 4xx) complete the message as failed with the error.\n"
    "With --tracking-url, e-mails carry signed open, click and unsubscribe links answered by\n"
    "`journeyctl track-server`, and RFC 8058 List-Unsubscribe headers.\n"
    "Every option can also be set in --config FILE (lines `name = value`, names as below).\n"
    "Secrets never go on the command line: --smtp-password-file, --webhook-secret-file and\n"
    "--tracking-secret-file, or JOURNEYCTL_SMTP_PASSWORD, JOURNEYCTL_WEBHOOK_SECRET and\n"
    "JOURNEYCTL_TRACKING_SECRET. SIGTERM or Ctrl-C: claims nothing more, delivers and completes\n"
    "what is claimed, exits 0; a second signal stops at once (unfinished claims are requeued by\n"
    "journey.requeue_claimed after --requeue-after seconds). When the database fails (a\n"
    "restart, a Citus node down) it prints the server's error, reconnects if the connection is\n"
    "gone and tries again with backoff; --give-up-after bounds that (60 s with\n"
    "--exit-when-idle, exit 1). See docs/delivery.md.",
    {{"config", 'c', "FILE", "read settings from FILE (name = value lines)"},
     {"channel", 0, "NAME[,NAME]", "channels to deliver (default: email and every --webhook)"},
     {"smtp-url", 0, "URL", "smtp://host:port or smtps://host:port of the mail server"},
     {"smtp-tls", 0, "MODE", "STARTTLS: off, try (default) or required"},
     {"smtp-user", 0, "USER", "SMTP AUTH user name"},
     {"smtp-password-file", 0, "FILE", "SMTP AUTH password (or $JOURNEYCTL_SMTP_PASSWORD)"},
     {"ca-file", 0, "FILE", "CA certificates to verify the SMTP or webhook server with"},
     {"from", 0, "MAILBOX", "From of every e-mail (\"Shop <news@shop.example>\")"},
     {"webhook", 0, "CHANNEL=URL", "POST the channel's messages to URL (repeatable)"},
     {"webhook-secret-file", 0, "FILE",
      "key of the webhook signature (or $JOURNEYCTL_WEBHOOK_SECRET)"},
     {"tracking-url", 0, "URL", "public base URL of journeyctl track-server"},
     {"tracking-secret-file", 0, "FILE",
      "keys of the tracking links, first signs (or $JOURNEYCTL_TRACKING_SECRET)"},
     {"unsubscribe-mailto", 0, "ADDRESS", "also list mailto:ADDRESS in List-Unsubscribe"},
     {"no-open-tracking", 0, "", "no open pixel"},
     {"no-click-tracking", 0, "", "links are left as they are"},
     {"concurrency", 0, "[CHANNEL=]N", "workers (connections) per channel (default 4)"},
     {"rate", 0, "[CHANNEL=]N", "at most N messages a second per channel (default: no limit)"},
     {"batch", 0, "N", "messages a worker claims at once (default 10)"},
     {"max-attempts", 0, "N", "attempts per message on transient failures (default 5)"},
     {"backoff-ms", 0, "MS", "wait before the first retry, doubling (default 1000)"},
     {"max-backoff-ms", 0, "MS", "longest wait between retries (default 60000)"},
     {"timeout-ms", 0, "MS", "time limit of one delivery attempt (default 30000)"},
     {"poll-ms", 0, "MS", "wait when the outbox is empty (default 1000)"},
     {"requeue-after", 0, "S",
      "requeue claims older than S seconds, every minute (default 900; 0: never)"},
     {"progress", 0, "S", "a progress line every S seconds on stderr (default 10; 0: none)"},
     {"exit-when-idle", 0, "", "exit once the outbox has nothing claimable (scripts, tests)"},
     {"give-up-after", 0, "S",
      "exit 1 (3: no connection) when claims or reports have failed for S seconds in a row "
      "(default: 60 with --exit-when-idle, else 0: retry for ever)"}},
    true,
    0,
    0,
    deliver});

}  // namespace
}  // namespace pgj::cli
