// Merge-tag templates: "Hi {{first_name | default: \"there\" | capitalize}}".
// Tags name an audience column ({{plan}}), an enrollment context key
// ({{context.coupon}}) or an event property ({{event.cart_id}}). Filters:
// default (for a missing or empty value, applied first), then in order
// upcase, downcase, capitalize (ASCII letters), truncate: N[, "..."] (in
// characters, ellipsis included), date: "%d %b %Y" (strftime-style, UTC), number:
// decimals[, "thousands separator"[, "decimal point"]].
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

// Applies one filter (other than default) to a value; values it cannot read
// (a date filter on text that is no timestamp) pass through unchanged.
std::string apply_filter(const TemplateFilter& f, const std::string& value);

// The distinct tag paths a template references, in order of first use.
std::vector<std::string> tags_of(const CompiledTemplate& tmpl);
std::vector<std::string> tags_of(std::string_view text);

}  // namespace pgj::core
