// Tracking tokens, e-mail rendering, webhook signatures and configuration
// files of journeyctl deliver and track-server (delivery.hpp).
#include "cli/delivery.hpp"

#include "core/template.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <strings.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ctime>
#include <fstream>
#include <sstream>

namespace pgj::cli::delivery {

std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

namespace {

const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char* kB64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// base64 with the given alphabet, padded or not.
std::string encode64(const std::string& in, const char* alphabet, bool pad) {
  std::string out;
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}

// RFC 2047 encoded word for a header value that is not plain ASCII.
std::string encode_header(const std::string& value) {
  bool plain = true;
  for (unsigned char c : value) plain = plain && c >= 32 && c < 127;
  if (plain) return value;
  // Encoded words of at most 45 input bytes (60 base64 characters), cut at
  // UTF-8 character boundaries, joined by folding white space.
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    size_t n = std::min<size_t>(45, value.size() - i);
    while (n > 0 && i + n < value.size() &&
           (static_cast<unsigned char>(value[i + n]) & 0xC0) == 0x80)
      --n;
    if (n == 0) n = std::min<size_t>(45, value.size() - i);
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + encode64(value.substr(i, n), kB64, true) + "?=";
    i += n;
  }
  return out;
}

// Removes CR and LF from a header value (no header injection from data).
std::string one_line(const std::string& v) {
  std::string out;
  for (char c : v) out += (c == '\r' || c == '\n') ? ' ' : c;
  return out;
}

}  // namespace

std::string base64url(const std::string& bytes) {
  return encode64(bytes, kB64Url, false);
}

std::optional<std::string> unbase64url(const std::string& text) {
  std::string out;
  unsigned v = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = std::strchr(kB64Url, c);
    if (!p || c == 0) return std::nullopt;
    v = (v << 6) | static_cast<unsigned>(p - kB64Url);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone sixth-bit group is never valid
  return out;
}

std::string base64_mime(const std::string& bytes) {
  std::string flat = encode64(bytes, kB64, true), out;
  for (size_t i = 0; i < flat.size(); i += 76) out += flat.substr(i, 76) + "\r\n";
  return out;
}

std::string sign_token(const std::string& secret, const Token& t) {
  std::string data = "1\n" + std::to_string(t.message_id) + "\n" + t.kind + "\n" + t.target;
  return base64url(data) + "." + base64url(hmac_sha256(secret, data));
}

std::optional<Token> verify_token(const std::vector<std::string>& secrets,
                                  const std::string& text) {
  size_t dot = text.find('.');
  if (dot == std::string::npos || text.size() > 8192) return std::nullopt;
  auto data = unbase64url(text.substr(0, dot));
  auto mac = unbase64url(text.substr(dot + 1));
  if (!data || !mac || mac->size() != 32) return std::nullopt;
  bool ok = false;
  for (const std::string& s : secrets) {
    std::string expected = hmac_sha256(s, *data);
    ok = ok || CRYPTO_memcmp(expected.data(), mac->data(), 32) == 0;
  }
  if (!ok) return std::nullopt;
  // "1\n<id>\n<kind>\n<target>"
  std::vector<std::string> parts;
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    size_t nl = data->find('\n', start);
    if (nl == std::string::npos) return std::nullopt;
    parts.push_back(data->substr(start, nl - start));
    start = nl + 1;
  }
  if (parts[0] != "1") return std::nullopt;
  Token t;
  char* end = nullptr;
  t.message_id = std::strtoll(parts[1].c_str(), &end, 10);
  if (parts[1].empty() || *end || t.message_id <= 0) return std::nullopt;
  t.kind = parts[2];
  t.target = data->substr(start);
  if (t.kind != "o" && t.kind != "c" && t.kind != "u") return std::nullopt;
  return t;
}

std::string open_url(const std::string& base, const std::string& secret, int64_t id) {
  return base + "/o/" + sign_token(secret, {id, "o", ""}) + ".gif";
}
std::string click_url(const std::string& base, const std::string& secret, int64_t id,
                      const std::string& target) {
  return base + "/c/" + sign_token(secret, {id, "c", target});
}
std::string unsubscribe_url(const std::string& base, const std::string& secret, int64_t id) {
  return base + "/u/" + sign_token(secret, {id, "u", ""});
}

