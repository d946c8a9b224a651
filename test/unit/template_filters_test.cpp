// Tests for the template filters beyond default (docs/authoring.md,
// "Templates"): upcase, downcase, capitalize, truncate, date, number, chains.
#include <gtest/gtest.h>

#include <map>

#include "core/template.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

using pgj::unit::E;
using pgj::unit::R;

TEST(TemplateFilters, Case) {
  std::map<std::string, std::string> v{{"n", "ada LOVELACE"}, {"u", "élan"}};
  EXPECT_EQ(R("{{n | upcase}}", v), "ADA LOVELACE");
  EXPECT_EQ(R("{{n|downcase}}", v), "ada lovelace");
  EXPECT_EQ(R("{{ n | capitalize }}", v), "Ada lovelace");
  EXPECT_EQ(R("{{u | upcase}}", v), "éLAN");  // ASCII letters only
}

TEST(TemplateFilters, Truncate) {
  std::map<std::string, std::string> v{{"t", "Hello wonderful world"}, {"u", "héllo wörld"}};
  EXPECT_EQ(R("{{t | truncate: 8}}", v), "Hello...");
  EXPECT_EQ(R("{{t | truncate: 21}}", v), "Hello wonderful world");
  EXPECT_EQ(R("{{t | truncate: 6, \"…\"}}", v), "Hello…");
  EXPECT_EQ(R("{{t | truncate: 5, ''}}", v), "Hello");
  EXPECT_EQ(R("{{t | truncate: 2}}", v), "He");          // "..." does not fit in 2
  EXPECT_EQ(R("{{u | truncate: 4, \"\"}}", v), "héll");  // characters, not bytes
}

TEST(TemplateFilters, Date) {
  std::map<std::string, std::string> v{{"at", "2030-01-01T09:05:07Z"},
                                       {"d", "2030-12-31"},
                                       {"off", "2030-03-01 23:30:00+02:00"},
                                       {"junk", "soon"}};
  EXPECT_EQ(R("{{at | date: \"%d %b %Y %H:%M:%S\"}}", v), "01 Jan 2030 09:05:07");
  EXPECT_EQ(R("{{at | date: \"%A %e %B %y, %I %p, day %j %%\"}}", v),
            "Tuesday 1 January 30, 09 AM, day 001 %");
  EXPECT_EQ(R("{{d | date: \"%a %d/%m/%Y (%j)\"}}", v), "Tue 31/12/2030 (365)");
  EXPECT_EQ(R("{{off | date: \"%Y-%m-%d %H:%M\"}}", v), "2030-03-01 21:30");  // in UTC
  EXPECT_EQ(R("{{junk | date: \"%Y\"}}", v), "soon");  // not a timestamp: unchanged
  EXPECT_EQ(R("{{at | date: \"%Q\"}}", v), "%Q");
}

TEST(TemplateFilters, Number) {
  std::map<std::string, std::string> v{
      {"n", "1234567.891"}, {"neg", "-0.004"}, {"i", "42"}, {"x", "abc"}, {"big", "-9876.5"}};
  EXPECT_EQ(R("{{n | number}}", v), "1,234,568");
  EXPECT_EQ(R("{{n | number: 2}}", v), "1,234,567.89");
  EXPECT_EQ(R("{{n | number: 2, \".\", \",\"}}", v), "1.234.567,89");
  EXPECT_EQ(R("{{n | number: 1, \"\"}}", v), "1234567.9");
  EXPECT_EQ(R("{{neg | number: 2}}", v), "0.00");
  EXPECT_EQ(R("{{i | number: 2}}", v), "42.00");
  EXPECT_EQ(R("{{big | number: 1, \" \"}}", v), "-9 876.5");
  EXPECT_EQ(R("{{x | number: 2}}", v), "abc");
}

TEST(TemplateFilters, ChainsAndDefault) {
  std::map<std::string, std::string> v{{"name", "ada"}};
  EXPECT_EQ(R("{{name | capitalize | truncate: 2, \"\"}}", v), "Ad");
  // default applies to the missing value first, wherever it is written.
  EXPECT_EQ(R("{{missing | default: \"friend\" | upcase}}", v), "FRIEND");
  EXPECT_EQ(R("{{missing | upcase | default: \"friend\"}}", v), "FRIEND");
  EXPECT_EQ(R("{{missing | upcase}}", v), "");
  CompiledTemplate t = compile_template("{{a | default: 'x' | truncate: 3, '.' | upcase}}");
  ASSERT_EQ(t.parts.size(), 1u);
  EXPECT_EQ(t.parts[0].default_value, "x");
  ASSERT_EQ(t.parts[0].filters.size(), 2u);
  EXPECT_EQ(t.parts[0].filters[0].name, "truncate");
  EXPECT_EQ(t.parts[0].filters[0].args, (std::vector<std::string>{"3", "."}));
  EXPECT_EQ(t.parts[0].filters[1].name, "upcase");
  EXPECT_EQ(tags_of(t), std::vector<std::string>{"a"});
}

TEST(TemplateFilters, Errors) {
  EXPECT_NE(E("{{n | upcase: 1}}").find("upcase takes no argument"), std::string::npos);
  EXPECT_NE(E("{{n | truncate}}").find("expected truncate: <length"), std::string::npos);
  EXPECT_NE(E("{{n | truncate: 0}}").find("expected truncate"), std::string::npos);
  EXPECT_NE(E("{{n | truncate: '3'}}").find("expected truncate"), std::string::npos);
  EXPECT_NE(E("{{n | truncate: 3, 4}}").find("ellipsis of truncate"), std::string::npos);
  EXPECT_NE(E("{{n | date}}").find("expected date: \"format\""), std::string::npos);
  EXPECT_NE(E("{{n | date: 5}}").find("expected date"), std::string::npos);
  EXPECT_NE(E("{{n | number: 11}}").find("expected number"), std::string::npos);
  EXPECT_NE(E("{{n | number: 2, 3}}").find("separators of number"), std::string::npos);
  EXPECT_NE(E("{{n | truncate: x}}").find("must be quoted strings or numbers"), std::string::npos);
  EXPECT_NE(E("{{n | number: 2 | }}").find("bad filter"), std::string::npos);
  EXPECT_NE(E("{{n | shout}}").find("unknown filter \"shout\""), std::string::npos);
  EXPECT_NE(E("{{n | date: \"%Y}}").find("unterminated date string"), std::string::npos);
}

}  // namespace PGJ_UNIT_ID
