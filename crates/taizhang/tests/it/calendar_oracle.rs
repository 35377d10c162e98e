//! The holiday table and the deadline calculator against an independent oracle: the PyPI package
//! `chinesecalendar` (scripts/calendar_oracle.py). Every day 2004–2026 is compared, plus ~2000 working-day
//! and calendar-day deadlines from a fixed seed.

use std::path::PathBuf;
use std::process::Command;

use chrono::NaiveDate;
use taizhang_domain::calendar::HolidayCalendar;
use taizhang_domain::deadline::{Period, PeriodUnit, compute_due, format_due, parse_start};
use taizhang_domain::error::ErrorCode;

const INSTALL: &str = "pip install chinesecalendar==1.11.0";

/// The oracle's output, or None (skip) when python3 or the package is missing outside CI.
fn oracle_output() -> Option<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/calendar_oracle.py");
    let missing = |why: String| {
        assert!(std::env::var_os("CI").is_none(), "calendar oracle unavailable ({why}); run `{INSTALL}`");
        eprintln!("skipping the chinesecalendar oracle: {why} (to run it: {INSTALL})");
        None
    };
    let output = match Command::new("python3").arg(&script).output() {
        Ok(output) => output,
        Err(e) => return missing(format!("python3 could not be started: {e}")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => Some(String::from_utf8(output.stdout).expect("the oracle prints UTF-8")),
        Some(3) => missing(stderr.trim().to_owned()),
        _ => panic!("{} failed: {stderr}", script.display()),
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| panic!("oracle date {s}"))
}

/// Our answer to one oracle line, printed the way the oracle prints it.
fn our_line(cal: &HolidayCalendar, line: &str) -> String {
    let due = |start: &str, n: &str, unit| {
        let amount = n.parse().unwrap_or_else(|_| panic!("oracle amount {n}"));
        compute_due(cal, parse_start(start).unwrap(), Period { amount, unit }, None)
    };
    match line.split(' ').collect::<Vec<_>>().as_slice() {
        [day, _] => match cal.is_working_day(date(day), None) {
            Ok(working) => format!("{day} {}", if working { "W" } else { "R" }),
            Err(e) => format!("{day} {}", e.code.as_str()),
        },
        ["working", start, n, _] => match due(start, n, PeriodUnit::WorkingDays) {
            Ok(d) => format!("working {start} {n} {}", format_due(&d, PeriodUnit::WorkingDays)),
            Err(e) if e.code == ErrorCode::CalendarOutOfRange => format!("working {start} {n} out_of_range"),
            Err(e) => format!("working {start} {n} {}", e.code.as_str()),
        },
        ["calendar", start, n, _, _] => match due(start, n, PeriodUnit::CalendarDays) {
            Ok(d) => {
                let kind = if d.provisional { "provisional" } else { "final" };
                format!("calendar {start} {n} {} {kind}", format_due(&d, PeriodUnit::CalendarDays))
            }
            Err(e) => format!("calendar {start} {n} {}", e.code.as_str()),
        },
        _ => panic!("unexpected oracle line: {line}"),
    }
}

#[test]
fn holiday_table_and_deadlines_agree_with_chinesecalendar() {
    let Some(output) = oracle_output() else { return };
    let cal = HolidayCalendar::embedded();
    let lines: Vec<&str> = output.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();

    let days = lines.iter().filter(|l| !l.starts_with("working") && !l.starts_with("calendar")).count();
    let covered = (NaiveDate::from_ymd_opt(cal.last_year() + 1, 1, 1).unwrap()
        - NaiveDate::from_ymd_opt(cal.first_year(), 1, 1).unwrap())
    .num_days();
    assert_eq!(days as i64, covered, "the oracle and the table cover different years");
    assert!(lines.len() > days + 3000, "too few deadline samples from the oracle");

    let mismatches: Vec<String> = lines
        .iter()
        .filter_map(|line| {
            let ours = our_line(cal, line);
            (ours != *line).then(|| format!("  chinesecalendar: {line}\n  taizhang:        {ours}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} lines differ from chinesecalendar (first 20):\n{}",
        mismatches.len(),
        lines.len(),
        mismatches.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
