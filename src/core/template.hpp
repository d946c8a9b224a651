// Merge-tag templates: "Hi {{first_name | default: \"there\" | capitalize}}".
// Tags name an audience column ({{plan}}), an enrollment context key
// ({{context.coupon}}) or an event property ({{event.cart_id}}). Filters:
// default (for a missing or empty value, applied first), then in order
// upcase, downcase, capitalize (ASCII letters), truncate: N[, "..."] (in
// characters, ellipsis included), date: "%d %b %Y" (strftime-style, UTC), number:
// decimals[, "thousands separator"[, "decimal point"]], raw (HTML bodies: the
// value as is, not HTML-escaped).
//
// HTML: a template whose first non-blank character is a literal '<' is HTML;
// rendered with `html` set, every tag's output is HTML-escaped (& < > " ')
// after its filters, unless the tag ends in `| raw`. Plain-text templates are
// never escaped.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgj::core {

// A filter of a tag other than `default`: upcase, downcase, capitalize,
// truncate: N[, "ellipsis"], date: "format", number: decimals[, "thousands"[, "point"]].
struct TemplateFilter {
  std::string name;
  std::vector<std::string> args;  // as written: strings unquoted, numbers as text
  std::vector<bool> quoted;       // whether each argument was a quoted string
};

struct TemplatePart {
  bool is_tag = false;
  std::string text;                          // literal text, or the tag's path
  std::optional<std::string> default_value;  // tags only: the `default` filter's string
  std::vector<TemplateFilter> filters;       // tags only: the other filters, in order
};

// A template parsed once: literal and tag parts in order. A malformed tag is
// kept as literal text and reported in `errors`.
struct CompiledTemplate {
  std::vector<TemplatePart> parts;
  std::vector<std::string> errors;
};

// Returns the value of a tag path ("plan", "context.coupon", "event.cart_id"),
// or nullopt when it is missing or null.
using TagLookup = std::function<std::optional<std::string>(const std::string& path)>;

// Parses template text into parts (never fails; problems go to `errors`).
CompiledTemplate compile_template(std::string_view text);

// Problems in template text: unclosed "{{", empty tag, bad or unknown filter.
std::vector<std::string> template_errors(std::string_view text);

// Renders a compiled template. A missing/null (or empty) value uses the tag's
// default, else renders as the empty string; then the tag's other filters
// apply in order. Rendering never fails.
std::string render(const CompiledTemplate& tmpl, const TagLookup& lookup);

// Where a tag's output lies in rendered text: bytes [begin, end).
struct TagSpan {
  size_t begin = 0;
  size_t end = 0;
};

// Renders as above; with html set, tag output is HTML-escaped unless the tag
// has the raw filter. When spans is given, it receives where each tag's
// output lies in the result (in order).
std::string render(const CompiledTemplate& tmpl, const TagLookup& lookup, bool html,
                   std::vector<TagSpan>* spans = nullptr);

// Whether a compiled template is HTML: its text starts (after blanks) with a
// literal '<'. A template starting with a merge tag is plain text.
bool is_html_template(const CompiledTemplate& tmpl);

// Whether rendered text is HTML by the sender's rule (first non-blank
// character '<').
bool is_html_text(std::string_view text);

// HTML-escapes text: & < > " ' become entities.
std::string html_escape(std::string_view text);
// Undoes the entities an href may carry (&amp; &quot; &lt; &gt; &#39;).
std::string html_unescape(std::string_view text);

// An http(s) link of a body: the bytes [begin, end) of the URL as written
// (HTML-escaped inside an href), and the URL itself (unescaped).
struct BodyLink {
  size_t begin = 0;
  size_t end = 0;
  std::string url;
};

// The http(s) links of a body: href="..." / href='...' attributes of HTML,
// bare URLs of plain text (trailing sentence punctuation excluded). The
// sender wraps these into click-tracking links.
std::vector<BodyLink> find_links(const std::string& body, bool html);

// The links of a rendered body that the template itself wrote: the URL's
// scheme and host (up to the first '/', '?' or '#' after "://") come from
// literal template text, none of it from a tag's output. Only these may be
// click-tracked: a link a merge tag produced (customer data) must never be
// signed into a redirect. Distinct URLs, in order of first appearance.
std::vector<std::string> template_links(const std::string& body, bool html,
                                        const std::vector<TagSpan>& spans);

// Applies one filter (other than default) to a value; values it cannot read
// (a date filter on text that is no timestamp) pass through unchanged.
std::string apply_filter(const TemplateFilter& f, const std::string& value);

// The distinct tag paths a template references, in order of first use.
std::vector<std::string> tags_of(const CompiledTemplate& tmpl);
std::vector<std::string> tags_of(std::string_view text);

// Whether a tag path names an audience column: any path but context.<key> and
// event.<prop> (the engine looks it up in the customer row).
bool is_column_tag(const std::string& path);

// The audience columns a template needs: the distinct column tags with a use
// that has no `default` (a tag with a default may name a column an audience
// lacks: it renders the default), in order of first use. The validator reports
// those the audience does not have.
std::vector<std::string> required_columns(const CompiledTemplate& tmpl);
std::vector<std::string> required_columns(std::string_view text);

}  // namespace pgj::core
