#!/usr/bin/env python3
"""Reference fire times for the differential test of src/core/schedule.cpp.

    schedule_reference.py --seed S --count N [--fires K]
    schedule_reference.py --check

prints N random cases, one a line:  expr|zone|start_epoch|t1,t2,...,tK
where t1 < t2 < ... are the first K fire times strictly after start_epoch
(UTC epoch seconds). --check only verifies that the dependencies load.
Exit status 3 means croniter (or zoneinfo) is missing.

Where the answers come from, and why:
- Which wall-clock minutes match an expression: croniter, run on naive
  datetimes, so only its calendar logic is used. Vixie cron's day rule is
  applied here, not by croniter: croniter decides "restricted" from the
  expanded value list (so '*/2' counts as restricted, '1-31' as '*'), Vixie
  from the field's first character. When both day fields are restricted the
  case is the union of two croniter streams (day-of-week '*', then
  day-of-month '*'); otherwise one stream with day_or=False (AND).
- croniter 1.3.5 also skips days early in March when it passes through
  February with a day-of-month list holding both a day <= 2 and a day >= 30:
  '0 0 */6 * *' from 2100-02-27 gives 03-07, not 03-01, because it jumps
  to "day 31" and lands past March 1. So each day-of-month list is split
  into its days <= 28 and its days >= 29, one croniter stream each, and the
  streams are merged; neither part can trigger the jump. All matching is
  still croniter's.
- Which UTC instants those minutes fire at: the rule documented in
  src/core/schedule.hpp (CronFields::follows_real_time), applied here with
  Python's zoneinfo, a TZif reader independent of the C++ one. croniter's
  own time-zone handling is not used because croniter 1.3.5 does not follow
  that rule and is wrong near transitions: in America/New_York, '30 2 * * *'
  on 2024-03-10 gives 03:30 EDT (we fire at 03:00, when the gap ends), and
  '30 1 * * *' after 2024-11-03 gives 2024-11-04 02:30 EST (the day after a
  fall-back, off by an hour); with dateutil zones it even repeats 01:30.
  Its naive calendar arithmetic has none of these problems.
"""

import argparse
import bisect
import heapq
import random
import sys
from datetime import datetime, timedelta, timezone

MISSING_DEPENDENCY = 3
try:
    from zoneinfo import ZoneInfo
    from croniter import croniter, CroniterBadDateError
    import croniter as croniter_module
except ImportError as error:
    print("schedule_reference.py: %s. Install python3-croniter "
          "(apt-get install -y python3-croniter python3-dateutil)." % error,
          file=sys.stderr)
    sys.exit(MISSING_DEPENDENCY)

MINUTE = 60
HOUR = 3600
DAY = 86400

# Zones with different kinds of transitions, weighted toward DST ones.
ZONES = [
    ("UTC", 1),
    ("America/New_York", 4),       # 02:00 gap, 01:00-02:00 repeated
    ("Europe/Berlin", 4),          # 02:00 gap, 02:00-03:00 repeated
    ("Australia/Sydney", 3),       # southern hemisphere
    ("Australia/Lord_Howe", 3),    # 30-minute DST
    ("America/Santiago", 2),       # gap at midnight: 00:00 does not exist
    ("America/Havana", 2),         # gap at midnight, repeat at 00:00-01:00
    ("Pacific/Auckland", 1),
    ("Pacific/Chatham", 1),        # +12:45 / +13:45
    ("America/St_Johns", 1),       # -03:30
    ("Asia/Kolkata", 1),           # +05:30, no DST
    ("Europe/Dublin", 1),          # "negative" DST in the footer rule
    ("America/Nuuk", 1),           # rule times -1:00 and 0:00
    ("Asia/Gaza", 1),              # rule times 50:00
    ("Pacific/Apia", 1),           # skipped 2011-12-30 entirely
    ("America/Sao_Paulo", 1),      # DST at midnight until 2019
]

# Transitions are looked for in this span (daily samples, then bisection);
# start instants are drawn from it as well.
SCAN_FROM = datetime(1971, 1, 1, tzinfo=timezone.utc).timestamp()
SCAN_TO = datetime(2061, 1, 1, tzinfo=timezone.utc).timestamp()


def offset_at(tz, t):
    return int(datetime.fromtimestamp(t, tz).utcoffset().total_seconds())


