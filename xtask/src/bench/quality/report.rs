//! `results.json` and `results.md`: every record, per-workload tables, the
//! skipped contenders with their reasons, and the targets checked
//! where both sides were measured.

use std::{fmt::Write, path::Path};

use serde_json::{Value, json};

use super::plan::Workload;

/// Where and how a run happened.
pub struct Meta {
    command: String,
    date: String,
    machine: String,
    setup: String,
}

impl Meta {
    /// Reads the date, CPU model, core count and kernel of this machine.
    pub fn collect(
        command: &str,
        replicas: usize,
        profile: &str,
        time_scale: f64,
        ttft_slo_ms: f64,
    ) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']))
            .unwrap_or("unknown CPU");
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Self {
            command: command.into(),
            date: crate::cmd::output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
                .trim()
                .into(),
            machine: format!("{cores} cores ({model}), Linux {}", kernel.trim()),
            setup: format!(
                "fleet: {replicas} x kvlb-sim {profile}, time scale {time_scale}; TTFT SLO for goodput {ttft_slo_ms} ms; latencies in model ms"
            ),
        }
    }
}

/// A one-line summary of a record, for the progress output.
pub fn one_line(r: &Value) -> String {
    let head = format!(
        "{} · {} · {} QPS",
        r["workload"].as_str().unwrap_or("?"),
        r["contender"].as_str().unwrap_or("?"),
        r["qps"]
    );
    if let Some(reason) = r["skipped"].as_str().or(r["failed"].as_str()) {
        return format!("{head}: {reason}");
    }
    format!(
        "{head}: TTFT p90 {} ms, {} tok/s, errors {}, prefix hit {}",
        num(&r["ttft_p90_ms"], 0),
        num(&r["output_tok_s"], 0),
        num(&r["error_rate"], 3),
        num(&r["prefix_hit_rate"], 2)
    )
}

/// Writes `results.json` and `results.md` to `out`.
pub fn write(
    out: &Path,
    meta: &Meta,
    workloads: &[Workload],
    records: &[Value],
) -> anyhow::Result<()> {
    let json = json!({"command": meta.command, "date": meta.date, "machine": meta.machine, "setup": meta.setup, "records": records});
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    std::fs::write(out.join("results.md"), markdown(meta, workloads, records))?;
    Ok(())
}

fn num(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.decimals$}"))
}

fn markdown(meta: &Meta, workloads: &[Workload], records: &[Value]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Command: `{}`  \nDate: {}  \nMachine: {}  \nSetup: {}\n",
        meta.command, meta.date, meta.machine, meta.setup
    );
    for workload in workloads {
        let rows: Vec<&Value> = records
            .iter()
            .filter(|r| r["workload"] == workload.name)
            .collect();
        let _ = writeln!(
            md,
            "### {}\n\n{}; clients: {} connections.\n",
            workload.name, workload.about, workload.connection
        );
        let _ = writeln!(
            md,
            "| contender | QPS | TTFT p50 / p90 / p99 ms | ITL p50 / p99 ms | E2E p50 ms | output tok/s | goodput req/s | errors | prefix hit | contender CPU s | lagged steps |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
        for r in rows
            .iter()
            .filter(|r| r.get("skipped").is_none() && r.get("failed").is_none())
        {
            let cpu = if r["contender_cpu_s"].is_null() {
                format!("– ({})", r["cpu_note"].as_str().unwrap_or("not measured"))
            } else {
                num(&r["contender_cpu_s"], 1)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} / {} / {} | {} / {} | {} | {} | {} | {} | {} | {} | {} |",
                r["contender"].as_str().unwrap_or("?"),
                r["qps"],
                num(&r["ttft_p50_ms"], 0),
                num(&r["ttft_p90_ms"], 0),
                num(&r["ttft_p99_ms"], 0),
                num(&r["itl_p50_ms"], 1),
                num(&r["itl_p99_ms"], 1),
                num(&r["e2e_p50_ms"], 0),
                num(&r["output_tok_s"], 0),
                num(&r["goodput_rps"], 1),
                num(&r["error_rate"], 3),
                num(&r["prefix_hit_rate"], 2),
                cpu,
                r["lagged_steps"],
            );
        }
        let mut not_run: Vec<String> = Vec::new();
        for r in rows
            .iter()
            .filter(|r| r.get("skipped").is_some() || r.get("failed").is_some())
        {
            let line = match r["skipped"].as_str() {
                Some(reason) => format!(
                    "- {}: skipped, {reason}",
                    r["contender"].as_str().unwrap_or("?")
                ),
                None => format!(
                    "- {} at {} QPS: failed, {}",
                    r["contender"].as_str().unwrap_or("?"),
                    r["qps"],
                    r["failed"].as_str().unwrap_or("?")
                ),
            };
            if !not_run.contains(&line) {
                not_run.push(line);
            }
        }
        if !not_run.is_empty() {
            let _ = writeln!(md, "\nNot measured:\n\n{}", not_run.join("\n"));
        }
        md.push('\n');
    }
    let _ = writeln!(md, "### Targets (issue 9)\n");
    for line in targets(records) {
        let _ = writeln!(md, "- {line}");
    }
    md
}

