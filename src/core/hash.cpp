// Stable hashing for split variants and holdout groups.
#include "core/hash.hpp"

#include <cmath>
#include <string>

namespace pgj::core {

namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// Continues an FNV-1a hash over more bytes.
uint64_t fnv1a(uint64_t h, std::string_view text) {
  for (unsigned char c : text) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// splitmix64 finalizer: spreads FNV's weak high bits over the whole word.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A uniform number in [0, 1) from (salt, journey, customer); a NUL byte
// separates the parts so ("ab", "c") and ("a", "bc") differ.
double unit_interval(std::string_view salt, std::string_view journey, std::string_view customer) {
  uint64_t h = fnv1a(kFnvOffset, salt);
  h = fnv1a(h, std::string_view("\0", 1));
  h = fnv1a(h, journey);
  h = fnv1a(h, std::string_view("\0", 1));
  h = fnv1a(h, customer);
  return static_cast<double>(mix(h) >> 11) * (1.0 / 9007199254740992.0);  // / 2^53
}

}  // namespace

// FNV-1a 64 of text.
uint64_t stable_hash(std::string_view text) {
  return fnv1a(kFnvOffset, text);
}

// Weighted, deterministic choice of a split variant.
size_t pick_variant(const std::vector<double>& weights, std::string_view journey,
                    std::string_view customer, std::string_view step) {
  double total = 0;
  for (double w : weights)
    if (w > 0 && std::isfinite(w)) total += w;
  if (total <= 0) return 0;
  // The salt "split" alone is 0.1's journey-wide draw; "split\0<step>" can equal
  // no other salt, as step keys are not empty.
  std::string salt = "split";
  if (!step.empty()) salt.append(1, '\0').append(step);
  double point = unit_interval(salt, journey, customer) * total;
  double acc = 0;
  size_t last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    double w = weights[i];
    if (!(w > 0 && std::isfinite(w))) continue;
    acc += w;
    last = i;
    if (point < acc) return i;
  }
  return last;  // rounding at the top end
}

// Deterministic holdout membership.
bool in_holdout(double percent, std::string_view journey, std::string_view customer) {
  if (!(percent > 0)) return false;
  if (percent >= 100) return true;
  return unit_interval("holdout", journey, customer) * 100.0 < percent;
}

}  // namespace pgj::core
