// Deterministic assignment of customers to split variants and holdout groups.
// The hash is part of the stored behaviour: a customer must land in the same
// variant every time they enter, across versions and releases, so the
// functions below must never change their results.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace pgj::core {

// 64-bit FNV-1a of the bytes of text (offset basis 0xcbf29ce484222325, prime
// 0x100000001b3). Stable forever.
uint64_t stable_hash(std::string_view text);

// Index of the variant a customer gets in a split of `journey`: the hash of
// (journey, customer) mapped onto the cumulative weights, so shares follow the
// weights. Non-positive or NaN weights never win; returns 0 when no weight is
// positive (or weights is empty). With a non-empty `step`, the draw is the hash
// of (journey, step, customer) instead: a split that another split of the
// journey leads to draws its own, or its customers (all on one side of the
// first split's draw) would all land in the same variant.
size_t pick_variant(const std::vector<double>& weights, std::string_view journey,
                    std::string_view customer, std::string_view step = {});

// Whether a customer belongs to the holdout (control) group of `journey`, for
// holdout_percent in [0, 100]. Independent of pick_variant's assignment.
bool in_holdout(double percent, std::string_view journey, std::string_view customer);

}  // namespace pgj::core
