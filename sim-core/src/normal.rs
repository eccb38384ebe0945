//! Standard normal draws for the hottest random process in the simulator.
//!
//! A crystal's noise grid draws several normals per simulated second per
//! oscillator, and drawing them was a fifth of a one-host run. A
//! [`NormalStream`] is seeded from its component's [`SimRng`] stream and
//! turns each 64-bit word of its own generator into a normal by the
//! ziggurat method of Marsaglia and Tsang ("The ziggurat method for
//! generating random variables", J. Stat. Softw. 5(8), 2000) with 256
//! layers: the low 8 bits of a word pick the layer, the high 53 bits a
//! signed uniform, and 99 % of draws are accepted with one multiply and one
//! compare. The rest (the wedge beside each layer, and the tail beyond `R`
//! by Marsaglia's exponential rejection) take more words from the same
//! generator, so the draws depend only on the component's stream and on how
//! many normals were drawn before.
//!
//! **The words come from xoshiro256++** (Blackman & Vigna, "Scrambled
//! linear pseudorandom number generators", ACM TOMS 47(4), 2021), seeded
//! with 256 bits of the component's ChaCha8 stream. ChaCha8 is kept for
//! every other draw (it derives independent named streams from one seed),
//! but a word of it cost about 30 instructions, four times a ziggurat
//! draw: with xoshiro256++ (a handful of instructions per word, no output
//! buffer, passes BigCrush) a one-day one-host run takes 10 % fewer
//! instructions. The state is 256 bits, so streams seeded from distinct
//! ChaCha8 streams do not overlap in any run's length.
//!
//! The inlined fast path, with cold out-of-line rejection paths, is what
//! makes the grid cheap; the draws agree with `rand_distr`'s
//! `StandardNormal` fed the same words, draw for draw, to rounding (same
//! layers, same bits of each word; tested).
//!
//! ```
//! use sim_core::{NormalStream, RngStreams};
//! let mut a = NormalStream::new(RngStreams::new(7).stream("host0/crystal"));
//! let mut b = NormalStream::new(RngStreams::new(7).stream("host0/crystal"));
//! let z = a.next_normal();
//! assert_eq!(z, b.next_normal());
//! assert!(z.is_finite());
//! ```

use std::sync::LazyLock;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::SimRng;

/// Layers of the ziggurat.
const LAYERS: usize = 256;
/// Right edge of the base layer: the 256-layer ziggurat's `R`
/// (Marsaglia & Tsang 2000, §2; the same constant `rand_distr` uses).
const R: f64 = 3.654_152_885_361_009;
/// Area of each layer (and of the base strip with the tail), for that `R`.
const V: f64 = 4.928_673_233_99e-3;

/// The unnormalised standard normal density `e^{−x²/2}`.
fn density(x: f64) -> f64 {
    (-0.5 * x * x).exp()
}

/// Layer edges `x[i]` (decreasing, `x[1] = R`, `x[256] = 0`; `x[0] = V/f(R)`
/// is the base strip's width with the tail folded in) and `f(x[i])`.
#[derive(Debug)]
struct Tables {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut x = [0.0; LAYERS + 1];
    x[0] = V / density(R);
    x[1] = R;
    for i in 2..LAYERS {
        // Layer i − 1 spans [f(x[i−1]), f(x[i])] with area x[i−1]·(f(x[i]) − f(x[i−1])) = V.
        x[i] = (-2.0 * (V / x[i - 1] + density(x[i - 1])).ln()).sqrt();
    }
    x[LAYERS] = 0.0;
    let f = x.map(density);
    Tables { x, f }
});

/// A stream of standard normal draws (mean 0, variance 1); see the module
/// docs.
#[derive(Clone, Debug)]
pub struct NormalStream {
    words: Xoshiro256PlusPlus,
    /// Resolved once, so no draw pays the lazy initialisation's check.
    tables: &'static Tables,
}

impl NormalStream {
    /// Normals seeded from the component stream `rng` (module docs).
    pub fn new(mut rng: SimRng) -> Self {
        NormalStream {
            words: Xoshiro256PlusPlus::from_rng(&mut rng),
            tables: &TABLES,
        }
    }

