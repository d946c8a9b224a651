#!/usr/bin/env bash
# Installs the Debian packages pg_journey needs to build and test, when missing
# (and those named as arguments).
# As root it runs apt-get (update once, then install); otherwise it prints the command.
set -euo pipefail

# journeyctl and the builder: cpp-httplib (its web server), Graphviz (journeyctl
# draw), curl (its HTTP tests), Chromium and a font (the browser tests), Node.js
# and npm (the front end's build, from the npm registry; Node.js 20 or later).
# journeyctl deliver: libcurl (SMTP, webhooks) and OpenSSL (signed tracking
# links); its tests receive mail with aiosmtpd.
packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
  libtap-parser-sourcehandler-pgtap-perl libpqxx-dev libgtest-dev nlohmann-json3-dev
  cmake g++ make clang-format
  libcpp-httplib-dev graphviz curl chromium fonts-dejavu-core
  libcurl4-openssl-dev libssl-dev python3-aiosmtpd)
# make fuzz: clang and its libFuzzer and sanitizer runtimes.
packages+=(clang libclang-rt-14-dev)
# Extra packages a target needs beyond make test (make soak: gnuplot-nox).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js from any source will do (Debian's, NodeSource's); only install one when none is there.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

# Checks that node is recent enough for the front end's tools.
check_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 20 ]; then
    echo "pg_journey's builder needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
    return 1
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  check_node
  exit
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "pg_journey needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
check_node
