//! Hand-built SVG charts for the HTML report: a daily SLI line against the objective, an error
//! budget bar and an incident timeline. Hand-built rather than `plotters`: three simple chart
//! kinds need ~150 lines, no font handling and no extra crates to compile.

use std::fmt::Write as _;

use super::compute::{DayPoint, Incident};

const W: f64 = 720.0;
const H: f64 = 220.0;
const PAD_L: f64 = 64.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 16.0;
const PAD_B: f64 = 36.0;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The daily SLI as a line (percent), with the objective as a dashed line.
pub fn sli_chart(title: &str, days: &[DayPoint], objective: f64) -> String {
    let values: Vec<f64> = days.iter().filter_map(|d| d.attainment.sli).collect();
    let lo = values.iter().copied().fold(objective, f64::min);
    // A little room below the lowest point; the top is 100 %.
    let y_min = (lo - (1.0 - lo).max(1e-4) * 0.5).max(0.0);
    let y_max = 1.0;
    let n = days.len().max(1);
    let x = |i: usize| PAD_L + (W - PAD_L - PAD_R) * (i as f64 + 0.5) / n as f64;
    let y = |v: f64| PAD_T + (H - PAD_T - PAD_B) * (y_max - v) / (y_max - y_min).max(1e-12);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart sli" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = esc(title)
    );
    let _ = write!(
        s,
        r##"<rect x="{PAD_L}" y="{PAD_T}" width="{}" height="{}" fill="#fafafa" stroke="#ccc"/>"##,
        W - PAD_L - PAD_R,
        H - PAD_T - PAD_B
    );
    for k in 0..=4 {
        let v = y_min + (y_max - y_min) * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{PAD_L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{:.3}%</text>"##,
            W - PAD_R,
            PAD_L - 4.0,
            y(v) + 3.0,
            v * 100.0,
            y = y(v)
        );
    }
    let _ = write!(
        s,
        r##"<line class="objective" x1="{PAD_L}" x2="{}" y1="{oy:.1}" y2="{oy:.1}" stroke="#c0392b" stroke-dasharray="5,4"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#c0392b">objective {:.3}%</text>"##,
        W - PAD_R,
        W - PAD_R - 2.0,
        y(objective) - 3.0,
        objective * 100.0,
        oy = y(objective)
    );
    let pts: Vec<String> = days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.attainment.sli.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect();
    if !pts.is_empty() {
        let _ = write!(
            s,
            r##"<polyline class="sli-line" fill="none" stroke="#2c7be5" stroke-width="2" points="{}"/>"##,
            pts.join(" ")
        );
    }
    for (i, d) in days.iter().enumerate() {
        if let Some(v) = d.attainment.sli {
            let color = if v >= objective { "#2c7be5" } else { "#c0392b" };
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{} {:.4}%</title></circle>"#,
                x(i),
                y(v),
                esc(&d.day),
                v * 100.0
            );
        }
    }
    let label_every = n.div_ceil(8);
    for (i, d) in days.iter().enumerate() {
        if i % label_every == 0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle" fill="#555">{}</text>"##,
                x(i),
                H - PAD_B + 14.0,
                esc(d.day.get(5..).unwrap_or(&d.day))
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A horizontal bar: the share of the error budget consumed (capped at 100 % drawn, value shown).
pub fn budget_bar(consumed: Option<f64>) -> String {
    let w = 360.0;
    let c = consumed.unwrap_or(0.0);
    let filled = (c.clamp(0.0, 1.0)) * w;
    let color = if c < 0.5 {
        "#27ae60"
    } else if c < 1.0 {
        "#f39c12"
    } else {
        "#c0392b"
    };
    let label = consumed.map_or("no data".to_string(), |c| {
        format!("{:.2}% of the error budget consumed", c * 100.0)
    });
    format!(
        r##"<svg class="chart budget" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} 28" width="{W}" height="28" role="img" aria-label="{l}"><title>{l}</title><rect x="0" y="4" width="{w}" height="16" fill="#eee" stroke="#ccc"/><rect class="budget-used" x="0" y="4" width="{filled:.1}" height="16" fill="{color}"/><text x="{tx}" y="16" font-size="11" fill="#333">{l}</text></svg>"##,
        l = esc(&label),
        tx = w + 8.0
    )
}

/// Incidents as bars on a timeline of the period.
pub fn timeline(from: i64, to: i64, incidents: &[Incident]) -> String {
    let h = 40.0;
    let span = (to - from).max(1) as f64;
    let x = |t: i64| PAD_L + (W - PAD_L - PAD_R) * ((t - from) as f64 / span).clamp(0.0, 1.0);
    let mut s = format!(
        r##"<svg class="chart incidents" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="incidents"><title>incidents</title><rect x="{PAD_L}" y="8" width="{}" height="14" fill="#f4f4f4" stroke="#ccc"/>"##,
        W - PAD_L - PAD_R
    );
    for i in incidents {
        let (x0, x1) = (x(i.start), x(i.end));
        let color = if i.severity == "page" {
            "#c0392b"
        } else {
            "#f39c12"
        };
        let _ = write!(
            s,
            r#"<rect class="incident" x="{x0:.1}" y="8" width="{:.1}" height="14" fill="{color}"><title>{} to {} ({})</title></rect>"#,
            (x1 - x0).max(1.5),
            esc(&i.start_text),
            esc(&i.end_text),
            esc(&i.severity)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{PAD_L}" y="36" font-size="10" fill="#555">{}</text><text x="{}" y="36" font-size="10" text-anchor="end" fill="#555">{}</text></svg>"##,
        esc(&super::time::format_day(from)),
        W - PAD_R,
        esc(&super::time::format_day(to))
    );
    s
}
