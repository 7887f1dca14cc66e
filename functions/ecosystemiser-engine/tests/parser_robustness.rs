//! The parser on thousands of damaged system files: every one must come back
//! as `Ok` or `Err(Invalid)`, never as a panic. A stable-toolchain stand-in
//! for the cargo-fuzz target in `fuzz/`, deterministic so a failure replays.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ecosystemiser_engine::{parse_system, FileSource};

const MUTANTS_PER_SEED: usize = 1500;

/// Bytes that change YAML structure rather than just a value.
const INTERESTING: &[u8] = b":-[]{},#&*!|>'\"\n \t0123456789.eE+~nulltrue";

/// Serves a small profiles CSV, so mutations of `csv:` reach the CSV reader.
struct OneCsv;

impl FileSource for OneCsv {
    fn read_text(&self, relative_path: &str) -> Result<String, String> {
        match relative_path {
            "profiles.csv" => Ok("demand_kw,pv_cf,import_price\n0.5,0,0.15\n0.6,0.2,0.3\n0.4,0.8,0.2\n".into()),
            other => Err(format!("no file {other}")),
        }
    }
}

const INLINE: &str = "name: tiny
timesteps: 3
timestep_hours: 1.0
objective: weighted
weights: {cost: 1.0, co2: 0.1}
profiles:
  inline:
    load: [1.0, 2.0, 1.5]
    sun: [0.0, 0.5, 1.0]
components:
  - name: grid
    type: grid
    import_price: 0.3
    import_co2_kg_per_kwh: 0.4
    demand_charge_per_kw: 10
    billing_period_hours: 2
  - name: pv
    type: solar_pv
    capacity: {min: 0, max: 10, capex_per_unit: 900, lifetime_years: 20}
    profile: sun
  - name: store
    type: battery
    energy_kwh: {min: 0, max: 20, cost_per_unit_year: 40}
    charge_kw: 2
    discharge_kw: 3
    efficiency_roundtrip: 0.9
  - name: hp
    type: heat_pump
    cop: 3
    capacity: 4
  - name: boiler
    type: fuel_boiler
    efficiency: 0.9
    capacity: 5
    fuel_price_per_kwh: 0.08
  - name: heat
    type: heat_demand
    profile: load
    unmet_penalty_per_kwh: 5
";

const JSON: &str = r#"{"name": "j", "timesteps": 2, "profiles": {"inline": {"l": [1, 2]}},
 "components": [{"name": "g", "type": "grid"}, {"name": "d", "type": "electric_demand", "profile": "l", "scale": 2}]}"#;

/// The reference files, cut to the three rows of [`OneCsv`], and two inline ones.
fn seeds() -> Vec<String> {
    let short = |text: &str| text.replace("timesteps: 8760", "timesteps: 3");
    vec![
        short(include_str!("../examples/residential_year/dispatch.yaml")),
        short(include_str!("../examples/residential_year/sizing.yaml")),
        INLINE.to_string(),
        JSON.to_string(),
    ]
}

/// xorshift64*: deterministic, and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to three random edits of `seed`.
fn mutate(seed: &str, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            1 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            2 => bytes.truncate(rng.below(bytes.len() + 1)),
            3 => bytes = edit_lines(&bytes, rng, |lines, at| lines.insert(at, lines[at].clone())),
            4 => bytes = edit_lines(&bytes, rng, |lines, at| drop(lines.remove(at))),
            _ => {
                let at = rng.below(bytes.len() + 1);
                let insert = [b"  ".as_slice(), b"- ", b": ", b"{", b"[", b"&a ", b"*a", b"1e309", b"-1", b"\n"][rng.below(10)];
                bytes.splice(at..at, insert.iter().copied());
            }
        }
    }
    bytes
}

/// Applies `edit` to a random line (duplicating or deleting it).
fn edit_lines(bytes: &[u8], rng: &mut Rng, edit: impl Fn(&mut Vec<Vec<u8>>, usize)) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let at = rng.below(lines.len());
    edit(&mut lines, at);
    lines.join(&b'\n')
}

#[test]
fn damaged_files_are_rejected_without_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let mut total = 0;
    for seed in seeds() {
        if let Err(e) = parse_system(&seed, &OneCsv) {
            panic!("seed is valid: {e}\n{seed}");
        }
        for _ in 0..MUTANTS_PER_SEED {
            let bytes = mutate(&seed, &mut rng);
            let text = String::from_utf8_lossy(&bytes);
            let outcome = catch_unwind(AssertUnwindSafe(|| parse_system(&text, &OneCsv)));
            match outcome {
                Ok(result) => accepted += usize::from(result.is_ok()),
                Err(_) => panic!("parse_system panicked on:\n{text}"),
            }
            total += 1;
        }
    }
    // Mostly rejected, but some edits (a digit for a digit) stay valid; both
    // outcomes being seen shows the mutations reach past the syntax checks.
    assert!(accepted > 0 && accepted < total, "{accepted} of {total} mutants accepted");
}
