# Shared by the shell integration tests (sourced; not a test itself): the
# cluster helpers of tools/cluster.sh, and pass/fail counting that ends with
# the "N passed, N failed" line tools/test.sh reads.
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/cluster.sh"
passed=0
failed=0

# Counts one check: description, expected, actual.
check() {
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok     $1"
  else failed=$((failed + 1)); echo "FAILED $1: expected '$2', got '$3'"; fi
}

# Prints the closing line; the exit status says whether every check passed.
finish_checks() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
