//! Rotation schedules (`RotationRules`): `AutomaticallyAfterDays`, `rate(N days|hours)` and
//! `cron(...)` expressions, the rotation window (`Duration`), and when the next window opens.
//!
//! All times are UTC milliseconds since the epoch.

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// How far ahead a cron expression is searched for its next match.
const CRON_HORIZON_DAYS: i64 = 366 * 30;

/// A parsed rotation schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    every: Every,
    /// The window length, when `Duration` was given.
    duration: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Every {
    Days(i64),
    Hours(i64),
    Cron(Box<Cron>),
}

/// One rotation window: rotation is due from `start`; `end` is the last moment (inclusive)
/// it may happen, which AWS reports as NextRotationDate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: i64,
    pub end: i64,
}

impl Plan {
    /// Parses `RotationRules` (already checked against the model's lengths and patterns).
    /// The error text is the InvalidParameterException message.
    pub fn parse(
        days: Option<i64>,
        duration: Option<&str>,
        expression: Option<&str>,
    ) -> Result<Option<Self>, String> {
        let every = match (days, expression) {
            (Some(_), Some(_)) => {
                return Err(
                    "You can't specify both AutomaticallyAfterDays and ScheduleExpression."
                        .to_string(),
                )
            }
            (Some(d), None) => Every::Days(d),
            (None, Some(e)) => parse_expression(e)?,
            (None, None) => {
                if duration.is_some() {
                    return Err(
                        "You must specify a ScheduleExpression or AutomaticallyAfterDays with Duration."
                            .to_string(),
                    );
                }
                return Ok(None);
            }
        };
        let duration = match duration {
            None => None,
            Some(d) => {
                let hours: i64 = d
                    .strip_suffix('h')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("Invalid Duration: {d}"))?;
                if !(1..=24).contains(&hours) {
                    return Err(
                        "The rotation window Duration must be between 1 and 24 hours.".to_string(),
                    );
                }
                if let Every::Hours(n) = &every {
                    if hours > *n {
                        return Err("The rotation window Duration can't be longer than the rotation interval.".to_string());
                    }
                }
                Some(hours * HOUR)
            }
        };
        Ok(Some(Self { every, duration }))
    }

    /// AutomaticallyAfterDays as DescribeSecret reports it: the schedule's interval in days
    /// (rounded up), when the schedule has a fixed one.
    pub fn interval_days(&self) -> Option<i64> {
        match &self.every {
            Every::Days(d) => Some(*d),
            Every::Hours(h) => Some((h + 23) / 24),
            Every::Cron(_) => None,
        }
    }

    /// Whether a manual change of the value counts as a rotation for the schedule
    /// (schedules defined as an interval after the previous rotation).
    pub fn counts_manual_updates(&self) -> bool {
        !matches!(self.every, Every::Cron(_))
    }

    /// The first window that opens after a rotation (or a configuration change) at `after`.
    pub fn next_window(&self, after: i64) -> Option<Window> {
        let (start, default_end) = match &self.every {
            Every::Days(d) => {
                let start = day_start(after) + d * DAY;
                (start, start + DAY)
            }
            Every::Hours(h) => {
                let start = after - after.rem_euclid(HOUR) + h * HOUR;
                (start, start + HOUR)
            }
            Every::Cron(c) => {
                let start = c.next_after(after)?;
                let end = if c.hours.len() == 1 {
                    day_start(start) + DAY
                } else {
                    start + HOUR
                };
                (start, end)
            }
        };
        let end = match self.duration {
            Some(d) => (start + d).min(day_start(start) + DAY),
            None => default_end,
        };
        Some(Window {
            start,
            end: end - 1000,
        })
    }
}

fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

fn parse_expression(e: &str) -> Result<Every, String> {
    let invalid = || format!("Invalid ScheduleExpression: {e}");
    let e = e.trim();
    if let Some(body) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = body.split_whitespace();
        let n: i64 = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(invalid)?;
        let unit = parts.next().ok_or_else(invalid)?;
        if parts.next().is_some() {
            return Err(invalid());
        }
        return match unit {
            "day" | "days" if (1..=1000).contains(&n) => Ok(Every::Days(n)),
            "hour" | "hours" if (4..=24_000).contains(&n) => Ok(Every::Hours(n)),
            "hour" | "hours" if (0..4).contains(&n) => {
                Err("The rotation interval must be at least 4 hours.".to_string())
            }
            _ => Err(invalid()),
        };
    }
    if let Some(body) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return Cron::parse(body)
            .map(|c| Every::Cron(Box::new(c)))
            .map_err(|m| format!("{}: {m}", invalid()));
    }
    Err(invalid())
}

