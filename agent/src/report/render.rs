//! The report as Markdown, self-contained HTML (inline CSS and SVG, nothing fetched), JSON or CSV.

use std::fmt::Write as _;
use std::str::FromStr;

use super::ReportError;
use super::compute::{Attainment, Report, SloReport};
use super::svg::{budget_bar, esc, sli_chart, timeline};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Md,
    /// One HTML file.
    Html,
    /// JSON (every number at full precision).
    Json,
    /// CSV: one row per SLO and node ("all" first).
    Csv,
}

impl FromStr for Format {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Format, ReportError> {
        match s {
            "md" | "markdown" => Ok(Format::Md),
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(ReportError::Format(other.to_string())),
        }
    }
}

/// Renders the report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            serde_json::to_string_pretty(report)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
                + "\n"
        }
        Format::Csv => csv(report),
        Format::Md => md(report),
        Format::Html => html(report),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".to_string(), |v| format!("{:.4}%", v * 100.0))
}

fn secs(v: Option<f64>) -> String {
    v.map_or("n/a".to_string(), |v| format!("{:.4} s", v))
}

fn met(a: &Attainment) -> &'static str {
    match a.met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "n/a",
    }
}

fn node_name(n: &str) -> &str {
    if n.is_empty() { "(unlabelled)" } else { n }
}

fn duration(s: i64) -> String {
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

fn csv(r: &Report) -> String {
    let mut s = String::from("slo,node,objective,sli,budget_consumed,good,total,met,incidents\n");
    for slo in &r.slos {
        let rows = std::iter::once(("all", &slo.overall)).chain(
            slo.nodes
                .iter()
                .map(|n| (node_name(&n.node), &n.attainment)),
        );
        for (node, a) in rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{}",
                csv_field(&slo.name),
                csv_field(node),
                slo.objective,
                num(a.sli),
                num(a.budget_consumed),
                a.good,
                a.total,
                a.met.map_or(String::new(), |m| m.to_string()),
                if node == "all" {
                    slo.incidents.len().to_string()
                } else {
                    String::new()
                }
            );
        }
    }
    s
}

fn md_slo(s: &mut String, slo: &SloReport) {
    let _ = writeln!(s, "## {}\n\n{}\n", slo.name, slo.description);
    let _ = writeln!(
        s,
        "Objective {} ({} SLI; burn-rate alert `{}`).\n",
        pct(Some(slo.objective)),
        slo.sli_type,
        slo.alert
    );
    let _ = writeln!(
        s,
        "| node | SLI | objective met | error budget consumed | good | total |"
    );
    let _ = writeln!(s, "|---|---:|:---:|---:|---:|---:|");
    let rows = std::iter::once(("**all**", &slo.overall)).chain(
        slo.nodes
            .iter()
            .map(|n| (node_name(&n.node), &n.attainment)),
    );
    for (node, a) in rows {
        let _ = writeln!(
            s,
            "| {node} | {} | {} | {} | {} | {} |",
            pct(a.sli),
            met(a),
            pct(a.budget_consumed),
            a.good,
            a.total
        );
    }
    let _ = writeln!(
        s,
        "\n**Worst days**\n\n| day | SLI | error budget consumed |\n|---|---:|---:|"
    );
    for d in &slo.worst_days {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            d.day,
            pct(d.attainment.sli),
            pct(d.attainment.budget_consumed)
        );
    }
    if slo.incidents.is_empty() {
        let _ = writeln!(s, "\n**Incidents**: none (`{}` never fired).", slo.alert);
    } else {
        let _ = writeln!(
            s,
            "\n**Incidents** (`{}` firing)\n\n| from | to | duration | severity |\n|---|---|---:|---|",
            slo.alert
        );
        for i in &slo.incidents {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                i.start_text,
                i.end_text,
                duration(i.duration_seconds),
                i.severity
            );
        }
    }
    if !slo.latency.is_empty() {
        let _ = writeln!(
            s,
            "\n**Latency percentiles**\n\n| node | p50 | p90 | p99 |\n|---|---:|---:|---:|"
        );
        for l in &slo.latency {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                node_name(&l.node),
                secs(l.p50),
                secs(l.p90),
                secs(l.p99)
            );
        }
    }
    if !slo.lag.is_empty() {
        let _ = writeln!(
            s,
            "\n**Replication-lag compliance**\n\n| node | time below threshold | max | threshold |\n|---|---:|---:|---:|"
        );
        for l in &slo.lag {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} s |",
                node_name(&l.node),
                pct(l.compliance),
                secs(l.max_seconds),
                l.threshold_seconds
            );
        }
    }
    s.push('\n');
}

