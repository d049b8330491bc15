//! Simulated time: model seconds mapped onto the wall clock by a time-scale factor.

use std::time::Duration;

use tokio::time::Instant;

/// Maps model time (seconds since the replica started, as a real GPU would
/// experience it) to wall-clock instants. A scale of 10 runs everything ten
/// times faster than real time; every latency the simulator reports (metrics,
/// `/debug/state`) is in model seconds.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    origin: Instant,
    scale: f64,
}

impl SimClock {
    /// Starts a clock now. `scale` must be positive and finite (the CLI checks).
    pub fn start(scale: f64) -> Self {
        Self {
            origin: Instant::now(),
            scale,
        }
    }

    /// The time-scale factor.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Model seconds elapsed since the clock started.
    pub fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * self.scale
    }

    /// The wall-clock instant at which model time `t` is reached.
    pub fn instant_at(&self, t: f64) -> Instant {
        self.origin + Duration::from_secs_f64((t / self.scale).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_time_runs_scale_times_faster() {
        let clock = SimClock::start(10.0);
        let at = clock.instant_at(5.0);
        assert_eq!(at - clock.origin, Duration::from_millis(500));
        assert!(clock.now() >= 0.0);
    }
}
