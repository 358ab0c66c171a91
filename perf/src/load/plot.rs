//! The run as a picture: an SVG written by hand (no plotting crate for two
//! line charts), so a newcomer can open one file and see the shape of the
//! latency distribution and whether throughput held steady.
//!
//! Left: latency by percentile, the HdrHistogram way: the x axis is
//! `1 / (1 - p)` on a log scale, so 90%, 99%, 99.9%, 99.99% are evenly
//! spaced and the tail is visible. Right: requests per second in each
//! [`TICK`](super::sampler::TICK) of the run. Our side is blue, the tokio
//! peer (if it ran) orange.

use super::sampler::rates;
use super::{LoadReport, Side};
use std::fmt::Write;
use std::path::Path;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 420.0;
const PANEL_W: f64 = 400.0;
const PANEL_H: f64 = 300.0;
const TOP: f64 = 60.0;
const LEFT: [f64; 2] = [80.0, 580.0];
const COLOURS: [&str; 2] = ["#1f77b4", "#ff7f0e"];
/// The deepest percentile drawn: 99.999%.
const MAX_NINES: f64 = 5.0;

/// Writes the SVG to `path` (whose directory [`Config::plot_ready`](crate::args::Config::plot_ready) checked).
pub fn write(report: &LoadReport, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, svg(report))
}

/// The `(label, side)` pairs drawn.
fn sides(report: &LoadReport) -> Vec<(&'static str, &Side)> {
    let mut sides = vec![("appc", &report.ours)];
    if let Some((peer, _)) = &report.peer {
        sides.push(("tokio", peer));
    }
    sides
}

/// `(nines, microseconds)` points of the percentile curve.
fn percentile_curve(side: &Side) -> Vec<(f64, f64)> {
    (0..=100)
        .map(|i| {
            let nines = MAX_NINES * f64::from(i) / 100.0;
            let q = 1.0 - 10f64.powf(-nines);
            (nines, side.micros(q))
        })
        .collect()
}

/// The SVG document.
pub fn svg(report: &LoadReport) -> String {
    let sides = sides(report);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">appc-load: {} sessions, {} B requests, {:.1}% cancelled, backend {}</text>"#,
        WIDTH / 2.0,
        report.sessions,
        report.size,
        report.cancel_fraction * 100.0,
        report.backend
    );
    for (i, (label, _)) in sides.iter().enumerate() {
        let x = WIDTH / 2.0 - 60.0 + 100.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="38" x2="{}" y2="38" stroke="{}" stroke-width="3"/><text x="{}" y="42">{label}</text>"#,
            x + 20.0,
            COLOURS[i],
            x + 25.0
        );
    }

    let mut curves: Vec<Vec<(f64, f64)>> = sides.iter().map(|(_, s)| percentile_curve(s)).collect();
    let worst = curves.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
    // Milliseconds once the tail passes 10 ms: "25k us" reads badly.
    let (unit, scale) = if worst >= 10_000.0 {
        ("ms", 1e-3)
    } else {
        ("us", 1.0)
    };
    for point in curves.iter_mut().flatten() {
        point.1 *= scale;
    }
    let y_max = nice(worst * scale);
    let x_ticks: Vec<(f64, String)> = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, (*l).to_string()))
        .collect();
    panel(
        &mut out,
        LEFT[0],
        &format!("latency by percentile ({unit})"),
        (0.0, MAX_NINES),
        y_max,
        &x_ticks,
        &curves,
    );

    let series: Vec<Vec<(f64, f64)>> = sides.iter().map(|(_, s)| rates(&s.points)).collect();
    let x_max = series
        .iter()
        .flatten()
        .map(|p| p.0)
        .fold(0.0, f64::max)
        .max(0.1);
    let y_max = nice(series.iter().flatten().map(|p| p.1).fold(0.0, f64::max));
    let x_ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| {
            let t = x_max * f64::from(i) / 5.0;
            (t, format!("{t:.1} s"))
        })
        .collect();
    panel(
        &mut out,
        LEFT[1],
        "throughput (requests/s per 100 ms)",
        (0.0, x_max),
        y_max,
        &x_ticks,
        &series,
    );
    out.push_str("</svg>\n");
    out
}

/// A round axis maximum at or above `v`: 1, 2 or 5 times a power of ten.
fn nice(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&m| m >= v)
        .unwrap_or(10.0 * power)
}

/// One chart: frame, title, ticks, and a polyline per series.
fn panel(
    out: &mut String,
    left: f64,
    title: &str,
    (x0, x1): (f64, f64),
    y_max: f64,
    x_ticks: &[(f64, String)],
    series: &[Vec<(f64, f64)>],
) {
    let bottom = TOP + PANEL_H;
    let x = |v: f64| left + (v - x0) / (x1 - x0).max(1e-9) * PANEL_W;
    let y = |v: f64| bottom - v / y_max * PANEL_H;
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" font-size="13">{title}</text>"##,
        left + PANEL_W / 2.0,
        TOP - 8.0
    );
    let _ = writeln!(
        out,
        r##"<rect x="{left}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#444"/>"##
    );
    for (v, label) in x_ticks {
        let px = x(*v);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{bottom}" stroke="#ddd"/><text x="{px:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            bottom + 16.0
        );
    }
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let py = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + PANEL_W,
            left - 6.0,
            py + 4.0,
            short(v)
        );
    }
    for (i, points) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(a, b)| format!("{:.1},{:.1}", x(a), y(b.min(y_max))))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            COLOURS[i % COLOURS.len()],
            path.join(" ")
        );
    }
}

/// 12000 as "12k", 2500000 as "2.5M".
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(120.0), 200.0);
        assert_eq!(nice(4_900.0), 5_000.0);
        assert_eq!(short(12_000.0), "12k");
        assert_eq!(short(2_500_000.0), "2.5M");
    }
}
