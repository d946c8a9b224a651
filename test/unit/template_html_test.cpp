// Tests for merge tags in HTML e-mail bodies (docs/delivery.md, "HTML bodies
// and tracked links"): escaping by default, the raw filter, plain text left
// alone, which links the template itself wrote (the only ones the sender may
// click-track), truncate never exceeding its length, and the number filter
// formatting decimal text (numeric columns) exactly.
#include <gtest/gtest.h>

#include <map>

#include "core/template.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

using Values = std::map<std::string, std::string>;

TagLookup lookup_in(const Values& values) {
  return [&values](const std::string& path) -> std::optional<std::string> {
    auto it = values.find(path);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

// Renders text as the engine renders an e-mail body: HTML when the template is.
std::string body(const std::string& text, const Values& values,
                 std::vector<TagSpan>* spans = nullptr) {
  CompiledTemplate t = compile_template(text);
  EXPECT_TRUE(t.errors.empty()) << text << ": " << (t.errors.empty() ? "" : t.errors[0]);
  return render(t, lookup_in(values), is_html_template(t), spans);
}

// The links of a template's rendered body that the template itself wrote.
std::vector<std::string> links(const std::string& text, const Values& values) {
  CompiledTemplate t = compile_template(text);
  bool html = is_html_template(t);
  std::vector<TagSpan> spans;
  std::string out = render(t, lookup_in(values), html, &spans);
  return template_links(out, html, spans);
}

}  // namespace

TEST(TemplateHtml, HtmlTemplateEscapesMergeTags) {
  Values v{{"first_name", "<script>alert('x')</script>"}, {"q", "a&b \"c\""}};
  EXPECT_EQ(body("<p>Hi {{first_name}}</p>", v),
            "<p>Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>");
  EXPECT_EQ(body("  <a href=\"https://s.test/?q={{q}}\">x</a>", v),
            "  <a href=\"https://s.test/?q=a&amp;b &quot;c&quot;\">x</a>");
  // Defaults and filters are escaped too (after the filters ran).
  EXPECT_EQ(body("<b>{{missing | default: \"<you>\"}}</b>", v), "<b>&lt;you&gt;</b>");
  EXPECT_EQ(body("<b>{{first_name | upcase | truncate: 8, \"\"}}</b>", v), "<b>&lt;SCRIPT&gt;</b>");
}

TEST(TemplateHtml, RawFilterOptsOut) {
  Values v{{"snippet", "<em>hand-made</em>"}};
  EXPECT_EQ(body("<div>{{snippet | raw}}</div>", v), "<div><em>hand-made</em></div>");
  EXPECT_EQ(body("<div>{{snippet | upcase | raw}}</div>", v), "<div><EM>HAND-MADE</EM></div>");
  EXPECT_TRUE(template_errors("<p>{{snippet | raw}}</p>").empty());
  auto errs = template_errors("<p>{{snippet | raw: 1}}</p>");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("raw takes no argument"), std::string::npos) << errs[0];
}

TEST(TemplateHtml, PlainTextUnchanged) {
  Values v{{"first_name", "<script>&"}};
  // Plain text (first non-blank is not a literal '<'), even when a tag's value
  // starts with '<': never escaped.
  EXPECT_EQ(body("Hi {{first_name}}", v), "Hi <script>&");
  EXPECT_EQ(body("{{first_name}} <b>", v), "<script>& <b>");
  EXPECT_FALSE(is_html_template(compile_template("{{first_name}} <b>")));
  EXPECT_TRUE(is_html_template(compile_template(" \n<html>{{x}}")));
  // The two-argument render is plain text (subjects, SMS, payloads).
  EXPECT_EQ(render(compile_template("<p>{{first_name}}</p>"), lookup_in(v)), "<p><script>&</p>");
}

TEST(TemplateHtml, TagSpans) {
  Values v{{"a", "A&"}, {"b", ""}};
  std::vector<TagSpan> spans;
  EXPECT_EQ(body("<p>{{a}}-{{b}}-{{a | raw}}</p>", v, &spans), "<p>A&amp;--A&</p>");
  ASSERT_EQ(spans.size(), 2u);  // the empty tag has no span
  EXPECT_EQ(spans[0].begin, 3u);
  EXPECT_EQ(spans[0].end, 9u);
  EXPECT_EQ(spans[1].begin, 11u);
  EXPECT_EQ(spans[1].end, 13u);
}

