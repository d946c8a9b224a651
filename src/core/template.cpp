// Merge-tag template parsing and rendering.
#include "core/template.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>
#include <utility>

#include "core/duration.hpp"

namespace pgj::core {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Characters allowed in a tag path.
bool is_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Appends literal text to parts, merging with a preceding literal.
void add_literal(std::vector<TemplatePart>* parts, std::string_view text) {
  if (text.empty()) return;
  if (!parts->empty() && !parts->back().is_tag) {
    parts->back().text.append(text);
  } else {
    parts->push_back(TemplatePart{false, std::string(text), std::nullopt, {}});
  }
}

// Skips whitespace starting at *i.
void skip_ws(std::string_view s, size_t* i) {
  while (*i < s.size() && is_space(s[*i])) ++*i;
}

// The filters a tag may apply.
bool is_filter_name(const std::string& name) {
  for (const char* f :
       {"default", "upcase", "downcase", "capitalize", "truncate", "date", "number", "raw"})
    if (name == f) return true;
  return false;
}

// Whether text is a whole decimal integer in [lo, hi].
bool int_in(const std::string& text, long lo, long hi, long* out) {
  if (text.empty() || text.size() > 9) return false;
  size_t k = text[0] == '-' ? 1 : 0;
  if (k == text.size()) return false;
  for (size_t j = k; j < text.size(); ++j)
    if (text[j] < '0' || text[j] > '9') return false;
  long v = std::stol(text);
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

// Why a filter's arguments are wrong ("" when they are right).
std::string check_filter(const TemplateFilter& f) {
  const size_t n = f.args.size();
  long v = 0;
  if (f.name == "default") {
    if (n == 0) return "expected default: \"text\"";
    if (n != 1 || !f.quoted[0]) return "the default must be a quoted string";
  } else if (f.name == "upcase" || f.name == "downcase" || f.name == "capitalize" ||
             f.name == "raw") {
    if (n != 0) return f.name + " takes no argument";
  } else if (f.name == "truncate") {
    if (n < 1 || n > 2 || f.quoted[0] || !int_in(f.args[0], 1, 100000, &v))
      return "expected truncate: <length from 1 to 100000>[, \"ellipsis\"]";
    if (n == 2 && !f.quoted[1]) return "the ellipsis of truncate must be a quoted string";
  } else if (f.name == "date") {
    if (n != 1 || !f.quoted[0] || f.args[0].empty())
      return "expected date: \"format\" (strftime-style, e.g. \"%d %b %Y\")";
  } else if (f.name == "number") {
    if (n > 3 || (n >= 1 && (f.quoted[0] || !int_in(f.args[0], 0, 10, &v))))
      return "expected number: <decimals from 0 to 10>[, \"thousands separator\"[, "
             "\"decimal point\"]]";
    if ((n >= 2 && !f.quoted[1]) || (n == 3 && !f.quoted[2]))
      return "the separators of number must be quoted strings";
  }
  return "";
}

// Whether a tag path is malformed: empty, or with an empty segment.
bool bad_path(const std::string& path) {
  return path.empty() || path.front() == '.' || path.back() == '.' ||
         path.find("..") != std::string::npos;
}

// Parses one merge tag (the state of parse_tag): s[open] is its "{{", i the
// scanning position; on an error *error is set and *end is where scanning may
// resume.
struct TagParser {
  std::string_view s;
  size_t open;
  size_t i;
  std::string where;  // " at offset N", for messages
  size_t* end;
  std::string* error;

  // Just past the "}}" at or after `from`, or the end of the text.
  size_t closing(size_t from) const {
    size_t c = s.find("}}", from);
    return c == std::string_view::npos ? s.size() : c + 2;
  }
  // The tag as written, up to *end, for messages.
  std::string text() const { return std::string(s.substr(open, *end - open)); }

  bool invalid() {
    *error = "invalid merge tag \"" + text() + "\"" + where;
    return false;
  }
  bool unclosed(const std::string& why = std::string()) {
    *error = "unclosed \"{{\"" + where + why;
    *end = s.size();
    return false;
  }
  bool empty_tag() {
    *error = "empty merge tag" + where;
    return false;
  }
  // A filter error: `head` + "merge tag "..."" + where + `tail`, or unclosed
  // when no "}}" follows.
  bool filter_error(const std::string& head, const std::string& tail) {
    *end = closing(i);
    if (*end == s.size() && s.find("}}", i) == std::string_view::npos)
      *error = "unclosed \"{{\"" + where;
    else
      *error = head + "merge tag \"" + text() + "\"" + where + tail;
    return false;
  }
  bool bad_filter(const std::string& why) {
    return filter_error("bad filter in ", why.empty() ? std::string() : ": " + why);
  }

  // The whole tag into *part.
  bool tag(TemplatePart* part) {
    skip_ws(s, &i);
    size_t p0 = i;
    while (i < s.size() && is_path_char(s[i])) ++i;
    std::string path(s.substr(p0, i - p0));
    skip_ws(s, &i);
    if (i >= s.size() || (s[i] != '}' && s[i] != '|')) {
      if (s.find("}}", open + 2) == std::string_view::npos) return unclosed();
      *end = closing(open + 2);
      return invalid();
    }
    if (s[i] == '}') return plain_tag(path, part);
    // Filters: "| name" or "| name: arg, arg" (quoted strings or numbers).
    if (path.empty()) {
      *end = closing(i);
      return empty_tag();
    }
    std::optional<std::string> default_value;
    std::vector<TemplateFilter> filters;
    while (i < s.size() && s[i] == '|') {
      TemplateFilter f;
      if (!filter(&f)) return false;
      if (f.name == "default")
        default_value = f.args[0];
      else
        filters.push_back(std::move(f));
      skip_ws(s, &i);
    }
    if (i + 1 >= s.size() || s[i] != '}' || s[i + 1] != '}')
      return bad_filter("expected \"|\" or \"}}\" after a filter");
    *end = i + 2;
    if (bad_path(path)) return invalid();
    *part = TemplatePart{true, path, std::move(default_value), std::move(filters)};
    return true;
  }

  // A tag without filters: {{path}}; s[i] is its first '}'.
  bool plain_tag(const std::string& path, TemplatePart* part) {
    if (i + 1 >= s.size() || s[i + 1] != '}') return unclosed();
    *end = i + 2;
    if (path.empty()) return empty_tag();
    if (bad_path(path)) return invalid();
    *part = TemplatePart{true, path, std::nullopt, {}};
    return true;
  }

  // One filter "| name[: args]" into *f; s[i] is its '|'.
  bool filter(TemplateFilter* f) {
    ++i;
    skip_ws(s, &i);
    size_t f0 = i;
    while (i < s.size() && is_path_char(s[i])) ++i;
    std::string name(s.substr(f0, i - f0));
    if (name.empty()) return bad_filter("");
    if (!is_filter_name(name))
      return filter_error(
          "unknown filter \"" + name + "\" in ",
          " (filters: default, upcase, downcase, capitalize, truncate, date, number, raw)");
    skip_ws(s, &i);
    *f = TemplateFilter{name, {}, {}};
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!filter_args(f)) return false;
    }
    std::string why = check_filter(*f);
    if (!why.empty()) return bad_filter(why);
    return true;
  }

