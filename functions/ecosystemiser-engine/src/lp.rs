//! The LP of energy-model v1, built straight into clarabel's CSC form.
//!
//! clarabel solves `min q'x  s.t.  Ax + s = b,  s ∈ K` and pays for every
//! bound as a row of `A`, so the builder keeps the model small:
//! - a variable that can only be zero (PV at night, a zero import limit) is
//!   never created, and its rows vanish with it;
//! - a converter has one variable, its input; the output is `eff * in`;
//! - storage level needs no `soc >= 0` row, `soc >= soc_min * E` implies it.
//!
//! Rows are `=` first (bus balances, storage dynamics), then `<=`.

use crate::model::*;
use crate::presolve::{self, Reduced, Rows};

/// A per-step variable block; steps where the variable was dropped read 0.
#[derive(Debug, Clone)]
pub struct Col(Vec<u32>);

const ABSENT: u32 = u32::MAX;

impl Col {
    fn none(steps: usize) -> Col {
        Col(vec![ABSENT; steps])
    }

    pub fn get(&self, t: usize) -> Option<usize> {
        let id = self.0[t];
        (id != ABSENT).then_some(id as usize)
    }

    pub fn values(&self, x: &[f64]) -> Vec<f64> {
        self.0.iter().map(|&id| if id == ABSENT { 0.0 } else { x[id as usize] }).collect()
    }
}

/// A capacity in the LP: a constant, or a column.
#[derive(Debug, Clone, Copy)]
pub enum Cap {
    Fixed(f64),
    Var(usize),
}

impl Cap {
    pub fn value(&self, x: &[f64]) -> f64 {
        match *self {
            Cap::Fixed(v) => v,
            Cap::Var(j) => x[j],
        }
    }
}

#[derive(Debug, Clone)]
pub enum ComponentVars {
    Grid { imp: Col, exp: Col },
    Source { output: Col, cap: Cap },
    Storage { ch: Col, dis: Col, soc: Col, energy: Cap, charge: Cap, discharge: Cap },
    Converter { input: Col, cap: Cap },
    Demand { unmet: Col },
}

#[derive(Debug)]
pub struct Lp {
    /// Per component, in system order, in original column numbering.
    pub vars: Vec<ComponentVars>,
    /// What the solver gets, after equalities are substituted away.
    pub problem: Reduced,
}

impl Lp {
    /// The objective over the reduced columns.
    pub fn objective(&self, weights: (f64, f64)) -> Vec<f64> {
        let p = &self.problem;
        p.cost.iter().zip(&p.co2).map(|(c, e)| weights.0 * c + weights.1 * e).collect()
    }
}

/// Builds the LP; `co2_cap` adds `total CO2 <= cap` (the ε-constraint).
pub fn build(system: &System, co2_cap: Option<f64>) -> Lp {
    let buses = system.buses();
    let mut lp = Builder::new(system.timesteps, buses.len());
    let bus = |name: &str| buses.iter().position(|b| b == name).expect("bus of a validated system");
    let vars = system.components.iter().map(|c| lp.component(system, c, &bus)).collect();
    lp.finish(vars, co2_cap)
}

struct Builder {
    steps: usize,
    cost: Vec<f64>,
    co2: Vec<f64>,
    eq: Triplets,
    ineq: Triplets,
    b_eq: Vec<f64>,
    b_ineq: Vec<f64>,
    /// Equality rows to substitute away, each with the column it solves for:
    /// storage dynamics for discharge, then bus balances for grid import.
    storage_pivots: Vec<(usize, usize)>,
    balance_pivots: Vec<(usize, usize)>,
}

#[derive(Default)]
struct Triplets {
    rows: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

impl Triplets {
    fn push(&mut self, row: usize, col: usize, val: f64) {
        self.rows.push(row as u32);
        self.cols.push(col as u32);
        self.vals.push(val);
    }
}

impl Builder {
    fn new(steps: usize, buses: usize) -> Builder {
        Builder {
            steps,
            cost: Vec::new(),
            co2: Vec::new(),
            eq: Triplets::default(),
            ineq: Triplets::default(),
            // Rows 0..buses*steps are the bus balances, bus-major.
            b_eq: vec![0.0; buses * steps],
            b_ineq: Vec::new(),
            storage_pivots: Vec::new(),
            balance_pivots: Vec::new(),
        }
    }

    fn balance_row(&self, bus: usize, t: usize) -> usize {
        bus * self.steps + t
    }

    fn var(&mut self, cost: f64, co2: f64) -> usize {
        self.cost.push(cost);
        self.co2.push(co2);
        self.cost.len() - 1
    }

    /// `sum(entries) <= rhs`.
    fn le(&mut self, entries: &[(usize, f64)], rhs: f64) {
        let row = self.b_ineq.len();
        for &(col, val) in entries {
            self.ineq.push(row, col, val);
        }
        self.b_ineq.push(rhs);
    }

    /// `x >= 0`, and `x <= upper` when there is an upper bound.
    fn bounded(&mut self, x: usize, upper: Option<f64>) {
        self.le(&[(x, -1.0)], 0.0);
        if let Some(upper) = upper {
            self.le(&[(x, 1.0)], upper);
        }
    }

