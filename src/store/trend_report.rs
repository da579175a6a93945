//! The history report in its three forms: a self-contained HTML page (inline CSS and SVG,
//! no scripts, no network; the look of the scan report), a Markdown summary, and JSON (the
//! [`Trend`] itself).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::trend::{GroupTrend, RunPoint, Trend};

const TEMPLATE_NAME: &str = "trend.html";
const TEMPLATE: &str = include_str!("../../templates/trend.html");

/// Rows listed per table in the HTML page and the Markdown summary (`--json` has all).
const ROWS_SHOWN: usize = 50;
/// Series drawn on the pass-rate plot besides "all nodes".
const POOLS_PLOTTED: usize = 6;
const COLORS: &[&str] = &[
    "#0969da", "#8250df", "#bf3989", "#9a6700", "#1a7f37", "#cf222e", "#57606a",
];

pub fn json(trend: &Trend) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(trend)?;
    bytes.push(b'\n');
    Ok(bytes)
}

pub fn html(trend: &Trend, expiring_within: i64, filtered: bool) -> anyhow::Result<Vec<u8>> {
    let page = Page {
        title: "cisgate compliance history".into(),
        tool: format!("cisgate {}", env!("CARGO_PKG_VERSION")),
        store: trend.store.clone(),
        today: trend.today.clone(),
        expiring_within,
        filtered,
        groups: trend
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| GroupView::build(i, g))
            .collect(),
    };
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template(TEMPLATE_NAME, TEMPLATE)?;
    let html = env
        .get_template(TEMPLATE_NAME)?
        .render(minijinja::context! { page => minijinja::value::Serde(&page) })?;
    Ok(html.into_bytes())
}

pub fn markdown(trend: &Trend) -> Vec<u8> {
    let mut out = String::from("## cisgate compliance history\n\n");
    if trend.groups.is_empty() {
        out.push_str("The store holds no runs for this report.\n");
    }
    for group in &trend.groups {
        markdown_group(&mut out, group);
    }
    out.into_bytes()
}

fn markdown_group(out: &mut String, group: &GroupTrend) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "### {} · {}\n",
        md(&group.cluster),
        md(&group.benchmark)
    );
    let Some(last) = group.runs.last() else {
        return;
    };
    let before = group.runs.len().checked_sub(2).map(|i| &group.runs[i]);
    let trend = match (last.pass_rate, before.and_then(|b| b.pass_rate)) {
        (Some(now), Some(then)) => format!(" ({:+.1} points since the run before)", now - then),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "- {} run(s), the latest on {}: pass rate **{}**{trend}, {} regressions on {} nodes ({} opened, {} fixed), {} accepted",
        group.runs.len(),
        &last.started_at[..10],
        percent(last.pass_rate),
        last.regressions,
        last.nodes,
        last.opened,
        last.fixed,
        last.accepted
    );
    let opened: i64 = group.runs.iter().map(|r| r.opened).sum();
    let fixed: i64 = group.runs.iter().map(|r| r.fixed).sum();
    let _ = writeln!(
        out,
        "- over the window: {opened} regressions opened, {fixed} fixed\n"
    );
    if !group.failing_longest.is_empty() {
        out.push_str("| Failing longest | Nodes | Since |\n|---|---:|---|\n");
        for f in group.failing_longest.iter().take(10) {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} |",
                f.check_id,
                md(&f.title),
                f.nodes,
                f.since
            );
        }
        out.push('\n');
    }
    if !group.time_to_fix.is_empty() {
        out.push_str("| Time to fix | Fixes | Median | Worst |\n|---|---:|---:|---:|\n");
        for f in group.time_to_fix.iter().take(10) {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} |",
                f.check_id,
                md(&f.title),
                f.fixes,
                duration(f.median_seconds),
                duration(f.worst_seconds)
            );
        }
        out.push('\n');
    }
    if !group.expiring.is_empty() {
        out.push_str("Accepted exceptions expiring soon:\n\n");
        for e in &group.expiring {
            let when = if e.days_left < 0 {
                "expired".to_string()
            } else {
                format!("in {} days", e.days_left)
            };
            let _ = writeln!(
                out,
                "- `{}` expires {} ({when}), owner {}: {}",
                md(&e.check),
                e.expires,
                md(e.owner.as_deref().unwrap_or("none")),
                md(&e.reason)
            );
        }
        out.push('\n');
    }
}