  // A filter's arguments after its ':', separated by commas.
  bool filter_args(TemplateFilter* f) {
    for (;;) {
      skip_ws(s, &i);
      if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
        if (!quoted_arg(f)) return false;
      } else {
        size_t a0 = i;
        while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.')) ++i;
        if (i == a0)
          return bad_filter(f->name == "default" ? "the default must be a quoted string"
                                                 : "the arguments of " + f->name +
                                                       " must be quoted strings or numbers");
        f->args.emplace_back(s.substr(a0, i - a0));
        f->quoted.push_back(false);
      }
      skip_ws(s, &i);
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      return true;
    }
  }

  // A quoted argument ('...' or "...", backslash escapes its quote and itself).
  bool quoted_arg(TemplateFilter* f) {
    char quote = s[i++];
    std::string value;
    bool closed = false;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '\\' && i < s.size() && (s[i] == quote || s[i] == '\\')) {
        value.push_back(s[i++]);
      } else if (c == quote) {
        closed = true;
        break;
      } else {
        value.push_back(c);
      }
    }
    if (!closed) return unclosed(" (unterminated " + f->name + " string)");
    f->args.push_back(std::move(value));
    f->quoted.push_back(true);
    return true;
  }
};

// Parses one tag whose "{{" is at `open`. On success fills *part and sets *end
// just past "}}"; otherwise sets *error and *end to where scanning may resume.
bool parse_tag(std::string_view s, size_t open, TemplatePart* part, size_t* end,
               std::string* error) {
  TagParser p{s, open, open + 2, " at offset " + std::to_string(open), end, error};
  return p.tag(part);
}

}  // namespace

