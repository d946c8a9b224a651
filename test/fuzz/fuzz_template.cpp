// Fuzz target: merge-tag templates (src/core/template.hpp) on arbitrary text:
// compile, render with a lookup that knows some paths, tags_of, template_errors.
// Properties: literal text is never lost (a template without valid tags renders
// as itself); writing the compiled parts back as canonical tags compiles to the
// same parts; rendering follows the parts; error messages are valid UTF-8 when
// the text is.
#include "core/template.hpp"
#include "fuzz_common.hpp"

using namespace pgj::core;
using pgj::fuzz::valid_utf8;

namespace {

// Values a customer row / context / event might give: present, empty, missing.
std::optional<std::string> lookup(const std::string& path) {
  if (path == "first_name") return std::string("Ada");
  if (path == "plan") return std::string();  // empty: the default applies
  if (path == "context.coupon") return std::string("{{not a tag}}");
  if (path.rfind("event.", 0) == 0) return "<" + path + ">";
  return std::nullopt;
}

// The canonical text of a compiled template: literals as is, tags as
// {{path}}, {{path | default: "..."}} and further filters with " and \ escaped.
std::string canonical(const CompiledTemplate& t) {
  std::string out;
  for (const TemplatePart& p : t.parts) {
    if (!p.is_tag) {
      out += p.text;
      continue;
    }
    out += "{{" + p.text;
    if (p.default_value) {
      out += " | default: \"";
      for (char c : *p.default_value) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    for (const TemplateFilter& f : p.filters) {
      out += " | " + f.name;
      for (size_t i = 0; i < f.args.size(); ++i) {
        out += i == 0 ? ": " : ", ";
        if (!f.quoted[i]) {
          out += f.args[i];
          continue;
        }
        out += '"';
        for (char c : f.args[i]) {
          if (c == '"' || c == '\\') out += '\\';
          out += c;
        }
        out += '"';
      }
    }
    out += "}}";
  }
  return out;
}

// What render must produce for these parts.
std::string expected_render(const CompiledTemplate& t) {
  std::string out;
  for (const TemplatePart& p : t.parts) {
    if (!p.is_tag) {
      out += p.text;
      continue;
    }
    std::optional<std::string> v = lookup(p.text);
    std::string value;
    if (v && !v->empty())
      value = *v;
    else if (p.default_value)
      value = *p.default_value;
    for (const TemplateFilter& f : p.filters) value = apply_filter(f, value);
    out += value;
  }
  return out;
}

bool same_parts(const CompiledTemplate& a, const CompiledTemplate& b) {
  if (a.parts.size() != b.parts.size()) return false;
  for (size_t i = 0; i < a.parts.size(); ++i)
    if (a.parts[i].is_tag != b.parts[i].is_tag || a.parts[i].text != b.parts[i].text ||
        a.parts[i].default_value != b.parts[i].default_value ||
        a.parts[i].filters.size() != b.parts[i].filters.size())
      return false;
  for (size_t i = 0; i < a.parts.size(); ++i)
    for (size_t k = 0; k < a.parts[i].filters.size(); ++k)
      if (a.parts[i].filters[k].name != b.parts[i].filters[k].name ||
          a.parts[i].filters[k].args != b.parts[i].filters[k].args ||
          a.parts[i].filters[k].quoted != b.parts[i].filters[k].quoted)
        return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const CompiledTemplate t = compile_template(text);

  size_t tags = 0;
  std::string literals;
  for (size_t i = 0; i < t.parts.size(); ++i) {
    const TemplatePart& p = t.parts[i];
    if (p.is_tag) {
      ++tags;
      PGJ_FUZZ_CHECK(!p.text.empty(), "empty tag path");
    } else {
      PGJ_FUZZ_CHECK(!p.text.empty(), "empty literal part");
      PGJ_FUZZ_CHECK(i == 0 || t.parts[i - 1].is_tag, "two literal parts in a row");
      literals += p.text;
    }
  }
  if (tags == 0) PGJ_FUZZ_CHECK(literals == text, "literal text lost");
  if (valid_utf8(text))
    for (const std::string& e : t.errors) PGJ_FUZZ_CHECK(valid_utf8(e), "error not UTF-8: " + e);
  PGJ_FUZZ_CHECK(template_errors(text) == t.errors, "template_errors differs from compile");

  const std::string rendered = render(t, lookup);
  PGJ_FUZZ_CHECK(rendered == expected_render(t), "render does not follow the parts");
  PGJ_FUZZ_CHECK(render(t, nullptr) ==
                     render(t, [](const std::string&) { return std::optional<std::string>(); }),
                 "render without a lookup");

  std::vector<std::string> paths = tags_of(t);
  PGJ_FUZZ_CHECK(paths == tags_of(std::string_view(text)), "tags_of(text) differs");
  PGJ_FUZZ_CHECK(paths.size() <= tags, "more distinct tags than tags");

  // Canonical tags compile to the same parts. Only for templates without
  // errors: a malformed tag next to a valid one may legitimately pair up
  // differently once the valid tag is rewritten.
  if (t.errors.empty()) {
    const std::string canon = canonical(t);
    const CompiledTemplate again = compile_template(canon);
    PGJ_FUZZ_CHECK(again.errors.empty(), "canonical form has errors: " + canon);
    PGJ_FUZZ_CHECK(same_parts(t, again), "canonical form compiles differently: " + canon);
  }
  return 0;
}
