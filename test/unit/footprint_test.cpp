// heap_bytes: the heap a compiled object holds, which the pg layer reports as a
// cache entry's size (src/core/footprint.hpp, pg_backend_memory_contexts).
#include <gtest/gtest.h>

#include "core/engine.hpp"
#include "core/footprint.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema people() {
  AudienceSchema s;
  s.relation = "public.people";
  s.key_column = "id";
  s.columns = {{"id", ValueType::Int, "bigint"}, {"email", ValueType::Text, "text"}};
  s.email_column = 1;
  return s;
}

CompiledJourney journey(const std::string& steps) {
  Json d = Json::parse(R"({"name": "j", "audience": "public.people", "start": "a",
                           "entry": [{"type": "manual"}], "settings": {}, "exit": []})");
  d["steps"] = Json::parse(steps);
  return compile_journey(d, people(), 1, 1);
}

}  // namespace

TEST(Footprint, ChunksAsGlibcMallocTakesThem) {
  EXPECT_EQ(heap_chunk(0), 0u);
  EXPECT_EQ(heap_chunk(1), 32u);   // the smallest chunk
  EXPECT_EQ(heap_chunk(24), 32u);  // 24 bytes + the 8-byte header
  EXPECT_EQ(heap_chunk(25), 48u);
  EXPECT_EQ(heap_chunk(1000), 1008u);
}

TEST(Footprint, ShortStringsLiveInTheObject) {
  EXPECT_EQ(heap_bytes(std::string("fifteen chars..")), 0u);
  std::string longer(100, 'x');
  EXPECT_EQ(heap_bytes(longer), heap_chunk(longer.capacity() + 1));
}

TEST(Footprint, JsonCountsItsNodes) {
  EXPECT_EQ(heap_bytes(Json(42)), 0u);
  EXPECT_EQ(heap_bytes(Json("short")), heap_chunk(sizeof(Json::string_t)));
  Json object = Json::parse(R"({"a": 1, "b": [1, 2, 3]})");
  EXPECT_GT(heap_bytes(object), heap_bytes(Json::parse(R"({"a": 1})")));
  EXPECT_GT(heap_bytes(object), 3 * 32u);  // the object, two members, the array
}

TEST(Footprint, GrowsWithTheJourney) {
  CompiledJourney one = journey(R"([{"key": "a", "type": "exit"}])");
  CompiledJourney three = journey(R"([
      {"key": "a", "type": "condition", "if": {"field": "email", "op": "eq", "value": "x@y.z"},
       "branches": {"yes": "b", "no": "c"}},
      {"key": "b", "type": "exit"}, {"key": "c", "type": "exit"}])");
  EXPECT_GT(heap_bytes(one), sizeof(CompiledStep));  // its steps' buffer at least
  EXPECT_GT(heap_bytes(three), heap_bytes(one) + 2 * sizeof(CompiledStep));
  // The same definition gives the same figure (it is counted, not sampled).
  EXPECT_EQ(heap_bytes(three), heap_bytes(journey(R"([
      {"key": "a", "type": "condition", "if": {"field": "email", "op": "eq", "value": "x@y.z"},
       "branches": {"yes": "b", "no": "c"}},
      {"key": "b", "type": "exit"}, {"key": "c", "type": "exit"}])")));
}

}  // namespace PGJ_UNIT_ID