bool is_html(const std::string& body) {
  for (char c : body)
    if (!std::isspace(static_cast<unsigned char>(c))) return c == '<';
  return false;
}

std::string track_links(const std::string& body, bool html,
                        const std::function<std::optional<std::string>(const std::string&)>& wrap) {
  std::string out;
  size_t i = 0;
  for (const core::BodyLink& link : core::find_links(body, html)) {
    std::optional<std::string> wrapped = wrap(link.url);
    if (!wrapped) continue;
    out += body.substr(i, link.begin - i);
    out += html ? core::html_escape(*wrapped) : *wrapped;
    i = link.end;
  }
  return out + body.substr(i);
}

bool single_address(const std::string& address) {
  size_t at = address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= address.size()) return false;
  if (address.find('@', at + 1) != std::string::npos) return false;
  for (unsigned char c : address)
    if (c <= ' ' || c == 127 || std::strchr(",;<>()[]\\\"", c)) return false;
  return true;
}

std::string address_of(const std::string& mailbox) {
  size_t lt = mailbox.rfind('<'), gt = mailbox.rfind('>');
  if (lt != std::string::npos && gt != std::string::npos && gt > lt)
    return mailbox.substr(lt + 1, gt - lt - 1);
  return mailbox;
}

std::string domain_of(const std::string& address) {
  size_t at = address.rfind('@');
  if (at == std::string::npos || at + 1 >= address.size()) return "localhost";
  return address.substr(at + 1);
}

std::string render_email(const Email& e) {
  bool html = e.html ? *e.html : is_html(e.body);
  bool tracking = !e.tracking_base.empty();
  std::string body = e.body;
  std::string unsubscribe;
  if (tracking) {
    unsubscribe = unsubscribe_url(e.tracking_base, e.tracking_secret, e.message_id);
    if (e.track_clicks)
      body = track_links(body, html, [&](const std::string& url) -> std::optional<std::string> {
        for (const std::string& t : e.tracked_links)
          if (t == url) return click_url(e.tracking_base, e.tracking_secret, e.message_id, url);
        return std::nullopt;
      });
    if (html) {
      std::string footer = "<p style=\"font-size:small\"><a href=\"" +
                           core::html_escape(unsubscribe) + "\">Unsubscribe</a></p>";
      if (e.track_opens)
        footer += "<img src=\"" +
                  core::html_escape(open_url(e.tracking_base, e.tracking_secret, e.message_id)) +
                  "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block\">";
      size_t close = body.rfind("</body>");
      if (close == std::string::npos) close = body.rfind("</BODY>");
      if (close == std::string::npos)
        body += footer;
      else
        body.insert(close, footer);
    } else {
      body += "\n\n--\nUnsubscribe: " + unsubscribe + "\n";
    }
  }
  // CRLF line ends throughout (RFC 5322); the body is base64, so any UTF-8 and
  // any line length pass unchanged.
  std::string crlf_body;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) crlf_body += '\r';
    crlf_body += body[i];
  }
  char date[64];
  time_t t = static_cast<time_t>(e.date ? e.date : std::time(nullptr));
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::ostringstream m;
  m << "Date: " << date << "\r\n";
  m << "From: " << one_line(e.from) << "\r\n";
  m << "To: " << one_line(e.to) << "\r\n";
  m << "Subject: " << encode_header(one_line(e.subject)) << "\r\n";
  m << "Message-ID: <pgj-" << e.message_id << "@" << one_line(e.domain) << ">\r\n";
  if (tracking) {
    m << "List-Unsubscribe: <" << unsubscribe << ">";
    if (!e.unsubscribe_mailto.empty())
      m << ",\r\n <mailto:" << one_line(e.unsubscribe_mailto) << "?subject=unsubscribe-"
        << e.message_id << ">";
    m << "\r\n";
    m << "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
  }
  m << "X-Journey-Message-ID: " << e.message_id << "\r\n";
  m << "MIME-Version: 1.0\r\n";
  m << "Content-Type: text/" << (html ? "html" : "plain") << "; charset=utf-8\r\n";
  m << "Content-Transfer-Encoding: base64\r\n";
  m << "\r\n";
  m << base64_mime(crlf_body);
  return m.str();
}

