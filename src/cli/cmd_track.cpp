// journeyctl track-server: answers the signed tracking links of the e-mails
// journeyctl deliver sends (delivery.hpp): the open pixel, click redirects and
// one-click unsubscribes (RFC 8058). Each valid link records its engagement
// through journey.message_event against the message its token names; a click
// redirects only to the URL inside the signed token. Forged or altered tokens
// get 404 and record nothing. docs/delivery.md, "Tracking".
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/delivery.hpp"
#include "cli/journeyctl.hpp"
#include "core/template.hpp"

namespace pgj::cli {
namespace {

std::atomic<bool> g_track_stop{false};
void on_stop(int) {
  g_track_stop = true;
}

// A 1x1 transparent GIF.
const unsigned char kPixel[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
                                0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
                                0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

// Database connections shared by the request threads.
class Pool {
 public:
  Pool(std::string conninfo, size_t size) : conninfo_(std::move(conninfo)), size_(size) {}

  // Runs journey.message_event on a free connection; throws what it throws.
  // Whether a failed connection goes back to the pool is judged by its state,
  // not by the exception's type: libpqxx reports a server error of class 08
  // on a healthy connection (Citus: a worker node down) as broken_connection,
  // and a dying server may answer with a plain error first. A pooled
  // connection found dead (the server restarted since it was last used) is
  // replaced and the event recorded on the new one: the transaction it began
  // was never committed. A COMMIT of unknown outcome is not tried again (an
  // open would be counted twice).
  void message_event(int64_t id, const std::string& kind, const Json& properties) {
    for (int attempt = 1;; ++attempt) {
      bool pooled = false;
      std::unique_ptr<pqxx::connection> c = take(pooled);
      bool committing = false;
      try {
        pqxx::work tx(*c);
        tx.exec_params("SELECT journey.message_event($1, $2, $3::jsonb)", id, kind,
                       properties.dump());
        committing = true;
        tx.commit();
      } catch (const std::exception& e) {
        delivery::DbFailure f = delivery::db_failure(e, c.get());
        give_back(f.lost ? nullptr : std::move(c));
        if (f.lost && pooled && !committing && attempt == 1) continue;
        throw;
      }
      give_back(std::move(c));
      return;
    }
  }

 private:
  // A free connection (pooled: one that was open already), or a new one.
  std::unique_ptr<pqxx::connection> take(bool& pooled) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !free_.empty() || open_ < size_; });
    pooled = !free_.empty();
    if (pooled) {
      auto c = std::move(free_.back());
      free_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();
    try {
      return std::make_unique<pqxx::connection>(conninfo_);
    } catch (...) {
      give_back(nullptr);
      throw;
    }
  }
  // Returns a connection (null: it broke, a new one may be opened).
  void give_back(std::unique_ptr<pqxx::connection> c) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (c && c->is_open())
      free_.push_back(std::move(c));
    else
      --open_;
    cv_.notify_one();
  }

  std::string conninfo_;
  size_t size_;
  size_t open_ = 0;
  std::vector<std::unique_ptr<pqxx::connection>> free_;
  std::mutex mutex_;
  std::condition_variable cv_;
};

std::string page(const std::string& title, const std::string& body) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width\"><title>" +
         core::html_escape(title) +
         "</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em "
         "auto\"><h1>" +
         core::html_escape(title) + "</h1>" + body + "</body></html>";
}

// The settings of --config's file (empty without one): refuses a key that is
// neither track-server's, the connection's, nor deliver's (one file may
// configure both).
std::multimap<std::string, std::string> read_track_config(Context& ctx) {
  std::multimap<std::string, std::string> file;
  if (auto path = ctx.option("config")) {
    file = delivery::read_config(*path);
    static const char* const deliver_keys[] = {"smtp-url",
                                               "smtp-tls",
                                               "smtp-user",
                                               "smtp-password-file",
                                               "ca-file",
                                               "from",
                                               "unsubscribe-mailto",
                                               "webhook",
                                               "webhook-secret-file",
                                               "tracking-url",
                                               "no-open-tracking",
                                               "no-click-tracking",
                                               "channel",
                                               "concurrency",
                                               "rate",
                                               "batch",
                                               "max-attempts",
                                               "backoff-ms",
                                               "max-backoff-ms",
                                               "timeout-ms",
                                               "poll-ms",
                                               "requeue-after",
                                               "progress",
                                               "exit-when-idle",
                                               "give-up-after"};
    for (const auto& [key, value] : file) {
      bool known = key == "dbname" || key == "host" || key == "port" || key == "username";
      for (const OptionSpec& o : ctx.command().options) known = known || o.name == key;
      for (const char* k : deliver_keys) known = known || key == k;
      if (!known || key == "config")
        throw usage_error("unknown setting \"" + key + "\" in " + *path);
    }
  }
  return file;
}

