#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <sys/wait.h>

#include "core/error.hpp"
#include "core/schedule.hpp"

using namespace ptb::core;
using std::chrono::local_seconds;
using std::chrono::seconds;
using std::chrono::sys_seconds;

namespace {

using Strings = std::vector<std::string>;

sys_seconds utc(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  auto day = std::chrono::sys_days{std::chrono::year{y} / m / d};
  return sys_seconds{day.time_since_epoch() + seconds{h * 3600 + mi * 60 + s}};
}

// A wall-clock time in `zone` (its first occurrence, or the end of its gap).
sys_seconds local(const TimeZone& zone, int y, unsigned m, unsigned d, int h = 0, int mi = 0) {
  return zone.to_utc(local_seconds{utc(y, m, d, h, mi).time_since_epoch()}).first;
}

// "2024-03-10 03:00:00-04:00": local time and offset, as a person checks it.
std::string shown(sys_seconds t, const TimeZone& zone) {
  const long long l = zone.to_local(t).time_since_epoch().count();
  const long long off = zone.offset_at(t).count();
  const long long day = (l >= 0 ? l : l - 86399) / 86400, sod = l - day * 86400;
  std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u %02lld:%02lld:%02lld%c%02lld:%02lld",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), sod / 3600, sod % 3600 / 60, sod % 60,
                off < 0 ? '-' : '+', std::llabs(off) / 3600, std::llabs(off) % 3600 / 60);
  return text;
}

Strings fires(const std::string& expr, const TimeZone& zone, sys_seconds after, int n) {
  Strings out;
  for (auto t : preview(Schedule::parse(expr), after, n, zone)) out.push_back(shown(t, zone));
  return out;
}

