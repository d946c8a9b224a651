// Datum <-> C++ conversions. Every PostgreSQL call here goes through pg_guard.
#include "pg/convert.hpp"

#include "pg/bridge.hpp"

namespace pgj::pg {

core::Json jsonb_to_json(Datum datum) {
  const char* text = pg_guard([&] {
    Jsonb* value = DatumGetJsonbP(datum);
    return static_cast<const char*>(JsonbToCString(nullptr, &value->root, VARSIZE(value)));
  });
  return core::Json::parse(text);
}

Datum json_to_jsonb(const core::Json& value) {
  std::string text = value.dump();
  const char* cstr = text.c_str();
  return pg_guard([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(cstr)); });
}

std::string text_to_string(Datum datum) {
  struct Slice {
    const char* data;
    int len;
  };
  Slice slice = pg_guard([&] {
    struct varlena* t = DatumGetTextPP(datum);
    return Slice{VARDATA_ANY(t), static_cast<int>(VARSIZE_ANY_EXHDR(t))};
  });
  return std::string(slice.data, slice.len);
}

Datum string_to_text(const std::string& value) {
  const char* data = value.data();
  int len = static_cast<int>(value.size());
  return pg_guard([&] { return PointerGetDatum(cstring_to_text_with_len(data, len)); });
}

Datum result_record(FunctionCallInfo fcinfo, Datum* values, bool* nulls) {
  return pg_guard([&] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      elog(ERROR, "pg_journey: function %u must return a record", fcinfo->flinfo->fn_oid);
    desc = BlessTupleDesc(desc);
    return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
  });
}

std::string arg_string(FunctionCallInfo fcinfo, int n, const std::string& fallback) {
  if (PG_ARGISNULL(n)) return fallback;
  return text_to_string(PG_GETARG_DATUM(n));
}

std::optional<std::string> json_to_column_text(const core::Json& value) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

ArrayElements array_arg(FunctionCallInfo fcinfo, int n, Oid type) {
  ArrayElements out;
  if (PG_ARGISNULL(n)) return out;
  Datum array = PG_GETARG_DATUM(n);
  pg_guard([&] {
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(type, &len, &byval, &align);
    deconstruct_array(DatumGetArrayTypeP(array), type, len, byval, align, &out.values, &out.nulls,
                      &out.count);
  });
  return out;
}

}  // namespace pgj::pg
