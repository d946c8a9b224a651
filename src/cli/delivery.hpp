// What `journeyctl deliver` and `journeyctl track-server` share: signed
// tracking tokens (HMAC-SHA256 over message id, kind and target), the RFC 5322
// e-mail a message becomes (tracking links, open pixel, RFC 8058 unsubscribe
// headers), webhook signatures, and the key = value configuration file.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/journeyctl.hpp"

namespace pgj::cli::delivery {

// HMAC-SHA256 of data under key (32 raw bytes).
std::string hmac_sha256(const std::string& key, const std::string& data);
// Lower-case hex of bytes.
std::string hex(const std::string& bytes);
// base64url without padding (RFC 4648 section 5), and back (nullopt: invalid).
std::string base64url(const std::string& bytes);
std::optional<std::string> unbase64url(const std::string& text);
// Standard base64 with line breaks every 76 characters (MIME bodies).
std::string base64_mime(const std::string& bytes);

// What a tracking token names. kind: "o" (open pixel), "c" (click: target is
// the URL to redirect to), "u" (unsubscribe).
struct Token {
  int64_t message_id = 0;
  std::string kind;
  std::string target;
};

// Signs a token: base64url("1\n" id "\n" kind "\n" target) "." base64url(hmac).
std::string sign_token(const std::string& secret, const Token& token);
// Verifies a token with any of the secrets (the first signs, the others are
// accepted while keys rotate); nullopt when it is malformed or forged.
std::optional<Token> verify_token(const std::vector<std::string>& secrets, const std::string& text);

// The tracking URLs of one message under base (no trailing slash).
std::string open_url(const std::string& base, const std::string& secret, int64_t id);
std::string click_url(const std::string& base, const std::string& secret, int64_t id,
                      const std::string& target);
std::string unsubscribe_url(const std::string& base, const std::string& secret, int64_t id);

// An e-mail to render.
struct Email {
  int64_t message_id = 0;
  std::string from;     // "Name <addr>" or "addr"
  std::string to;       // the recipient address
  std::string subject;  // UTF-8
  std::string body;     // HTML or plain text (see html)
  // payload.format of the message ("html" / "text"); unset (a message written
  // before the engine recorded it): HTML when the body's first non-blank
  // character is '<'.
  std::optional<bool> html;
  // The links the template itself wrote (payload.tracked_links): the only
  // ones wrapped into click-tracking links. Links from merge tags (customer
  // data) are never signed into a redirect.
  std::vector<std::string> tracked_links;
  std::string domain;           // for the Message-ID (the From address's domain)
  std::string tracking_base;    // empty: no tracking links, no List-Unsubscribe
  std::string tracking_secret;  // signs the links
  bool track_opens = true;
  bool track_clicks = true;
  std::string unsubscribe_mailto;  // optional mailto: address for List-Unsubscribe
  int64_t date = 0;                // seconds since the epoch (Date header)
};

// Whether a body is HTML (its first non-blank character is '<').
bool is_html(const std::string& body);
// Rewrites the http(s) links of a body into click-tracking links: href="..."
// attributes in HTML, bare URLs in plain text; a link for which wrap returns
// nullopt stays as written.
std::string track_links(const std::string& body, bool html,
                        const std::function<std::optional<std::string>(const std::string&)>& wrap);
// Whether an e-mail recipient is one plain address (local@domain: no list,
// no display name, no blanks): a column holding "a@x, b@y" is refused.
bool single_address(const std::string& address);
// The whole RFC 5322 message (CRLF line ends, base64 body, RFC 2047 subject).
std::string render_email(const Email& e);
// The address part of "Name <addr>" (or the text itself).
std::string address_of(const std::string& mailbox);
// The domain of an address ("example.com" of "a@example.com"; "localhost" when none).
std::string domain_of(const std::string& address);

// The webhook signature header value: t=<unix seconds>,v1=<hex hmac(secret, t "." body)>.
std::string webhook_signature(const std::string& secret, int64_t unix_seconds,
                              const std::string& body);

// A key = value configuration file: '#' starts a comment line; a key may
// appear more than once (its values in order). Keys are the long option names.
std::multimap<std::string, std::string> read_config(const std::string& path);

// Reads a secret: the file's content without trailing newlines, or the
// environment variable's value; empty when neither is given. A local error
// when the file cannot be read or is empty.
std::string read_secret(const std::optional<std::string>& file, const char* env);
// Secrets for tokens: the lines of a file (first signs, all verify) or one
// from the environment.
std::vector<std::string> read_secrets(const std::optional<std::string>& file, const char* env);

// Checks at start-up that pg_journey is installed in the database and that
// the role may execute the functions (regprocedure texts) a command calls;
// throws CliError (exit 1) naming the database, role and function otherwise,
// so a misconfigured sender or tracking server stops before it runs.
void check_privileges(pqxx::connection& c, const std::string& command,
                      const std::vector<std::string>& functions);

// What a failed database call came to, for deliver and track-server. The
// exception's type does not say whether the connection is gone: libpqxx 6
// turns every server error of class 08 into pqxx::broken_connection, also one
// a healthy server raises about another server (Citus: 08006 "connection to
// the remote node ... failed" when a worker node is down), and a server that
// is dying may first answer with a plain error (Citus: XX000 "postmaster was
// shut down, exiting" on COMMIT). So the connection's own state decides.
struct DbFailure {
  // The connection is gone (closed, never opened, or dead when probed, or the
  // COMMIT's outcome unknown): open a new one.
  bool lost = false;
  // Worth trying again later: lost, or a server error of class 08 (another
  // node), 40 (rollback), 53 (resources), 55P03 (lock), 57 (operator
  // intervention: a cancel, a shutdown), 58 (system) or XX (internal: Citus
  // reports remote failures so). Anything else (privileges, a missing
  // function, bad data) will fail again the same way.
  bool transient = false;
  std::string sqlstate;  // the server's code when libpqxx kept it ("08" for class 08)
  std::string message;   // for people: the server's message, detail and hint
};
// Judges the failure `e` of a call on `db` (null: none could be opened);
// when `db` still looks open after a server error, a `SELECT 1` on it tells
// whether it is alive.
DbFailure db_failure(const std::exception& e, pqxx::connection* db);
// Whether a server error of this SQLSTATE is worth trying again (above).
bool transient_sqlstate(const std::string& sqlstate);

}  // namespace pgj::cli::delivery
