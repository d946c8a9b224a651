// core::classify_column: the one classification of audience columns.
#include "core/column_class.hpp"

#include <gtest/gtest.h>

#include "core/catalog.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

ColumnClass of(uint32_t oid, std::string name = "", bool is_enum = false) {
  return classify_column(ColumnTypeFacts{oid, std::move(name), is_enum});
}

TEST(ColumnClass, BuiltInTypesByOid) {
  namespace o = type_oid;
  struct Case {
    uint32_t oid;
    ValueType type;
    DatumReader reader;
    const char* category;
  };
  const Case cases[] = {
      {o::kBool, ValueType::Bool, DatumReader::Bool, "bool"},
      {o::kInt2, ValueType::Int, DatumReader::Int2, "int"},
      {o::kInt4, ValueType::Int, DatumReader::Int4, "int"},
      {o::kInt8, ValueType::Int, DatumReader::Int8, "int"},
      {o::kFloat4, ValueType::Float, DatumReader::Float4, "float"},
      {o::kFloat8, ValueType::Float, DatumReader::Float8, "float"},
      {o::kNumeric, ValueType::Float, DatumReader::Numeric, "float"},
      {o::kText, ValueType::Text, DatumReader::Text, "text"},
      {o::kVarchar, ValueType::Text, DatumReader::Text, "text"},
      {o::kBpchar, ValueType::Text, DatumReader::Bpchar, "text"},
      {o::kName, ValueType::Text, DatumReader::Output, "text"},
      {o::kUuid, ValueType::Text, DatumReader::Output, "text"},
      {o::kTimestamp, ValueType::Timestamp, DatumReader::Timestamp, "timestamp"},
      {o::kTimestampTz, ValueType::Timestamp, DatumReader::Timestamp, "timestamp"},
      {o::kDate, ValueType::Date, DatumReader::Date, "date"},
      {o::kJson, ValueType::Json, DatumReader::Output, "json"},
      {o::kJsonb, ValueType::Json, DatumReader::Output, "json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.oid);
    ColumnClass k = of(c.oid);
    EXPECT_EQ(k.type, c.type);
    EXPECT_EQ(k.reader, c.reader);
    EXPECT_STREQ(column_category(k.type), c.category);
  }
}

TEST(ColumnClass, OnlyNumericRendersItsExactText) {
  EXPECT_TRUE(of(type_oid::kNumeric).exact_text);
  for (uint32_t oid : {type_oid::kFloat4, type_oid::kFloat8, type_oid::kInt8, type_oid::kText})
    EXPECT_FALSE(of(oid).exact_text) << oid;
}

TEST(ColumnClass, EnumsAndCitextAreTextReadByTheirOutputFunction) {
  ColumnClass e = of(16500, "mood", /*is_enum=*/true);
  EXPECT_EQ(e.type, ValueType::Text);
  EXPECT_EQ(e.reader, DatumReader::Output);
  EXPECT_TRUE(e.holds_text());
  ColumnClass c = of(16600, "citext");
  EXPECT_EQ(c.type, ValueType::Text);
  EXPECT_EQ(c.reader, DatumReader::Output);
}

TEST(ColumnClass, OtherTypesAreOther) {
  for (auto [oid, name] : {std::pair<uint32_t, const char*>{600, "point"},
                           {1186, "interval"},
                           {17, "bytea"},
                           {16700, "hstore"}}) {
    ColumnClass k = of(oid, name);
    EXPECT_EQ(k.type, ValueType::Other) << name;
    EXPECT_EQ(k.reader, DatumReader::Output) << name;
    EXPECT_STREQ(column_category(k.type), "other");
    EXPECT_FALSE(k.holds_text());
    EXPECT_FALSE(k.holds_time());
  }
}

TEST(ColumnClass, TextAndTimeCapabilities) {
  EXPECT_TRUE(of(type_oid::kVarchar).holds_text());
  EXPECT_FALSE(of(type_oid::kJsonb).holds_text());
  EXPECT_TRUE(of(type_oid::kTimestampTz).holds_time());
  EXPECT_TRUE(of(type_oid::kDate).holds_time());
  EXPECT_FALSE(of(type_oid::kInt8).holds_time());
}

// The catalog lists the categories a column can have, from the same place.
TEST(ColumnClass, CategoriesAreWhatTheCatalogLists) {
  EXPECT_EQ(column_categories(), (std::vector<std::string>{"bool", "int", "float", "text",
                                                           "timestamp", "date", "json"}));
  Json catalog = catalog_json();
  EXPECT_EQ(catalog["column_types"], Json(column_categories()));
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
