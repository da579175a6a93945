//! The baseline flags of `cisgate scan` (and `cisgate report`), flattened into its args.

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::Timestamp;

use super::DEFAULT_PATH;

pub const DEFAULT_WARN_EXPIRY_DAYS: u32 = 14;

#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
#[command(next_help_heading = "Baseline")]
pub struct BaselineArgs {
    /// Allowlist of accepted findings [default: .cisgate/baseline.yaml, used only when it exists]
    #[arg(long, value_name = "FILE", conflicts_with = "no_baseline")]
    pub baseline: Option<PathBuf>,

    /// Ignore any baseline file: every non-passing result is a regression
    #[arg(long)]
    pub no_baseline: bool,

    /// List exceptions that expire within DAYS as expiring soon
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_WARN_EXPIRY_DAYS)]
    pub warn_expiry: u32,

    /// Also fail the gate on stale or expiring baseline entries
    #[arg(long)]
    pub strict: bool,

    /// Baseline entries whose reason is still a placeholder (TODO…) accept nothing
    #[arg(long)]
    pub require_reasons: bool,

    /// A JSON results file of an earlier run: mark each result new / unchanged / fixed
    /// (never changes the exit code)
    #[arg(long, value_name = "FILE")]
    pub previous: Option<PathBuf>,

    /// Judge expiry as of this date instead of today (UTC), e.g. to replay a past gate; reports
    /// then show the scan's time as that date's midnight UTC
    #[arg(long, value_name = "YYYY-MM-DD", env = "CISGATE_TODAY")]
    pub today: Option<Date>,
}

impl Default for BaselineArgs {
    fn default() -> Self {
        BaselineArgs {
            baseline: None,
            no_baseline: false,
            warn_expiry: DEFAULT_WARN_EXPIRY_DAYS,
            strict: false,
            require_reasons: false,
            previous: None,
            today: None,
        }
    }
}

impl BaselineArgs {
    /// The date expiry is judged against: `--today`, else the current date in UTC (UTC so
    /// that minimal containers without tzdata agree with everyone else).
    pub fn today(&self) -> Date {
        self.today.unwrap_or_else(|| {
            jiff::Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date()
        })
    }

    /// The scan's time as reports show it (UTC, to the second): midnight UTC of `--today`, else
    /// `SOURCE_DATE_EPOCH` (seconds since 1970, for reproducible output), else now.
    /// `SOURCE_DATE_EPOCH` pins only what reports show: expiry is still judged against
    /// [`Self::today`], so a variable left over from a reproducible build cannot revive an
    /// expired exception.
    pub fn scan_time(&self) -> Result<Timestamp, String> {
        scan_time_from(self.today, std::env::var_os("SOURCE_DATE_EPOCH"))
    }

    /// The allowlist to load: the one named by `--baseline` (which must then exist),
    /// else the default path when a file is there, else none.
    pub fn baseline_file(&self) -> Option<PathBuf> {
        self.baseline_file_in(Path::new("."))
    }

    /// As [`Self::baseline_file`], resolving the default path under `dir`.
    pub fn baseline_file_in(&self, dir: &Path) -> Option<PathBuf> {
        if self.no_baseline {
            return None;
        }
        if let Some(explicit) = &self.baseline {
            return Some(explicit.clone());
        }
        let default = dir.join(DEFAULT_PATH);
        default.is_file().then(|| {
            if dir == Path::new(".") {
                PathBuf::from(DEFAULT_PATH)
            } else {
                default
            }
        })
    }
}

fn scan_time_from(
    today: Option<Date>,
    source_date_epoch: Option<std::ffi::OsString>,
) -> Result<Timestamp, String> {
    if let Some(date) = today {
        return date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|zoned| zoned.timestamp())
            .map_err(|error| format!("--today {date}: {error}"));
    }
    if let Some(epoch) = source_date_epoch {
        let text = epoch.to_string_lossy();
        return text
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|seconds| Timestamp::from_second(seconds).ok())
            .ok_or_else(|| {
                format!(
                    "SOURCE_DATE_EPOCH={text}: expected whole seconds since 1970-01-01 UTC \
                     (e.g. `date +%s`), or unset it"
                )
            });
    }
    Ok(Timestamp::from_second(Timestamp::now().as_second()).expect("now is a valid time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        baseline: BaselineArgs,
    }

    fn parse(args: &[&str]) -> Result<BaselineArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("cisgate").chain(args.iter().copied()))
            .map(|cli| cli.baseline)
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        assert_eq!(parse(&[]).unwrap(), BaselineArgs::default());
        assert_eq!(BaselineArgs::default().warn_expiry, 14);
    }

    #[test]
    fn every_flag_parses() {
        let args = parse(&[
            "--baseline",
            "b.yaml",
            "--warn-expiry",
            "30",
            "--strict",
            "--require-reasons",
            "--previous",
            "old.json",
            "--today",
            "2026-06-15",
        ])
        .unwrap();
        assert_eq!(args.baseline, Some(PathBuf::from("b.yaml")));
        assert_eq!(args.warn_expiry, 30);
        assert!(args.strict && args.require_reasons);
        assert_eq!(args.previous, Some(PathBuf::from("old.json")));
        assert_eq!(args.today(), jiff::civil::date(2026, 6, 15));
    }

    #[test]
    fn the_scan_time_is_pinned_by_today_then_source_date_epoch() {
        let epoch = Some(std::ffi::OsString::from("1781481600"));
        let today = Some(jiff::civil::date(2026, 6, 15));
        let shown = |t: Result<Timestamp, String>| t.unwrap().to_string();
        assert_eq!(
            shown(scan_time_from(today, epoch.clone())),
            "2026-06-15T00:00:00Z"
        );
        assert_eq!(shown(scan_time_from(None, epoch)), "2026-06-15T00:00:00Z");
        let now = scan_time_from(None, None).unwrap();
        assert_eq!(now.subsec_nanosecond(), 0, "to the second");
        let error = scan_time_from(None, Some("yesterday".into())).unwrap_err();
        assert!(error.contains("SOURCE_DATE_EPOCH=yesterday"), "{error}");
    }

    #[test]
    fn a_bad_today_is_a_usage_error() {
        assert!(parse(&["--today", "tomorrow"]).is_err());
    }

    #[test]
    fn baseline_and_no_baseline_conflict() {
        assert!(parse(&["--baseline", "b.yaml", "--no-baseline"]).is_err());
    }

    #[test]
    fn the_default_file_is_used_only_when_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let args = BaselineArgs::default();
        assert_eq!(args.baseline_file_in(dir.path()), None);
        std::fs::create_dir_all(dir.path().join(".cisgate")).unwrap();
        std::fs::write(dir.path().join(DEFAULT_PATH), "exceptions: []\n").unwrap();
        assert_eq!(
            args.baseline_file_in(dir.path()),
            Some(dir.path().join(DEFAULT_PATH))
        );
        let off = BaselineArgs {
            no_baseline: true,
            ..BaselineArgs::default()
        };
        assert_eq!(off.baseline_file_in(dir.path()), None);
    }

    #[test]
    fn an_explicit_baseline_is_used_even_when_missing_so_loading_reports_it() {
        let args = BaselineArgs {
            baseline: Some(PathBuf::from("missing.yaml")),
            ..BaselineArgs::default()
        };
        assert_eq!(
            args.baseline_file_in(Path::new("/nonexistent")),
            Some(PathBuf::from("missing.yaml"))
        );
    }
}
