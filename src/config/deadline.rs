//! `--deadline`: when sending stops, from a local time of day (read in the machine's time
//! zone, through clock changes), an RFC 3339 time, or a duration from now.

use anyhow::{bail, Result};

/// `--deadline`: `06:30` (the next such local time), an RFC 3339 time, or a duration from now.
/// `now` carries the time zone local times are read in (`chrono::Local` in use, a fixed zone
/// in tests).
pub fn parse_deadline<Tz: chrono::TimeZone>(
    s: &str,
    now: chrono::DateTime<Tz>,
) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveTime, Timelike, Utc};
    let t = s.trim();
    let now_utc = now.with_timezone(&Utc);
    let leap = |nanos: u32| -> Result<()> {
        match nanos >= 1_000_000_000 {
            true => bail!("{t} is a leap second, which no clock here shows: give :59 or :00"),
            false => Ok(()),
        }
    };
    if let Ok(when) = chrono::DateTime::parse_from_rfc3339(t) {
        leap(when.nanosecond())?;
        let when = when.with_timezone(&Utc);
        if when <= now_utc {
            bail!("{t} is in the past");
        }
        return Ok(when);
    }
    for fmt in ["%H:%M", "%H:%M:%S"] {
        if let Ok(time) = NaiveTime::parse_from_str(t, fmt) {
            leap(time.nanosecond())?;
            let tz = now.timezone();
            let mut day = now.date_naive();
            for _ in 0..3 {
                if let Some(when) = first_reading(&tz, day.and_time(time))
                    .map(|w| w.with_timezone(&Utc))
                    .filter(|w| *w > now_utc)
                {
                    return Ok(when);
                }
                day = day.succ_opt().unwrap_or(day);
            }
            bail!("{t} does not occur in the next days here (a clock change?)");
        }
    }
    match crate::cli::parse_duration(t) {
        Ok(d) => Ok(
            now_utc + chrono::TimeDelta::from_std(d).map_err(|e| anyhow::anyhow!("{t}: {e}"))?
        ),
        Err(_) => bail!(
            "'{t}' is not a time: give 06:30 (local time), 2026-12-01T06:30:00+08:00, or a \
             duration such as 8h"
        ),
    }
}

