// Array datums for batched writes; every PostgreSQL call goes through pg_guard.
#include "pg/datum.hpp"

#include "pg/bridge.hpp"

extern "C" {
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
}

namespace pgj::pg {

namespace {

// Builds a one-dimensional array from palloc'd element datums.
Datum make_array(Datum* elems, bool* nulls, int n, Oid type, int len, bool byval, char align) {
  return pg_guard([&] {
    int dims[1] = {n};
    int lbs[1] = {1};
    return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type, len, byval, align));
  });
}

}  // namespace

Datum text_array(const std::vector<std::optional<std::string>>& values) {
  const int n = static_cast<int>(values.size());
  Datum* elems = pg_guard([&] { return static_cast<Datum*>(palloc0(sizeof(Datum) * (n + 1))); });
  bool* nulls = pg_guard([&] { return static_cast<bool*>(palloc0(sizeof(bool) * (n + 1))); });
  pg_guard([&] {
    for (int i = 0; i < n; ++i) {
      if (values[i])
        elems[i] = PointerGetDatum(
            cstring_to_text_with_len(values[i]->data(), static_cast<int>(values[i]->size())));
      else
        nulls[i] = true;
    }
  });
  return make_array(elems, nulls, n, TEXTOID, -1, false, TYPALIGN_INT);
}

std::vector<std::string> text_array_values(Datum array) {
  std::vector<std::string> out;
  pg_guard([&] {
    Datum* elems = nullptr;
    bool* nulls = nullptr;
    int n = 0;
    deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls,
                      &n);
    out.reserve(n);
    for (int i = 0; i < n; ++i) {
      if (nulls[i]) continue;
      text* t = DatumGetTextPP(elems[i]);
      out.emplace_back(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
    }
  });
  return out;
}

Datum int8_array(const std::vector<int64_t>& values) {
  const int n = static_cast<int>(values.size());
  Datum* elems = pg_guard([&] { return static_cast<Datum*>(palloc0(sizeof(Datum) * (n + 1))); });
  for (int i = 0; i < n; ++i) elems[i] = Int64GetDatum(values[i]);
  return make_array(elems, nullptr, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

Datum int4_array(const std::vector<int32_t>& values) {
  const int n = static_cast<int>(values.size());
  Datum* elems = pg_guard([&] { return static_cast<Datum*>(palloc0(sizeof(Datum) * (n + 1))); });
  for (int i = 0; i < n; ++i) elems[i] = Int32GetDatum(values[i]);
  return make_array(elems, nullptr, n, INT4OID, 4, true, TYPALIGN_INT);
}

Datum bool_array(const std::vector<bool>& values) {
  const int n = static_cast<int>(values.size());
  Datum* elems = pg_guard([&] { return static_cast<Datum*>(palloc0(sizeof(Datum) * (n + 1))); });
  for (int i = 0; i < n; ++i) elems[i] = BoolGetDatum(values[i]);
  return make_array(elems, nullptr, n, BOOLOID, 1, true, TYPALIGN_CHAR);
}

Datum timestamptz_array(const std::vector<std::optional<int64_t>>& values) {
  const int n = static_cast<int>(values.size());
  Datum* elems = pg_guard([&] { return static_cast<Datum*>(palloc0(sizeof(Datum) * (n + 1))); });
  bool* nulls = pg_guard([&] { return static_cast<bool*>(palloc0(sizeof(bool) * (n + 1))); });
  for (int i = 0; i < n; ++i) {
    if (values[i])
      elems[i] = TimestampTzGetDatum(unix_to_pg(*values[i]));
    else
      nulls[i] = true;
  }
  return make_array(elems, nulls, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

JsonbKey jsonb_key(Datum jsonb, const std::string& key) {
  const char* type_name = nullptr;
  char* text = nullptr;
  char* rendered = nullptr;
  pg_guard([&] {
    Jsonb* jb = DatumGetJsonbP(jsonb);
    if (!JB_ROOT_IS_OBJECT(jb)) return;
    JsonbValue found;
    if (!getKeyJsonValueFromContainer(&jb->root, key.data(), static_cast<int>(key.size()), &found))
      return;
    switch (found.type) {  // ->> as JsonbValueAsText (jsonfuncs.c) renders it
      case jbvNull:
        type_name = "null";
        break;
      case jbvString:
        type_name = "string";
        text = pnstrdup(found.val.string.val, found.val.string.len);
        break;
      case jbvNumeric:
        type_name = "number";
        text =
            DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(found.val.numeric)));
        break;
      case jbvBool:
        type_name = "boolean";
        text = pstrdup(found.val.boolean ? "true" : "false");
        break;
      case jbvBinary:
        type_name = JsonContainerIsArray(found.val.binary.data) ? "array" : "object";
        text = JsonbToCString(nullptr, found.val.binary.data, found.val.binary.len);
        break;
      default:
        return;
    }
    Jsonb* value = JsonbValueToJsonb(&found);  // -> and jsonb_out
    rendered = JsonbToCString(nullptr, &value->root, VARSIZE(value));
  });
  JsonbKey out;
  if (type_name) out.json_type = type_name;
  if (text) out.text = std::string(text);
  if (rendered) out.rendered = rendered;
  return out;
}

}  // namespace pgj::pg