class Zone:
    def __init__(self, name):
        self.name = name
        self.tz = ZoneInfo(name)
        self.transitions = []  # (instant, offset before, offset after)
        t = int(SCAN_FROM)
        before = offset_at(self.tz, t)
        while t < SCAN_TO:
            after = offset_at(self.tz, t + DAY)
            if after != before:
                self.transitions.append((self.first_change(t, t + DAY), before, after))
            before = after
            t += DAY
        self.times = [x[0] for x in self.transitions]
        self.widest_jump = max([abs(b - a) for _, a, b in self.transitions], default=0)

    def first_change(self, low, high):
        """Smallest t in (low, high] whose offset differs from low's."""
        start = offset_at(self.tz, low)
        while high - low > 1:
            mid = (low + high) // 2
            if offset_at(self.tz, mid) != start:
                high = mid
            else:
                low = mid
        return high

    def swing_near(self, t):
        """How far local time may jump near t: bounds the search windows."""
        if not SCAN_FROM <= t <= SCAN_TO:
            return self.widest_jump
        i = bisect.bisect_left(self.times, t - 3 * DAY)
        j = bisect.bisect_right(self.times, t + 3 * DAY)
        return sum(abs(b - a) for _, a, b in self.transitions[i:j])

    def local(self, t):
        return datetime.fromtimestamp(t, self.tz).replace(tzinfo=None)


def naive_epoch(local):
    return int((local - datetime(1970, 1, 1)).total_seconds())


# ------------------------------------------------------------- wall-clock matches

def croniter_stream(expr, start):
    it = croniter(expr, start, day_or=False)
    while True:
        try:
            yield it.get_next(datetime)
        except CroniterBadDateError:
            return


def day_of_month_parts(field):
    """The field as lists croniter handles correctly (see the top comment)."""
    days = croniter.expand("0 0 %s * *" % field)[0][2]
    if days == ["*"]:
        return [field]
    parts = [[d for d in days if d <= 28], [d for d in days if d >= 29]]
    if not parts[0] or not parts[1]:
        return [field]
    return [",".join(str(d) for d in part) for part in parts]


def local_matches(fields, start):
    """Matching naive local minutes strictly after start, ascending."""
    minute, hour, dom, month, dow = fields
    if dom.startswith("*") or dow.startswith("*"):  # both must match
        days = [(part, dow) for part in day_of_month_parts(dom)]
    else:  # Vixie: either matches
        days = [(part, "*") for part in day_of_month_parts(dom)] + [("*", dow)]
    streams = [croniter_stream(" ".join([minute, hour, d, month, w]), start) for d, w in days]
    last = None
    for local in heapq.merge(*streams):
        if local != last:
            yield local
        last = local


# ------------------------------------------------------------- the DST rule

def fires_of(local, zone, real_time):
    """UTC fire instants of one matching wall-clock minute."""
    earlier = int(local.replace(tzinfo=zone.tz, fold=0).timestamp())
    later = int(local.replace(tzinfo=zone.tz, fold=1).timestamp())
    occurs = sorted({t for t in (earlier, later) if zone.local(t) == local})
    if occurs:
        # Repeated by a fall-back: a cadence fires at both, a wall-clock time once.
        return occurs if real_time else occurs[:1]
    # Skipped by a spring-forward gap (fold=1 uses the offset after it, so it
    # lands before the gap, fold=0 after): a cadence does not fire, a
    # wall-clock time fires once, at the first instant after the gap.
    if real_time:
        return []
    return [zone.first_change(min(earlier, later), max(earlier, later))]


def fire_times(fields, zone, start, count):
    real_time = fields[0].startswith("*") or fields[1].startswith("*")
    first_local = zone.local(start) - timedelta(seconds=zone.swing_near(start) + MINUTE)
    first_local = first_local.replace(second=0, microsecond=0)
    fires = set()
    for local in local_matches(fields, first_local):
        ahead = sorted(t for t in fires if t > start)
        if len(ahead) >= count:
            last = ahead[count - 1]
            # Later minutes cannot fire before `last` once they are further
            # from it, in local time, than any offset change nearby.
            if naive_epoch(local) > naive_epoch(zone.local(last)) + zone.swing_near(last) + MINUTE:
                return ahead[:count]
        fires.update(fires_of(local, zone, real_time))
    return None  # croniter gave up: no fire in 50 years


# ------------------------------------------------------------- random cases

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def random_case(rng, text):
    return "".join(c.upper() if rng.random() < 0.5 else c for c in text)


def spell(rng, field, value):
    if field == 3 and rng.random() < 0.3:
        return random_case(rng, MONTHS[value - 1])
    if field == 4 and value <= 6 and rng.random() < 0.35:
        return random_case(rng, WEEKDAYS[value])
    return str(value)