/// Escapes what would break a Markdown table cell or start markup.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".into(), |r| format!("{r:.1}%"))
}

/// A duration for people: days with one decimal, or hours under a day.
pub fn duration(seconds: i64) -> String {
    if seconds < 86_400 {
        format!("{:.1} h", seconds as f64 / 3600.0)
    } else {
        format!("{:.1} d", seconds as f64 / 86_400.0)
    }
}

#[derive(Serialize)]
struct Page {
    title: String,
    tool: String,
    store: String,
    today: String,
    expiring_within: i64,
    filtered: bool,
    groups: Vec<GroupView>,
}

#[derive(Serialize)]
struct GroupView {
    anchor: String,
    cluster: String,
    benchmark: String,
    runs: Vec<()>,
    latest_rate: String,
    latest_nodes: i64,
    latest_regressions: i64,
    latest_accepted: i64,
    opened_total: i64,
    fixed_total: i64,
    plot: Plot,
    bars: Bars,
    run_rows: Vec<RunRow>,
    pool_rows: Vec<PoolRow>,
    failing: Vec<FailingRow>,
    failing_more: usize,
    fixes: Vec<FixRow>,
    fixes_more: usize,
    expiring: Vec<super::trend::Expiring>,
    timelines: Vec<TimelineRow>,
    timelines_more: usize,
}

#[derive(Serialize)]
struct RunRow {
    run_id: String,
    started_at: String,
    git_commit: Option<String>,
    pipeline_id: Option<String>,
    pipeline_url: Option<String>,
    nodes: i64,
    rate: String,
    totals: super::read::StoredTotals,
    regressions: i64,
    opened: i64,
    fixed: i64,
    accepted: i64,
}

#[derive(Serialize)]
struct PoolRow {
    pool: String,
    nodes: i64,
    rate: String,
    regressions: i64,
    first_rate: String,
}

#[derive(Serialize)]
struct FailingRow {
    check_id: String,
    title: String,
    nodes: usize,
    since: String,
    duration: String,
}

#[derive(Serialize)]
struct FixRow {
    check_id: String,
    title: String,
    fixes: usize,
    median: String,
    worst: String,
}

#[derive(Serialize)]
struct TimelineRow {
    check_id: String,
    title: String,
    width: usize,
    cell_width: usize,
    cells: Vec<Cell>,
    now: i64,
}

#[derive(Serialize)]
struct Cell {
    x: usize,
    class: &'static str,
    label: String,
}

#[derive(Serialize)]
struct Plot {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    y_ticks: Vec<Tick>,
    x_ticks: Vec<Tick>,
    lines: Vec<Line>,
}

#[derive(Serialize)]
struct Tick {
    x: f64,
    y: f64,
    label: String,
}

#[derive(Serialize)]
struct Line {
    name: String,
    color: &'static str,
    main: bool,
    points: String,
    dots: Vec<Dot>,
}

#[derive(Serialize)]
struct Dot {
    x: f64,
    y: f64,
    label: String,
}

