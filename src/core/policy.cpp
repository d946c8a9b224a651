// Runtime policies of the engine: delivery, frequency caps, retries.
#include "core/policy.hpp"

#include <algorithm>
#include <map>
#include <variant>

#include "core/error.hpp"

namespace pgj::core {

bool in_quiet_window(const JourneySettings::QuietHours& quiet, int seconds) {
  return quiet.start_sec <= quiet.end_sec ? (seconds >= quiet.start_sec && seconds < quiet.end_sec)
                                          : (seconds >= quiet.start_sec || seconds < quiet.end_sec);
}

std::string customer_zone(const AudienceSchema& audience, const std::vector<Value>* row,
                          const std::string& fallback,
                          const std::function<bool(const std::string&)>& known) {
  int tz = audience.timezone_column;
  if (row && tz >= 0 && static_cast<size_t>(tz) < row->size())
    if (auto name = value_to_text((*row)[tz]); name && !name->empty() && (!known || known(*name)))
      return *name;
  return fallback;
}

std::string quiet_hours_zone(const JourneySettings& settings, const AudienceSchema& audience,
                             const std::vector<Value>* row,
                             const std::function<bool(const std::string&)>& known) {
  const auto& quiet = settings.quiet_hours;
  std::string zone = !quiet || quiet->timezone.empty() ? settings.timezone : quiet->timezone;
  if (zone != "customer") return zone;
  return customer_zone(audience, row, settings.timezone, known);
}

Delivery decide_delivery(const JourneySettings& settings, const AudienceSchema& audience,
                         const std::vector<Value>* row, bool holdout, bool no_recipient,
                         int64_t now, LocalClock& clock) {
  Delivery d;
  d.send_after = now;
  if (holdout || no_recipient) {
    d.suppressed = true;
    d.reason = holdout ? "holdout" : "no_recipient";
    return d;
  }
  if (const auto& quiet = settings.quiet_hours) {
    std::string zone = quiet_hours_zone(
        settings, audience, row, [&clock](const std::string& z) { return clock.known_zone(z); });
    if (in_quiet_window(*quiet, clock.local_seconds_of_day(now, zone)))
      d.send_after = clock.next_local_time(now, quiet->end_sec, 0, zone);
  }
  return d;
}

std::vector<bool> frequency_capped(const std::vector<CappedMessage>& messages,
                                   const EarlierMessages& earlier) {
  std::vector<bool> capped(messages.size(), false);
  std::map<std::string, int64_t> in_batch;  // customer -> messages this batch delivers
  for (size_t i = 0; i < messages.size(); ++i) {
    const CappedMessage& m = messages[i];
    if (!m.pending) continue;
    int64_t& delivered = in_batch[m.customer];
    if (m.window_start) {
      auto found = earlier.find({*m.window_start, m.customer});
      if ((found == earlier.end() ? 0 : found->second) + delivered >= m.max) {
        capped[i] = true;
        continue;
      }
    }
    ++delivered;
  }
  return capped;
}

ReentryRule reentry_rule(const JourneySettings& settings) {
  ReentryRule rule;
  rule.any_earlier_blocks = settings.reentry == JourneySettings::Reentry::Never;
  rule.replaces_active = settings.reentry == JourneySettings::Reentry::Always;
  rule.cooldown = settings.reentry_cooldown;
  return rule;
}

bool reentry_replaces(const ReentryRule& rule, const EarlierEnrollment& e,
                      std::optional<int64_t> cooldown_since) {
  const bool in_cooldown = cooldown_since && e.entered_at > *cooldown_since;
  return rule.replaces_active && e.active && !in_cooldown;
}

bool reentry_blocks(const ReentryRule& rule, const EarlierEnrollment& e,
                    std::optional<int64_t> cooldown_since) {
  const bool in_cooldown = cooldown_since && e.entered_at > *cooldown_since;
  return rule.any_earlier_blocks || in_cooldown ||
         (e.active && !reentry_replaces(rule, e, cooldown_since));
}

ReentryVerdict reentry_verdict(const ReentryRule& rule,
                               const std::vector<EarlierEnrollment>& earlier,
                               std::optional<int64_t> cooldown_since) {
  ReentryVerdict v;
  v.enroll = true;
  std::vector<const EarlierEnrollment*> ordered;
  for (const EarlierEnrollment& e : earlier) ordered.push_back(&e);
  std::sort(ordered.begin(), ordered.end(),
            [](const EarlierEnrollment* a, const EarlierEnrollment* b) { return a->id < b->id; });
  for (const EarlierEnrollment* e : ordered) {
    if (reentry_replaces(rule, *e, cooldown_since)) v.replace.push_back(e->id);
    if (reentry_blocks(rule, *e, cooldown_since)) v.enroll = false;
  }
  return v;
}

double holdout_percent_of(const Json& settings) {
  if (!settings.is_object()) return 0;
  try {
    return parse_settings(settings).holdout_percent;
  } catch (const Error&) {
    return 0;
  }
}

EngagementEffects engagement_effects(const std::string& kind, const Json& properties,
                                     const Json& settings) {
  auto property = [&](const char* name) {
    return properties.is_object() && properties.contains(name) && properties[name].is_string()
               ? properties[name].get<std::string>()
               : std::string();
  };
  bool transactional = false;
  if (settings.is_object()) {
    try {
      transactional = parse_settings(settings).transactional;
    } catch (const Error&) {
      transactional = false;
    }
  }
  EngagementEffects fx;
  fx.suppress = kind == "unsubscribed" || kind == "complained" ||
                (kind == "bounced" && property("type") == "hard");
  fx.all_channels = kind == "unsubscribed" && property("scope") == "all";
  fx.ends_enrollment = kind == "complained" || (kind == "unsubscribed" && !transactional);
  return fx;
}

const std::vector<std::string>& engagement_kinds() {
  static const std::vector<std::string> kinds = {"delivered", "opened",     "clicked",
                                                 "bounced",   "complained", "unsubscribed"};
  return kinds;
}

void check_engagement_input(const std::optional<std::string>& kind, bool properties_object,
                            const std::optional<EngagementProperty>& type,
                            const std::optional<EngagementProperty>& scope) {
  const std::vector<std::string>& kinds = engagement_kinds();
  if (!kind || std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
    std::string one_of;
    for (const std::string& k : kinds) one_of += (one_of.empty() ? "" : ", ") + k;
    // RAISE showed a null kind as <NULL>.
    throw Error(sqlstate::kInvalidParameter,
                "unknown message event kind \"" + (kind ? *kind : std::string("<NULL>")) + "\"", {},
                "one of " + one_of);
  }
  if (!properties_object)
    throw Error(sqlstate::kInvalidParameter,
                "properties of message event \"" + *kind + "\" must be a JSON object");
  auto one_of = [](const std::optional<EngagementProperty>& p, const char* a, const char* b) {
    return !p || (p->text && (*p->text == a || *p->text == b));
  };
  if (*kind == "bounced" && !one_of(type, "hard", "soft"))
    throw Error(sqlstate::kInvalidParameter,
                "bounce type must be \"hard\" or \"soft\", got " + type->rendered);
  if (*kind == "unsubscribed" && !one_of(scope, "all", "channel"))
    throw Error(sqlstate::kInvalidParameter,
                "scope of message event \"unsubscribed\" must be \"all\" or \"channel\", got " +
                    scope->rendered);
}

bool engagement_accepted(const std::string& message_status) {
  return message_status == "claimed" || message_status == "sent" || message_status == "failed";
}

std::optional<std::string> engagement_once_key(const std::string& kind, const Json& properties) {
  if (kind == "delivered" || kind == "complained" || kind == "unsubscribed") return kind;
  if (kind != "bounced") return std::nullopt;
  // The type as properties->>'type' reads it: absent and JSON null alike.
  if (!properties.is_object() || !properties.contains("type") || properties["type"].is_null())
    return kind;
  const Json& type = properties["type"];
  return kind + ":" + (type.is_string() ? type.get<std::string>() : type.dump());
}

bool engagement_wakes(const std::string& kind, int64_t visit, int64_t latest_visit,
                      const std::string& status, const std::optional<std::string>& waiting_for) {
  return visit >= latest_visit && status == "active" && waiting_for == kind;
}

std::vector<std::string> ignored_suppression_reasons(const JourneySettings& settings) {
  if (settings.transactional) return {"unsubscribed"};
  return {};
}

std::vector<std::string> ignored_suppression_reasons_of(const Json& settings) {
  if (!settings.is_object()) return {};
  try {
    return ignored_suppression_reasons(parse_settings(settings));
  } catch (const Error&) {
    return {};
  }
}

bool suppression_stops(const Suppression& s, const std::string& channel,
                       const std::vector<std::string>& ignored) {
  if (s.channel && *s.channel != channel) return false;
  return std::find(ignored.begin(), ignored.end(), s.reason) == ignored.end();
}

std::optional<size_t> stopping_suppression(const std::vector<Suppression>& suppressions,
                                           const std::string& channel,
                                           const std::vector<std::string>& ignored) {
  std::optional<size_t> best;
  auto before = [](const Suppression& a, const Suppression& b) {
    // every channel (null) first, then by time added, then by id
    if (a.channel.has_value() != b.channel.has_value()) return !a.channel.has_value();
    if (a.channel && b.channel && *a.channel != *b.channel) return *a.channel < *b.channel;
    if (a.at != b.at) return a.at < b.at;
    return a.id < b.id;
  };
  for (size_t i = 0; i < suppressions.size(); ++i) {
    if (!suppression_stops(suppressions[i], channel, ignored)) continue;
    if (!best || before(suppressions[i], suppressions[*best])) best = i;
  }
  return best;
}

std::vector<std::optional<std::string>> stopping_reasons(
    const std::vector<MessageToCheck>& messages,
    const std::vector<CustomerSuppression>& suppressions) {
  std::map<std::pair<std::string, int64_t>, std::vector<Suppression>> of;  // (customer, audience)
  for (const CustomerSuppression& s : suppressions)
    of[{s.customer, s.audience}].push_back(s.suppression);
  std::vector<std::optional<std::string>> out(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    auto it = of.find({messages[i].customer, messages[i].audience});
    if (it == of.end()) continue;
    std::optional<size_t> stop =
        stopping_suppression(it->second, messages[i].channel, messages[i].ignored);
    if (stop) out[i] = it->second[*stop].reason;
  }
  return out;
}

std::optional<std::string> suppressed_reason(bool no_recipient,
                                             const std::vector<Suppression>& suppressions,
                                             const std::string& channel,
                                             const std::vector<std::string>& ignored) {
  if (no_recipient) return "no_recipient";
  std::optional<size_t> stop = stopping_suppression(suppressions, channel, ignored);
  if (!stop) return std::nullopt;
  return "suppression: " + suppressions[*stop].reason;
}

int max_attempts_of(const Json& settings) {
  if (!settings.is_object()) return kDefaultMaxAttempts;
  try {
    return parse_settings(settings).max_attempts;
  } catch (const Error&) {
    return kDefaultMaxAttempts;
  }
}

Retry charge_failure(int attempts_before, int max_attempts, int64_t now) {
  Retry r;
  r.attempts = attempts_before < 0 ? 1 : attempts_before + 1;
  if (r.attempts >= max_attempts) {
    r.failed = true;
    return r;
  }
  int64_t backoff = kRetryBaseMicros;
  for (int k = 1; k < r.attempts && backoff < kRetryCapMicros; ++k) backoff *= 2;
  r.next_run_at = now + std::min(backoff, kRetryCapMicros);
  return r;
}

int64_t transient_retry_at(int64_t now) {
  return now + kTransientRetryMicros;
}

}  // namespace pgj::core
