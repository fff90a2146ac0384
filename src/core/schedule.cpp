#include "core/schedule.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.hpp"

namespace ptb::core {

namespace {

using std::chrono::local_seconds;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr int64_t kMinute = 60;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kNoBegin = std::numeric_limits<int64_t>::min();
constexpr int64_t kNoEnd = std::numeric_limits<int64_t>::max();

// No zone is 26 hours from UTC (RFC 8536 is tighter); the bound keeps the
// local <-> UTC search windows small and all arithmetic far from overflow.
constexpr int64_t kMaxOffset = 26 * kHour - 1;

// Schedules work on years 1..9999, with a day of slack for any offset.
constexpr int64_t kFirstInstant = -62135596800 + kDay;  // 0001-01-02T00:00:00Z
constexpr int64_t kLastInstant = 253402300800 - kDay;   // 9999-12-31T00:00:00Z

// The Gregorian calendar repeats every 400 years, so a cron schedule that
// has not fired in 400 years never will.
constexpr int64_t kSearchSpan = 146097 * kDay;

constexpr size_t kMaxScheduleLength = 1000;
constexpr int64_t kMaxInterval = 3650 * kDay;
constexpr int kMaxPreview = 1000;
constexpr size_t kMaxTzifSize = 1 << 20;

[[noreturn]] void invalid(std::string message, std::string detail = {}, std::string hint = {}) {
  throw Error(sqlstate::kInvalidParameterValue, std::move(message), std::move(detail),
              std::move(hint));
}

// User text echoed in a message: printable ASCII only (other bytes might not
// be valid in the server encoding) and bounded, whatever was typed.
std::string shown(std::string_view text, size_t limit = 100) {
  std::string out;
  for (char c : text.substr(0, limit)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > limit) out += "...";
  return out;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// Digits to a number, saturating at `cap` so huge inputs cannot overflow.
uint64_t digits_value(std::string_view digits, uint64_t cap) {
  uint64_t v = 0;
  for (char c : digits) {
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > cap) return cap;
  }
  return v;
}

std::vector<std::string_view> split_blanks(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !is_blank(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// ---------------------------------------------------------------- calendar

struct CivilDay {
  int year;
  unsigned month;
  unsigned day;
  unsigned weekday;  // 0 = Sunday
};

CivilDay civil_from_days(int64_t days) {
  std::chrono::sys_days d{std::chrono::days{days}};
  std::chrono::year_month_day ymd{d};
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()), std::chrono::weekday{d}.c_encoding()};
}

int64_t days_from_civil(int year, unsigned month, unsigned day) {
  auto ymd = std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day};
  return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

bool is_leap(int year) { return std::chrono::year{year}.is_leap(); }

unsigned days_in_month(int year, unsigned month) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (month == 2 && is_leap(year)) ? 29 : kDays[month - 1];
}

template <size_t N>
int next_set_bit(const std::bitset<N>& bits, size_t from) {
  for (size_t i = from; i < N; ++i)
    if (bits[i]) return static_cast<int>(i);
  return -1;
}

// The first local minute in [from, until) that the fields match. Skips
// whole months, days and hours that cannot match, so a 400-year search of
// a schedule that never fires stays around 10^5 steps.
std::optional<int64_t> next_local_match(const CronFields& f, int64_t from, int64_t until) {
  int64_t t = floor_div(from + kMinute - 1, kMinute) * kMinute;
  while (t < until) {
    const int64_t day = floor_div(t, kDay);
    const int64_t second_of_day = t - day * kDay;
    const CivilDay c = civil_from_days(day);
    if (!f.months[c.month]) {
      t = (c.month == 12 ? days_from_civil(c.year + 1, 1, 1)
                         : days_from_civil(c.year, c.month + 1, 1)) * kDay;
      continue;
    }
    if (!f.matches_day(c.day, c.weekday)) {
      t = (day + 1) * kDay;
      continue;
    }
    const auto hour = static_cast<size_t>(second_of_day / kHour);
    if (!f.hours[hour]) {
      int next = next_set_bit(f.hours, hour + 1);
      t = next < 0 ? (day + 1) * kDay : day * kDay + next * kHour;
      continue;
    }
    const auto minute = static_cast<size_t>(second_of_day % kHour / kMinute);
    if (!f.minutes[minute]) {
      int next = next_set_bit(f.minutes, minute + 1);
      t = day * kDay + static_cast<int64_t>(hour) * kHour + (next < 0 ? kHour : next * kMinute);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- cron parsing

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kWeekdayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct FieldSpec {
  const char* name;  // as messages say it
  unsigned min;
  unsigned max;
  const char* const* names;  // three-letter names for min, min+1, ...
  unsigned name_count;
  const char* names_shown;  // for messages
};

const FieldSpec kFieldSpecs[5] = {
    {"minute", 0, 59, nullptr, 0, nullptr},
    {"hour", 0, 23, nullptr, 0, nullptr},
    {"day of month", 1, 31, nullptr, 0, nullptr},
    {"month", 1, 12, kMonthNames, 12, "a month name (JAN-DEC)"},
    {"day of week", 0, 7, kWeekdayNames, 7, "a weekday name (SUN-SAT)"},
};

class CronParser {
 public:
  explicit CronParser(std::string_view text) : text_(text) {}

  [[noreturn]] void fail(const std::string& why, std::string hint = {}) const {
    invalid("invalid cron schedule \"" + shown(text_) + "\": " + why, {}, std::move(hint));
  }

  // The set of values a field matches, as bits min..max.
  uint64_t field(std::string_view text, const FieldSpec& spec) const {
    uint64_t bits = 0;
    size_t start = 0;
    for (;;) {
      size_t comma = text.find(',', start);
      bits |= item(text.substr(start, comma == std::string_view::npos ? comma : comma - start), spec);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return bits;
  }

 private:
  uint64_t item(std::string_view text, const FieldSpec& spec) const {
    const std::string name = spec.name;
    if (text.empty()) fail(name + " list has an empty element");
    const size_t slash = text.find('/');
    const std::string_view range = text.substr(0, slash);
    unsigned step = 1;
    if (slash != std::string_view::npos) {
      std::string_view step_text = text.substr(slash + 1);
      if (!all_digits(step_text))
        fail(name + " step \"" + shown(step_text, 20) + "\" is not a number");
      uint64_t value = digits_value(step_text, 1000000);
      if (value < 1 || value > spec.max)
        fail(name + " step " + shown(step_text, 20) + " is out of range 1-" +
             std::to_string(spec.max));
      step = static_cast<unsigned>(value);
    }
    unsigned low, high;
    if (range == "*") {
      low = spec.min;
      high = spec.max;
    } else if (size_t dash = range.find('-'); dash != std::string_view::npos) {
      std::string_view low_text = range.substr(0, dash), high_text = range.substr(dash + 1);
      if (low_text.empty() || high_text.empty())
        fail(name + " range \"" + shown(range, 20) + "\" is incomplete");
      low = value(low_text, spec);
      high = value(high_text, spec);
      if (low > high)
        fail(name + " range " + shown(range, 20) + " is reversed",
             "A range goes from the smaller value to the larger; to wrap around, use a "
             "list such as 22-23,0-2.");
    } else {
      low = value(range, spec);
      high = slash == std::string_view::npos ? low : spec.max;  // "5/10" is 5-max/10
    }
    uint64_t bits = 0;
    for (unsigned v = low; v <= high; v += step) bits |= uint64_t{1} << v;
    return bits;
  }

  unsigned value(std::string_view token, const FieldSpec& spec) const {
    const std::string name = spec.name;
    if (all_digits(token)) {
      uint64_t v = digits_value(token, 1000000);
      if (v < spec.min || v > spec.max)
        fail(name + " value " + shown(token, 20) + " is out of range " +
             std::to_string(spec.min) + "-" + std::to_string(spec.max));
      return static_cast<unsigned>(v);
    }
    if (spec.names != nullptr) {
      const std::string word = lowered(token);
      for (unsigned i = 0; i < spec.name_count; ++i)
        if (word == spec.names[i]) return spec.min + i;
      fail(name + " value \"" + shown(token, 20) + "\" is not a number or " + spec.names_shown);
    }
    fail(name + " value \"" + shown(token, 20) + "\" is not a number");
  }

  std::string_view text_;
};

CronFields parse_cron_fields(std::string_view shown_text, const std::vector<std::string_view>& fields) {
  CronParser parser(shown_text);
  if (fields.size() != 5)
    parser.fail("expected 5 fields (minute hour day-of-month month day-of-week), found " +
                    std::to_string(fields.size()),
                "For an interval write for example '15 minutes' or '6 hours'.");
  CronFields f;
  f.minutes = std::bitset<60>(parser.field(fields[0], kFieldSpecs[0]));
  f.hours = std::bitset<24>(parser.field(fields[1], kFieldSpecs[1]));
  f.days_of_month = std::bitset<32>(parser.field(fields[2], kFieldSpecs[2]));
  f.months = std::bitset<13>(parser.field(fields[3], kFieldSpecs[3]));
  uint64_t weekdays = parser.field(fields[4], kFieldSpecs[4]);
  if (weekdays & (uint64_t{1} << 7)) weekdays = (weekdays | 1) & 0x7f;  // 7 is Sunday too
  f.days_of_week = std::bitset<7>(weekdays);
  f.minute_star = fields[0].front() == '*';
  f.hour_star = fields[1].front() == '*';
  f.day_of_month_star = fields[2].front() == '*';
  f.day_of_week_star = fields[4].front() == '*';
  return f;
}

struct Macro {
  const char* name;
  const char* expansion;
};
constexpr Macro kMacros[] = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

[[noreturn]] void bad_interval(std::string_view text, const std::string& why) {
  invalid("invalid interval schedule \"" + shown(text) + "\": " + why, {},
          "Write an interval as N seconds, minutes, hours or days, e.g. '6 hours'.");
}

seconds parse_interval(std::string_view text, std::string_view count, std::string_view unit) {
  if (!all_digits(count))
    bad_interval(text, "the count \"" + shown(count, 20) + "\" is not a positive integer");
  std::string word = lowered(unit);
  if (word.size() > 1 && word.back() == 's') word.pop_back();  // singular or plural
  int64_t unit_seconds = 0;
  if (word == "second") unit_seconds = 1;
  else if (word == "minute") unit_seconds = kMinute;
  else if (word == "hour") unit_seconds = kHour;
  else if (word == "day") unit_seconds = kDay;
  else bad_interval(text, "unit \"" + shown(unit, 20) + "\" is not one of seconds, minutes, hours, days");
  const uint64_t n = digits_value(count, static_cast<uint64_t>(kMaxInterval) + 1);
  if (n == 0) bad_interval(text, "the count must be at least 1");
  if (n > static_cast<uint64_t>(kMaxInterval / unit_seconds))
    bad_interval(text, "the interval is longer than 3650 days");
  return seconds{static_cast<int64_t>(n) * unit_seconds};
}

// ---------------------------------------------------------------- POSIX TZ rules

// One end of daylight saving time in a POSIX TZ string.
struct RuleDate {
  enum class Form { julian_no_leap, zero_based, month_week_day } form = Form::month_week_day;
  int day = 0;  // Jn: 1..365 (Feb 29 never counted); n: 0..365
  unsigned month = 0, week = 0, weekday = 0;  // Mm.w.d
  int64_t time = 2 * kHour;  // local time of day, may be negative or past 24h
};

// The rule a TZif footer gives for instants after the last transition.
struct PosixRule {
  int64_t std_offset = 0;  // local minus UTC (POSIX writes it negated)
  bool has_dst = false;
  int64_t dst_offset = 0;
  RuleDate start, end;
};

int64_t rule_local_seconds(int year, const RuleDate& d) {
  const int64_t jan1 = days_from_civil(year, 1, 1);
  int64_t day = 0;
  switch (d.form) {
    case RuleDate::Form::julian_no_leap:
      day = jan1 + d.day - 1 + ((is_leap(year) && d.day >= 60) ? 1 : 0);
      break;
    case RuleDate::Form::zero_based:
      day = jan1 + d.day;
      break;
    case RuleDate::Form::month_week_day: {
      const int64_t first = days_from_civil(year, d.month, 1);
      const unsigned first_weekday = civil_from_days(first).weekday;
      int64_t offset = (d.weekday + 7 - first_weekday) % 7 + (d.week - 1) * 7;
      while (offset >= days_in_month(year, d.month)) offset -= 7;  // week 5 = last
      day = first + offset;
      break;
    }
  }
  return day * kDay + d.time;
}

class PosixRuleParser {
 public:
  explicit PosixRuleParser(std::string_view s) : s_(s) {}

  std::optional<PosixRule> parse() {
    PosixRule rule;
    if (!name()) return std::nullopt;
    auto std_offset = offset(24);
    if (!std_offset) return std::nullopt;
    rule.std_offset = -*std_offset;
    if (at_end()) return rule;
    if (!name()) return std::nullopt;
    rule.has_dst = true;
    rule.dst_offset = rule.std_offset + kHour;
    if (!at_end() && peek() != ',') {
      auto dst_offset = offset(24);
      if (!dst_offset) return std::nullopt;
      rule.dst_offset = -*dst_offset;
    }
    if (at_end()) {  // POSIX leaves the dates to the implementation; use the US rule
      rule.start = {RuleDate::Form::month_week_day, 0, 3, 2, 0, 2 * kHour};
      rule.end = {RuleDate::Form::month_week_day, 0, 11, 1, 0, 2 * kHour};
      return rule;
    }
    if (!eat(',') || !date(rule.start) || !eat(',') || !date(rule.end) || !at_end())
      return std::nullopt;
    return rule;
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  bool name() {
    size_t start = pos_;
    if (eat('<')) {
      while (!at_end() && peek() != '>') ++pos_;
      return pos_ > start + 1 && eat('>');
    }
    while (is_alpha(peek())) ++pos_;
    return pos_ - start >= 3;
  }

  std::optional<int64_t> number(int64_t max) {
    size_t start = pos_;
    while (is_digit(peek()) && pos_ - start < 4) ++pos_;
    if (pos_ == start) return std::nullopt;
    int64_t v = static_cast<int64_t>(digits_value(s_.substr(start, pos_ - start), 10000));
    if (v > max) return std::nullopt;
    return v;
  }

  // [+-]hh[:mm[:ss]] in seconds, hours at most max_hours.
  std::optional<int64_t> offset(int64_t max_hours) {
    int64_t sign = 1;
    if (eat('-')) sign = -1;
    else eat('+');
    auto hours = number(max_hours);
    if (!hours) return std::nullopt;
    int64_t total = *hours * kHour;
    if (eat(':')) {
      auto minutes = number(59);
      if (!minutes) return std::nullopt;
      total += *minutes * kMinute;
      if (eat(':')) {
        auto secs = number(59);
        if (!secs) return std::nullopt;
        total += *secs;
      }
    }
    if (total > kMaxOffset && max_hours <= 24) return std::nullopt;
    return sign * total;
  }

  bool date(RuleDate& d) {
    if (eat('J')) {
      auto n = number(365);
      if (!n || *n < 1) return false;
      d.form = RuleDate::Form::julian_no_leap;
      d.day = static_cast<int>(*n);
    } else if (eat('M')) {
      auto month = number(12);
      if (!month || *month < 1 || !eat('.')) return false;
      auto week = number(5);
      if (!week || *week < 1 || !eat('.')) return false;
      auto weekday = number(6);
      if (!weekday) return false;
      d.form = RuleDate::Form::month_week_day;
      d.month = static_cast<unsigned>(*month);
      d.week = static_cast<unsigned>(*week);
      d.weekday = static_cast<unsigned>(*weekday);
    } else {
      auto n = number(365);
      if (!n) return false;
      d.form = RuleDate::Form::zero_based;
      d.day = static_cast<int>(*n);
    }
    d.time = 2 * kHour;
    if (eat('/')) {
      auto time = offset(167);  // RFC 8536 allows -167..167 hours
      if (!time) return false;
      d.time = *time;
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

struct Period {
  int64_t begin;
  int64_t end;
  int64_t offset;
};

}  // namespace

// ---------------------------------------------------------------- time zones

struct TimeZone::Data {
  std::string name;
  std::vector<int64_t> transitions;  // ascending UTC instants
  std::vector<int64_t> offsets;      // offsets[i] is in effect from transitions[i]
  int64_t initial_offset = 0;        // before the first transition: time type 0
  std::optional<PosixRule> rule;     // from the last transition on

  Period period_at(int64_t t) const {
    if (transitions.empty()) return rule ? rule_period(t, kNoBegin) : Period{kNoBegin, kNoEnd, initial_offset};
    const auto next = std::upper_bound(transitions.begin(), transitions.end(), t);
    if (next == transitions.begin()) return {kNoBegin, transitions.front(), initial_offset};
    const auto i = static_cast<size_t>(next - transitions.begin()) - 1;
    if (next != transitions.end()) return {transitions[i], *next, offsets[i]};
    if (rule) return rule_period(t, transitions[i]);
    return {transitions[i], kNoEnd, offsets[i]};
  }

  // The footer rule's period around t, not starting before `floor`.
  Period rule_period(int64_t t, int64_t floor) const {
    if (!rule->has_dst) return {floor, kNoEnd, rule->std_offset};
    // Past year 9999 the zone stays as it is at the end of 9999.
    constexpr int64_t kRuleLimit = kLastInstant - 62 * kDay;
    const bool beyond = t > kRuleLimit;
    const int64_t at = std::clamp(t, kFirstInstant + 3 * 366 * kDay, kRuleLimit);
    const int year = civil_from_days(floor_div(at + rule->std_offset, kDay)).year;
    struct Change {
      int64_t at;
      int64_t offset;
      int order;  // at equal instants DST start wins (all-year DST rules)
    };
    std::vector<Change> changes;
    for (int y = year - 2; y <= year + 2; ++y) {
      changes.push_back({rule_local_seconds(y, rule->end) - rule->dst_offset, rule->std_offset, 0});
      changes.push_back({rule_local_seconds(y, rule->start) - rule->std_offset, rule->dst_offset, 1});
    }
    std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
      return a.at != b.at ? a.at < b.at : a.order < b.order;
    });
    size_t i = 0;
    while (i + 1 < changes.size() && changes[i + 1].at <= at) ++i;
    Period p{std::max(changes[i].at, floor), kNoEnd, changes[i].offset};
    for (size_t j = i + 1; j < changes.size(); ++j)
      if (changes[j].at > at) {
        p.end = changes[j].at;
        break;
      }
    if (beyond) p.end = kNoEnd;
    return p;
  }

  LocalTimeInfo::Kind to_utc(int64_t local, int64_t& first, int64_t& second) const {
    bool found = false;
    std::optional<int64_t> gap_end;
    Period p = period_at(local - kMaxOffset - 1);
    for (;;) {
      const int64_t candidate = local - p.offset;
      if (p.begin <= candidate && candidate < p.end) {
        if (!found) first = candidate;
        second = candidate;
        found = true;
      }
      if (p.end == kNoEnd || p.end > local + kMaxOffset) break;
      const Period next = period_at(p.end);
      if (!gap_end && next.offset > p.offset && p.end + p.offset <= local &&
          local < p.end + next.offset)
        gap_end = p.end;
      p = next;
    }
    if (found) return first == second ? LocalTimeInfo::Kind::unique : LocalTimeInfo::Kind::repeated;
    // Consistent data always finds one or the other; a malformed file gets
    // the offset in force just before.
    first = second = gap_end ? *gap_end : local - period_at(local - kMaxOffset).offset;
    return LocalTimeInfo::Kind::skipped;
  }
};

namespace {

[[noreturn]] void unusable_zone(std::string_view name, const std::string& why) {
  invalid("time zone \"" + shown(name, 64) + "\" not recognized", "Its TZif file " + why + ".");
}

// Reads the big-endian fields of a TZif file, refusing to read past its end.
class TzifReader {
 public:
  TzifReader(std::string_view name, std::string_view bytes) : name_(name), bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  void need(uint64_t n) const {
    if (n > remaining()) unusable_zone(name_, "is truncated");
  }
  void skip(uint64_t n) {
    need(n);
    pos_ += static_cast<size_t>(n);
  }
  uint64_t unsigned_be(int width) {
    need(static_cast<uint64_t>(width));
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_++]);
    return v;
  }
  int64_t signed_be(int width) {
    uint64_t v = unsigned_be(width);
    if (width < 8 && (v >> (width * 8 - 1)) != 0) v |= ~uint64_t{0} << (width * 8);
    return static_cast<int64_t>(v);
  }
  std::string_view take(size_t n) {
    need(n);
    auto out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  std::string_view name_;
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct TzifCounts {
  uint64_t isut, isstd, leap, time, type, chars;
  uint64_t data_size(int time_width) const {
    return time * (static_cast<uint64_t>(time_width) + 1) + type * 6 + chars +
           leap * (static_cast<uint64_t>(time_width) + 4) + isstd + isut;
  }
};

TzifCounts read_header(TzifReader& in, std::string_view name, char& version) {
  if (in.take(4) != "TZif") unusable_zone(name, "does not start with TZif");
  version = in.take(1)[0];
  in.skip(15);
  TzifCounts c{};
  c.isut = in.unsigned_be(4);
  c.isstd = in.unsigned_be(4);
  c.leap = in.unsigned_be(4);
  c.time = in.unsigned_be(4);
  c.type = in.unsigned_be(4);
  c.chars = in.unsigned_be(4);
  if (c.type == 0 || c.type > 256 || c.time > 100000 || c.chars > 100000 ||
      (c.isut != 0 && c.isut != c.type) || (c.isstd != 0 && c.isstd != c.type))
    unusable_zone(name, "has an invalid header");
  if (c.leap != 0) unusable_zone(name, "counts leap seconds, which schedules do not support");
  return c;
}

}  // namespace

TimeZone TimeZone::utc() {
  auto data = std::make_shared<Data>();
  data->name = "UTC";
  return TimeZone(std::move(data));
}

void TimeZone::check_name(std::string_view name) {
  auto fail = [&](const char* why) {
    invalid("invalid time zone name \"" + shown(name, 64) + "\"", why,
            "Use an IANA time zone name such as Europe/Berlin or UTC.");
  };
  if (name.empty()) fail("The name is empty.");
  if (name.size() > 255) fail("The name is longer than 255 characters.");
  for (char c : name)
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '/')
      fail("Only letters, digits, '_', '+', '-' and '/' are allowed.");
  if (name.front() == '/') fail("The name must not be an absolute path.");
  size_t start = 0;
  for (;;) {
    size_t slash = name.find('/', start);
    std::string_view part = name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty() || part == "." || part == "..") fail("The name has an empty or relative part.");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

TimeZone TimeZone::load(std::string_view name, const std::string& zoneinfo_dir) {
  check_name(name);
  const std::string path = zoneinfo_dir + "/" + std::string(name);
  std::error_code ec;
  // Only regular files: a directory, FIFO or device could block or mislead.
  if (!std::filesystem::is_regular_file(path, ec))
    invalid("time zone \"" + shown(name, 64) + "\" not recognized", {},
            "Use an IANA time zone name such as Europe/Berlin or UTC.");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxTzifSize) unusable_zone(name, "is unreadable or larger than 1 MB");
  std::string bytes(static_cast<size_t>(size), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in || in.gcount() != static_cast<std::streamsize>(size)) unusable_zone(name, "cannot be read");
  return from_tzif(name, bytes);
}

TimeZone TimeZone::from_tzif(std::string_view name, std::string_view tzif) {
  TzifReader in(name, tzif);
  char version = 0;
  TzifCounts counts = read_header(in, name, version);
  int time_width = 4;
  if (version != '\0') {  // version 2+: skip the 32-bit data for the 64-bit copy
    in.skip(counts.data_size(4));
    counts = read_header(in, name, version);
    time_width = 8;
  }
  in.need(counts.data_size(time_width));

  auto data = std::make_shared<Data>();
  data->name = std::string(name);
  data->transitions.reserve(counts.time);
  for (uint64_t i = 0; i < counts.time; ++i) {
    int64_t at = in.signed_be(time_width);
    if (!data->transitions.empty() && at <= data->transitions.back())
      unusable_zone(name, "has transitions out of order");
    data->transitions.push_back(at);
  }
  std::vector<uint8_t> type_of(counts.time);
  for (auto& type : type_of) {
    type = static_cast<uint8_t>(in.unsigned_be(1));
    if (type >= counts.type) unusable_zone(name, "refers to a missing time type");
  }
  std::vector<int64_t> type_offsets;
  for (uint64_t i = 0; i < counts.type; ++i) {
    int64_t offset = in.signed_be(4);
    in.skip(2);  // is-DST flag and abbreviation index: schedules need neither
    if (offset < -kMaxOffset || offset > kMaxOffset) unusable_zone(name, "has an impossible UTC offset");
    type_offsets.push_back(offset);
  }
  for (uint8_t type : type_of) data->offsets.push_back(type_offsets[type]);
  data->initial_offset = type_offsets[0];
  in.skip(counts.chars + counts.leap * static_cast<uint64_t>(time_width + 4) + counts.isstd +
          counts.isut);

  // The footer: "\nPOSIX-TZ\n" for the instants after the last transition.
  if (time_width == 8 && in.remaining() > 0) {
    std::string_view rest = in.take(in.remaining());
    size_t close = rest.find('\n', 1);
    if (rest[0] != '\n' || close == std::string_view::npos) unusable_zone(name, "has a malformed footer");
    std::string_view tz = rest.substr(1, close - 1);
    if (!tz.empty()) {
      data->rule = PosixRuleParser(tz).parse();
      if (!data->rule) unusable_zone(name, "has a footer rule this reader does not understand");
    }
  }
  return TimeZone(std::move(data));
}

const std::string& TimeZone::name() const { return data_->name; }

OffsetPeriod TimeZone::period_at(sys_seconds t) const {
  const Period p = data_->period_at(t.time_since_epoch().count());
  return {p.begin == kNoBegin ? sys_seconds::min() : sys_seconds{seconds{p.begin}},
          p.end == kNoEnd ? sys_seconds::max() : sys_seconds{seconds{p.end}}, seconds{p.offset}};
}

seconds TimeZone::offset_at(sys_seconds t) const { return period_at(t).offset; }

local_seconds TimeZone::to_local(sys_seconds t) const {
  return local_seconds{t.time_since_epoch() + offset_at(t)};
}

LocalTimeInfo TimeZone::to_utc(local_seconds t) const {
  // Far outside any real date the zone is a fixed offset; the clamp keeps
  // the window arithmetic from overflowing.
  constexpr int64_t kLimit = int64_t{1} << 60;
  const int64_t local = std::clamp<int64_t>(t.time_since_epoch().count(), -kLimit, kLimit);
  int64_t first = 0, second = 0;
  auto kind = data_->to_utc(local, first, second);
  return {kind, sys_seconds{seconds{first}}, sys_seconds{seconds{second}}};
}

// ---------------------------------------------------------------- schedules

bool CronFields::matches_day(unsigned day_of_month, unsigned weekday) const {
  const bool by_date = days_of_month[day_of_month];
  const bool by_weekday = days_of_week[weekday];
  if (!day_of_month_star && !day_of_week_star) return by_date || by_weekday;
  return by_date && by_weekday;
}

Schedule Schedule::parse(std::string_view text) {
  size_t first = 0, last = text.size();
  while (first < last && is_blank(text[first])) ++first;
  while (last > first && is_blank(text[last - 1])) --last;
  const std::string_view trimmed = text.substr(first, last - first);
  if (trimmed.empty())
    invalid("invalid schedule \"\": the schedule is empty", {},
            "Use a cron expression such as '0 3 * * *' or an interval such as '6 hours'.");
  if (trimmed.size() > kMaxScheduleLength)
    invalid("invalid schedule \"" + shown(trimmed, 40) + "\": longer than " +
            std::to_string(kMaxScheduleLength) + " characters");

  Schedule s;
  s.text_ = std::string(trimmed);
  const auto tokens = split_blanks(trimmed);
  if (tokens[0].front() == '@') {
    const std::string word = lowered(tokens[0]);
    for (const Macro& m : kMacros)
      if (word == m.name) {
        if (tokens.size() != 1)
          CronParser(trimmed).fail(std::string("the macro ") + m.name + " takes no fields");
        s.cron_ = parse_cron_fields(trimmed, split_blanks(m.expansion));
        return s;
      }
    CronParser(trimmed).fail(
        "unknown macro \"" + shown(tokens[0], 20) +
        "\" (known: @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)");
  }
  if (tokens.size() == 2 && std::all_of(tokens[1].begin(), tokens[1].end(), is_alpha)) {
    s.kind_ = Kind::interval;
    s.interval_ = parse_interval(trimmed, tokens[0], tokens[1]);
    return s;
  }
  s.cron_ = parse_cron_fields(trimmed, tokens);
  return s;
}

namespace {

Period period_of(const TimeZone& zone, int64_t t) {
  // sys_seconds::min()/max() are exactly kNoBegin/kNoEnd.
  const OffsetPeriod p = zone.period_at(sys_seconds{seconds{t}});
  return {p.begin.time_since_epoch().count(), p.end.time_since_epoch().count(), p.offset.count()};
}

// Cron fire times, in the terms of CronFields::follows_real_time. The time
// line is walked one offset period at a time; within a period local time
// is UTC plus a constant, so the calendar search runs on local minutes.
std::optional<int64_t> next_cron_fire(const CronFields& f, int64_t after, const TimeZone& zone) {
  if (after >= kLastInstant) return std::nullopt;
  int64_t t = std::max(after + 1, kFirstInstant);  // the earliest instant that may fire
  const int64_t horizon = std::min(t + kSearchSpan, kLastInstant);
  const bool real_time = f.follows_real_time();
  while (t < horizon) {
    const Period p = period_of(zone, t);
    const int64_t end = std::min(p.end, horizon);
    int64_t from_local = t + p.offset;
    if (!real_time && p.begin != kNoBegin) {
      const int64_t offset_before = period_of(zone, p.begin - 1).offset;
      // Spring forward: wall-clock times in the gap fire once, as it ends.
      if (offset_before < p.offset && p.begin == t &&
          next_local_match(f, p.begin + offset_before, p.begin + p.offset))
        return p.begin;
      // Fall back: repeated wall-clock times already fired the first time.
      if (offset_before > p.offset) from_local = std::max(from_local, p.begin + offset_before);
    }
    if (auto local = next_local_match(f, from_local, end + p.offset)) return *local - p.offset;
    t = end;
  }
  return std::nullopt;
}

}  // namespace

std::optional<sys_seconds> next_fire(const Schedule& schedule, sys_seconds after, const TimeZone& zone) {
  const int64_t a = after.time_since_epoch().count();
  if (schedule.kind() == Schedule::Kind::interval) {
    const int64_t step = schedule.interval().count();
    if (a > kLastInstant - step) return std::nullopt;
    return sys_seconds{seconds{a + step}};
  }
  auto fire = next_cron_fire(schedule.cron(), a, zone);
  if (!fire) return std::nullopt;
  return sys_seconds{seconds{*fire}};
}

std::vector<sys_seconds> preview(const Schedule& schedule, sys_seconds after, int n,
                                 const TimeZone& zone) {
  if (n < 0 || n > kMaxPreview)
    invalid("preview count " + std::to_string(n) + " is out of range 0-" +
            std::to_string(kMaxPreview));
  std::vector<sys_seconds> fires;
  while (static_cast<int>(fires.size()) < n) {
    auto fire = next_fire(schedule, after, zone);
    if (!fire) break;
    fires.push_back(*fire);
    after = *fire;
  }
  return fires;
}

std::optional<sys_seconds> next_run(const Schedule& schedule, std::optional<sys_seconds> last_run,
                                    sys_seconds now, const TimeZone& zone) {
  if (schedule.kind() == Schedule::Kind::interval && !last_run) return now;
  return next_fire(schedule, last_run.value_or(now), zone);
}

}  // namespace ptb::core