// The routes of the tracking links (docs/delivery.md), recording through `pool`.
void add_tracking_routes(httplib::Server& server, Pool& pool,
                         const std::vector<std::string>& secrets) {
  auto log_error = [](const std::string& what, int64_t id, const std::exception& e) {
    std::string m = error_text(e.what());
    std::cerr << "journeyctl track-server: " << what << " of message " << id
              << " not recorded: " << m << std::endl;
  };
  auto token_of = [&secrets](const httplib::Request& req, const char* kind) {
    auto t = delivery::verify_token(secrets, req.matches[1]);
    if (t && t->kind != kind) t.reset();
    return t;
  };
  auto not_found = [](httplib::Response& res) {
    res.status = 404;
    res.set_content(page("Link not valid", "<p>This link is not valid.</p>"),
                    "text/html; charset=utf-8");
  };

  // The open pixel: always the image for a valid token, even when recording failed.
  server.Get(
      R"(/o/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)\.gif)",
      [&pool, token_of, not_found, log_error](const httplib::Request& req, httplib::Response& res) {
        auto t = token_of(req, "o");
        if (!t) return not_found(res);
        try {
          pool.message_event(t->message_id, "opened", Json::object());
        } catch (const std::exception& e) {
          log_error("open", t->message_id, e);
        }
        res.set_content(std::string(reinterpret_cast<const char*>(kPixel), sizeof kPixel),
                        "image/gif");
      });
  // A click: redirect to the signed URL (and only there).
  server.Get(
      R"(/c/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+))",
      [&pool, token_of, not_found, log_error](const httplib::Request& req, httplib::Response& res) {
        auto t = token_of(req, "c");
        if (!t || (t->target.rfind("http://", 0) != 0 && t->target.rfind("https://", 0) != 0) ||
            t->target.find_first_of("\r\n") != std::string::npos)
          return not_found(res);
        try {
          pool.message_event(t->message_id, "clicked", Json{{"url", t->target}});
        } catch (const std::exception& e) {
          log_error("click", t->message_id, e);
        }
        res.status = 302;
        res.set_header("Location", t->target);
      });
  // Unsubscribe: GET shows a button (link scanners follow GETs and must not
  // unsubscribe anyone); POST unsubscribes, as the RFC 8058 one-click POST does.
  server.Get(R"(/u/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+))", [&pool, token_of, not_found, log_error](
                                                             const httplib::Request& req,
                                                             httplib::Response& res) {
    if (!token_of(req, "u")) return not_found(res);
    res.set_content(page("Unsubscribe",
                         "<p>Stop receiving these e-mails?</p><form method=\"post\"><input "
                         "type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button "
                         "type=\"submit\">Unsubscribe</button></form>"),
                    "text/html; charset=utf-8");
  });
  server.Post(
      R"(/u/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+))",
      [&pool, token_of, not_found, log_error](const httplib::Request& req, httplib::Response& res) {
        auto t = token_of(req, "u");
        if (!t) return not_found(res);
        bool one_click = req.body.find("List-Unsubscribe=One-Click") != std::string::npos;
        try {
          pool.message_event(t->message_id, "unsubscribed",
                             Json{{"method", one_click ? "one-click" : "form"}});
        } catch (const std::exception& e) {
          log_error("unsubscribe", t->message_id, e);
          res.status = 503;
          res.set_content(page("Please try again",
                               "<p>We could not record this just now. Please try again "
                               "in a moment.</p>"),
                          "text/html; charset=utf-8");
          return;
        }
        res.set_content(page("Unsubscribed", "<p>You will not receive these e-mails any more.</p>"),
                        "text/html; charset=utf-8");
      });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
}

