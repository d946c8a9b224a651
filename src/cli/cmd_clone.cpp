// journeyctl clone: copies a journey's latest version into a new draft journey.
#include <iostream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

int clone(Context& ctx) {
  pqxx::result r = run_sql(ctx.db(), "SELECT journey.clone($1, $2)", ctx.arg(0), ctx.arg(1));
  std::cout << "cloned \"" << ctx.arg(0) << "\" as \"" << ctx.arg(1) << "\" (id " << r[0][0].c_str()
            << ", a draft)\n";
  return kOk;
}

JOURNEYCTL_COMMAND(Command{"clone",
                           "copy a journey into a new draft journey",
                           "NAME NEW_NAME",
                           "Copies the draft (or the latest version) of NAME: steps, connections,\n"
                           "entry triggers, exit rules, settings, layout and description.",
                           {},
                           true,
                           2,
                           2,
                           clone});

}  // namespace
}  // namespace pgj::cli
