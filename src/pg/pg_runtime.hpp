// core::Runtime backed by PostgreSQL: time zone arithmetic with the server's
// zone database, call steps through SPI as the journey owner, behaviour
// lookups in journey.events, templates frozen into the running version.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/engine.hpp"
#include "core/policy.hpp"
#include "pg/journey_cache.hpp"
#include "pg/postgres.hpp"
#include "pg/spi.hpp"

namespace pgj::pg {

class PgRuntime : public core::Runtime, public core::LocalClock {
 public:
  // The journey whose enrollment runs next (call steps run as its owner).
  void set_journey(const CachedJourney* journey) { journey_ = journey; }

  int64_t add_duration(int64_t ts, const core::Duration& d, const std::string& zone) override;
  int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t days,
                          const std::string& zone) override;
  int local_seconds_of_day(int64_t ts, const std::string& zone) override;
  bool known_zone(const std::string& zone) override;
  core::Json call_function(const std::string& function, const std::string& customer_id,
                           const core::Json& context) override;
  bool happened(const core::Enrollment& enrollment, const std::string& event,
                const std::string& step, std::optional<core::Duration> within,
                int64_t as_of) override;
  bool message_happened(const core::Enrollment& enrollment, const std::string& kind,
                        const std::string& message_of, std::optional<core::Duration> within,
                        int64_t as_of) override;
  const core::TemplateDef* find_template(const std::string& name) override;
  // journey.simulate is running in this backend (tick.hpp).
  bool simulating() const override;
  // Runs the input function of the column's type (with its typmod) on the
  // value's text: its error becomes a core::Error with the same SQLSTATE.
  void check_column_value(int column, const core::Json& value) override;

  // Forgets prepared plans (the extension was recreated).
  static void reset_plans();

 private:
  // A known zone name: `zone` when the server knows it, else "UTC".
  Datum zone_datum(const std::string& zone);

  const CachedJourney* journey_ = nullptr;
  std::map<std::string, Datum> zones_;
  std::map<std::string, bool> known_zones_;
};

}  // namespace pgj::pg