#[derive(Serialize)]
struct Bars {
    width: f64,
    height: f64,
    middle: f64,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    x: f64,
    width: f64,
    opened: i64,
    fixed: i64,
    opened_y: f64,
    opened_height: f64,
    fixed_height: f64,
    label: String,
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

impl GroupView {
    fn build(index: usize, group: &GroupTrend) -> GroupView {
        let last = group.runs.last();
        let run_rows = group.runs.iter().rev().map(run_row).collect();
        let failing = group
            .failing_longest
            .iter()
            .take(ROWS_SHOWN)
            .map(|f| FailingRow {
                check_id: f.check_id.clone(),
                title: f.title.clone(),
                nodes: f.nodes,
                since: f.since.clone(),
                duration: duration(f.seconds),
            })
            .collect();
        let fixes = group
            .time_to_fix
            .iter()
            .take(ROWS_SHOWN)
            .map(|f| FixRow {
                check_id: f.check_id.clone(),
                title: f.title.clone(),
                fixes: f.fixes,
                median: duration(f.median_seconds),
                worst: duration(f.worst_seconds),
            })
            .collect();
        let mut timelines: Vec<&super::trend::Timeline> = group
            .timelines
            .iter()
            .filter(|t| t.regressions.iter().chain(&t.failing).any(|n| *n > 0))
            .collect();
        timelines.sort_by(|a, b| {
            let latest = |t: &super::trend::Timeline| t.regressions.last().copied().unwrap_or(0);
            let total = |t: &super::trend::Timeline| t.regressions.iter().sum::<i64>();
            latest(b)
                .cmp(&latest(a))
                .then(total(b).cmp(&total(a)))
                .then_with(|| crate::results::compare_check_ids(&a.check_id, &b.check_id))
        });
        let timelines_more = timelines.len().saturating_sub(ROWS_SHOWN);
        let timelines = timelines
            .into_iter()
            .take(ROWS_SHOWN)
            .map(|t| timeline_row(t, &group.runs))
            .collect();
        GroupView {
            anchor: format!("group-{}", index + 1),
            cluster: group.cluster.clone(),
            benchmark: group.benchmark.clone(),
            runs: vec![(); group.runs.len()],
            latest_rate: percent(last.and_then(|l| l.pass_rate)),
            latest_nodes: last.map_or(0, |l| l.nodes),
            latest_regressions: last.map_or(0, |l| l.regressions),
            latest_accepted: last.map_or(0, |l| l.accepted),
            opened_total: group.runs.iter().map(|r| r.opened).sum(),
            fixed_total: group.runs.iter().map(|r| r.fixed).sum(),
            plot: plot(group),
            bars: bars(&group.runs),
            run_rows,
            pool_rows: pool_rows(group),
            failing,
            failing_more: group.failing_longest.len().saturating_sub(ROWS_SHOWN),
            fixes,
            fixes_more: group.time_to_fix.len().saturating_sub(ROWS_SHOWN),
            expiring: group.expiring.clone(),
            timelines,
            timelines_more,
        }
    }
}

fn run_row(run: &RunPoint) -> RunRow {
    RunRow {
        run_id: run.run_id.clone(),
        started_at: run
            .started_at
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_string(),
        git_commit: run
            .git_commit
            .as_ref()
            .map(|c| c.chars().take(12).collect()),
        pipeline_id: run.pipeline_id.clone(),
        pipeline_url: run
            .pipeline_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        nodes: run.nodes,
        rate: percent(run.pass_rate),
        totals: run.totals,
        regressions: run.regressions,
        opened: run.opened,
        fixed: run.fixed,
        accepted: run.accepted,
    }
}

fn pool_rows(group: &GroupTrend) -> Vec<PoolRow> {
    let last = group.runs.len().saturating_sub(1);
    group
        .pools
        .iter()
        .filter_map(|series| {
            let now = series.points.get(last)?.as_ref()?;
            let first = series.points.iter().flatten().next();
            Some(PoolRow {
                pool: series.pool.clone(),
                nodes: now.nodes,
                rate: percent(now.pass_rate),
                regressions: now.regressions,
                first_rate: percent(first.and_then(|f| f.pass_rate)),
            })
        })
        .collect()
}

const PLOT_WIDTH: f64 = 900.0;
const PLOT_HEIGHT: f64 = 260.0;
const PLOT_LEFT: f64 = 48.0;
const PLOT_RIGHT: f64 = 850.0;
const PLOT_TOP: f64 = 12.0;
const PLOT_BOTTOM: f64 = 230.0;

/// Runs are placed by time (evenly when they all share one instant).
fn x_positions(runs: &[RunPoint]) -> Vec<f64> {
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Vec::new();
    };
    let span = (last.started_at_unix - first.started_at_unix) as f64;
    runs.iter()
        .enumerate()
        .map(|(i, run)| {
            let fraction = if span > 0.0 {
                (run.started_at_unix - first.started_at_unix) as f64 / span
            } else if runs.len() > 1 {
                i as f64 / (runs.len() - 1) as f64
            } else {
                0.5
            };
            round1(PLOT_LEFT + fraction * (PLOT_RIGHT - PLOT_LEFT))
        })
        .collect()
}

fn y_of(rate: f64) -> f64 {
    round1(PLOT_BOTTOM - rate / 100.0 * (PLOT_BOTTOM - PLOT_TOP))
}

