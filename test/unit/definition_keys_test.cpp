// The top-level keys a definition does not have: validate warns of them and
// journey.import refuses them (a setting misplaced beside "settings" was
// dropped without a word: probe-sim-5).
#include <gtest/gtest.h>

#include "core/validator.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

TEST(DefinitionKeys, UnknownTopLevelKeysInOrder) {
  Json def = Json::parse(R"({"name": "n", "audience": "a", "holdout_percent": 10,
                             "settings": {"holdout_percent": 5}, "start": "s", "steps": [],
                             "bogus": 1, "entry": [], "exit": [], "description": "d"})");
  // nlohmann's object keeps its keys sorted.
  EXPECT_EQ(unknown_definition_keys(def), (std::vector<std::string>{"bogus", "holdout_percent"}));
}

TEST(DefinitionKeys, ExportKeysAreKnown) {
  Json def = Json::parse(R"({"name": "n", "audience": "a", "version": 2, "state": "live",
                             "id": 7, "layout": {}, "steps": []})");
  EXPECT_TRUE(unknown_definition_keys(def).empty());
  EXPECT_TRUE(unknown_definition_keys(Json::array()).empty());
}

}  // namespace PGJ_UNIT_ID
