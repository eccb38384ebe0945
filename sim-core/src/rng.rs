//! Named, reproducible random-number streams.
//!
//! Every component draws from its own stream, derived from the master seed
//! and the component's *name* by a stable hash (FNV-1a, fixed forever, unlike
//! `std`'s `DefaultHasher`). Adding a component therefore never changes the
//! draws of another, and the same scenario and seed give the same numbers on
//! any machine and any thread count.
//!
//! The generator is ChaCha8 from `rand_chacha`: portable, value-stable across
//! releases, and cheap (~1–2 ns per `u64`).
//!
//! ```
//! use rand::RngExt;
//! use sim_core::RngStreams;
//! let streams = RngStreams::new(42);
//! let a: f64 = streams.stream("host0/oscillator").random();
//! let again: f64 = streams.stream("host0/oscillator").random();
//! let b: f64 = streams.stream("path0/forward").random();
//! assert_eq!(a, again);
//! assert_ne!(a, b);
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator every component uses.
pub type SimRng = ChaCha8Rng;

/// Derives per-component RNG streams from a master seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStreams {
    master_seed: u64,
}

/// 64-bit FNV-1a: stable across Rust releases and platforms.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: spreads the hash over all 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RngStreams {
    /// Streams for one run.
    pub const fn new(master_seed: u64) -> Self {
        RngStreams { master_seed }
    }

    /// The master seed.
    pub const fn master_seed(&self) -> u64 {
        self.master_seed
    }

    /// The stream named `name`. Names are paths such as `"host0/hpet/read"`.
    pub fn stream(&self, name: &str) -> SimRng {
        let key = fnv1a64(name.as_bytes());
        let mut seed = [0u8; 32];
        for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
            let word = mix64(self.master_seed ^ mix64(key.wrapping_add(i as u64)));
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        ChaCha8Rng::from_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn draws(s: &RngStreams, name: &str) -> Vec<u64> {
        let mut r = s.stream(name);
        (0..8).map(|_| r.random()).collect()
    }

    #[test]
    fn adding_a_component_does_not_perturb_others() {
        let s = RngStreams::new(7);
        let before = draws(&s, "path0");
        // A new component draws heavily from its own stream...
        let _ = draws(&s, "host9/new-component");
        // ...and the existing one sees exactly the same numbers.
        assert_eq!(draws(&s, "path0"), before);
    }

    #[test]
    fn seeds_and_names_separate_streams() {
        let a = RngStreams::new(1);
        let b = RngStreams::new(2);
        assert_ne!(draws(&a, "x"), draws(&b, "x"));
        assert_ne!(draws(&a, "x"), draws(&a, "y"));
    }

    #[test]
    fn values_are_pinned() {
        // Guards against an accidental change of the derivation (the name
        // hash, the seed mixing, the generator, or how `rand` turns its
        // words into numbers), which would silently change every
        // published result: literal draws, not a stream compared with
        // itself.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        let pinned: [(u64, &str, [u64; 3]); 3] = [
            (
                0,
                "probe",
                [
                    0xb67e_b1f5_fb15_dde4,
                    0x4932_dd50_225c_4439,
                    0x453b_e687_6daf_cb5f,
                ],
            ),
            (
                42,
                "host0/oscillator",
                [
                    0x3ce4_2920_db73_b6fc,
                    0xa243_a7be_019c_73b7,
                    0x9f89_0398_ae29_c099,
                ],
            ),
            (
                u64::MAX,
                "",
                [
                    0xf30c_56a2_707f_340a,
                    0x9373_d0bf_c3f6_5039,
                    0x75e1_b8a7_5f07_e0cc,
                ],
            ),
        ];
        for (seed, name, words) in pinned {
            assert_eq!(
                draws(&RngStreams::new(seed), name)[..3],
                words,
                "seed {seed}, stream {name:?}"
            );
        }
        // The first f64 of a stream: the top 53 bits of its first word.
        let f: f64 = RngStreams::new(0).stream("probe").random();
        assert_eq!(f.to_bits(), 0x3fe6_cfd6_3ebf_62bb);
        let f: f64 = RngStreams::new(42).stream("host0/oscillator").random();
        assert_eq!(f.to_bits(), 0x3fce_7214_906d_b9d8);
    }
}
