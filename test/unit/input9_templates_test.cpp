// attack-9 F4: merge tags that name no column of the audience (template.hpp
// required_columns, the validator's check of templates and send payloads).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/template.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// --- F4: merge tags that name no column of the audience --------------------

TEST(RequiredColumns, ColumnTagsWithoutADefault) {
  EXPECT_EQ(required_columns("Hi {{frist_name}} {{ plan | upcase }} {{frist_name}}"),
            (std::vector<std::string>{"frist_name", "plan"}));
  EXPECT_EQ(required_columns("{{nick | default: \"you\"}} {{event.cart_id}} {{context.coupon}}"),
            std::vector<std::string>{});
  // One use without a default is enough.
  EXPECT_EQ(required_columns("{{nick | default: 'x'}} {{nick}}"), std::vector<std::string>{"nick"});
  EXPECT_TRUE(is_column_tag("context"));
  EXPECT_FALSE(is_column_tag("context.a.b"));
  EXPECT_FALSE(is_column_tag("event.x"));
}

struct TemplateColumns : ::testing::Test {
  AudienceSchema schema = unit::audience_schema("public.clients");
  std::map<std::string, std::string> texts{{"typo", "Hi {{frist_name}} {{email}}"},
                                           {"ok", "{{email}} {{nick | default: \"you\"}}"}};
  ValidationEnv env;
  void SetUp() override {
    schema.columns = {{"id", ValueType::Int, "int"}, {"email", ValueType::Text, "text"}};
    env.audience = &schema;
    env.template_channel = [](const std::string&) -> std::optional<std::string> { return "email"; };
    env.template_columns = [this](const std::string& name) {
      return required_columns(texts.at(name));
    };
  }
  std::vector<std::string> errors(const char* steps) {
    std::vector<std::string> out;
    for (const Issue& i : validate_journey(unit::journey_def("public.clients", steps), env))
      out.push_back(i.severity + " " + i.step_key + ": " + i.message);
    return out;
  }
};

TEST_F(TemplateColumns, TemplateTagTypoIsAnErrorAtItsStep) {
  EXPECT_EQ(errors(R"([{"key": "m", "type": "send_email", "template": "typo"}])"),
            std::vector<std::string>{"error m: template \"typo\" renders column \"frist_name\", "
                                     "which audience public.clients does not have"});
  EXPECT_EQ(errors(R"([{"key": "m", "type": "send_email", "template": "ok"}])"),
            std::vector<std::string>{});
}

TEST_F(TemplateColumns, PayloadTagTypoIsAnError) {
  const char* steps = R"([{"key": "p", "type": "send", "channel": "push",
      "payload": {"t": "{{frist_name}} {{event.x}}", "a": ["{{nick | default: ''}}"]}}])";
  EXPECT_EQ(errors(steps),
            std::vector<std::string>{"error p: payload renders column \"frist_name\", which "
                                     "audience public.clients does not have"});
  env.template_columns = nullptr;  // the DDL guard's validation: not checked
  EXPECT_EQ(errors(steps), std::vector<std::string>{});
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
