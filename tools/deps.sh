#!/usr/bin/env bash
# Installs the Debian packages pg_journey needs to build and test, when missing
# (and those named as arguments).
# As root it runs apt-get (update once, then install); otherwise it prints the command.
set -euo pipefail

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
  libtap-parser-sourcehandler-pgtap-perl libpqxx-dev libgtest-dev nlohmann-json3-dev
  cmake g++ make clang-format)
# Extra packages a target needs beyond make test (make soak: gnuplot-nox).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "pg_journey needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