std::string webhook_signature(const std::string& secret, int64_t unix_seconds,
                              const std::string& body) {
  std::string t = std::to_string(unix_seconds);
  return "t=" + t + ",v1=" + hex(hmac_sha256(secret, t + "." + body));
}

std::multimap<std::string, std::string> read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw local_error("cannot read the configuration file " + path);
  std::multimap<std::string, std::string> out;
  std::string line;
  int n = 0;
  auto trim = [](std::string s) {
    size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
  };
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw usage_error(path + ":" + std::to_string(n) + ": expected key = value");
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    out.emplace(key, value);
  }
  return out;
}

std::string read_secret(const std::optional<std::string>& file, const char* env) {
  std::string s;
  if (file) {
    s = read_file(*file);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.empty()) throw local_error("the secret file " + *file + " is empty");
  } else if (const char* v = std::getenv(env)) {
    s = v;
  }
  return s;
}

std::vector<std::string> read_secrets(const std::optional<std::string>& file, const char* env) {
  std::vector<std::string> out;
  if (file) {
    std::istringstream in(read_file(*file));
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) out.push_back(line);
    }
    if (out.empty()) throw local_error("the secret file " + *file + " is empty");
  } else if (const char* v = std::getenv(env)) {
    if (*v) out.push_back(v);
  }
  return out;
}

void check_privileges(pqxx::connection& c, const std::string& command,
                      const std::vector<std::string>& functions) {
  pqxx::result r = run_sql(c,
                           "SELECT current_user, current_database(), "
                           "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_journey')");
  std::string role = r[0][0].c_str(), db = r[0][1].c_str();
  if (!r[0][2].as<bool>())
    throw CliError(kServerError, "journeyctl " + command +
                                     ": pg_journey is not installed in database \"" + db +
                                     "\" (CREATE EXTENSION pg_journey)");
  // Without USAGE on the schema even looking the functions up is refused.
  bool usage = run_sql(c, "SELECT has_schema_privilege('journey', 'USAGE')")[0][0].as<bool>();
  for (const std::string& f : functions) {
    if (!usage)
      throw CliError(kServerError, "journeyctl " + command + ": role \"" + role +
                                       "\" may not execute " + f + " in database \"" + db +
                                       "\": no USAGE on schema journey (GRANT journey_app TO " +
                                       role + ")");
    pqxx::result p = run_sql(c, "SELECT has_function_privilege(to_regprocedure($1), 'EXECUTE')", f);
    if (p[0][0].is_null())
      throw CliError(kServerError, "journeyctl " + command + ": function " + f +
                                       " does not exist in database \"" + db +
                                       "\" (ALTER EXTENSION pg_journey UPDATE?)");
    if (!p[0][0].as<bool>())
      throw CliError(kServerError, "journeyctl " + command + ": role \"" + role +
                                       "\" may not execute " + f + " in database \"" + db +
                                       "\" (GRANT journey_app TO " + role + ")");
  }
}

bool transient_sqlstate(const std::string& code) {
  static const char* const classes[] = {"08", "40", "53", "57", "58", "XX"};
  if (code == "55P03") return true;
  for (const char* c : classes)
    if (code.rfind(c, 0) == 0) return true;
  return false;
}

namespace {
// A connection that looks open: alive when it answers a trivial query.
bool answers(pqxx::connection& db) {
  try {
    pqxx::nontransaction probe(db);
    probe.exec("SELECT 1");
    return db.is_open();
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace

DbFailure db_failure(const std::exception& e, pqxx::connection* db) {
  DbFailure f;
  f.message = error_text(e.what());
  if (f.message.empty()) f.message = "the connection broke";
  if (auto* s = dynamic_cast<const pqxx::sql_error*>(&e))
    f.sqlstate = sqlstate_of(*s);
  else if (auto* r = dynamic_cast<const pqxx::transaction_rollback*>(&e))
    f.sqlstate = sqlstate_of(*r);
  else if (dynamic_cast<const pqxx::broken_connection*>(&e))
    f.sqlstate = "08";  // libpqxx keeps no code: class 08, or a dead connection
  bool in_doubt = dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
  f.lost = in_doubt || !db || !db->is_open() || !answers(*db);
  f.transient = f.lost || transient_sqlstate(f.sqlstate);
  return f;
}

}  // namespace pgj::cli::delivery
