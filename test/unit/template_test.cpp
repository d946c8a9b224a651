// Tests for merge-tag templates: parsing, errors, rendering, defaults.
#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "core/template.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

using pgj::unit::E;
using pgj::unit::R;

TEST(Template, PlainTextCopiedVerbatim) {
  EXPECT_EQ(R("Hello, world } { }} x", {}), "Hello, world } { }} x");
  EXPECT_EQ(R("", {}), "");
}

TEST(Template, Tags) {
  std::map<std::string, std::string> v{
      {"first_name", "Ann"}, {"context.coupon", "SAVE10"}, {"event.cart_id", "c-1"}};
  EXPECT_EQ(R("Hi {{first_name}}!", v), "Hi Ann!");
  EXPECT_EQ(R("Hi {{ first_name }}, use {{context.coupon}} on {{event.cart_id}}", v),
            "Hi Ann, use SAVE10 on c-1");
  EXPECT_EQ(R("{{first_name}}{{first_name}}", v), "AnnAnn");
}

TEST(Template, DefaultFilter) {
  EXPECT_EQ(R("Hi {{first_name | default: \"there\"}}", {}), "Hi there");
  EXPECT_EQ(R("Hi {{first_name|default:'there'}}", {}), "Hi there");
  EXPECT_EQ(R("Hi {{ first_name | default: \"there\" }}", {{"first_name", "Bo"}}), "Hi Bo");
  EXPECT_EQ(R("Hi {{first_name | default: \"there\"}}", {{"first_name", ""}}), "Hi there");
  EXPECT_EQ(R("{{x | default: \"a {{ b }} c\"}}", {}), "a {{ b }} c");
  EXPECT_EQ(R("{{x | default: \"say \\\"hi\\\"\"}}", {}), "say \"hi\"");
  EXPECT_EQ(R("{{x | default: \"\"}}", {}), "");
}

TEST(Template, MissingRendersEmpty) {
  EXPECT_EQ(R("Hi {{first_name}}.", {}), "Hi .");
  CompiledTemplate t = compile_template("a{{b}}c");
  EXPECT_EQ(render(t, TagLookup{}), "ac");  // no lookup at all
}

TEST(Template, CompiledParts) {
  CompiledTemplate t = compile_template("Hi {{name | default: \"x\"}}!");
  ASSERT_EQ(t.parts.size(), 3u);
  EXPECT_FALSE(t.parts[0].is_tag);
  EXPECT_EQ(t.parts[0].text, "Hi ");
  EXPECT_TRUE(t.parts[1].is_tag);
  EXPECT_EQ(t.parts[1].text, "name");
  EXPECT_EQ(t.parts[1].default_value, "x");
  EXPECT_EQ(t.parts[2].text, "!");
}

TEST(Template, TagsOf) {
  EXPECT_EQ(tags_of("{{a}} {{context.b}} {{a}} {{event.c | default: 'x'}}"),
            (std::vector<std::string>{"a", "context.b", "event.c"}));
  EXPECT_TRUE(tags_of("no tags").empty());
}

// tags_of was quadratic in the number of distinct tags (200,000 took over a
// minute); with a generous bound against a loaded machine.
TEST(Template, TagsOfManyTagsInLinearTime) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "{{t" + std::to_string(i) + "}} {{t0}}";
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> tags = tags_of(text);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(tags.size(), 200000u);
  EXPECT_EQ(tags[1], "t1");
  EXPECT_LT(seconds, 10.0);
}

TEST(Template, Errors) {
  EXPECT_NE(E("Hi {{name").find("unclosed \"{{\""), std::string::npos);
  EXPECT_NE(E("Hi {{name | default: \"x").find("unclosed"), std::string::npos);
  EXPECT_NE(E("Hi {{}}").find("empty merge tag"), std::string::npos);
  EXPECT_NE(E("Hi {{  }}").find("empty merge tag"), std::string::npos);
  EXPECT_NE(E("Hi {{ | default: 'x' }}").find("empty merge tag"), std::string::npos);
  EXPECT_NE(E("{{name | upper}}").find("unknown filter \"upper\""), std::string::npos);
  EXPECT_NE(E("{{name | default}}").find("bad filter"), std::string::npos);
  EXPECT_NE(E("{{name | default: there}}").find("bad filter"), std::string::npos);
  EXPECT_NE(E("{{name | }}").find("bad filter"), std::string::npos);
  EXPECT_NE(E("{{name | default: 'x' junk}}").find("bad filter"), std::string::npos);
  EXPECT_NE(E("{{first name}}").find("invalid merge tag"), std::string::npos);
  EXPECT_NE(E("{{.a}}").find("invalid merge tag"), std::string::npos);
  EXPECT_TRUE(template_errors("ok {{a}} {{b | default: \"c\"}}").empty());
}

TEST(Template, ErrorsDoNotStopRendering) {
  CompiledTemplate t = compile_template("a {{}} b {{x}}");
  EXPECT_EQ(t.errors.size(), 1u);
  EXPECT_EQ(render(t, [](const std::string&) { return std::optional<std::string>("X"); }),
            "a {{}} b X");
}

}  // namespace PGJ_UNIT_ID
