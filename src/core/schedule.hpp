// Backup schedules: five-field cron expressions (the Vixie cron dialect) and
// fixed intervals, and when they fire in an IANA time zone.
//
// Time zones are read here from the system TZif files rather than asked of
// the server: core/ knows nothing about PostgreSQL, and libstdc++ 12 has no
// std::chrono::tzdb. The rules for daylight-saving changes are stated at
// CronFields::follows_real_time (and in docs/).
#pragma once

#include <bitset>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ptb::core {

inline constexpr const char* kDefaultZoneinfoDir = "/usr/share/zoneinfo";

// A span of time during which a zone's UTC offset does not change:
// [begin, end). Unbounded ends are sys_seconds::min() / ::max().
struct OffsetPeriod {
  std::chrono::sys_seconds begin;
  std::chrono::sys_seconds end;
  std::chrono::seconds offset;  // local time minus UTC
};

// Where a wall-clock time falls on the UTC time line.
struct LocalTimeInfo {
  enum class Kind {
    unique,    // occurs once: first == second
    skipped,   // inside a spring-forward gap: first == second == the first
               // instant after the gap (the transition itself)
    repeated,  // occurs twice (fall-back): first < second
  };
  Kind kind;
  std::chrono::sys_seconds first;
  std::chrono::sys_seconds second;
};

// An IANA time zone. Cheap to copy (the loaded data is shared, immutable).
class TimeZone {
 public:
  static TimeZone utc();

  // Reads zoneinfo_dir/name. Throws Error(22023) when the name is not a
  // plausible zone name (see check_name), names no zone, or the file is not
  // a usable TZif file (including the "right/" leap-second variants).
  static TimeZone load(std::string_view name,
                       const std::string& zoneinfo_dir = kDefaultZoneinfoDir);

  // Builds a zone from the bytes of a TZif file (RFC 8536, versions 1-4).
  // Hostile or truncated data gets Error(22023), never a crash.
  static TimeZone from_tzif(std::string_view name, std::string_view tzif);

  // Zone names come from users: only [A-Za-z0-9_+-/], relative, no empty,
  // "." or ".." components, at most 255 characters. Throws Error(22023).
  static void check_name(std::string_view name);

  const std::string& name() const;

  OffsetPeriod period_at(std::chrono::sys_seconds t) const;
  std::chrono::seconds offset_at(std::chrono::sys_seconds t) const;
  std::chrono::local_seconds to_local(std::chrono::sys_seconds t) const;
  LocalTimeInfo to_utc(std::chrono::local_seconds t) const;

 private:
  struct Data;  // defined in schedule.cpp
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

// The five cron fields as sets: bit v is set when value v matches.
struct CronFields {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1..31
  std::bitset<13> months;         // bits 1..12
  std::bitset<7> days_of_week;    // 0 = Sunday .. 6 = Saturday (7 is stored as 0)

  // Whether each field's text starts with '*' (as in "*" or "*/15"). The
  // day flags select Vixie cron's day rule; the minute and hour flags select
  // the daylight-saving rule (see follows_real_time).
  bool minute_star = false;
  bool hour_star = false;
  bool day_of_month_star = false;
  bool day_of_week_star = false;

  // Vixie cron: when both day fields are restricted (neither starts with
  // '*') a day matches if EITHER matches; otherwise both must match.
  bool matches_day(unsigned day_of_month, unsigned weekday) const;

  // A schedule whose minute or hour field starts with '*' describes a
  // cadence ("every 15 minutes", "at :30 of every hour") and follows real
  // time across daylight-saving changes: it fires at every instant whose
  // local time matches, so wall-clock times skipped by a spring-forward gap
  // do not fire and those repeated by a fall-back fire at both occurrences.
  // Every other schedule names wall-clock times ("02:30 daily") and fires
  // once per matching local time: a skipped time fires at the first instant
  // after the gap, a repeated time at its first occurrence only.
  // (The same split as Vixie cron / cronie.)
  bool follows_real_time() const { return minute_star || hour_star; }
};

class Schedule {
 public:
  enum class Kind { cron, interval };

  // Accepts, case-insensitively:
  //   a five-field cron expression  "minute hour day-of-month month day-of-week"
  //     with lists (1,2,5), ranges (1-5), steps (*/15, 1-30/5, 5/10 = 5-max/10),
  //     month names JAN-DEC and weekday names SUN-SAT; weekday 0 and 7 are
  //     Sunday; a reversed range (5-1, FRI-MON) is an error;
  //   a macro  @hourly @daily @midnight @weekly @monthly @yearly @annually;
  //   an interval  "N seconds|minutes|hours|days" (singular too), N >= 1,
  //     at most 3650 days in all.
  // Throws Error(22023) naming the field and the reason, e.g.
  //   invalid cron schedule "61 * * * *": minute value 61 is out of range 0-59
  static Schedule parse(std::string_view text);

  Kind kind() const { return kind_; }
  const std::string& text() const { return text_; }  // as given, trimmed
  const CronFields& cron() const { return cron_; }   // kind() == cron only
  std::chrono::seconds interval() const { return interval_; }  // kind() == interval only

 private:
  Schedule() = default;
  Kind kind_ = Kind::cron;
  std::string text_;
  CronFields cron_;
  std::chrono::seconds interval_{0};
};

// The first fire time strictly after `after`. A cron schedule is read in
// `zone` (see CronFields::follows_real_time for daylight-saving changes);
// the search covers 400 years, one full cycle of the Gregorian calendar,
// so nullopt means the schedule can never fire (e.g. "0 0 31 2 *"), and
// nothing past 9999-12-31 is returned. An interval schedule treats `after`
// as its last run: after + interval.
std::optional<std::chrono::sys_seconds> next_fire(const Schedule& schedule,
                                                  std::chrono::sys_seconds after,
                                                  const TimeZone& zone);

// The next n fire times after `after`, in order (fewer when the schedule
// stops firing). n must be 0..1000, else Error(22023).
std::vector<std::chrono::sys_seconds> preview(const Schedule& schedule,
                                              std::chrono::sys_seconds after, int n,
                                              const TimeZone& zone);

// When a job on this schedule is next due, for the background worker.
// Interval: last_run + interval, or now when it never ran. Cron: the first
// fire time after last_run, or after now when it never ran. A result at or
// before `now` means the job is overdue and should run now (once: the next
// call passes the new last_run, so missed fire times are not replayed).
std::optional<std::chrono::sys_seconds> next_run(const Schedule& schedule,
                                                 std::optional<std::chrono::sys_seconds> last_run,
                                                 std::chrono::sys_seconds now,
                                                 const TimeZone& zone);

}  // namespace ptb::core