namespace {

// Bytes of the UTF-8 character that starts with byte c (1 for a stray byte).
size_t utf8_length(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF4) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC2 && c < 0xE0) return 2;
  return 1;
}

// Formats an instant (UTC) with strftime-style directives: %Y %y %m %d %e %H
// %I %M %S %p %b %B %a %A %j %%; others are copied as written.
std::string format_date(int64_t micros, const std::string& fmt) {
  static const char* const months[] = {"January",   "February", "March",    "April",
                                       "May",       "June",     "July",     "August",
                                       "September", "October",  "November", "December"};
  static const char* const days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                     "Friday", "Saturday", "Sunday"};
  const CivilTime t = civil_time(micros);
  const int weekday =
      static_cast<int>(((t.epoch_day % 7) + 7 + 3) % 7);  // 0 = Monday (1970-01-01 a Thursday)
  // The directives: numbers (zero-padded to a width) and names.
  struct Number {
    char directive;
    long long value;
    int width;
  };
  const Number numbers[] = {
      {'Y', static_cast<long long>(t.year), 4},
      {'y', ((t.year % 100) + 100) % 100, 2},
      {'m', t.month, 2},
      {'d', t.day, 2},
      {'e', t.day, 1},
      {'H', t.hour, 2},
      {'I', t.hour % 12 == 0 ? 12 : t.hour % 12, 2},
      {'M', t.minute, 2},
      {'S', t.second, 2},
      {'j', static_cast<long long>(t.epoch_day - days_from_civil(t.year, 1, 1) + 1), 3}};
  const std::string month = months[t.month - 1], weekday_name = days[weekday];
  const std::pair<char, std::string> names[] = {
      {'p', t.hour < 12 ? "AM" : "PM"}, {'B', month},
      {'b', month.substr(0, 3)},        {'A', weekday_name},
      {'a', weekday_name.substr(0, 3)}, {'%', "%"}};
  std::string out;
  char buf[32];
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] != '%' || k + 1 == fmt.size()) {
      out += fmt[k];
      continue;
    }
    const char c = fmt[++k];
    std::string text = std::string("%") + c;  // a directive it does not know stays as written
    for (const Number& n : numbers)
      if (n.directive == c) {
        std::snprintf(buf, sizeof buf, "%0*lld", n.width, n.value);
        text = buf;
      }
    for (const auto& [directive, name] : names)
      if (directive == c) text = name;
    out += text;
  }
  return out;
}

// Formats a number with `decimals` digits after the point (rounded half away
// from zero), groups of three digits separated by `thousands`.
std::string format_number(double x, int decimals, const std::string& thousands,
                          const std::string& point) {
  char buf[400];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  std::string text(buf);
  std::string sign;
  if (!text.empty() && text[0] == '-') {
    sign = "-";
    text.erase(0, 1);
  }
  size_t dot = text.find('.');
  std::string whole = text.substr(0, dot),
              frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  std::string grouped;
  for (size_t k = 0; k < whole.size(); ++k) {
    if (k > 0 && (whole.size() - k) % 3 == 0) grouped += thousands;
    grouped += whole[k];
  }
  if (sign == "-" && grouped.find_first_not_of("0" + thousands) == std::string::npos &&
      frac.find_first_not_of('0') == std::string::npos)
    sign.clear();  // no "-0"
  return sign + grouped + (frac.empty() ? "" : point + frac);
}