TEST(TemplateHtml, OnlyTemplateWrittenLinksAreTracked) {
  Values v{{"url", "https://evil.test/phish"},
           {"first_name", "see https://evil.test/x"},
           {"cart", "42?x=1"},
           {"host", "evil.test"},
           {"suffix", ".evil.test/x"}};
  // HTML: the template's own links, personalised paths included; not a link
  // a tag wrote whole, nor one whose host a tag wrote or extended.
  EXPECT_EQ(links("<p><a href=\"https://shop.test/sale?a=1&amp;b=2\">sale</a>"
                  "<a href=\"{{url}}\">x</a>"
                  "<a href='https://shop.test/cart/{{cart}}'>cart</a>"
                  "<a href=\"https://{{host}}/y\">h</a>"
                  "<a href=\"https://shop.test{{suffix}}\">s</a>"
                  "<a href=\"mailto:help@shop.test\">m</a> {{first_name}}</p>",
                  v),
            (std::vector<std::string>{"https://shop.test/sale?a=1&b=2",
                                      "https://shop.test/cart/42?x=1"}));
  // A customer value that is an HTML anchor is escaped, so no link at all.
  EXPECT_EQ(links("<p>{{first_name}} <a>{{url}}</a></p>", v), std::vector<std::string>{});
  // Plain text: bare URLs the template wrote; a URL inside a tag's value is not.
  EXPECT_EQ(links("Read https://shop.test/blog. Then {{first_name}}, or {{url}}; "
                  "https://shop.test/blog again",
                  v),
            (std::vector<std::string>{"https://shop.test/blog"}));
}

TEST(TemplateHtml, FindLinks) {
  std::string html =
      "<a HREF = \"https://a.test/x?y=1&amp;z\">a</a><a href='http://b.test'>b</a>"
      "<a href=\"javascript:1\">j</a>";
  auto found = find_links(html, true);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].url, "https://a.test/x?y=1&z");
  EXPECT_EQ(html.substr(found[0].begin, found[0].end - found[0].begin),
            "https://a.test/x?y=1&amp;z");
  EXPECT_EQ(found[1].url, "http://b.test");
  auto plain = find_links("see (https://a.test/p), and http://b.test.", false);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].url, "https://a.test/p");
  EXPECT_EQ(plain[1].url, "http://b.test");
}

TEST(TemplateHtml, TruncateNeverLongerThanLength) {
  Values v{{"t", "A very long title"}};
  auto R = [&](const std::string& text) { return body(text, v); };
  EXPECT_EQ(R("{{t | truncate: 5, \"[more]\"}}"), "A ver");   // ellipsis of 6 > 5
  EXPECT_EQ(R("{{t | truncate: 6, \"[more]\"}}"), "A very");  // ellipsis of 6 = 6
  EXPECT_EQ(R("{{t | truncate: 7, \"[more]\"}}"), "A[more]");
  EXPECT_EQ(R("{{t | truncate: 2}}"), "A ");  // "..." does not fit in 2
  EXPECT_EQ(R("{{t | truncate: 4}}"), "A...");
  EXPECT_EQ(R("{{t | truncate: 1, \"…\"}}"), "A");
  EXPECT_EQ(R("{{t | truncate: 2, \"…\"}}"), "A…");
}

TEST(TemplateNumbers, DecimalTextFormatsExactly) {
  Values v{{"big", "12345678901234567.89"},
           {"half", "1.005"},
           {"nines", "999.995"},
           {"neg", "-0.004"},
           {"negbig", "-98765432109876543210.5"},
           {"exp", "1e20"}};
  auto R = [&](const std::string& text) { return body(text, v); };
  EXPECT_EQ(R("{{big}}"), "12345678901234567.89");  // the value itself is never touched
  EXPECT_EQ(R("{{big | number: 2}}"), "12,345,678,901,234,567.89");
  EXPECT_EQ(R("{{big | number: 0, \"\"}}"), "12345678901234568");
  EXPECT_EQ(R("{{big | number: 4, \".\", \",\"}}"), "12.345.678.901.234.567,8900");
  EXPECT_EQ(R("{{half | number: 2}}"), "1.01");  // half away from zero, not float8's 1.00
  EXPECT_EQ(R("{{nines | number: 2}}"), "1,000.00");
  EXPECT_EQ(R("{{neg | number: 2}}"), "0.00");  // no "-0.00"
  EXPECT_EQ(R("{{negbig | number}}"), "-98,765,432,109,876,543,211");
  EXPECT_EQ(R("{{exp | number: 1}}"), "100,000,000,000,000,000,000.0");  // through a double
}

}  // namespace PGJ_UNIT_ID
