// Merge-tag template parsing and rendering.
#include "core/template.hpp"

#include <unordered_set>

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
    parts->push_back(TemplatePart{false, std::string(text), std::nullopt});
  }
}

// Skips whitespace starting at *i.
void skip_ws(std::string_view s, size_t* i) {
  while (*i < s.size() && is_space(s[*i])) ++*i;
}

// Parses one tag whose "{{" is at `open`. On success fills *part and sets *end
// just past "}}"; otherwise sets *error and *end to where scanning may resume.
bool parse_tag(std::string_view s, size_t open, TemplatePart* part, size_t* end,
               std::string* error) {
  size_t i = open + 2;
  const std::string where = " at offset " + std::to_string(open);
  auto closing = [&](size_t from) {
    size_t c = s.find("}}", from);
    return c == std::string_view::npos ? s.size() : c + 2;
  };
  skip_ws(s, &i);
  size_t p0 = i;
  while (i < s.size() && is_path_char(s[i])) ++i;
  std::string path(s.substr(p0, i - p0));
  skip_ws(s, &i);
  if (i >= s.size() || (s[i] != '}' && s[i] != '|')) {
    if (s.find("}}", open + 2) == std::string_view::npos) {
      *error = "unclosed \"{{\"" + where;
      *end = s.size();
    } else {
      *end = closing(open + 2);
      *error = "invalid merge tag \"" + std::string(s.substr(open, *end - open)) + "\"" + where;
    }
    return false;
  }
  auto bad_path = [&]() {
    return path.empty() || path.front() == '.' || path.back() == '.' ||
           path.find("..") != std::string::npos;
  };
  if (s[i] == '}') {
    if (i + 1 >= s.size() || s[i + 1] != '}') {
      *error = "unclosed \"{{\"" + where;
      *end = s.size();
      return false;
    }
    *end = i + 2;
    if (path.empty()) {
      *error = "empty merge tag" + where;
      return false;
    }
    if (bad_path()) {
      *error = "invalid merge tag \"" + std::string(s.substr(open, *end - open)) + "\"" + where;
      return false;
    }
    *part = TemplatePart{true, path, std::nullopt};
    return true;
  }
  // A filter: "| default: "x"".
  ++i;
  skip_ws(s, &i);
  size_t f0 = i;
  while (i < s.size() && is_path_char(s[i])) ++i;
  std::string filter(s.substr(f0, i - f0));
  if (path.empty()) {
    *end = closing(i);
    *error = "empty merge tag" + where;
    return false;
  }
  if (filter != "default") {
    *end = closing(i);
    if (*end == s.size() && s.find("}}", i) == std::string_view::npos) {
      *error = "unclosed \"{{\"" + where;
    } else if (filter.empty()) {
      *error =
          "bad filter in merge tag \"" + std::string(s.substr(open, *end - open)) + "\"" + where;
    } else {
      *error = "unknown filter \"" + filter + "\" in merge tag \"" +
               std::string(s.substr(open, *end - open)) + "\"" + where;
    }
    return false;
  }
  skip_ws(s, &i);
  auto bad_filter = [&](const char* why) {
    *end = closing(i);
    if (*end == s.size() && s.find("}}", i) == std::string_view::npos)
      *error = "unclosed \"{{\"" + where;
    else
      *error = std::string("bad filter in merge tag \"") +
               std::string(s.substr(open, *end - open)) + "\"" + where + ": " + why;
    return false;
  };
  if (i >= s.size() || s[i] != ':') return bad_filter("expected default: \"text\"");
  ++i;
  skip_ws(s, &i);
  if (i >= s.size() || (s[i] != '"' && s[i] != '\''))
    return bad_filter("the default must be a quoted string");
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
  if (!closed) {
    *error = "unclosed \"{{\"" + where + " (unterminated default string)";
    *end = s.size();
    return false;
  }
  skip_ws(s, &i);
  if (i + 1 >= s.size() || s[i] != '}' || s[i + 1] != '}')
    return bad_filter("expected \"}}\" after the default");
  *end = i + 2;
  if (bad_path()) {
    *error = "invalid merge tag \"" + std::string(s.substr(open, *end - open)) + "\"" + where;
    return false;
  }
  *part = TemplatePart{true, path, std::move(value)};
  return true;
}

}  // namespace

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
  std::string out;
  for (const TemplatePart& p : tmpl.parts) {
    if (!p.is_tag) {
      out += p.text;
      continue;
    }
    std::optional<std::string> v;
    if (lookup) v = lookup(p.text);
    if (v && !v->empty())
      out += *v;
    else if (p.default_value)
      out += *p.default_value;
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

}  // namespace pgj::core