/// The first moment the clock of `tz` reads `local` or later: `local` itself (the first of
/// the two when the clock goes back and shows it twice), or, when the clock jumps forward over
/// it (02:30 in a spring-forward night), the moment of the jump, not a day later.
fn first_reading<Tz: chrono::TimeZone>(
    tz: &Tz,
    local: chrono::NaiveDateTime,
) -> Option<chrono::DateTime<Tz>> {
    use chrono::Timelike;
    if let Some(when) = tz.from_local_datetime(&local).earliest() {
        return Some(when);
    }
    // In a gap: the first minute after it (gaps are whole minutes; the longest ever skipped
    // a day).
    let minute = local.with_second(0)?.with_nanosecond(0)?;
    (1..=26 * 60).find_map(|m| {
        tz.from_local_datetime(&(minute + chrono::TimeDelta::minutes(m)))
            .earliest()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_take_three_forms() {
        use chrono::TimeZone;
        let now = chrono::Local
            .with_ymd_and_hms(2026, 11, 29, 22, 0, 0)
            .unwrap();
        let next = parse_deadline("06:30", now).unwrap();
        assert_eq!(
            next.with_timezone(&chrono::Local).naive_local().to_string(),
            "2026-11-30 06:30:00"
        );
        let later = parse_deadline("23:15", now).unwrap();
        assert_eq!((later - now.with_timezone(&chrono::Utc)).num_minutes(), 75);
        assert_eq!(
            (parse_deadline("8h", now).unwrap() - now.with_timezone(&chrono::Utc)).num_hours(),
            8
        );
        assert!(parse_deadline("2030-01-01T06:30:00+08:00", now).is_ok());
        assert!(parse_deadline("2020-01-01T06:30:00Z", now).is_err());
        assert!(parse_deadline("soon", now).is_err());
        assert!(parse_deadline("25:00", now).is_err());
    }

    /// Berlin in 2026: CET (+1), CEST (+2) from 29 March 01:00 UTC (02:00 local jumps to
    /// 03:00) to 25 October 01:00 UTC (03:00 local goes back to 02:00).
    #[derive(Debug, Clone, Copy)]
    struct Berlin;

    impl Berlin {
        fn offset_at(utc: &chrono::NaiveDateTime) -> chrono::FixedOffset {
            let at = |m, d| {
                chrono::NaiveDate::from_ymd_opt(2026, m, d)
                    .unwrap()
                    .and_hms_opt(1, 0, 0)
                    .unwrap()
            };
            let hours = if (at(3, 29)..at(10, 25)).contains(utc) {
                2
            } else {
                1
            };
            chrono::FixedOffset::east_opt(hours * 3600).unwrap()
        }
    }

    impl chrono::TimeZone for Berlin {
        type Offset = chrono::FixedOffset;
        fn from_offset(_: &chrono::FixedOffset) -> Berlin {
            Berlin
        }
        fn offset_from_local_date(
            &self,
            local: &chrono::NaiveDate,
        ) -> chrono::LocalResult<chrono::FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap())
        }
        fn offset_from_local_datetime(
            &self,
            local: &chrono::NaiveDateTime,
        ) -> chrono::LocalResult<chrono::FixedOffset> {
            // The offsets that read this local time back (earlier instant first).
            let fits: Vec<_> = [2, 1]
                .into_iter()
                .map(|h| chrono::FixedOffset::east_opt(h * 3600).unwrap())
                .filter(|o| Berlin::offset_at(&(*local - *o)) == *o)
                .collect();
            match fits[..] {
                [] => chrono::LocalResult::None,
                [o] => chrono::LocalResult::Single(o),
                [a, b, ..] => chrono::LocalResult::Ambiguous(a, b),
            }
        }
        fn offset_from_utc_date(&self, utc: &chrono::NaiveDate) -> chrono::FixedOffset {
            Berlin::offset_at(&utc.and_hms_opt(0, 0, 0).unwrap())
        }
        fn offset_from_utc_datetime(&self, utc: &chrono::NaiveDateTime) -> chrono::FixedOffset {
            Berlin::offset_at(utc)
        }
    }

    #[test]
    fn a_deadline_in_a_clock_change_is_the_first_moment_the_clock_reads_it() {
        use chrono::TimeZone;
        let utc = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        // Spring forward: 02:30 never shows; the clock passes it when it jumps to 03:00.
        let evening = Berlin.with_ymd_and_hms(2026, 3, 28, 22, 0, 0).unwrap();
        assert_eq!(
            parse_deadline("02:30", evening).unwrap(),
            utc("2026-03-29T01:00:00Z"),
            "not a whole day later"
        );
        assert_eq!(
            parse_deadline("03:30", evening).unwrap(),
            utc("2026-03-29T01:30:00Z")
        );
        // Fall back: 02:30 shows twice; the first one.
        let evening = Berlin.with_ymd_and_hms(2026, 10, 24, 22, 0, 0).unwrap();
        assert_eq!(
            parse_deadline("02:30", evening).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
        // An ordinary night.
        let evening = Berlin.with_ymd_and_hms(2026, 11, 29, 22, 0, 0).unwrap();
        assert_eq!(
            parse_deadline("06:30", evening).unwrap(),
            utc("2026-11-30T05:30:00Z")
        );
    }

    #[test]
    fn a_leap_second_is_no_deadline() {
        let now = chrono::Utc::now();
        for s in ["23:59:60", "2030-06-30T23:59:60Z"] {
            let e = parse_deadline(s, now).unwrap_err().to_string();
            assert!(e.contains("leap second"), "{s}: {e}");
        }
        assert!(parse_deadline("23:59:59", now).is_ok());
    }
}
