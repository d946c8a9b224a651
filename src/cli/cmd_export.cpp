// journeyctl export: a journey's JSON definition (journey.export).
#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

int export_journey(Context& ctx) {
  auto version = ctx.int_option("version", 1, 2147483647);
  std::optional<std::string> v;
  if (version) v = std::to_string(*version);
  Json def = query_json(ctx.db(), "SELECT journey.export($1, $2::int)", ctx.arg(0), param(v));
  write_file(ctx.option_or("output", "-"), def.dump(2) + "\n");
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "export",
    "print a journey's JSON definition",
    "NAME",
    "Prints the definition journey.import accepts: the draft when there is one, else the\n"
    "latest version (or --version N). The \"layout\" member keeps the builder's step positions.",
    {{"version", 'v', "N", "export version N"},
     {"output", 'o', "FILE", "write to FILE instead of standard output"}},
    true,
    1,
    1,
    export_journey});

}  // namespace
}  // namespace pgj::cli
