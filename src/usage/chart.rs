//! Daily bar charts as server-rendered SVG: no chart library, no script, no inline style (only
//! SVG presentation attributes, which the dashboard's CSP allows). Every text in the SVG is a
//! number or a date the chart formats itself.

use super::day::format_day;
use super::format::{fixed, fixed_trimmed};

pub struct Series<'a> {
    pub name: &'a str,
    /// An SVG colour.
    pub color: &'a str,
    pub values: Vec<f64>,
}

const W: f64 = 760.0;
const H: f64 = 230.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 34.0;

/// A "nice" axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|v| *v >= max).unwrap_or(10.0 * p)
}

/// Compact axis numbers: 950, 1.2k, 3.4M.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (n, unit) = if a >= 1e9 { (v / 1e9, "G") } else if a >= 1e6 { (v / 1e6, "M") } else if a >= 1e3 { (v / 1e3, "k") } else { (v, "") };
    let s = if n.fract() == 0.0 || n.abs() >= 10.0 { fixed(n, 0) } else { fixed_trimmed(n, 1) };
    format!("{s}{unit}")
}

/// US dollars for an axis: $0.0012, $1.50, $120.
pub fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v < 0.01 {
        format!("${}", fixed_trimmed(v, 6))
    } else if v < 1.0 {
        format!("${}", fixed_trimmed(v, 4))
    } else if v < 100.0 {
        format!("${}", fixed(v, 2))
    } else {
        format!("${}", fixed(v, 0))
    }
}

/// An SVG coordinate.
fn c(v: f64) -> String {
    fixed(v, 1)
}

/// Bars per day (one group per day, one bar per series), `first_day..first_day+n`.
pub fn daily_bars(label: &str, first_day: i64, series: &[Series], axis: fn(f64) -> String) -> String {
    let days = series.first().map(|s| s.values.len()).unwrap_or(0).max(1);
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / days as f64;
    let bar = (slot * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut svg = format!(
        r##"<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">"##,
        c(W),
        c(H)
    );
    svg.push_str(&format!("<title>{label}</title>"));
    // Grid lines and axis labels at 0, 1/2 and the maximum.
    for i in 0..=2 {
        let v = max * i as f64 / 2.0;
        let y = TOP + plot_h - plot_h * i as f64 / 2.0;
        let (yc, left) = (c(y), c(LEFT));
        svg.push_str(&format!(r##"<line x1="{left}" y1="{yc}" x2="{}" y2="{yc}" stroke="#d7dbe0" stroke-width="1"/>"##, c(W - RIGHT)));
        svg.push_str(&format!(r##"<text x="{}" y="{}" text-anchor="end" fill="#4a5562">{}</text>"##, c(LEFT - 8.0), c(y + 4.0), axis(v)));
    }
    for (d, x0) in (0..days).map(|d| (d, LEFT + slot * d as f64 + slot * 0.1)) {
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(d).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = (plot_h * v / max).max(1.0);
            let x = x0 + bar * k as f64;
            svg.push_str(&format!(
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} {}: {}</title></rect>"##,
                c(x),
                c(TOP + plot_h - h),
                c((bar - 1.0).max(1.0)),
                c(h),
                s.color,
                format_day(first_day + d as i64),
                s.name,
                axis(v)
            ));
        }
        // A date under every 5th day, and the last.
        if d % 5 == 0 || d == days - 1 {
            let x = LEFT + slot * d as f64 + slot / 2.0;
            svg.push_str(&format!(r##"<text x="{}" y="{}" text-anchor="middle" fill="#4a5562">{}</text>"##, c(x), c(H - BOTTOM + 18.0), &format_day(first_day + d as i64)[5..]));
        }
    }
    // The legend, top left.
    let mut lx = LEFT;
    for s in series {
        svg.push_str(&format!(r##"<rect x="{}" y="8" width="12" height="12" fill="{}"/><text x="{}" y="18" fill="#1f2933">{}</text>"##, c(lx), s.color, c(lx + 16.0), s.name));
        lx += 24.0 + 8.0 * s.name.len() as f64;
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::day::parse_day;

    #[test]
    fn axes_are_round_and_numbers_compact() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(0.0031), 0.005);
        assert_eq!(compact(1234.0), "1.2k");
        assert_eq!(compact(50.0), "50");
        assert_eq!(compact(2_500_000.0), "2.5M");
        assert_eq!(usd(0.000525), "$0.000525");
        assert_eq!(usd(1.5), "$1.50");
        assert_eq!(usd(0.025), "$0.025");
    }

    #[test]
    fn a_bar_per_day_and_series_with_no_script_or_style() {
        let first = parse_day("2026-11-02").unwrap();
        let mut values = vec![0.0; 30];
        values[29] = 8.0;
        values[0] = 4.0;
        let svg = daily_bars("Requests per day", first, &[Series { name: "requests", color: "#2f6fde", values }], compact);
        assert_eq!(svg.matches("<rect x=").count() - 1, 2, "two bars and the legend swatch");
        assert!(svg.contains("2026-12-01 requests: 8"));
        assert!(svg.contains(">12-01<") && svg.contains(">11-02<"));
        assert!(!svg.contains("style") && !svg.contains("script"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