// Groups the digits of a whole part in threes with `thousands`.
std::string group_digits(const std::string& whole, const std::string& thousands) {
  std::string grouped;
  for (size_t k = 0; k < whole.size(); ++k) {
    if (k > 0 && (whole.size() - k) % 3 == 0) grouped += thousands;
    grouped += whole[k];
  }
  return grouped;
}

// Formats a plain decimal text ("-12345678901234567.89": digits, at most one
// point, no exponent) exactly, rounded half away from zero to `decimals`;
// nullopt for any other text (formatted through a double instead).
std::optional<std::string> format_decimal_text(const std::string& text, int decimals,
                                               const std::string& thousands,
                                               const std::string& point) {
  size_t k = 0;
  bool negative = false;
  if (k < text.size() && (text[k] == '-' || text[k] == '+')) negative = text[k++] == '-';
  std::string whole, frac;
  while (k < text.size() && text[k] >= '0' && text[k] <= '9') whole += text[k++];
  if (k < text.size() && text[k] == '.') {
    ++k;
    while (k < text.size() && text[k] >= '0' && text[k] <= '9') frac += text[k++];
  }
  if (k != text.size() || (whole.empty() && frac.empty()) || whole.size() > 1000)
    return std::nullopt;
  if (whole.empty()) whole = "0";
  bool round_up = static_cast<int>(frac.size()) > decimals && frac[decimals] >= '5';
  frac.resize(decimals, '0');
  std::string digits = whole + frac;
  if (round_up) {
    size_t i = digits.size();
    while (i > 0 && digits[i - 1] == '9') digits[--i] = '0';
    if (i == 0)
      digits.insert(0, "1");
    else
      ++digits[i - 1];
  }
  whole = digits.substr(0, digits.size() - decimals);
  frac = digits.substr(digits.size() - decimals);
  size_t nonzero = whole.find_first_not_of('0');
  whole = nonzero == std::string::npos ? "0" : whole.substr(nonzero);
  if (whole == "0" && frac.find_first_not_of('0') == std::string::npos)
    negative = false;  // no "-0"
  return (negative ? "-" : "") + group_digits(whole, thousands) +
         (frac.empty() ? "" : point + frac);
}

}  // namespace

