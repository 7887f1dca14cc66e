//! PERT odds of meeting a deadline: the normal approximation along the
//! critical path, and Monte Carlo over the whole network, which also counts
//! the near-critical paths that can overtake it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::analysis::Distribution;
use crate::cpm;
use crate::validate::ValidPlan;

/// P(X ≤ deadline) for X normal with this mean and variance. With no
/// variance the finish is certain: 1 if it is by the deadline, else 0.
pub fn probability_by(mean: f64, variance: f64, deadline: f64) -> f64 {
    if variance <= 0.0 {
        return if mean <= deadline + 1e-9 * mean.abs().max(1.0) { 1.0 } else { 0.0 };
    }
    normal_cdf((deadline - mean) / variance.sqrt())
}

/// The standard normal CDF, Φ(z) = erfc(−z/√2)/2.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// erfc by the Chebyshev fit of Numerical Recipes (`erfcc`), relative error
/// below 1.2e-7 everywhere.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// What Monte Carlo found: the project length's median and 90th
/// percentile, and the share of draws that finished by the deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonteCarlo {
    pub p50: f64,
    pub p90: f64,
    pub probability_by_deadline: Option<f64>,
}

/// Draws every task's duration `samples` times from its three-point
/// estimate and takes the precedence-only project length of each draw.
/// Deterministic for a seed. `None` when `samples` is 0.
pub fn monte_carlo(
    plan: &ValidPlan,
    samples: usize,
    seed: u64,
    distribution: Distribution,
    deadline: Option<f64>,
    progress: &dyn Fn(f64),
) -> Option<MonteCarlo> {
    if samples == 0 {
        return None;
    }
    let points: Vec<(f64, f64, f64)> = plan.plan().tasks.iter().map(|t| t.estimate.points()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut durations = vec![0.0; points.len()];
    let mut lengths = Vec::with_capacity(samples);
    let report_every = (samples / 50).max(1);
    for s in 0..samples {
        for (d, &(o, m, p)) in durations.iter_mut().zip(&points) {
            *d = match distribution {
                Distribution::Triangular => triangular(&mut rng, o, m, p),
                Distribution::PertBeta => pert_beta(&mut rng, o, m, p),
            };
        }
        lengths.push(cpm::earliest(plan, &durations).1);
        if s % report_every == 0 {
            progress(s as f64 / samples as f64);
        }
    }
    let on_time = deadline.map(|d| lengths.iter().filter(|&&l| l <= d).count() as f64 / samples as f64);
    lengths.sort_unstable_by(f64::total_cmp);
    let quantile = |q: f64| lengths[((q * samples as f64).ceil() as usize).clamp(1, samples) - 1];
    Some(MonteCarlo { p50: quantile(0.5), p90: quantile(0.9), probability_by_deadline: on_time })
}

/// The triangular distribution by its inverse CDF.
fn triangular(rng: &mut StdRng, o: f64, m: f64, p: f64) -> f64 {
    if p <= o {
        return o;
    }
    let u: f64 = rng.random();
    let split = (m - o) / (p - o);
    if u < split { o + (u * (p - o) * (m - o)).sqrt() } else { p - ((1.0 - u) * (p - o) * (p - m)).sqrt() }
}

/// The PERT-beta distribution: o + (p − o)·Beta(α, β) with
/// α = 1 + 4(m − o)/(p − o) and β = 1 + 4(p − m)/(p − o), whose mean is
/// the PERT mean (o + 4m + p)/6.
fn pert_beta(rng: &mut StdRng, o: f64, m: f64, p: f64) -> f64 {
    if p <= o {
        return o;
    }
    let alpha = 1.0 + 4.0 * (m - o) / (p - o);
    let beta = 1.0 + 4.0 * (p - m) / (p - o);
    let x = gamma(rng, alpha);
    let y = gamma(rng, beta);
    o + (p - o) * x / (x + y)
}

/// Gamma(shape, 1) for shape ≥ 1 (Marsaglia and Tsang, 2000).
fn gamma(rng: &mut StdRng, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = standard_normal(rng);
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Box–Muller; `1 - u` keeps the logarithm finite.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        // Φ(0) = 0.5, Φ(1) = 0.841345, Φ(−1.96) = 0.024998, Φ(3) = 0.998650.
        for (z, expected) in [(0.0, 0.5), (1.0, 0.841_344_7), (-1.96, 0.024_997_9), (3.0, 0.998_650_1)] {
            assert!((normal_cdf(z) - expected).abs() < 1e-6, "Φ({z}) = {}", normal_cdf(z));
        }
    }

    #[test]
    fn draws_stay_within_the_estimate_and_average_near_the_mean() {
        let mut rng = StdRng::seed_from_u64(7);
        let (o, m, p) = (10.0, 20.0, 60.0);
        let n = 20_000;
        let tri: Vec<f64> = (0..n).map(|_| triangular(&mut rng, o, m, p)).collect();
        let beta: Vec<f64> = (0..n).map(|_| pert_beta(&mut rng, o, m, p)).collect();
        assert!(tri.iter().chain(&beta).all(|&x| (o..=p).contains(&x)));
        // Triangular mean (o+m+p)/3 = 30; PERT-beta mean (o+4m+p)/6 = 25.
        // Standard errors are about 0.07 and 0.06 here, so 0.3 is > 4σ.
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean(&tri) - 30.0).abs() < 0.3, "{}", mean(&tri));
        assert!((mean(&beta) - 25.0).abs() < 0.3, "{}", mean(&beta));
    }
}
