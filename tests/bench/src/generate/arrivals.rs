//! Seeded arrival processes: offsets in milliseconds from the start.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp};

/// `n` Poisson arrivals at `qps` on average, the first at 0.
pub fn poisson(rng: &mut StdRng, n: usize, qps: f64) -> Vec<f64> {
    let gap = Exp::new(qps / 1000.0).expect("qps is validated positive");
    let mut t = 0.0;
    (0..n)
        .map(|i| {
            if i > 0 {
                t += gap.sample(rng);
            }
            t
        })
        .collect()
}

/// `n` arrivals that come in bursts: Poisson during `on_ms` windows, none
/// during the `off_ms` windows between them, `qps` on average overall (so
/// the rate inside a burst is `qps * (on_ms + off_ms) / on_ms`).
pub fn on_off(rng: &mut StdRng, n: usize, qps: f64, on_ms: f64, off_ms: f64) -> Vec<f64> {
    let burst_qps = qps * (on_ms + off_ms) / on_ms;
    // Arrivals on a clock that only runs while on; each full on-window
    // passed adds one off-window.
    poisson(rng, n, burst_qps)
        .into_iter()
        .map(|on_time| on_time + (on_time / on_ms).floor() * off_ms)
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn poisson_has_the_asked_mean_rate() {
        let t = poisson(&mut StdRng::seed_from_u64(3), 20_001, 50.0);
        let qps = 20_000.0 * 1000.0 / t.last().unwrap();
        assert!((qps - 50.0).abs() < 2.0, "{qps}");
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn on_off_arrivals_stay_inside_bursts() {
        let t = on_off(&mut StdRng::seed_from_u64(4), 5_000, 10.0, 1_000.0, 3_000.0);
        assert!(
            t.iter().all(|&x| x % 4_000.0 < 1_000.0),
            "no arrival in an off window"
        );
        let qps = 4_999.0 * 1000.0 / t.last().unwrap();
        assert!((qps - 10.0).abs() < 1.0, "{qps}");
    }
}