// Applies one filter (not default) to a rendered value. Values a filter cannot
// read (a date filter on text that is no timestamp, a number filter on text
// that is no number) pass through unchanged; the empty value stays empty.
std::string apply_filter(const TemplateFilter& f, const std::string& value) {
  if (value.empty()) return value;
  if (f.name == "upcase" || f.name == "downcase") {
    std::string out = value;
    for (char& c : out) {
      if (f.name == "upcase" && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (f.name == "downcase" && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }
  if (f.name == "capitalize") {
    std::string out = value;
    for (size_t k = 0; k < out.size(); ++k) {
      char& c = out[k];
      if (k == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (k > 0 && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }
  if (f.name == "truncate") {
    const size_t length = std::stoul(f.args[0]);
    const std::string ellipsis = f.args.size() > 1 ? f.args[1] : std::string("...");
    std::vector<size_t> starts;  // byte offset of each character
    for (size_t k = 0; k < value.size(); k += utf8_length(static_cast<unsigned char>(value[k])))
      starts.push_back(k);
    if (starts.size() <= length) return value;
    size_t ellipsis_chars = 0;
    for (size_t k = 0; k < ellipsis.size();
         k += utf8_length(static_cast<unsigned char>(ellipsis[k])))
      ++ellipsis_chars;
    // An ellipsis of `length` characters or more leaves no room for the value:
    // then the value is cut to `length` characters without one.
    if (ellipsis_chars >= length) return value.substr(0, starts[length]);
    return value.substr(0, starts[length - ellipsis_chars]) + ellipsis;
  }
  if (f.name == "date") {
    std::optional<int64_t> t = parse_timestamp(value, nullptr);
    if (!t || *t == kInfinity || *t == kMinusInfinity) return value;
    return format_date(*t, f.args[0]);
  }
  if (f.name == "number") {
    // A decimal text (a numeric column) formats exactly, whatever its digits.
    if (auto exact = format_decimal_text(value, f.args.empty() ? 0 : std::stoi(f.args[0]),
                                         f.args.size() > 1 ? f.args[1] : ",",
                                         f.args.size() > 2 ? f.args[2] : "."))
      return *exact;
    const char* begin = value.c_str();
    char* stop = nullptr;
    double x = std::strtod(begin, &stop);
    if (stop == begin || *stop != '\0' || !std::isfinite(x) || std::fabs(x) > 1e300) return value;
    int decimals = f.args.empty() ? 0 : std::stoi(f.args[0]);
    return format_number(x, decimals, f.args.size() > 1 ? f.args[1] : ",",
                         f.args.size() > 2 ? f.args[2] : ".");
  }
  return value;
}

// Splits template text into literal and tag parts.
CompiledTemplate compile_template(std::string_view text) {
  CompiledTemplate out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      add_literal(&out.parts, text.substr(i));
      break;
    }
    add_literal(&out.parts, text.substr(i, open - i));
    TemplatePart part;
    size_t end = open;
    std::string error;
    if (parse_tag(text, open, &part, &end, &error)) {
      out.parts.push_back(std::move(part));
    } else {
      out.errors.push_back(std::move(error));
      add_literal(&out.parts, text.substr(open, end - open));
    }
    i = end;
  }
  return out;
}

// Just the problems of template text.
std::vector<std::string> template_errors(std::string_view text) {
  return compile_template(text).errors;
}

// Renders parts, substituting tag values or defaults.
std::string render(const CompiledTemplate& tmpl, const TagLookup& lookup) {
  return render(tmpl, lookup, false, nullptr);
}

// Renders parts; in HTML, escapes each tag's output unless it is raw.
std::string render(const CompiledTemplate& tmpl, const TagLookup& lookup, bool html,
                   std::vector<TagSpan>* spans) {
  std::string out;
  for (const TemplatePart& p : tmpl.parts) {
    if (!p.is_tag) {
      out += p.text;
      continue;
    }
    std::optional<std::string> v;
    if (lookup) v = lookup(p.text);
    std::string value;
    if (v && !v->empty())
      value = std::move(*v);
    else if (p.default_value)
      value = *p.default_value;
    bool raw = false;
    for (const TemplateFilter& f : p.filters) {
      if (f.name == "raw") raw = true;
      value = apply_filter(f, value);
    }
    if (html && !raw) value = html_escape(value);
    if (spans && !value.empty()) spans->push_back(TagSpan{out.size(), out.size() + value.size()});
    out += value;
  }
  return out;
}

bool is_html_text(std::string_view text) {
  for (char c : text)
    if (!is_space(c)) return c == '<';
  return false;
}

bool is_html_template(const CompiledTemplate& tmpl) {
  for (const TemplatePart& p : tmpl.parts) {
    if (p.is_tag) return false;
    for (char c : p.text)
      if (!is_space(c)) return c == '<';
  }
  return false;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string html_unescape(std::string_view v) {
  static const std::pair<std::string_view, char> known[] = {
      {"&amp;", '&'}, {"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&#39;", '\''}};
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '&') {
      bool done = false;
      for (auto& [name, c] : known)
        if (v.substr(i, name.size()) == name) {
          out += c;
          i += name.size() - 1;
          done = true;
          break;
        }
      if (done) continue;
    }
    out += v[i];
  }
  return out;
}

namespace {

// Whether c may appear in a URL of a plain-text body.
bool url_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-._~:/?#[]@!$&'*+,;=%").find(c) != std::string_view::npos;
}

bool starts_with_http(std::string_view url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

// Case-insensitive ASCII comparison of s at k with a lower-case word.
bool at_word(const std::string& s, size_t k, std::string_view word) {
  if (k + word.size() > s.size()) return false;
  for (size_t j = 0; j < word.size(); ++j) {
    char c = s[k + j];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != word[j]) return false;
  }
  return true;
}

}  // namespace

std::vector<BodyLink> find_links(const std::string& body, bool html) {
  std::vector<BodyLink> out;
  size_t i = 0;
  if (html) {
    // href="http..." or href='http...' (any case of href).
    while (i < body.size()) {
      size_t at = std::string::npos;
      for (size_t k = i; k + 5 < body.size(); ++k)
        if (at_word(body, k, "href")) {
          size_t q = k + 4;
          while (q < body.size() && is_space(body[q])) ++q;
          if (q >= body.size() || body[q] != '=') continue;
          ++q;
          while (q < body.size() && is_space(body[q])) ++q;
          if (q < body.size() && (body[q] == '"' || body[q] == '\'')) {
            at = q;
            break;
          }
        }
      if (at == std::string::npos) break;
      char quote = body[at];
      size_t close = body.find(quote, at + 1);
      if (close == std::string::npos) break;
      std::string url = html_unescape(std::string_view(body).substr(at + 1, close - at - 1));
      if (starts_with_http(url)) out.push_back(BodyLink{at + 1, close, std::move(url)});
      i = close + 1;
    }
    return out;
  }
  while (i < body.size()) {
    size_t a = body.find("http://", i), b = body.find("https://", i);
    size_t at = std::min(a, b);
    if (at == std::string::npos) break;
    size_t end = at;
    while (end < body.size() && url_char(body[end])) ++end;
    // Trailing punctuation belongs to the sentence, not the URL.
    while (end > at && std::string_view(".,;:!?)'").find(body[end - 1]) != std::string_view::npos)
      --end;
    out.push_back(BodyLink{at, end, body.substr(at, end - at)});
    i = end > at ? end : at + 1;
  }
  return out;
}

std::vector<std::string> template_links(const std::string& body, bool html,
                                        const std::vector<TagSpan>& spans) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const BodyLink& link : find_links(body, html)) {
    // The end of the authority as written: the first '/', '?' or '#' after "://".
    size_t scheme = body.find("://", link.begin);
    if (scheme == std::string::npos || scheme >= link.end) continue;
    size_t host_end = body.find_first_of("/?#", scheme + 3);
    if (host_end == std::string::npos || host_end > link.end) host_end = link.end;
    if (host_end == scheme + 3) continue;  // no host
    bool literal = true;
    for (const TagSpan& t : spans)
      if (t.begin < host_end && t.end > link.begin) literal = false;
    if (literal && seen.insert(link.url).second) out.push_back(link.url);
  }
  return out;
}

// Distinct tag paths of a compiled template.
std::vector<std::string> tags_of(const CompiledTemplate& tmpl) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const TemplatePart& p : tmpl.parts)
    if (p.is_tag && seen.insert(p.text).second) out.push_back(p.text);
  return out;
}

// Distinct tag paths of template text.
std::vector<std::string> tags_of(std::string_view text) {
  return tags_of(compile_template(text));
}

bool is_column_tag(const std::string& path) {
  return path.rfind("context.", 0) != 0 && path.rfind("event.", 0) != 0;
}

std::vector<std::string> required_columns(const CompiledTemplate& tmpl) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const TemplatePart& p : tmpl.parts)
    if (p.is_tag && !p.default_value && is_column_tag(p.text) && seen.insert(p.text).second)
      out.push_back(p.text);
  return out;
}

std::vector<std::string> required_columns(std::string_view text) {
  return required_columns(compile_template(text));
}

}  // namespace pgj::core