// The message of the Error(22023) that parsing `text` raises.
std::string parse_error(const std::string& text) {
  try {
    Schedule::parse(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023") << text;
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

template <size_t N>
std::vector<int> values(const std::bitset<N>& bits) {
  std::vector<int> out;
  for (size_t i = 0; i < N; ++i)
    if (bits[i]) out.push_back(static_cast<int>(i));
  return out;
}

const TimeZone& zone(const std::string& name) {
  static std::map<std::string, TimeZone> zones;
  auto it = zones.find(name);
  if (it == zones.end()) it = zones.emplace(name, TimeZone::load(name)).first;
  return it->second;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A minimal version-2 TZif file: no transitions, one time type, and `footer`
// as the rule, the way "slim" files describe the present.
std::string tzif_with_footer(int32_t offset, const std::string& footer) {
  auto be32 = [](std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
  };
  std::string block;  // header + data, used for both the v1 and v2 parts
  block += "TZif2";
  block += std::string(15, '\0');
  for (uint32_t count : {0u, 0u, 0u, 0u, 1u, 4u}) be32(block, count);
  be32(block, static_cast<uint32_t>(offset));
  block += std::string("\0\0", 2);
  block += std::string("XXX\0", 4);
  return block + block + "\n" + footer + "\n";
}

}  // namespace

// ------------------------------------------------------------------ parsing

TEST(ScheduleParse, ListsRangesAndSteps) {
  auto s = Schedule::parse("1,2,5 1-5 */10 1-12/5 5/2");
  ASSERT_EQ(s.kind(), Schedule::Kind::cron);
  EXPECT_EQ(values(s.cron().minutes), (std::vector<int>{1, 2, 5}));
  EXPECT_EQ(values(s.cron().hours), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(values(s.cron().days_of_month), (std::vector<int>{1, 11, 21, 31}));
  EXPECT_EQ(values(s.cron().months), (std::vector<int>{1, 6, 11}));
  EXPECT_EQ(values(s.cron().days_of_week), (std::vector<int>{0, 5}));  // 5/2 = 5,7: FRI, SUN
  EXPECT_EQ(values(Schedule::parse("5/10 * * * *").cron().minutes),
            (std::vector<int>{5, 15, 25, 35, 45, 55}));
  EXPECT_EQ(values(Schedule::parse("1-30/7 * * * *").cron().minutes),
            (std::vector<int>{1, 8, 15, 22, 29}));
  EXPECT_EQ(values(Schedule::parse("*/15 * * * *").cron().minutes), (std::vector<int>{0, 15, 30, 45}));
  EXPECT_EQ(values(Schedule::parse("07 * * * *").cron().minutes), (std::vector<int>{7}));
  EXPECT_EQ(Schedule::parse("  0\t3 * * *  ").text(), "0\t3 * * *");
}

TEST(ScheduleParse, NamesAreCaseInsensitiveAndSevenIsSunday) {
  auto s = Schedule::parse("0 0 * jan-MAR,Dec mon-FRI");
  EXPECT_EQ(values(s.cron().months), (std::vector<int>{1, 2, 3, 12}));
  EXPECT_EQ(values(s.cron().days_of_week), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(values(Schedule::parse("0 0 * * sun,SAT").cron().days_of_week), (std::vector<int>{0, 6}));
  EXPECT_EQ(values(Schedule::parse("0 0 * * 7").cron().days_of_week), (std::vector<int>{0}));
  EXPECT_EQ(values(Schedule::parse("0 0 * * 5-7").cron().days_of_week), (std::vector<int>{0, 5, 6}));
  EXPECT_EQ(Schedule::parse("0 0 * * 0-7").cron().days_of_week.count(), 7u);
  EXPECT_EQ(values(Schedule::parse("0 0 * Feb/5 *").cron().months), (std::vector<int>{2, 7, 12}));
}

TEST(ScheduleParse, MacrosExpand) {
  auto same = [](const char* macro, const char* expansion) {
    const CronFields a = Schedule::parse(macro).cron(), b = Schedule::parse(expansion).cron();
    EXPECT_EQ(a.minutes, b.minutes) << macro;
    EXPECT_EQ(a.hours, b.hours) << macro;
    EXPECT_EQ(a.days_of_month, b.days_of_month) << macro;
    EXPECT_EQ(a.months, b.months) << macro;
    EXPECT_EQ(a.days_of_week, b.days_of_week) << macro;
    EXPECT_EQ(a.follows_real_time(), b.follows_real_time()) << macro;
  };
  same("@hourly", "0 * * * *");
  same("@daily", "0 0 * * *");
  same("@midnight", "0 0 * * *");
  same("@weekly", "0 0 * * 0");
  same("@monthly", "0 0 1 * *");
  same("@yearly", "0 0 1 1 *");
  same(" @Annually ", "0 0 1 1 *");
  EXPECT_EQ(Schedule::parse("@daily").text(), "@daily");
}

TEST(ScheduleParse, StarFlagsFollowTheFirstCharacter) {
  auto f = Schedule::parse("*/15 3 */2 * 1-5").cron();
  EXPECT_TRUE(f.minute_star);
  EXPECT_FALSE(f.hour_star);
  EXPECT_TRUE(f.day_of_month_star);
  EXPECT_FALSE(f.day_of_week_star);
  EXPECT_TRUE(f.follows_real_time());
  EXPECT_FALSE(Schedule::parse("30 2 * * *").cron().follows_real_time());
  EXPECT_TRUE(Schedule::parse("30 * * * *").cron().follows_real_time());
  EXPECT_FALSE(Schedule::parse("0-59 0-23 * * *").cron().follows_real_time());
}

TEST(ScheduleParse, Intervals) {
  struct Case {
    const char* text;
    long long seconds;
  };
  for (auto c : {Case{"30 seconds", 30}, Case{"15 minutes", 900}, Case{"8 hours", 28800},
                 Case{"7 days", 604800}, Case{"1 day", 86400}, Case{"1 Hour", 3600},
                 Case{" 2   MINUTES ", 120}, Case{"1 second", 1}, Case{"3650 days", 315360000}}) {
    auto s = Schedule::parse(c.text);
    EXPECT_EQ(s.kind(), Schedule::Kind::interval) << c.text;
    EXPECT_EQ(s.interval().count(), c.seconds) << c.text;
  }
  struct Bad {
    const char* text;
    const char* why;
  };
  for (auto b : {Bad{"0 minutes", "at least 1"}, Bad{"-5 minutes", "not a positive integer"},
                 Bad{"5 weeks", "unit \"weeks\""}, Bad{"5.5 hours", "not a positive integer"},
                 Bad{"99999999999999999999999 days", "longer than 3650 days"},
                 Bad{"3651 days", "longer than 3650 days"}, Bad{"5 s", "unit \"s\""}}) {
    std::string message = parse_error(b.text);
    EXPECT_EQ(message.rfind("invalid interval schedule \"", 0), 0u) << message;
    EXPECT_NE(message.find(b.why), std::string::npos) << message;
  }
}

TEST(ScheduleParse, ErrorsNameTheFieldAndTheReason) {
  EXPECT_EQ(parse_error("61 * * * *"),
            "invalid cron schedule \"61 * * * *\": minute value 61 is out of range 0-59");
  struct Bad {
    const char* text;
    const char* why;
  };
  for (auto b : {
           Bad{"* 24 * * *", "hour value 24 is out of range 0-23"},
           Bad{"* * 0 * *", "day of month value 0 is out of range 1-31"},
           Bad{"* * 32 * *", "day of month value 32 is out of range 1-31"},
           Bad{"* * * 13 *", "month value 13 is out of range 1-12"},
           Bad{"* * * 0 *", "month value 0 is out of range 1-12"},
           Bad{"* * * * 8", "day of week value 8 is out of range 0-7"},
           Bad{"*/0 * * * *", "minute step 0 is out of range 1-59"},
           Bad{"* */25 * * *", "hour step 25 is out of range 1-23"},
           Bad{"* * */x * *", "day of month step \"x\" is not a number"},
           Bad{"5-1 * * * *", "minute range 5-1 is reversed"},
           Bad{"* * * * FRI-MON", "day of week range FRI-MON is reversed"},
           Bad{"* * * DEC-JAN *", "month range DEC-JAN is reversed"},
           Bad{"* * * FOO *", "month value \"FOO\" is not a number or a month name"},
           Bad{"* * * * JAN", "day of week value \"JAN\" is not a number or a weekday name"},
           Bad{"* MON * * *", "hour value \"MON\" is not a number"},
           Bad{"1,,2 * * * *", "minute list has an empty element"},
           Bad{"* * 1, * *", "day of month list has an empty element"},
           Bad{"-5 * * * *", "minute range \"-5\" is incomplete"},
           Bad{"1-2-3 * * * *", "minute value \"2-3\" is not a number"},
           Bad{"*-5 * * * *", "minute value \"*\" is not a number"},
           Bad{"* * L * *", "day of month value \"L\" is not a number"},
           Bad{"* * * * 1#2", "day of week value \"1#2\" is not a number"},
           Bad{"* * ? * *", "day of month value \"?\" is not a number"},
           Bad{"99999999999999999999999 * * * *", "minute value 99999999999999999999... is out of range"},
           Bad{"* * * *", "expected 5 fields"},
           Bad{"* * * * * *", "expected 5 fields"},
           Bad{"every 15 minutes", "expected 5 fields"},
           Bad{"@reboot", "unknown macro \"@reboot\""},
           Bad{"@daily 5", "the macro @daily takes no fields"},
       }) {
    std::string message = parse_error(b.text);
    EXPECT_EQ(message.rfind("invalid cron schedule \"", 0), 0u) << message;
    EXPECT_NE(message.find(b.why), std::string::npos) << b.text << " -> " << message;
  }
}

TEST(ScheduleParse, ReversedRangeHintsAtAList) {
  try {
    Schedule::parse("0 22-2 * * *");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("22-23,0-2"), std::string::npos);
  }
}

TEST(ScheduleParse, HostileInputIsRejectedQuickly) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error(" \t\n ").find("empty"), std::string::npos);
  std::string list;
  for (int i = 0; i < 5000; ++i) list += "1,";
  EXPECT_NE(parse_error(list + "1 * * * *").find("longer than 1000 characters"), std::string::npos);
  EXPECT_NE(parse_error(std::string(10000, '*')).find("longer than 1000"), std::string::npos);
  EXPECT_NE(parse_error(std::string(900, '9') + " * * * *").find("minute value"), std::string::npos);
  // Control characters and non-ASCII never reach a message unescaped.
  std::string message = parse_error(std::string("1\0\x01\xff * * * *", 11));
  for (char c : message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << message;
  // A long but valid list is fine.
  std::string minutes;
  for (int i = 0; i < 60; ++i) minutes += std::to_string(i) + (i < 59 ? "," : "");
  EXPECT_EQ(Schedule::parse(minutes + " * * * *").cron().minutes.count(), 60u);
}

TEST(ScheduleParse, FuzzedTextEitherParsesOrRaisesError) {
  const std::string alphabet = "0123456789*/,- @abcdefghJANmonFRIsxyz\t#?L";
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string text(rng() % 40, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    try {
      Schedule::parse(text);
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
}

// ------------------------------------------------------------------ calendar

TEST(ScheduleFire, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  const TimeZone z = TimeZone::utc();
  // The 13th OR any Friday (Vixie cron).
  EXPECT_EQ(fires("0 0 13 * FRI", z, utc(2024, 9, 1), 7),
            (Strings{"2024-09-06 00:00:00+00:00", "2024-09-13 00:00:00+00:00",
                     "2024-09-20 00:00:00+00:00", "2024-09-27 00:00:00+00:00",
                     "2024-10-04 00:00:00+00:00", "2024-10-11 00:00:00+00:00",
                     "2024-10-13 00:00:00+00:00"}));
  // A field starting with '*' is not "restricted": days 1, 14, 27 AND Friday.
  EXPECT_EQ(fires("0 0 */13 * FRI", z, utc(2024, 9, 1), 3),
            (Strings{"2024-09-27 00:00:00+00:00", "2024-11-01 00:00:00+00:00",
                     "2024-12-27 00:00:00+00:00"}));
  EXPECT_EQ(fires("0 0 13 * *", z, utc(2024, 9, 1), 2),
            (Strings{"2024-09-13 00:00:00+00:00", "2024-10-13 00:00:00+00:00"}));
  EXPECT_EQ(fires("0 0 * * 5", z, utc(2024, 9, 1), 2),
            (Strings{"2024-09-06 00:00:00+00:00", "2024-09-13 00:00:00+00:00"}));
}

TEST(ScheduleFire, StrictlyAfterAndStepsAcrossBoundaries) {
  const TimeZone z = TimeZone::utc();
  auto s = Schedule::parse("*/15 * * * *");
  EXPECT_EQ(next_fire(s, utc(2024, 1, 1, 10, 15), z), utc(2024, 1, 1, 10, 30));
  EXPECT_EQ(next_fire(s, utc(2024, 1, 1, 10, 14, 59), z), utc(2024, 1, 1, 10, 15));
  EXPECT_EQ(next_fire(s, utc(2024, 12, 31, 23, 50), z), utc(2025, 1, 1, 0, 0));
  EXPECT_EQ(fires("0 9 * * MON-FRI", z, utc(2024, 9, 6, 12), 3),  // from a Friday noon
            (Strings{"2024-09-09 09:00:00+00:00", "2024-09-10 09:00:00+00:00",
                     "2024-09-11 09:00:00+00:00"}));
  EXPECT_EQ(fires("@monthly", z, utc(2024, 1, 31), 2),
            (Strings{"2024-02-01 00:00:00+00:00", "2024-03-01 00:00:00+00:00"}));
}

TEST(ScheduleFire, LeapDays) {
  const TimeZone z = TimeZone::utc();
  auto feb29 = Schedule::parse("0 0 29 2 *");
  EXPECT_EQ(next_fire(feb29, utc(2025, 1, 1), z), utc(2028, 2, 29));
  EXPECT_EQ(next_fire(feb29, utc(2024, 2, 29), z), utc(2028, 2, 29));
  // 2100 is not a leap year.
  EXPECT_EQ(next_fire(feb29, utc(2096, 3, 1), z), utc(2104, 2, 29));
  EXPECT_EQ(fires("0 12 29 2 *", zone("America/New_York"), utc(2023, 6, 1), 2),
            (Strings{"2024-02-29 12:00:00-05:00", "2028-02-29 12:00:00-05:00"}));
  // Fires 11 years apart: Feb 1 (or Feb 29) only when it is a Monday.
  EXPECT_EQ(next_fire(Schedule::parse("0 0 */28 2 MON"), utc(2027, 2, 2), z), utc(2038, 2, 1));
}

TEST(ScheduleFire, NeverFiringScheduleGivesNullopt) {
  for (const char* expr : {"0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "* * 30-31 feb *"}) {
    auto s = Schedule::parse(expr);
    EXPECT_FALSE(next_fire(s, utc(2024, 1, 1), TimeZone::utc())) << expr;
    EXPECT_FALSE(next_fire(s, utc(2024, 1, 1), zone("Europe/Berlin"))) << expr;
    EXPECT_TRUE(preview(s, utc(2024, 1, 1), 5, zone("America/New_York")).empty()) << expr;
  }
}

TEST(ScheduleFire, SupportedRangeEnds) {
  const TimeZone z = TimeZone::utc();
  auto yearly = Schedule::parse("@yearly");
  EXPECT_FALSE(next_fire(yearly, sys_seconds::max(), z));
  EXPECT_FALSE(next_fire(yearly, utc(9999, 6, 1), z));
  EXPECT_EQ(next_fire(yearly, sys_seconds::min(), z), utc(2, 1, 1));
  EXPECT_FALSE(next_fire(Schedule::parse("10 minutes"), sys_seconds::max(), z));
}

// ------------------------------------------------------------------ daylight saving

TEST(ScheduleDst, NewYorkSpringForward) {
  const TimeZone& ny = zone("America/New_York");  // 2024-03-10 02:00 EST -> 03:00 EDT
  // A wall-clock time in the gap fires once, when the gap ends.
  EXPECT_EQ(fires("30 2 * * *", ny, local(ny, 2024, 3, 9, 12), 3),
            (Strings{"2024-03-10 03:00:00-04:00", "2024-03-11 02:30:00-04:00",
                     "2024-03-12 02:30:00-04:00"}));
  // Several gap times and 03:00 itself still make one fire.
  EXPECT_EQ(fires("0,30 0-4 * * *", ny, local(ny, 2024, 3, 10, 0, 45), 5),
            (Strings{"2024-03-10 01:00:00-05:00", "2024-03-10 01:30:00-05:00",
                     "2024-03-10 03:00:00-04:00", "2024-03-10 03:30:00-04:00",
                     "2024-03-10 04:00:00-04:00"}));
  // A cadence follows real time: skipped times simply do not occur.
  EXPECT_EQ(fires("*/30 * * * *", ny, local(ny, 2024, 3, 10, 1), 3),
            (Strings{"2024-03-10 01:30:00-05:00", "2024-03-10 03:00:00-04:00",
                     "2024-03-10 03:30:00-04:00"}));
  EXPECT_EQ(fires("30 * * * *", ny, local(ny, 2024, 3, 10, 1), 2),
            (Strings{"2024-03-10 01:30:00-05:00", "2024-03-10 03:30:00-04:00"}));
  // Asked from inside the gap's aftermath, the gap fire is in the past.
  EXPECT_EQ(fires("30 2 * * *", ny, local(ny, 2024, 3, 10, 3), 1),
            (Strings{"2024-03-11 02:30:00-04:00"}));
}

TEST(ScheduleDst, NewYorkFallBack) {
  const TimeZone& ny = zone("America/New_York");  // 2024-11-03 02:00 EDT -> 01:00 EST
  // A repeated wall-clock time fires once, at its first occurrence.
  EXPECT_EQ(fires("30 1 * * *", ny, local(ny, 2024, 11, 2, 12), 3),
            (Strings{"2024-11-03 01:30:00-04:00", "2024-11-04 01:30:00-05:00",
                     "2024-11-05 01:30:00-05:00"}));
  // Asked during the second 01:xx hour, 01:30 has already been.
  EXPECT_EQ(next_fire(Schedule::parse("30 1 * * *"), utc(2024, 11, 3, 6, 10), ny),
            utc(2024, 11, 4, 6, 30));
  EXPECT_EQ(fires("0 0-3 * * *", ny, local(ny, 2024, 11, 3), 3),
            (Strings{"2024-11-03 01:00:00-04:00", "2024-11-03 02:00:00-05:00",
                     "2024-11-03 03:00:00-05:00"}));
  // A cadence fires at both occurrences: every 20 real minutes throughout.
  EXPECT_EQ(fires("*/20 * * * *", ny, local(ny, 2024, 11, 3, 0, 30), 8),
            (Strings{"2024-11-03 00:40:00-04:00", "2024-11-03 01:00:00-04:00",
                     "2024-11-03 01:20:00-04:00", "2024-11-03 01:40:00-04:00",
                     "2024-11-03 01:00:00-05:00", "2024-11-03 01:20:00-05:00",
                     "2024-11-03 01:40:00-05:00", "2024-11-03 02:00:00-05:00"}));
  EXPECT_EQ(fires("15 * * * *", ny, local(ny, 2024, 11, 3, 0, 30), 3),
            (Strings{"2024-11-03 01:15:00-04:00", "2024-11-03 01:15:00-05:00",
                     "2024-11-03 02:15:00-05:00"}));
}

TEST(ScheduleDst, Berlin) {
  const TimeZone& berlin = zone("Europe/Berlin");
  // 2024-03-31 02:00 CET -> 03:00 CEST
  EXPECT_EQ(fires("0 2 * * *", berlin, local(berlin, 2024, 3, 30, 12), 2),
            (Strings{"2024-03-31 03:00:00+02:00", "2024-04-01 02:00:00+02:00"}));
  EXPECT_TRUE(fires("*/15 2 * * *", berlin, local(berlin, 2024, 3, 31, 1), 1) ==
              Strings{"2024-04-01 02:00:00+02:00"});
  // 2024-10-27 03:00 CEST -> 02:00 CET
  EXPECT_EQ(fires("30 2 * * *", berlin, local(berlin, 2024, 10, 26, 12), 2),
            (Strings{"2024-10-27 02:30:00+02:00", "2024-10-28 02:30:00+01:00"}));
  EXPECT_EQ(fires("*/30 2 * * *", berlin, local(berlin, 2024, 10, 27, 1), 5),
            (Strings{"2024-10-27 02:00:00+02:00", "2024-10-27 02:30:00+02:00",
                     "2024-10-27 02:00:00+01:00", "2024-10-27 02:30:00+01:00",
                     "2024-10-28 02:00:00+01:00"}));
}

TEST(ScheduleDst, SydneySouthernHemisphere) {
  const TimeZone& sydney = zone("Australia/Sydney");
  // DST starts 2024-10-06 02:00 AEST -> 03:00 AEDT; ends 2024-04-07 03:00 AEDT -> 02:00 AEST.
  EXPECT_EQ(fires("30 2 * * *", sydney, local(sydney, 2024, 10, 5, 12), 2),
            (Strings{"2024-10-06 03:00:00+11:00", "2024-10-07 02:30:00+11:00"}));
  EXPECT_EQ(fires("30 2 * * *", sydney, local(sydney, 2024, 4, 6, 12), 2),
            (Strings{"2024-04-07 02:30:00+11:00", "2024-04-08 02:30:00+10:00"}));
  EXPECT_EQ(fires("30 * * * *", sydney, local(sydney, 2024, 4, 7, 1), 3),
            (Strings{"2024-04-07 01:30:00+11:00", "2024-04-07 02:30:00+11:00",
                     "2024-04-07 02:30:00+10:00"}));
}

TEST(ScheduleDst, LordHoweHalfHourShift) {
  const TimeZone& lh = zone("Australia/Lord_Howe");
  // 2024-10-06 02:00 +10:30 -> 02:30 +11; 2024-04-07 02:00 +11 -> 01:30 +10:30.
  EXPECT_EQ(fires("15 2 * * *", lh, local(lh, 2024, 10, 5, 12), 2),
            (Strings{"2024-10-06 02:30:00+11:00", "2024-10-07 02:15:00+11:00"}));
  EXPECT_EQ(fires("45 1 * * *", lh, local(lh, 2024, 4, 6, 12), 2),
            (Strings{"2024-04-07 01:45:00+11:00", "2024-04-08 01:45:00+10:30"}));
  EXPECT_EQ(fires("*/20 1 * * *", lh, local(lh, 2024, 4, 7, 1), 4),
            (Strings{"2024-04-07 01:20:00+11:00", "2024-04-07 01:40:00+11:00",
                     "2024-04-07 01:40:00+10:30", "2024-04-08 01:00:00+10:30"}));
}

TEST(ScheduleDst, MidnightGapFiresWhenTheDayStarts) {
  const TimeZone& santiago = zone("America/Santiago");  // 2024-09-08 00:00 -> 01:00
  EXPECT_EQ(fires("0 0 * * *", santiago, local(santiago, 2024, 9, 7, 12), 2),
            (Strings{"2024-09-08 01:00:00-03:00", "2024-09-09 00:00:00-03:00"}));
}

// ------------------------------------------------------------------ time zones

TEST(TimeZone, OffsetsFromTransitionsAndFooterRule) {
  const TimeZone& ny = zone("America/New_York");
  EXPECT_EQ(ny.offset_at(utc(2024, 1, 15)), seconds{-5 * 3600});
  EXPECT_EQ(ny.offset_at(utc(2024, 7, 15)), seconds{-4 * 3600});
  EXPECT_EQ(ny.offset_at(utc(2024, 3, 10, 6, 59, 59)), seconds{-5 * 3600});
  EXPECT_EQ(ny.offset_at(utc(2024, 3, 10, 7)), seconds{-4 * 3600});
  EXPECT_EQ(ny.offset_at(utc(2250, 7, 1)), seconds{-4 * 3600});  // from the footer rule
  EXPECT_EQ(ny.offset_at(utc(2250, 12, 1)), seconds{-5 * 3600});
  auto p = ny.period_at(utc(2024, 7, 1));
  EXPECT_EQ(p.begin, utc(2024, 3, 10, 7));
  EXPECT_EQ(p.end, utc(2024, 11, 3, 6));
  EXPECT_EQ(zone("Asia/Kolkata").offset_at(utc(2024, 7, 1)), seconds{5 * 3600 + 1800});
  EXPECT_EQ(zone("Etc/GMT+5").offset_at(utc(2024, 7, 1)), seconds{-5 * 3600});
  EXPECT_EQ(TimeZone::utc().offset_at(utc(2024, 7, 1)), seconds{0});
  EXPECT_EQ(TimeZone::utc().name(), "UTC");
}

TEST(TimeZone, LocalToUtc) {
  const TimeZone& ny = zone("America/New_York");
  auto at = [&](int y, unsigned m, unsigned d, int h, int mi) {
    return ny.to_utc(local_seconds{utc(y, m, d, h, mi).time_since_epoch()});
  };
  auto unique = at(2024, 7, 1, 12, 0);
  EXPECT_EQ(unique.kind, LocalTimeInfo::Kind::unique);
  EXPECT_EQ(unique.first, utc(2024, 7, 1, 16));
  auto skipped = at(2024, 3, 10, 2, 30);
  EXPECT_EQ(skipped.kind, LocalTimeInfo::Kind::skipped);
  EXPECT_EQ(skipped.first, utc(2024, 3, 10, 7));
  auto repeated = at(2024, 11, 3, 1, 30);
  EXPECT_EQ(repeated.kind, LocalTimeInfo::Kind::repeated);
  EXPECT_EQ(repeated.first, utc(2024, 11, 3, 5, 30));
  EXPECT_EQ(repeated.second, utc(2024, 11, 3, 6, 30));
  EXPECT_EQ(at(2024, 11, 3, 2, 0).kind, LocalTimeInfo::Kind::unique);
  // Apia skipped the whole of 2011-12-30.
  auto apia = zone("Pacific/Apia").to_utc(local_seconds{utc(2011, 12, 30, 12).time_since_epoch()});
  EXPECT_EQ(apia.kind, LocalTimeInfo::Kind::skipped);
  EXPECT_EQ(apia.first, utc(2011, 12, 30, 10));
}

TEST(TimeZone, NamesAreValidated) {
  for (const char* bad : {"", "../etc/passwd", "/etc/passwd", "America/../../etc/shadow",
                          "America//New_York", "America/New_York/", "Europe/Berlin\n",
                          "Europe Berlin", "Europe/Berlin;rm", ".", "America/./New_York",
                          "zone.tab"}) {
    try {
      TimeZone::check_name(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
      EXPECT_NE(std::string(e.what()).find("invalid time zone name"), std::string::npos);
    }
  }
  EXPECT_THROW(TimeZone::check_name(std::string(256, 'a')), Error);
  TimeZone::check_name("Etc/GMT+5");
  TimeZone::check_name("America/Argentina/Buenos_Aires");
  for (const char* unknown : {"Nowhere/Land", "America", "Mars/Olympus_Mons"}) {
    try {
      TimeZone::load(unknown);
      ADD_FAILURE() << "loaded: " << unknown;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
      EXPECT_NE(std::string(e.what()).find("not recognized"), std::string::npos) << e.what();
    }
  }
}

TEST(TimeZone, RejectsFilesThatAreNotTzif) {
  auto dir = std::filesystem::temp_directory_path() / "ptb_schedule_test_zones";
  std::filesystem::create_directories(dir / "Bad");
  std::ofstream(dir / "Bad" / "Text") << "hello, not a zone";
  std::ofstream(dir / "Bad" / "Empty");
  for (const char* name : {"Bad/Text", "Bad/Empty"}) {
    try {
      TimeZone::load(name, dir.string());
      ADD_FAILURE() << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
  std::filesystem::remove_all(dir);
  // Leap-second zones count TAI-like time: refused rather than misread.
  if (std::filesystem::exists("/usr/share/zoneinfo/right/UTC")) {
    EXPECT_THROW(TimeZone::load("right/UTC"), Error);
  }
}

TEST(TimeZone, FooterRules) {
  auto z = [](const std::string& footer) { return TimeZone::from_tzif("Test", tzif_with_footer(0, footer)); };
  const TimeZone& ny = zone("America/New_York");
  const TimeZone us = z("EST5EDT,M3.2.0,M11.1.0");
  for (int year : {2007, 2024, 2037, 2038, 2099}) {
    for (unsigned month = 1; month <= 12; ++month) {
      auto t = utc(year, month, 10, 6, 30);
      EXPECT_EQ(us.offset_at(t), ny.offset_at(t)) << year << "-" << month;
    }
  }
  const TimeZone us_default = z("EST5EDT");  // POSIX leaves the dates out; US rule assumed
  EXPECT_EQ(us_default.offset_at(utc(2030, 7, 1)), seconds{-4 * 3600});
  // Dublin's "negative DST": standard time is summer (IST), winter is "DST".
  const TimeZone dublin = z("IST-1GMT0,M10.5.0,M3.5.0/1");
  EXPECT_EQ(dublin.offset_at(utc(2030, 7, 1)), seconds{3600});
  EXPECT_EQ(dublin.offset_at(utc(2030, 1, 1)), seconds{0});
  EXPECT_EQ(dublin.offset_at(utc(2030, 3, 31, 0, 59)), seconds{0});
  EXPECT_EQ(dublin.offset_at(utc(2030, 3, 31, 1, 0)), seconds{3600});
  // Chatham: +12:45 / +13:45, transitions at 2:45 and 3:45 local.
  const TimeZone chatham = z("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45");
  EXPECT_EQ(chatham.offset_at(utc(2030, 1, 1)), seconds{13 * 3600 + 2700});
  EXPECT_EQ(chatham.offset_at(utc(2030, 7, 1)), seconds{12 * 3600 + 2700});
  // Rule times outside 0-24h: Nuuk -1:00, Gaza 50:00 (Saturday 02:00 after the 4th Thursday).
  const TimeZone nuuk = z("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  EXPECT_EQ(nuuk.period_at(utc(2030, 7, 1)).begin, utc(2030, 3, 31, 1));  // Sat 23:00 local
  const TimeZone gaza = z("EET-2EEST,M3.4.4/50,M10.4.4/50");
  EXPECT_EQ(gaza.period_at(utc(2030, 7, 1)).begin, utc(2030, 3, 30, 0));  // Thu 28 + 50h
  // Jn never counts Feb 29; n does.
  EXPECT_EQ(z("AAA0BBB,J60/0,J300/0").period_at(utc(2028, 6, 1)).begin, utc(2028, 3, 1));
  EXPECT_EQ(z("AAA0BBB,59/0,300/0").period_at(utc(2028, 6, 1)).begin, utc(2028, 2, 29));
  // DST all year round.
  const TimeZone always = z("EST5EDT,0/0,J365/25");
  EXPECT_EQ(always.offset_at(utc(2030, 1, 1, 12)), seconds{-4 * 3600});
  EXPECT_EQ(always.offset_at(utc(2030, 12, 31, 12)), seconds{-4 * 3600});
  // A footer without DST.
  EXPECT_EQ(z("<+0530>-5:30").offset_at(utc(2030, 1, 1)), seconds{5 * 3600 + 1800});
  for (const char* bad : {"EST5EDT,M13.1.0,M11.1.0", "EST", "E5", "EST5EDT,M3.2.0", "EST99",
                          "EST5EDT,J0,J365", "<>5", "EST5EDT,M3.2.0/200,M11.1.0"})
    EXPECT_THROW(z(bad), Error) << bad;
}

TEST(TimeZone, HostileTzifDataNeverCrashes) {
  const std::string real = file_bytes("/usr/share/zoneinfo/America/New_York");
  ASSERT_GT(real.size(), 100u);
  auto exercise = [](const TimeZone& z) {
    for (auto t : {utc(1900, 1, 1), utc(2024, 3, 10, 7), utc(2200, 1, 1)}) {
      (void)z.period_at(t);
      (void)z.to_utc(local_seconds{t.time_since_epoch()});
    }
    (void)preview(Schedule::parse("30 2 * * *"), utc(2024, 3, 1), 3, z);
  };
  for (size_t n = 0; n < real.size(); n += 7) {
    try {
      exercise(TimeZone::from_tzif("Cut", real.substr(0, n)));
    } catch (const Error&) {
    }
  }
  std::mt19937 rng(11);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = real;
    for (int k = 0; k < 4; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    try {
      exercise(TimeZone::from_tzif("Mutated", bytes));
    } catch (const Error&) {
    }
  }
}

// ------------------------------------------------------------------ intervals and next_run

TEST(ScheduleInterval, NextFireAndNextRun) {
  const TimeZone& ny = zone("America/New_York");
  auto every15 = Schedule::parse("15 minutes");
  EXPECT_EQ(next_fire(every15, utc(2024, 3, 10, 6, 50), ny), utc(2024, 3, 10, 7, 5));
  EXPECT_EQ(preview(every15, utc(2024, 1, 1), 3, ny),
            (std::vector<sys_seconds>{utc(2024, 1, 1, 0, 15), utc(2024, 1, 1, 0, 30),
                                      utc(2024, 1, 1, 0, 45)}));
  const auto now = utc(2024, 5, 5, 12);
  EXPECT_EQ(next_run(every15, std::nullopt, now, ny), now);  // never ran: due now
  EXPECT_EQ(next_run(every15, utc(2024, 5, 5, 11, 50), now, ny), utc(2024, 5, 5, 12, 5));
  EXPECT_EQ(next_run(every15, utc(2024, 5, 5, 9), now, ny), utc(2024, 5, 5, 9, 15));  // overdue
  auto daily = Schedule::parse("0 3 * * *");
  EXPECT_EQ(next_run(daily, std::nullopt, now, TimeZone::utc()), utc(2024, 5, 6, 3));
  EXPECT_EQ(next_run(daily, utc(2024, 5, 1, 3), now, TimeZone::utc()), utc(2024, 5, 2, 3));
  EXPECT_THROW(preview(daily, now, -1, ny), Error);
  EXPECT_THROW(preview(daily, now, 1001, ny), Error);
  EXPECT_TRUE(preview(daily, now, 0, ny).empty());
}

// ------------------------------------------------------------------ differential test

namespace {

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? at : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

}  // namespace

// Compares next fire times with test/unit/schedule_reference.py (croniter's
// calendar matching + zoneinfo + the documented DST rule; the script says
// why croniter's own time-zone handling is not used). CI installs
// python3-croniter, so a missing reference is a failure, not a skip.
TEST(ScheduleDifferential, MatchesCroniterReference) {
  const std::string script =
      (std::filesystem::path(__FILE__).parent_path() / "schedule_reference.py").string();
  ASSERT_TRUE(std::filesystem::exists(script)) << "reference script missing: " << script;

  // The first interpreter that has croniter: $PTB_PYTHON, python3 on PATH,
  // then the system one (apt installs python3-croniter there, which a
  // pyenv or venv python3 earlier on PATH cannot see).
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PTB_PYTHON")) candidates.push_back(env);
  candidates.insert(candidates.end(), {"python3", "/usr/bin/python3"});
  std::string python, tried;
  for (const auto& candidate : candidates) {
    auto check = run_command(shell_quoted(candidate) + " " + shell_quoted(script) + " --check");
    if (check.status == 0 && check.output.rfind("ok", 0) == 0) {
      python = candidate;
      break;
    }
    tried += "\n  " + candidate + ": exit " + std::to_string(check.status) + ": " +
             check.output.substr(0, 300);
  }
  ASSERT_FALSE(python.empty())
      << "The differential test needs python3 with croniter. Install python3-croniter "
         "(apt-get install -y python3-croniter python3-dateutil), or point PTB_PYTHON at a "
         "python3 that has it. Tried:" << tried;

  const char* seed_env = std::getenv("PTB_SCHEDULE_SEED");
  const std::string seed = seed_env ? seed_env : "20240310";
  const int count = 2500;
  auto reference = run_command(shell_quoted(python) + " " + shell_quoted(script) + " --seed " +
                               shell_quoted(seed) + " --count " + std::to_string(count));
  ASSERT_EQ(reference.status, 0) << reference.output.substr(0, 2000);

  std::map<std::string, TimeZone> zones;
  int cases = 0, fire_times = 0, mismatches = 0;
  std::string report;
  std::istringstream lines(reference.output);
  std::string line;
  while (std::getline(lines, line)) {
    auto parts = split(line, '|');
    ASSERT_EQ(parts.size(), 4u) << "unexpected reference line: " << line;
    const std::string &expr = parts[0], &zone_name = parts[1];
    const sys_seconds start{seconds{std::stoll(parts[2])}};
    std::vector<sys_seconds> expected;
    for (const auto& t : split(parts[3], ',')) expected.push_back(sys_seconds{seconds{std::stoll(t)}});
    auto it = zones.find(zone_name);
    if (it == zones.end()) it = zones.emplace(zone_name, TimeZone::load(zone_name)).first;
    const TimeZone& z = it->second;

    std::vector<sys_seconds> actual;
    std::string error;
    try {
      actual = preview(Schedule::parse(expr), start, static_cast<int>(expected.size()), z);
    } catch (const Error& e) {
      error = e.what();
    }
    ++cases;
    fire_times += static_cast<int>(expected.size());
    if (actual == expected) continue;
    if (++mismatches > 10) continue;
    report += "\n'" + expr + "' in " + zone_name + " after " + shown(start, z) + " (" + parts[2] + ")";
    if (!error.empty()) report += "\n  error: " + error;
    for (size_t i = 0; i < std::max(actual.size(), expected.size()); ++i) {
      std::string e = i < expected.size() ? shown(expected[i], z) : "-";
      std::string a = i < actual.size() ? shown(actual[i], z) : "-";
      report += "\n  expected " + e + "  got " + a + (e == a ? "" : "   <--");
    }
  }
  std::cout << "[ differential ] seed " << seed << ": compared " << cases << " cases, "
            << fire_times << " fire times, " << mismatches << " mismatches\n";
  RecordProperty("differential_cases", cases);
  EXPECT_GE(cases, 2000);
  EXPECT_EQ(mismatches, 0) << "first mismatches (python3 " << script << " --seed " << seed
                           << " --count " << count << " reproduces them):" << report;
}