// Binds `listen`:`port` (0: any port), serves until SIGINT or SIGTERM.
int serve_until_stopped(httplib::Server& server, const std::string& listen, long port) {
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a
  // second track-server on the same port would start and share the traffic.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  int bound = static_cast<int>(port);
  if (port == 0) {
    bound = server.bind_to_any_port(listen);
    if (bound < 0) throw local_error("cannot listen on " + listen);
  } else if (!server.bind_to_port(listen, bound)) {
    throw local_error("cannot listen on " + listen + ":" + std::to_string(bound) +
                      " (is another track-server or program using the port?)");
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::thread stopper([&server] {
    while (!g_track_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  std::string host = listen.find(':') != std::string::npos ? "[" + listen + "]" : listen;
  std::cout << "journeyctl track-server: listening on http://" << host << ":" << bound << "/"
            << std::endl;
  bool ok = server.listen_after_bind();
  g_track_stop = true;
  stopper.join();
  return ok || g_track_stop ? kOk : kLocal;
}

int track_server(Context& ctx) {
  std::multimap<std::string, std::string> file = read_track_config(ctx);
  auto get = [&](const std::string& name) -> std::optional<std::string> {
    if (auto v = ctx.option(name)) return v;
    std::optional<std::string> last;
    for (auto [a, b] = file.equal_range(name); a != b; ++a) last = a->second;
    return last;
  };
  std::vector<std::string> secrets =
      delivery::read_secrets(get("tracking-secret-file"), "JOURNEYCTL_TRACKING_SECRET");
  if (secrets.empty())
    throw usage_error("a secret is needed: --tracking-secret-file or JOURNEYCTL_TRACKING_SECRET");
  std::string listen = get("listen").value_or("127.0.0.1");
  long port = 8090;
  if (auto p = get("http-port")) {
    char* end = nullptr;
    port = std::strtol(p->c_str(), &end, 10);
    if (p->empty() || *end || port < 0 || port > 65535)
      throw usage_error("--http-port must be a port number, not \"" + *p + "\"");
  }
  std::string conninfo = build_conninfo(get("dbname").value_or(""), get("host").value_or(""),
                                        get("port").value_or(""), get("username").value_or(""), "");
  {
    pqxx::connection probe(conninfo);  // cannot connect: exit 3 now
    delivery::check_privileges(probe, "track-server",
                               {"journey.message_event(bigint,text,jsonb,timestamptz)"});
  }
  Pool pool(conninfo, 4);

  httplib::Server server;
  server.set_payload_max_length(64 * 1024);
  server.set_default_headers({{"Cache-Control", "no-store"},
                              {"X-Content-Type-Options", "nosniff"},
                              {"Referrer-Policy", "no-referrer"}});
  add_tracking_routes(server, pool, secrets);
  return serve_until_stopped(server, listen, port);
}

JOURNEYCTL_COMMAND(Command{
    "track-server",
    "answer the tracking links of delivered e-mails (opens, clicks, unsubscribes)",
    "",
    "Serves the links `journeyctl deliver --tracking-url` puts into e-mails:\n"
    "  GET  /o/TOKEN.gif  the open pixel: records \"opened\", answers a 1x1 GIF\n"
    "  GET  /c/TOKEN      a click: records \"clicked\" (with the URL), redirects (302) to the\n"
    "                     URL signed inside the token, and nowhere else\n"
    "  GET  /u/TOKEN      a page with an unsubscribe button (records nothing: mail scanners\n"
    "                     follow links)\n"
    "  POST /u/TOKEN      unsubscribes (RFC 8058 one-click: List-Unsubscribe=One-Click)\n"
    "  GET  /healthz      ok\n"
    "Each token is signed (HMAC-SHA256 over message id, kind and URL) with the secret of\n"
    "--tracking-secret-file (one key a line: the first signs in deliver, every line is accepted\n"
    "here, so keys can rotate) or JOURNEYCTL_TRACKING_SECRET; a forged or altered token gets\n"
    "404. Engagement is recorded with journey.message_event against the message the token\n"
    "names, so the role needs journey_app. Listens on 127.0.0.1:8090 by default: put a TLS\n"
    "proxy in front (docs/delivery.md). Stops on SIGTERM or Ctrl-C (exit 0).",
    {{"config", 'c', "FILE", "read settings from FILE (name = value lines)"},
     {"listen", 'l', "ADDRESS", "address to listen on (default 127.0.0.1)"},
     {"http-port", 'P', "PORT", "port to listen on (default 8090; 0: any free port)"},
     {"tracking-secret-file", 0, "FILE",
      "keys of the tracking links, one a line (or $JOURNEYCTL_TRACKING_SECRET)"}},
    true,
    0,
    0,
    track_server});

}  // namespace
}  // namespace pgj::cli