    /// A uniform in `(0, 1]` from the top 53 bits of a word.
    fn uniform_open0(&mut self) -> f64 {
        ((self.words.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// The next standard normal draw.
    #[inline]
    pub fn next_normal(&mut self) -> f64 {
        let t = self.tables;
        let w = self.words.next_u64();
        let i = (w & 0xff) as usize;
        // Signed uniform in [−1, 1) from the high 53 bits (as i64: the
        // signed conversion is one instruction, the unsigned one is not).
        let u = ((w >> 11) as i64) as f64 * (1.0 / (1u64 << 52) as f64) - 1.0;
        let x = u * t.x[i];
        if x.abs() < t.x[i + 1] {
            return x;
        }
        self.outside_core(i, u, x)
    }

    /// The ~1 % of draws outside layer `i`'s core: the base layer's tail, or
    /// the wedge test, which starts over on rejection.
    #[cold]
    #[inline(never)]
    fn outside_core(&mut self, i: usize, u: f64, x: f64) -> f64 {
        if i == 0 {
            return self.tail(u < 0.0);
        }
        let t = self.tables;
        let y = t.f[i + 1] + (t.f[i] - t.f[i + 1]) * self.uniform_open0();
        if y < density(x) {
            x
        } else {
            self.next_normal()
        }
    }

    /// A draw from the normal tail beyond `R` (Marsaglia 1964).
    fn tail(&mut self, negative: bool) -> f64 {
        loop {
            let a = -self.uniform_open0().ln() / R;
            let b = -self.uniform_open0().ln();
            if 2.0 * b > a * a {
                return if negative { -(R + a) } else { R + a };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RngStreams;
    use statrs::distribution::{ContinuousCDF, Normal};

    fn draws(seed: u64, n: usize) -> Vec<f64> {
        let mut s = NormalStream::new(RngStreams::new(seed).stream("normal-test"));
        (0..n).map(|_| s.next_normal()).collect()
    }

    #[test]
    fn tables_close_the_ziggurat() {
        // The top layer must also have area V: x[255]·(1 − f(x[255])) = V,
        // which only holds if R and V belong together.
        let t = &*TABLES;
        let top = t.x[LAYERS - 1] * (1.0 - t.f[LAYERS - 1]);
        assert!(
            (top / V - 1.0).abs() < 1e-6,
            "top layer area {top:e} vs {V:e}"
        );
        assert!(t.x.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn draws_follow_the_standard_normal_law() {
        // Kolmogorov–Smirnov against Φ: D·√n < 1.95 at the 0.1 % level.
        let n = 1_000_000;
        let mut z = draws(1, n);
        z.sort_by(f64::total_cmp);
        let phi = Normal::standard();
        let d = z
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let c = phi.cdf(v);
                (c - k as f64 / n as f64).max((k + 1) as f64 / n as f64 - c)
            })
            .fold(0.0, f64::max);
        assert!(
            d * (n as f64).sqrt() < 1.95,
            "KS statistic {}",
            d * (n as f64).sqrt()
        );
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let kurt = z.iter().map(|v| v.powi(4)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 5e-3 && (var - 1.0).abs() < 5e-3 && (kurt - 3.0).abs() < 0.05);
    }

    #[test]
    fn draws_agree_with_rand_distr_to_rounding() {
        use rand::RngExt;
        let mut ours = NormalStream::new(RngStreams::new(5).stream("normal-test"));
        // The same words: xoshiro256++ seeded as NormalStream::new seeds it.
        let mut theirs =
            Xoshiro256PlusPlus::from_rng(&mut RngStreams::new(5).stream("normal-test"));
        for k in 0..200_000 {
            let (a, b): (f64, f64) = (
                ours.next_normal(),
                theirs.sample(rand_distr::StandardNormal),
            );
            assert!(
                (a - b).abs() <= 1e-15 * b.abs().max(1.0),
                "draw {k}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn tail_beyond_r_has_its_probability() {
        // P(|z| > R) = 2·(1 − Φ(R)) = 2.58e-4: 2 580 of 10⁷ draws, σ ≈ 51.
        let n = 10_000_000;
        let beyond = draws(2, n).iter().filter(|v| v.abs() > R).count() as f64;
        let want = 2.0 * Normal::standard().sf(R) * n as f64;
        assert!(
            (beyond - want).abs() < 5.0 * want.sqrt(),
            "{beyond} vs {want}"
        );
        let far = draws(3, n).iter().filter(|v| v.abs() > 4.5).count() as f64;
        let want_far = 2.0 * Normal::standard().sf(4.5) * n as f64;
        assert!(
            (far - want_far).abs() < 5.0 * want_far.sqrt(),
            "{far} vs {want_far}"
        );
    }
}