    /// `coef * x <= cap`.
    fn within(&mut self, x: usize, coef: f64, cap: Cap) {
        match cap {
            Cap::Fixed(c) => self.le(&[(x, coef)], c),
            Cap::Var(c) => self.le(&[(x, coef), (c, -1.0)], 0.0),
        }
    }

    /// `x <= factor * cap`.
    fn below(&mut self, x: usize, factor: f64, cap: Cap) {
        match cap {
            Cap::Fixed(c) => self.le(&[(x, 1.0)], factor * c),
            Cap::Var(c) => self.le(&[(x, 1.0), (c, -factor)], 0.0),
        }
    }

    fn capacity(&mut self, capacity: &Capacity, year_share: f64) -> Cap {
        match capacity {
            Capacity::Fixed(v) => Cap::Fixed(*v),
            Capacity::Sized(s) => {
                let c = self.var(s.cost_per_unit_year * year_share, 0.0);
                self.le(&[(c, -1.0)], -s.min);
                if let Some(max) = s.max {
                    self.le(&[(c, 1.0)], max);
                }
                Cap::Var(c)
            }
        }
    }

    fn component(&mut self, system: &System, component: &Component, bus: &dyn Fn(&str) -> usize) -> ComponentVars {
        let dt = system.dt;
        let share = system.year_share();
        match &component.kind {
            Kind::Grid(g) => self.grid(g, bus(&g.bus), dt),
            Kind::Source(s) => {
                let cap = self.capacity(&s.capacity, share);
                let upper = s.capacity.upper();
                let mut output = Col::none(self.steps);
                for t in 0..self.steps {
                    let p = s.profile.at(t);
                    if p == 0.0 || upper == Some(0.0) {
                        continue;
                    }
                    let x = self.var(dt * s.variable_cost.at(t), 0.0);
                    output.0[t] = x as u32;
                    self.eq.push(self.balance_row(bus(&s.bus), t), x, 1.0);
                    self.le(&[(x, -1.0)], 0.0);
                    self.below(x, p, cap);
                }
                ComponentVars::Source { output, cap }
            }
            Kind::Storage(s) => self.storage(s, bus(&s.bus), dt, share),
            Kind::Converter(c) => {
                let cap = self.capacity(&c.capacity, share);
                let mut input = Col::none(self.steps);
                if c.capacity.upper() != Some(0.0) {
                    for t in 0..self.steps {
                        let eff = c.efficiency.at(t);
                        let (fuel_cost, fuel_co2) = match c.bus_in {
                            Some(_) => (0.0, 0.0),
                            None => (dt * c.fuel_price.at(t), dt * c.fuel_co2.at(t)),
                        };
                        let x = self.var(fuel_cost, fuel_co2);
                        input.0[t] = x as u32;
                        self.eq.push(self.balance_row(bus(&c.bus_out), t), x, eff);
                        if let Some(bus_in) = &c.bus_in {
                            self.eq.push(self.balance_row(bus(bus_in), t), x, -1.0);
                        }
                        self.le(&[(x, -1.0)], 0.0);
                        self.within(x, eff, cap);
                    }
                }
                ComponentVars::Converter { input, cap }
            }
            Kind::Demand(d) => {
                let row_bus = bus(&d.bus);
                let mut unmet = Col::none(self.steps);
                for t in 0..self.steps {
                    let load = d.at(t);
                    let row = self.balance_row(row_bus, t);
                    self.b_eq[row] += load;
                    if let (Some(penalty), true) = (d.unmet_penalty_per_kwh, load > 0.0) {
                        let x = self.var(dt * penalty, 0.0);
                        unmet.0[t] = x as u32;
                        self.eq.push(row, x, 1.0);
                        self.bounded(x, Some(load));
                    }
                }
                ComponentVars::Demand { unmet }
            }
        }
    }

    fn grid(&mut self, g: &Grid, bus: usize, dt: f64) -> ComponentVars {
        let mut imp = Col::none(self.steps);
        let mut exp = Col::none(self.steps);
        for t in 0..self.steps {
            let row = self.balance_row(bus, t);
            if g.import_max_kw != Some(0.0) {
                let x = self.var(dt * g.import_price.at(t), dt * g.import_co2.at(t));
                imp.0[t] = x as u32;
                self.eq.push(row, x, 1.0);
                // The first grid on a bus solves its balance; presolve skips a
                // second pivot on the same row.
                self.balance_pivots.push((row, x));
                self.bounded(x, g.import_max_kw);
            }
            if g.export_max_kw != Some(0.0) {
                let x = self.var(-dt * g.export_price.at(t), 0.0);
                exp.0[t] = x as u32;
                self.eq.push(row, x, -1.0);
                self.bounded(x, g.export_max_kw);
            }
        }
        if g.demand_charge_per_kw != 0.0 {
            for start in (0..self.steps).step_by(g.billing_period_steps) {
                // peak >= 0 holds in the spec through peak >= imp >= 0; it
                // must stay when imports are dropped as fixed at zero.
                let peak = self.var(g.demand_charge_per_kw, 0.0);
                self.le(&[(peak, -1.0)], 0.0);
                for t in start..(start + g.billing_period_steps).min(self.steps) {
                    if let Some(x) = imp.get(t) {
                        self.le(&[(x, 1.0), (peak, -1.0)], 0.0);
                    }
                }
            }
        }
        ComponentVars::Grid { imp, exp }
    }