fn md(r: &Report) -> String {
    let mut s = format!(
        "# SLA report: {} to {}\n\nFrom Prometheus {}; nodes by the `{}` label. Days are UTC.\n\n",
        r.from_text, r.to_text, r.prometheus, r.node_label
    );
    let _ = writeln!(
        s,
        "| SLO | SLI | objective | met | error budget consumed | incidents |\n|---|---:|---:|:---:|---:|---:|"
    );
    for slo in &r.slos {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            slo.name,
            pct(slo.overall.sli),
            pct(Some(slo.objective)),
            met(&slo.overall),
            pct(slo.overall.budget_consumed),
            slo.incidents.len()
        );
    }
    s.push('\n');
    for slo in &r.slos {
        md_slo(&mut s, slo);
    }
    s
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:780px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}.no{color:#c0392b;font-weight:bold}\
.yes{color:#27ae60}section{border-top:2px solid #eee;margin-top:2em}small{color:#666}";

fn html_table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str("<td>");
            s.push_str(c);
            s.push_str("</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

fn met_html(a: &Attainment) -> String {
    match a.met {
        Some(true) => "<span class=\"yes\">yes</span>".to_string(),
        Some(false) => "<span class=\"no\">no</span>".to_string(),
        None => "n/a".to_string(),
    }
}

fn html(r: &Report) -> String {
    let mut s = String::new();
    let title = format!("SLA report {} to {}", r.from_text, r.to_text);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{CSS}</style></head><body><h1>{t}</h1><p><small>From Prometheus {p}; nodes by the <code>{l}</code> label; days are UTC.</small></p>",
        t = esc(&title),
        p = esc(&r.prometheus),
        l = esc(&r.node_label)
    );
    let rows: Vec<Vec<String>> = r
        .slos
        .iter()
        .map(|slo| {
            vec![
                format!("<a href=\"#{0}\">{0}</a>", esc(&slo.name)),
                pct(slo.overall.sli),
                pct(Some(slo.objective)),
                met_html(&slo.overall),
                pct(slo.overall.budget_consumed),
                slo.incidents.len().to_string(),
            ]
        })
        .collect();
    s.push_str(&html_table(
        &[
            "SLO",
            "SLI",
            "objective",
            "met",
            "error budget consumed",
            "incidents",
        ],
        &rows,
    ));
    for slo in &r.slos {
        let _ = write!(
            s,
            "<section id=\"{n}\"><h2>{n}</h2><p>{}</p>",
            esc(&slo.description),
            n = esc(&slo.name)
        );
        s.push_str(&budget_bar(slo.overall.budget_consumed));
        s.push_str(&sli_chart(
            &format!("{}: daily SLI", slo.name),
            &slo.daily,
            slo.objective,
        ));
        let rows: Vec<Vec<String>> = std::iter::once(("all", &slo.overall))
            .chain(
                slo.nodes
                    .iter()
                    .map(|n| (node_name(&n.node), &n.attainment)),
            )
            .map(|(n, a)| {
                vec![
                    esc(n),
                    pct(a.sli),
                    met_html(a),
                    pct(a.budget_consumed),
                    a.good.to_string(),
                    a.total.to_string(),
                ]
            })
            .collect();
        s.push_str(&html_table(
            &[
                "node",
                "SLI",
                "met",
                "error budget consumed",
                "good",
                "total",
            ],
            &rows,
        ));
        s.push_str("<h3>Worst days</h3>");
        let rows: Vec<Vec<String>> = slo
            .worst_days
            .iter()
            .map(|d| {
                vec![
                    esc(&d.day),
                    pct(d.attainment.sli),
                    pct(d.attainment.budget_consumed),
                ]
            })
            .collect();
        s.push_str(&html_table(&["day", "SLI", "error budget consumed"], &rows));
        let _ = write!(s, "<h3>Incidents ({} firing)</h3>", esc(&slo.alert));
        s.push_str(&timeline(r.from, r.to, &slo.incidents));
        if !slo.incidents.is_empty() {
            let rows: Vec<Vec<String>> = slo
                .incidents
                .iter()
                .map(|i| {
                    vec![
                        esc(&i.start_text),
                        esc(&i.end_text),
                        duration(i.duration_seconds),
                        esc(&i.severity),
                    ]
                })
                .collect();
            s.push_str(&html_table(&["from", "to", "duration", "severity"], &rows));
        }
        if !slo.latency.is_empty() {
            s.push_str("<h3>Latency percentiles</h3>");
            let rows: Vec<Vec<String>> = slo
                .latency
                .iter()
                .map(|l| {
                    vec![
                        esc(node_name(&l.node)),
                        secs(l.p50),
                        secs(l.p90),
                        secs(l.p99),
                    ]
                })
                .collect();
            s.push_str(&html_table(&["node", "p50", "p90", "p99"], &rows));
        }
        if !slo.lag.is_empty() {
            s.push_str("<h3>Replication-lag compliance</h3>");
            let rows: Vec<Vec<String>> = slo
                .lag
                .iter()
                .map(|l| {
                    vec![
                        esc(node_name(&l.node)),
                        pct(l.compliance),
                        secs(l.max_seconds),
                        format!("{} s", l.threshold_seconds),
                    ]
                })
                .collect();
            s.push_str(&html_table(
                &["node", "time below threshold", "max", "threshold"],
                &rows,
            ));
        }
        s.push_str("</section>");
    }
    s.push_str("</body></html>\n");
    s
}
