// Refuses journey.enroll / journey.track with a null customer id before the
// planner of another extension sees the call. Citus delegates a distributed
// function call to the node that owns its distribution argument, and hashes a
// null one without checking it (Citus 13.2: the backend crashes). The check
// runs first because pg_journey is preloaded after Citus, whose planner hook it
// wraps; without Citus (no hook installed) the functions refuse a null id
// themselves (22004, the same message).
#include "pg/null_customer.hpp"

#include "pg/postgres.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "optimizer/planner.h"
}

namespace {

planner_hook_type previous_planner = nullptr;

// The customer id argument of a call of journey.enroll or journey.track, or
// nullptr for any other expression.
Node* customer_argument(Node* expression) {
  if (!expression || !IsA(expression, FuncExpr)) return nullptr;
  FuncExpr* call = castNode(FuncExpr, expression);
  if (list_length(call->args) < 2) return nullptr;
  Oid schema = get_namespace_oid("journey", true);
  if (!OidIsValid(schema) || get_func_namespace(call->funcid) != schema) return nullptr;
  char* name = get_func_name(call->funcid);
  if (!name) return nullptr;
  if (strcmp(name, "enroll") == 0) return static_cast<Node*>(lsecond(call->args));
  if (strcmp(name, "track") == 0) return static_cast<Node*>(linitial(call->args));
  return nullptr;
}

bool is_null(Node* argument, ParamListInfo bound) {
  if (IsA(argument, Const)) return castNode(Const, argument)->constisnull;
  if (IsA(argument, Param) && bound) {
    Param* param = castNode(Param, argument);
    if (param->paramkind != PARAM_EXTERN || param->paramid < 1 || param->paramid > bound->numParams)
      return false;
    ParamExternData* data = &bound->params[param->paramid - 1];
    if (bound->paramFetch) {
      ParamExternData fetched;
      data = bound->paramFetch(bound, param->paramid, true, &fetched);
    }
    return data && OidIsValid(data->ptype) && data->isnull;
  }
  return false;
}

// Only a SELECT whose one target is the call and that reads no table: the
// shape Citus delegates.
PlannedStmt* refuse_null_customer(Query* query, const char* text, int options,
                                  ParamListInfo bound) {
  if (query->commandType == CMD_SELECT && query->rtable == NIL &&
      list_length(query->targetList) == 1) {
    TargetEntry* target = linitial_node(TargetEntry, query->targetList);
    Node* argument = customer_argument(reinterpret_cast<Node*>(target->expr));
    if (argument && is_null(argument, bound))
      ereport(ERROR,
              (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("customer_id must not be null")));
  }
  return previous_planner ? previous_planner(query, text, options, bound)
                          : standard_planner(query, text, options, bound);
}

}  // namespace

namespace pgj::pg {

void install_null_customer_check() {
  // Only beside Citus: a single node refuses a null id in the functions (no
  // hook on its every plan).
  const char* libraries = GetConfigOption("shared_preload_libraries", true, false);
  if (!libraries || !strstr(libraries, "citus")) return;
  previous_planner = planner_hook;
  planner_hook = refuse_null_customer;
}

}  // namespace pgj::pg