    fn storage(&mut self, s: &Storage, bus: usize, dt: f64, share: f64) -> ComponentVars {
        let energy = self.capacity(&s.energy, share);
        let (charge, discharge) = match &s.power {
            StoragePower::Shared(p) => {
                let cap = self.capacity(p, share);
                (cap, cap)
            }
            StoragePower::Separate { charge, discharge } => {
                (self.capacity(charge, share), self.capacity(discharge, share))
            }
        };
        let flow = |b: &mut Builder, capacity: &Capacity, cap: Cap, sign: f64, t: usize| -> Option<usize> {
            if capacity.is_fixed_zero() {
                return None;
            }
            let x = b.var(0.0, 0.0);
            b.eq.push(b.balance_row(bus, t), x, sign);
            b.le(&[(x, -1.0)], 0.0);
            b.within(x, 1.0, cap);
            Some(x)
        };
        let keep = (1.0 - s.loss_per_hour).powf(dt);
        let has_energy = !s.energy.is_fixed_zero();
        let (mut ch, mut dis, mut soc) = (Col::none(self.steps), Col::none(self.steps), Col::none(self.steps));
        for t in 0..self.steps {
            let c = flow(self, s.power.charge(), charge, -1.0, t);
            let d = flow(self, s.power.discharge(), discharge, 1.0, t);
            // soc[t] - keep*soc[t-1] - dt*eff_ch*ch[t] + dt/eff_dis*dis[t] = 0
            let row = self.b_eq.len();
            self.b_eq.push(0.0);
            if let Some(c) = c {
                ch.0[t] = c as u32;
                self.eq.push(row, c, -dt * s.efficiency_charge);
            }
            if let Some(d) = d {
                dis.0[t] = d as u32;
                self.eq.push(row, d, dt / s.efficiency_discharge);
            }
            if let Some(pivot) = d.or(c) {
                self.storage_pivots.push((row, pivot));
            }
            if has_energy {
                let x = self.var(0.0, 0.0);
                soc.0[t] = x as u32;
                self.eq.push(row, x, 1.0);
                self.within(x, 1.0, energy);
                self.at_least_fraction(x, s.soc_min, energy);
            }
            if t == 0 {
                self.initial_state(row, s, keep, energy);
            } else if let Some(prev) = soc.get(t - 1) {
                self.eq.push(row, prev, -keep);
            }
        }
        // Without level variables E is fixed at 0 and there is nothing to hold.
        if let (true, Some(last)) = (s.cyclic, soc.get(self.steps - 1)) {
            self.at_least_fraction(last, s.soc_initial, energy);
        }
        ComponentVars::Storage { ch, dis, soc, energy, charge, discharge }
    }

    /// `x >= fraction * E`.
    fn at_least_fraction(&mut self, x: usize, fraction: f64, energy: Cap) {
        match energy {
            Cap::Fixed(e) => self.le(&[(x, -1.0)], -fraction * e),
            Cap::Var(e) => self.le(&[(x, -1.0), (e, fraction)], 0.0),
        }
    }

    /// The `keep * soc[-1]` term of the first step's dynamics.
    fn initial_state(&mut self, row: usize, s: &Storage, keep: f64, energy: Cap) {
        match (s.soc_start_kwh, energy) {
            (Some(start), _) => self.b_eq[row] += keep * start,
            (None, Cap::Fixed(e)) => self.b_eq[row] += keep * s.soc_initial * e,
            (None, Cap::Var(e)) => self.eq.push(row, e, -keep * s.soc_initial),
        }
    }

    fn finish(self, vars: Vec<ComponentVars>, co2_cap: Option<f64>) -> Lp {
        let n_eq = self.b_eq.len();
        let mut rows: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_eq + self.b_ineq.len()];
        for (t, offset) in [(&self.eq, 0), (&self.ineq, n_eq)] {
            for ((&r, &c), &v) in t.rows.iter().zip(&t.cols).zip(&t.vals) {
                let row = &mut rows[r as usize + offset];
                // A converter whose input and output bus are one puts two
                // entries for its column in one row; they add up.
                match row.iter_mut().find(|(k, _)| *k == c) {
                    Some(entry) => entry.1 += v,
                    None => row.push((c, v)),
                }
            }
        }
        let mut b = self.b_eq;
        b.extend(self.b_ineq);
        let n = self.cost.len();
        let pivots: Vec<(usize, usize)> = self.storage_pivots.into_iter().chain(self.balance_pivots).collect();
        let problem = presolve::reduce(Rows { rows, b, n_eq, n, cost: self.cost, co2: self.co2 }, &pivots, co2_cap);
        Lp { vars, problem }
    }
}