/// An AWS cron expression: `Minutes Hours Day-of-month Month Day-of-week Year`, one of the
/// day fields `?`. Supported, as EventBridge documents them: `*`, `?`, numbers, names (`JAN`,
/// `MON`), ranges, lists and steps everywhere; `L` (last day), `nW` (the weekday nearest the
/// nth) and `LW` (last weekday) in day-of-month; `dL` (last weekday d of the month) and `d#n`
/// (the nth weekday d) in day-of-week.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// `None` = `?` (days are chosen by day of week).
    days_of_month: Option<Dom>,
    months: Vec<u32>,
    /// `None` = `?`.
    days_of_week: Option<Dow>,
    /// `None` = every year.
    years: Option<Vec<u32>>,
}

/// The day-of-month field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dom {
    Days(Vec<u32>),
    /// `L`.
    Last,
    /// `LW`.
    LastWeekday,
    /// `nW`: the weekday nearest day n, within the month.
    NearestWeekday(u32),
}

/// The day-of-week field; days are 1 = Sunday … 7 = Saturday.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dow {
    Days(Vec<u32>),
    /// `dL`: the last such weekday of the month.
    Last(u32),
    /// `d#n`: the nth such weekday of the month (1–5).
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(body: &str) -> Result<Self, String> {
        let f: Vec<&str> = body.split_whitespace().collect();
        if f.len() != 6 {
            return Err("a cron expression has six fields".to_string());
        }
        let (dom_q, dow_q) = (f[2] == "?", f[4] == "?");
        if dom_q == dow_q {
            return Err("exactly one of day-of-month and day-of-week must be ?".to_string());
        }
        let days_of_month = if dom_q {
            None
        } else if f[2].eq_ignore_ascii_case("L") {
            Some(Dom::Last)
        } else if f[2].eq_ignore_ascii_case("LW") {
            Some(Dom::LastWeekday)
        } else if let Some(n) = f[2].strip_suffix(['W', 'w']) {
            match field(n, 1, 31, &[])?.as_slice() {
                [n] => Some(Dom::NearestWeekday(*n)),
                _ => return Err(format!("{:?}: W takes one day", f[2])),
            }
        } else {
            Some(Dom::Days(field(f[2], 1, 31, &[])?))
        };
        let one_weekday = |s: &str| -> Result<u32, String> {
            match field(s, 1, 7, &WEEKDAYS)?.as_slice() {
                [d] => Ok(*d),
                _ => Err(format!("{s:?} is not one day of the week")),
            }
        };
        let days_of_week = if dow_q {
            None
        } else if f[4].eq_ignore_ascii_case("L") {
            Some(Dow::Last(7))
        } else if let Some((d, n)) = f[4].split_once('#') {
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| format!("{:?}: # takes 1-5", f[4]))?;
            Some(Dow::Nth(one_weekday(d)?, n))
        } else if let Some(d) = f[4].strip_suffix(['L', 'l']) {
            Some(Dow::Last(one_weekday(d)?))
        } else {
            Some(Dow::Days(field(f[4], 1, 7, &WEEKDAYS)?))
        };
        Ok(Self {
            minutes: field(f[0], 0, 59, &[])?,
            hours: field(f[1], 0, 23, &[])?,
            days_of_month,
            months: field(f[3], 1, 12, &MONTHS)?,
            days_of_week,
            years: if f[5] == "*" {
                None
            } else {
                Some(field(f[5], 1970, 2199, &[])?)
            },
        })
    }

    fn day_matches(&self, day: i64) -> bool {
        let (y, m, d) = civil_from_days(day);
        if !self.months.contains(&m) {
            return false;
        }
        if let Some(years) = &self.years {
            if !u32::try_from(y).is_ok_and(|y| years.contains(&y)) {
                return false;
            }
        }
        let month_len = days_in_month(day);
        let is_weekday = |day: i64| (2..=6).contains(&weekday(day));
        if let Some(dom) = &self.days_of_month {
            return match dom {
                Dom::Days(doms) => doms.contains(&d),
                Dom::Last => d == month_len,
                Dom::LastWeekday => {
                    is_weekday(day)
                        && (d + 1..=month_len)
                            .all(|later| !is_weekday(day + i64::from(later) - i64::from(d)))
                }
                Dom::NearestWeekday(n) => {
                    *n <= month_len && nearest_weekday(day - i64::from(d) + 1, *n, month_len) == d
                }
            };
        }
        if let Some(dow) = &self.days_of_week {
            let wd = weekday(day);
            return match dow {
                Dow::Days(dows) => dows.contains(&wd),
                Dow::Last(want) => wd == *want && d + 7 > month_len,
                Dow::Nth(want, n) => wd == *want && (d - 1) / 7 + 1 == *n,
            };
        }
        false
    }

    /// The first matching minute strictly after `after`.
    fn next_after(&self, after: i64) -> Option<i64> {
        let first_day = after.div_euclid(DAY);
        for day in first_day..first_day + CRON_HORIZON_DAYS {
            if !self.day_matches(day) {
                continue;
            }
            for h in &self.hours {
                for m in &self.minutes {
                    let t = day * DAY + i64::from(*h) * HOUR + i64::from(*m) * MINUTE;
                    if t > after {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

/// Parses one cron field into its sorted values.
fn field(s: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let value = |v: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return u32::try_from(i).map(|i| i + min).map_err(|e| e.to_string());
        }
        let n: u32 = v
            .parse()
            .map_err(|_| format!("{v:?} is not a valid value"))?;
        if n < min || n > max {
            return Err(format!("{n} is outside {min}-{max}"));
        }
        Ok(n)
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st.parse().map_err(|_| format!("bad step in {part:?}"))?;
                if st == 0 {
                    return Err(format!("bad step in {part:?}"));
                }
                (r, st)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step > 1 { max } else { v })
        };
        if lo > hi {
            return Err(format!("bad range {range:?}"));
        }
        out.extend((lo..=hi).step_by(usize::try_from(step).unwrap_or(1)));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The day of the week of a day number, 1 = Sunday … 7 = Saturday (1970-01-01 was a Thursday).
fn weekday(day: i64) -> u32 {
    u32::try_from((day + 4).rem_euclid(7) + 1).unwrap_or(0)
}

/// The number of days in the month of a day number.
fn days_in_month(day: i64) -> u32 {
    let d = civil_from_days(day).2;
    let first_next = (28..=31)
        .map(|len| day - i64::from(d) + 1 + len)
        .find(|t| civil_from_days(*t).2 == 1)
        .unwrap_or(day);
    u32::try_from(first_next - (day - i64::from(d) + 1)).unwrap_or(31)
}

/// The day of the month of the weekday nearest day `n` (Saturday → Friday, Sunday → Monday,
/// never leaving the month), given the month's first day number and length.
fn nearest_weekday(first: i64, n: u32, month_len: u32) -> u32 {
    match weekday(first + i64::from(n) - 1) {
        7 if n == 1 => 3,
        7 => n - 1,
        1 if n == month_len => n - 2,
        1 => n + 1,
        _ => n,
    }
}

/// (year, month 1–12, day 1–31) of a day number counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 { y + 1 } else { y },
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2024-03-10T10:30:00Z (a Sunday).
    const T: i64 = 1_710_066_600_000;

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(T / DAY), (2024, 3, 10));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn days_and_rates() {
        let p = Plan::parse(Some(7), None, None).unwrap().unwrap();
        let w = p.next_window(T).unwrap();
        assert_eq!(w.start, day_start(T) + 7 * DAY);
        assert_eq!(w.end, day_start(T) + 8 * DAY - 1000);
        assert_eq!(p.interval_days(), Some(7));
        let p = Plan::parse(None, Some("3h"), Some("rate(2 days)"))
            .unwrap()
            .unwrap();
        let w = p.next_window(T).unwrap();
        assert_eq!(w.start, day_start(T) + 2 * DAY);
        assert_eq!(w.end, w.start + 3 * HOUR - 1000);
        let p = Plan::parse(None, None, Some("rate(6 hours)"))
            .unwrap()
            .unwrap();
        let w = p.next_window(T).unwrap();
        assert_eq!(w.start, day_start(T) + 16 * HOUR);
        assert_eq!(w.end, w.start + HOUR - 1000);
        assert!(Plan::parse(None, None, None).unwrap().is_none());
        for bad in [
            (Some(1), None, Some("rate(1 days)")),
            (None, None, Some("rate(2 hours)")),
            (None, None, Some("rate(0 days)")),
            (None, None, Some("every day")),
            (None, Some("25h"), Some("rate(1 days)")),
            (None, Some("8h"), Some("rate(6 hours)")),
            (None, None, Some("cron(0 1 * * * *)")),
            (None, None, Some("cron(0 1 * *)")),
        ] {
            assert!(Plan::parse(bad.0, bad.1, bad.2).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cron() {
        // 16:00 on the 1st and 15th.
        let p = Plan::parse(None, Some("2h"), Some("cron(0 16 1,15 * ? *)"))
            .unwrap()
            .unwrap();
        let w = p.next_window(T).unwrap();
        assert_eq!(civil_from_days(w.start / DAY), (2024, 3, 15));
        assert_eq!(w.start % DAY, 16 * HOUR);
        assert_eq!(w.end, w.start + 2 * HOUR - 1000);
        // Mondays at 08:30: the next is 2024-03-11; without Duration the window ends at midnight.
        let p = Plan::parse(None, None, Some("cron(30 8 ? * MON *)"))
            .unwrap()
            .unwrap();
        let w = p.next_window(T).unwrap();
        assert_eq!(civil_from_days(w.start / DAY), (2024, 3, 11));
        assert_eq!(w.start % DAY, 8 * HOUR + 30 * MINUTE);
        assert_eq!(w.end, day_start(w.start) + DAY - 1000);
        // Every 6 hours from midnight, last day of the month.
        let p = Plan::parse(None, None, Some("cron(0 */6 L * ? *)"))
            .unwrap()
            .unwrap();
        let w = p.next_window(T).unwrap();
        assert_eq!(civil_from_days(w.start / DAY), (2024, 3, 31));
        assert_eq!(w.end, w.start + HOUR - 1000);
        // The weekday nearest the 15th: 2024-06-15 is a Saturday, so Friday the 14th.
        let day_of = |expr: &str, after: i64| {
            let p = Plan::parse(None, None, Some(expr)).unwrap().unwrap();
            civil_from_days(p.next_window(after).unwrap().start / DAY)
        };
        let june = T + 80 * DAY; // 2024-05-29
        assert_eq!(day_of("cron(0 0 15W * ? *)", june), (2024, 6, 14));
        // 2024-06-01 is a Saturday: 1W is Monday the 3rd, not May 31st.
        assert_eq!(day_of("cron(0 0 1W 6 ? *)", T), (2024, 6, 3));
        // 2024-06-30 is a Sunday: 30W is Friday the 28th; LW is the 28th too.
        assert_eq!(day_of("cron(0 0 30W 6 ? *)", T), (2024, 6, 28));
        assert_eq!(day_of("cron(0 0 LW 6 ? *)", T), (2024, 6, 28));
        // The second Tuesday of March 2024 is the 12th; the last Friday is the 29th.
        assert_eq!(day_of("cron(0 0 ? * 3#2 *)", T), (2024, 3, 12));
        assert_eq!(day_of("cron(0 0 ? * TUE#2 *)", T), (2024, 3, 12));
        assert_eq!(day_of("cron(0 0 ? * 6L *)", T), (2024, 3, 29));
        assert_eq!(day_of("cron(0 0 ? * L *)", T), (2024, 3, 30));
        // February 2024 has 29 days.
        assert_eq!(days_in_month(19_782), 29);
        for bad in [
            "cron(0 0 1-5W * ? *)",
            "cron(0 0 ? * 3#6 *)",
            "cron(0 0 ? * MON-FRIL *)",
        ] {
            assert!(Plan::parse(None, None, Some(bad)).is_err(), "{bad}");
        }
        // A year already past never matches.
        let p = Plan::parse(None, None, Some("cron(0 0 1 1 ? 2020)"))
            .unwrap()
            .unwrap();
        assert!(p.next_window(T).is_none());
    }
}
