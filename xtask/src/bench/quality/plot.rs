//! One SVG per workload: TTFT p90 (log scale) against offered QPS, a line
//! per measured contender.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use super::plan::Workload;

/// Writes `ttft_p90_<workload>.svg` to `out` for every workload with data.
pub fn write(out: &Path, workloads: &[Workload], records: &[Value]) -> anyhow::Result<()> {
    for workload in workloads {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for r in records.iter().filter(|r| r["workload"] == workload.name) {
            let (Some(qps), Some(ttft)) = (r["qps"].as_f64(), r["ttft_p90_ms"].as_f64()) else {
                continue;
            };
            let name = r["contender"].as_str().unwrap_or("?").to_string();
            match series.iter_mut().find(|(n, _)| *n == name) {
                Some((_, points)) => points.push((qps, ttft)),
                None => series.push((name, vec![(qps, ttft)])),
            }
        }
        if series.is_empty() {
            continue;
        }
        let path = out.join(format!("ttft_p90_{}.svg", workload.name));
        draw(&path, workload.name, &series)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn draw(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::MAX, 1.0f64);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: TTFT p90 against load"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            0.0..x_max * 1.08,
            ((y_min * 0.8).max(0.1)..y_max * 1.25).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("offered load, requests per second")
        .y_desc("TTFT p90, ms (log)")
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut sorted = points.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                sorted.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(sorted.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
