// journeyctl draw: a picture of a journey with its per-step counts
// (journey.to_dot rendered by Graphviz's dot into SVG or PNG).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/journeyctl.hpp"

namespace pgj::cli {
namespace {

// Runs `dot -T<format> -o <out>` with `input` on its standard input.
void run_dot(const std::string& format, const std::string& out, const std::string& input) {
  const std::string dot = std::getenv("JOURNEYCTL_DOT") ? std::getenv("JOURNEYCTL_DOT") : "dot";
  int in[2];
  if (pipe(in) != 0) throw local_error(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) throw local_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    close(in[0]);
    close(in[1]);
    std::string t = "-T" + format;
    execlp(dot.c_str(), dot.c_str(), t.c_str(), "-o", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  signal(SIGPIPE, SIG_IGN);
  size_t done = 0;
  while (done < input.size()) {
    ssize_t n = write(in[1], input.data() + done, input.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(in[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw local_error("cannot run Graphviz \"" + dot +
                      "\": install it (Debian: apt-get install graphviz) or use --dot FILE");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw local_error("Graphviz dot failed to write " + out);
}

int draw(Context& ctx) {
  auto version = ctx.int_option("version", 1, 2147483647);
  std::optional<std::string> v;
  if (version) v = std::to_string(*version);
  int outputs = ctx.flag("svg") + ctx.flag("png") + ctx.flag("dot");
  if (outputs != 1) throw usage_error("give exactly one of --svg FILE, --png FILE or --dot FILE");
  pqxx::result r = run_sql(ctx.db(), "SELECT journey.to_dot($1, $2::int)", ctx.arg(0), param(v));
  std::string dot = r[0][0].c_str();
  if (auto f = ctx.option("dot")) {
    write_file(*f, dot);
  } else {
    const bool svg = ctx.flag("svg");
    const std::string out = *ctx.option(svg ? "svg" : "png");
    run_dot(svg ? "svg" : "png", out, dot);
  }
  std::string out =
      ctx.option("svg").value_or(ctx.option("png").value_or(ctx.option_or("dot", "")));
  if (out != "-") std::cerr << "wrote " << out << "\n";
  return kOk;
}

JOURNEYCTL_COMMAND(Command{
    "draw",
    "draw a journey with its counts (SVG or PNG through Graphviz)",
    "NAME (--svg FILE | --png FILE | --dot FILE)",
    "Renders journey.to_dot (the live version, else the latest; or --version N) with\n"
    "Graphviz's dot (Debian package graphviz; $JOURNEYCTL_DOT names another binary).\n"
    "--dot writes the DOT text itself and needs no Graphviz.",
    {{"svg", 0, "FILE", "write an SVG picture"},
     {"png", 0, "FILE", "write a PNG picture"},
     {"dot", 0, "FILE", "write the DOT source (\"-\": standard output)"},
     {"version", 'v', "N", "draw version N"}},
    true,
    1,
    1,
    draw});

}  // namespace
}  // namespace pgj::cli