def pick_value(rng, field):
    low, high = FIELD_RANGES[field]
    if field == 0 and rng.random() < 0.5:
        return rng.choice([0, 15, 30, 45])
    if field == 1 and rng.random() < 0.5:
        return rng.choice([0, 1, 2, 3])  # where DST changes happen
    if field == 2 and rng.random() < 0.3:
        return rng.choice([1, 28, 29, 30, 31])
    return rng.randint(low, high)


def random_element(rng, field):
    low, high = FIELD_RANGES[field]
    kind = rng.random()
    if kind < 0.5:
        return spell(rng, field, pick_value(rng, field))
    a, b = sorted((pick_value(rng, field), pick_value(rng, field)))
    if kind < 0.75:
        return "%s-%s" % (spell(rng, field, a), spell(rng, field, b))
    step = rng.randint(1, max(1, (high - low) // 2))
    if kind < 0.9:
        return "%s-%s/%d" % (spell(rng, field, a), spell(rng, field, b), step)
    return "%s/%d" % (spell(rng, field, a), step)


STAR_CHANCE = [0.3, 0.35, 0.6, 0.75, 0.65]


def random_field(rng, field):
    low, high = FIELD_RANGES[field]
    r = rng.random()
    if r < STAR_CHANCE[field]:
        return "*"
    if r < STAR_CHANCE[field] + 0.1:
        return "*/%d" % rng.randint(1, high if field != 0 else 30)
    return ",".join(random_element(rng, field) for _ in range(rng.choice([1, 1, 1, 2, 3])))


MACROS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def random_expression(rng):
    if rng.random() < 0.04:
        name = rng.choice(sorted(MACROS))
        return random_case(rng, name), MACROS[name].split()
    fields = [random_field(rng, i) for i in range(5)]
    return " ".join(fields), fields


def local_to_utc(zone, local):
    return int(local.replace(tzinfo=zone.tz).timestamp())


def aim_at_transition(rng, fields, zone, transition):
    """Make most of these cases fire in the skipped or repeated hour."""
    at, before, after = transition
    # The skipped or repeated wall-clock span starts at this local time.
    hour = datetime.fromtimestamp(at + min(before, after), timezone.utc).hour
    fields[1] = rng.choice([str(hour), "%d-%d" % (hour, min(hour + 2, 23)), "*", "*/2",
                            "%d,%d" % tuple(sorted((hour, (hour + 12) % 24)))])
    if rng.random() < 0.5:  # a wall-clock time rather than a cadence
        fields[0] = rng.choice(["0", "30", "15,45", "0-59/20", "5-25"])
    fields[2], fields[3] = "*", "*"
    if rng.random() < 0.7:
        fields[4] = "*"


def random_start(rng, zone, fields):
    r = rng.random()
    if r < 0.45 and zone.transitions:
        transition = rng.choice(zone.transitions)
        if fields and rng.random() < 0.6:
            aim_at_transition(rng, fields, zone, transition)
            start = transition[0] + rng.randint(-30 * HOUR, 2 * HOUR)
        else:
            start = transition[0] + rng.randint(-36 * HOUR, 12 * HOUR)
    elif r < 0.6:
        year = rng.choice([2000, 2024, 2028, 2096, 2100, 2104])
        start = local_to_utc(zone, datetime(year, 2, 27)) + rng.randint(0, 3 * DAY)
    elif r < 0.7:
        year = rng.randint(1990, 2099)
        start = local_to_utc(zone, datetime(year, 12, 30)) + rng.randint(0, 3 * DAY)
    else:
        start = rng.randint(int(SCAN_FROM), int(datetime(2120, 1, 1).timestamp()))
    if rng.random() < 0.4:
        start -= start % MINUTE
    return start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--fires", type=int, default=5)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        print("ok croniter %s" % getattr(croniter_module, "__version__", "?"))
        return
    rng = random.Random(args.seed)
    names = [name for name, _ in ZONES]
    weights = [weight for _, weight in ZONES]
    zones = {}
    printed = 0
    while printed < args.count:
        name = rng.choices(names, weights)[0]
        zone = zones.get(name) or zones.setdefault(name, Zone(name))
        expr, fields = random_expression(rng)
        is_macro = expr.startswith("@")
        start = random_start(rng, zone, None if is_macro else fields)
        if not is_macro:
            expr = " ".join(fields)
        fires = fire_times(fields, zone, start, args.fires + 1)
        if fires is None:
            continue
        if rng.random() < 0.15:  # start exactly on a fire time: it must not repeat
            start, fires = fires[0], fires[1:]
        else:
            fires = fires[:-1]
        print("%s|%s|%d|%s" % (expr, name, start, ",".join(str(t) for t in fires)))
        printed += 1


if __name__ == "__main__":
    main()