/// A metric of one contender at one workload and load point.
fn metric(records: &[Value], workload: &str, contender: &str, qps: f64, key: &str) -> Option<f64> {
    records.iter().find(|r| {
        r["workload"] == workload
            && r["contender_id"] == contender
            && r["qps"].as_f64() == Some(qps)
    })?[key]
        .as_f64()
}

/// One target: `contender`'s `key` against `reference`'s, times `bound`.
struct Goal {
    workload: &'static str,
    key: &'static str,
    contender: &'static str,
    reference: &'static str,
    bound: f64,
    at_most: bool,
    /// Only the highest load point, or every one.
    highest_only: bool,
}

fn targets(records: &[Value]) -> Vec<String> {
    const GOALS: [Goal; 5] = [
        Goal {
            workload: "shared-prefix",
            key: "ttft_p90_ms",
            contender: "kvlb-l7",
            reference: "sglang-cache-aware",
            bound: 0.8,
            at_most: true,
            highest_only: true,
        },
        Goal {
            workload: "shared-prefix",
            key: "ttft_p90_ms",
            contender: "kvlb-l7",
            reference: "oracle",
            bound: 1.15,
            at_most: true,
            highest_only: true,
        },
        Goal {
            workload: "shared-prefix",
            key: "output_tok_s",
            contender: "kvlb-l7",
            reference: "sglang-cache-aware",
            bound: 1.1,
            at_most: false,
            highest_only: true,
        },
        Goal {
            workload: "shared-prefix",
            key: "output_tok_s",
            contender: "kvlb-l7",
            reference: "nginx-rr",
            bound: 2.0,
            at_most: false,
            highest_only: true,
        },
        Goal {
            workload: "bursty",
            key: "ttft_p90_ms",
            contender: "kvlb-connect",
            reference: "nginx-rr",
            bound: 0.5,
            at_most: true,
            highest_only: false,
        },
    ];
    let mut lines = Vec::new();
    for goal in &GOALS {
        let rel = if goal.at_most { "≤" } else { "≥" };
        let what = format!(
            "{}: {} {} {rel} {}x {}",
            goal.workload, goal.contender, goal.key, goal.bound, goal.reference
        );
        let mut points: Vec<f64> = records
            .iter()
            .filter(|r| r["workload"] == goal.workload)
            .filter_map(|r| r["qps"].as_f64())
            .collect();
        points.sort_by(f64::total_cmp);
        points.dedup();
        if goal.highest_only {
            points = points.last().copied().into_iter().collect();
        }
        let verdicts: Vec<String> = points
            .iter()
            .filter_map(|&qps| {
                let (mine, theirs) = (
                    metric(records, goal.workload, goal.contender, qps, goal.key)?,
                    metric(records, goal.workload, goal.reference, qps, goal.key)?,
                );
                let ratio = mine / theirs;
                let met = if goal.at_most {
                    ratio <= goal.bound
                } else {
                    ratio >= goal.bound
                };
                Some(format!(
                    "{qps} QPS: {ratio:.2}x ({})",
                    if met { "met" } else { "NOT met" }
                ))
            })
            .collect();
        if verdicts.is_empty() {
            let reason = records
                .iter()
                .find(|r| r["contender_id"] == goal.contender && r.get("skipped").is_some())
                .and_then(|r| r["skipped"].as_str())
                .map_or("not measured in this run".to_string(), |s| {
                    format!("{} {s}", goal.contender)
                });
            lines.push(format!("{what}: not evaluated ({reason})"));
        } else {
            lines.push(format!("{what}: {}", verdicts.join(", ")));
        }
    }
    lines
}