fn plot(group: &GroupTrend) -> Plot {
    let xs = x_positions(&group.runs);
    let mut lines = vec![line(
        "all nodes",
        COLORS[0],
        true,
        &xs,
        group.runs.iter().map(|r| (r.pass_rate, r)),
    )];
    if group.pools.len() > 1 {
        for (i, series) in group.pools.iter().take(POOLS_PLOTTED).enumerate() {
            let points = series
                .points
                .iter()
                .zip(&group.runs)
                .map(|(p, run)| (p.as_ref().and_then(|p| p.pass_rate), run));
            lines.push(line(
                &format!("pool {}", series.pool),
                COLORS[(i + 1) % COLORS.len()],
                false,
                &xs,
                points,
            ));
        }
    }
    let y_ticks = [0.0, 25.0, 50.0, 75.0, 100.0]
        .into_iter()
        .map(|rate| Tick {
            x: PLOT_LEFT,
            y: y_of(rate),
            label: format!("{rate}%"),
        })
        .collect();
    let mut x_ticks = Vec::new();
    let count = group.runs.len();
    let wanted: Vec<usize> = match count {
        0 => vec![],
        1 => vec![0],
        2..=4 => (0..count).collect(),
        _ => vec![0, count / 3, 2 * count / 3, count - 1],
    };
    for i in wanted {
        // Labels closer than ~90 px to the previous one would overlap.
        if x_ticks.last().is_some_and(|t: &Tick| xs[i] - t.x < 90.0) {
            continue;
        }
        x_ticks.push(Tick {
            x: xs[i],
            y: PLOT_HEIGHT,
            label: group.runs[i].started_at[..10].to_string(),
        });
    }
    Plot {
        width: PLOT_WIDTH,
        height: PLOT_HEIGHT,
        left: PLOT_LEFT,
        right: PLOT_RIGHT,
        y_ticks,
        x_ticks,
        lines,
    }
}

fn line<'a>(
    name: &str,
    color: &'static str,
    main: bool,
    xs: &[f64],
    rates: impl Iterator<Item = (Option<f64>, &'a RunPoint)>,
) -> Line {
    let mut dots = Vec::new();
    for ((rate, run), x) in rates.zip(xs) {
        if let Some(rate) = rate {
            dots.push(Dot {
                x: *x,
                y: y_of(rate),
                label: format!(
                    "{}: {}",
                    &run.started_at[..16].replace('T', " "),
                    percent(Some(rate))
                ),
            });
        }
    }
    let points = dots
        .iter()
        .map(|d| format!("{},{}", d.x, d.y))
        .collect::<Vec<_>>()
        .join(" ");
    Line {
        name: name.to_string(),
        color,
        main,
        points,
        dots,
    }
}

const BARS_HEIGHT: f64 = 120.0;

fn bars(runs: &[RunPoint]) -> Bars {
    // Under the pass-rate plot's points, so a run lines up in both.
    let xs = x_positions(runs);
    let gap = xs
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let width = if gap.is_finite() {
        (gap * 0.7).clamp(1.0, 24.0)
    } else {
        24.0
    };
    let largest = runs
        .iter()
        .map(|r| r.opened.max(r.fixed))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let middle = BARS_HEIGHT / 2.0;
    let scale = (middle - 4.0) / largest;
    let bars = runs
        .iter()
        .zip(&xs)
        .map(|(run, x)| {
            let opened_height = round1(run.opened as f64 * scale);
            Bar {
                x: round1(x - width / 2.0),
                width: round1(width),
                opened: run.opened,
                fixed: run.fixed,
                opened_y: round1(middle - opened_height),
                opened_height,
                fixed_height: round1(run.fixed as f64 * scale),
                label: run.started_at[..10].to_string(),
            }
        })
        .collect();
    Bars {
        width: PLOT_WIDTH,
        height: BARS_HEIGHT,
        middle,
        bars,
    }
}

fn timeline_row(timeline: &super::trend::Timeline, runs: &[RunPoint]) -> TimelineRow {
    let cell_width = if runs.len() > 60 { 4 } else { 8 };
    let cells = timeline
        .regressions
        .iter()
        .zip(&timeline.failing)
        .zip(runs)
        .enumerate()
        .map(|(i, ((regressions, failing), run))| {
            let class = if *regressions > 0 {
                "r"
            } else if *failing > 0 {
                "a"
            } else {
                "0"
            };
            Cell {
                x: i * (cell_width + 1),
                class,
                label: format!(
                    "{}: regression on {regressions} node(s), failing on {failing}",
                    &run.started_at[..10]
                ),
            }
        })
        .collect();
    TimelineRow {
        check_id: timeline.check_id.clone(),
        title: timeline.title.clone(),
        width: (runs.len() * (cell_width + 1)).max(1),
        cell_width,
        cells,
        now: timeline.regressions.last().copied().unwrap_or(0),
    }
}
