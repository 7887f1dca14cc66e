//! Rule-based dispatch: a greedy priority order, step by step, no solver.
//!
//! The rules, per step:
//! 1. Every source produces all it can (`C * profile`); demands are fixed.
//! 2. Buses are settled in an order that puts a converter's output bus
//!    before its input bus, so a converter's input is known when its input
//!    bus is settled.
//! 3. A bus short of energy takes it, in this order: its storages discharge;
//!    converters into it run, cheapest marginal cost first (fuel price, or
//!    the input bus's import price, over efficiency); the grid imports; a
//!    demand with an unmet penalty goes unserved. Anything still short makes
//!    the system infeasible at that bus and step.
//! 4. A bus with a surplus puts it, in this order: into its storages; into
//!    grid export; the rest is curtailed.
//! 5. A cyclic storage that ends below its initial level is topped up
//!    afterwards, latest steps first, from curtailed energy, then from energy
//!    that was exported, then from grid import.
//!
//! Sized capacities are taken at their minimum: the rules run the system as
//! built, they do not size it.

use std::time::Instant;

use crate::dispatch::{Dispatch, Flows};
use crate::model::*;
use crate::optimize::{shortfall_diagnosis, Run};
use crate::results::{Diagnosis, Shortfall, Status, Timings};

/// Energy below this is treated as zero when a bus is settled.
const TOLERANCE: f64 = 1e-9;

pub(crate) fn dispatch(system: &System) -> Run {
    let started = Instant::now();
    let mut state = State::new(system);
    let order = settle_order(system);
    let mut shortfalls = Vec::new();
    for t in 0..system.timesteps {
        state.step(system, &order, t, &mut shortfalls);
    }
    let timings = Timings { solve_s: started.elapsed().as_secs_f64(), ..Timings::default() };
    if !shortfalls.is_empty() {
        return Run { status: Status::Infeasible, dispatch: None, diagnosis: Some(shortfall_diagnosis(shortfalls)), timings };
    }
    if let Some(name) = state.restore_cyclic(system) {
        let message = format!("infeasible for the rules: storage `{name}` cannot be brought back to its initial level by the end");
        return Run { status: Status::Infeasible, dispatch: None, diagnosis: Some(Diagnosis { message, shortfalls: Vec::new() }), timings };
    }
    Run { status: Status::Optimal, dispatch: Some(Dispatch { flows: state.flows }), diagnosis: None, timings }
}

fn built(capacity: &Capacity) -> f64 {
    match capacity {
        Capacity::Fixed(v) => *v,
        Capacity::Sized(s) => s.min,
    }
}

/// Buses with converter outputs first, their inputs after.
fn settle_order(system: &System) -> Vec<String> {
    let buses = system.buses();
    let edges: Vec<(&str, &str)> = system
        .components
        .iter()
        .filter_map(|c| match &c.kind {
            Kind::Converter(Converter { bus_in: Some(i), bus_out, .. }) if i != bus_out => Some((bus_out.as_str(), i.as_str())),
            _ => None,
        })
        .collect();
    let mut order: Vec<String> = Vec::new();
    while order.len() < buses.len() {
        let ready = buses.iter().find(|b| {
            !order.contains(b) && edges.iter().all(|(out, inp)| *inp != b.as_str() || order.iter().any(|o| o == out))
        });
        // A cycle of converters: take the first remaining bus and go on.
        let next = ready.or_else(|| buses.iter().find(|b| !order.contains(b))).expect("a remaining bus");
        order.push(next.clone());
    }
    order
}

struct State {
    flows: Vec<Flows>,
    /// Level before the current step, per component (storages only).
    level: Vec<f64>,
}

impl State {
    fn new(system: &System) -> State {
        let steps = system.timesteps;
        let zeros = || vec![0.0; steps];
        let mut level = vec![0.0; system.components.len()];
        let flows = system
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| match &c.kind {
                Kind::Grid(_) => Flows::Grid { import: zeros(), export: zeros() },
                Kind::Source(s) => Flows::Source { capacity: built(&s.capacity), generation: zeros() },
                Kind::Storage(s) => {
                    let energy = built(&s.energy);
                    level[i] = s.soc_start_kwh.unwrap_or(s.soc_initial * energy);
                    Flows::Storage {
                        energy,
                        charge_kw: built(s.power.charge()),
                        discharge_kw: built(s.power.discharge()),
                        charge: zeros(),
                        discharge: zeros(),
                        soc: zeros(),
                    }
                }
                Kind::Converter(cv) => Flows::Converter { capacity: built(&cv.capacity), input: zeros() },
                Kind::Demand(_) => Flows::Demand { unmet: zeros() },
            })
            .collect();
        State { flows, level }
    }

    fn step(&mut self, system: &System, order: &[String], t: usize, shortfalls: &mut Vec<Shortfall>) {
        let mut net: Vec<f64> = order.iter().map(|_| 0.0).collect();
        let at = |bus: &str| order.iter().position(|b| b == bus).expect("bus");
        for (component, flows) in system.components.iter().zip(&mut self.flows) {
            match (&component.kind, flows) {
                (Kind::Source(s), Flows::Source { capacity, generation }) => {
                    generation[t] = *capacity * s.profile.at(t);
                    net[at(&s.bus)] -= generation[t];
                }
                (Kind::Demand(d), _) => net[at(&d.bus)] += d.at(t),
                _ => {}
            }
        }
        self.hold_floors(system, t, &mut net, &at);
        for (b, bus) in order.iter().enumerate() {
            if net[b] > TOLERANCE {
                let deficit = net[b];
                self.cover(system, bus, t, &mut net, &at);
                if net[b] > TOLERANCE.max(1e-9 * deficit) {
                    // Demand net of local generation, and what the rules found for it.
                    let found = deficit - net[b];
                    shortfalls.push(Shortfall { bus: bus.clone(), step: t, demand_kw: deficit, max_supply_kw: found });
                }
            } else if net[b] < -TOLERANCE {
                self.absorb(system, bus, t, &mut net[b]);
            }
        }
        self.close_step(system, t);
    }

    /// Charges each storage that self-discharge would take below `soc_min`
    /// by just enough to stay on it; that charge is a withdrawal from its bus.
    fn hold_floors(&mut self, system: &System, t: usize, net: &mut [f64], at: &dyn Fn(&str) -> usize) {
        for (i, component) in system.components.iter().enumerate() {
            if let (Kind::Storage(s), Flows::Storage { energy, charge_kw, charge, .. }) = (&component.kind, &mut self.flows[i]) {
                let keep = (1.0 - s.loss_per_hour).powf(system.dt);
                let short = s.soc_min * *energy - keep * self.level[i];
                if short > 0.0 {
                    charge[t] = (short / (s.efficiency_charge * system.dt)).min(*charge_kw);
                    net[at(&s.bus)] += charge[t];
                }
            }
        }
    }

    /// Covers a deficit on `bus` (rule 3).
    fn cover(&mut self, system: &System, bus: &str, t: usize, net: &mut [f64], at: &dyn Fn(&str) -> usize) {
        let dt = system.dt;
        let b = at(bus);
        for (i, component) in system.components.iter().enumerate() {
            if let (Kind::Storage(s), Flows::Storage { energy, discharge_kw, discharge, .. }) = (&component.kind, &mut self.flows[i])
                && s.bus == bus {
                    let keep = (1.0 - s.loss_per_hour).powf(dt);
                    let available = ((self.level[i] * keep - s.soc_min * *energy) * s.efficiency_discharge / dt).max(0.0);
                    let out = net[b].min(*discharge_kw).min(available).max(0.0);
                    discharge[t] = out;
                    net[b] -= out;
                }
        }
        for i in converters_by_cost(system, bus, t) {
            let Kind::Converter(c) = &system.components[i].kind else { continue };
            if let Some(bus_in) = &c.bus_in {
                // A converter whose input bus is already settled (a cycle)
                // cannot draw from it any more.
                if at(bus_in) <= b {
                    continue;
                }
            }
            let Flows::Converter { capacity, input } = &mut self.flows[i] else { continue };
            let eff = c.efficiency.at(t);
            let out = net[b].min(*capacity).max(0.0);
            input[t] = out / eff;
            net[b] -= out;
            if let Some(bus_in) = &c.bus_in {
                net[at(bus_in)] += input[t];
            }
        }
        for (component, flows) in system.components.iter().zip(&mut self.flows) {
            match (&component.kind, flows) {
                (Kind::Grid(g), Flows::Grid { import, .. }) if g.bus == bus => {
                    let take = net[b].min(g.import_max_kw.unwrap_or(f64::INFINITY)).max(0.0);
                    import[t] = take;
                    net[b] -= take;
                }
                _ => {}
            }
        }
        for (component, flows) in system.components.iter().zip(&mut self.flows) {
            if let (Kind::Demand(d), Flows::Demand { unmet }) = (&component.kind, flows)
                && d.bus == bus && d.unmet_penalty_per_kwh.is_some() {
                    let shed = net[b].min(d.at(t)).max(0.0);
                    unmet[t] = shed;
                    net[b] -= shed;
                }
        }
    }

    /// Places a surplus on `bus` (rule 4); `net` is negative.
    fn absorb(&mut self, system: &System, bus: &str, t: usize, net: &mut f64) {
        let dt = system.dt;
        for (i, component) in system.components.iter().enumerate() {
            if let (Kind::Storage(s), Flows::Storage { energy, charge_kw, charge, .. }) = (&component.kind, &mut self.flows[i])
                && s.bus == bus {
                    let keep = (1.0 - s.loss_per_hour).powf(dt);
                    let stored = self.level[i] * keep + dt * s.efficiency_charge * charge[t];
                    let room = ((*energy - stored) / (s.efficiency_charge * dt)).max(0.0);
                    let put = (-*net).min(*charge_kw - charge[t]).min(room).max(0.0);
                    charge[t] += put;
                    *net += put;
                }
        }
        for (component, flows) in system.components.iter().zip(&mut self.flows) {
            if let (Kind::Grid(g), Flows::Grid { export, .. }) = (&component.kind, flows)
                && g.bus == bus {
                    let sell = (-*net).min(g.export_max_kw.unwrap_or(f64::INFINITY)).max(0.0);
                    export[t] = sell;
                    *net += sell;
                }
        }
        for (component, flows) in system.components.iter().zip(&mut self.flows) {
            if let (Kind::Source(s), Flows::Source { generation, .. }) = (&component.kind, flows)
                && s.bus == bus && *net < 0.0 {
                    let cut = (-*net).min(generation[t]);
                    generation[t] -= cut;
                    *net += cut;
                }
        }
    }

    /// Moves storage levels to the end of step `t`.
    fn close_step(&mut self, system: &System, t: usize) {
        for (i, component) in system.components.iter().enumerate() {
            if let (Kind::Storage(s), Flows::Storage { charge, discharge, soc, .. }) = (&component.kind, &mut self.flows[i]) {
                let keep = (1.0 - s.loss_per_hour).powf(system.dt);
                soc[t] = keep * self.level[i] + system.dt * (s.efficiency_charge * charge[t] - discharge[t] / s.efficiency_discharge);
                self.level[i] = soc[t];
            }
        }
    }

    /// Rule 5; returns the storage it could not restore, if any.
    fn restore_cyclic(&mut self, system: &System) -> Option<String> {
        for i in 0..system.components.len() {
            let Kind::Storage(s) = &system.components[i].kind else { continue };
            if !s.cyclic {
                continue;
            }
            let Flows::Storage { energy, .. } = self.flows[i] else { continue };
            let target = s.soc_initial * energy;
            let last = system.timesteps - 1;
            let mut missing = target - self.soc(i)[last];
            for t in (0..system.timesteps).rev() {
                if missing <= TOLERANCE * target.max(1.0) {
                    break;
                }
                missing -= self.top_up(system, i, s, t, missing);
            }
            if missing > 1e-7 * target.max(1.0) {
                return Some(system.components[i].name.clone());
            }
        }
        None
    }

    fn soc(&self, i: usize) -> &[f64] {
        match &self.flows[i] {
            Flows::Storage { soc, .. } => soc,
            _ => &[],
        }
    }

    /// Adds charging at step `t` towards `missing` kWh at the end; returns
    /// the kWh it adds to the final level.
    fn top_up(&mut self, system: &System, i: usize, s: &Storage, t: usize, missing: f64) -> f64 {
        let dt = system.dt;
        let keep = (1.0 - s.loss_per_hour).powf(dt);
        let last = system.timesteps - 1;
        let Flows::Storage { energy, charge_kw, ref charge, ref discharge, ref soc, .. } = self.flows[i] else { return 0.0 };
        if discharge[t] > 0.0 {
            return 0.0;
        }
        // Each kW charged at t raises level k >= t by dt*eff*keep^(k-t).
        let gain = |k: usize| dt * s.efficiency_charge * keep.powi((k - t) as i32);
        let room = (t..=last).map(|k| (energy - soc[k]) / gain(k)).fold(f64::INFINITY, f64::min);
        let mut want = (missing / gain(last)).min(charge_kw - charge[t]).min(room).max(0.0);
        let mut added = 0.0;
        for stage in 0..4 {
            if want <= 0.0 {
                break;
            }
            let got = self.find_energy(system, &s.bus, t, want, stage);
            want -= got;
            added += got;
        }
        if let Flows::Storage { charge, soc, .. } = &mut self.flows[i] {
            charge[t] += added;
            for (k, level) in soc.iter_mut().enumerate().skip(t) {
                *level += added * gain(k);
            }
        }
        added * gain(last)
    }

    /// Frees up to `want` kW on `bus` at step `t`: stage 0 from curtailment,
    /// 1 from export, 2 from import, 3 from converters' spare capacity (their
    /// input found the same way on their input bus).
    fn find_energy(&mut self, system: &System, bus: &str, t: usize, want: f64, stage: usize) -> f64 {
        if stage == 3 {
            return self.convert_more(system, bus, t, want);
        }
        let mut got = 0.0;
        for (component, flows) in system.components.iter().zip(&mut self.flows) {
            let room = want - got;
            match (stage, &component.kind, flows) {
                (0, Kind::Source(s), Flows::Source { capacity, generation }) if s.bus == bus => {
                    let take = (*capacity * s.profile.at(t) - generation[t]).min(room).max(0.0);
                    generation[t] += take;
                    got += take;
                }
                (1, Kind::Grid(g), Flows::Grid { export, .. }) if g.bus == bus => {
                    let take = export[t].min(room).max(0.0);
                    export[t] -= take;
                    got += take;
                }
                (2, Kind::Grid(g), Flows::Grid { import, .. }) if g.bus == bus => {
                    let take = (g.import_max_kw.unwrap_or(f64::INFINITY) - import[t]).min(room).max(0.0);
                    import[t] += take;
                    got += take;
                }
                _ => {}
            }
        }
        got
    }
}

impl State {
    fn convert_more(&mut self, system: &System, bus: &str, t: usize, want: f64) -> f64 {
        let mut got = 0.0;
        for i in converters_by_cost(system, bus, t) {
            let Kind::Converter(c) = &system.components[i].kind else { continue };
            let Flows::Converter { capacity, ref input } = self.flows[i] else { continue };
            let eff = c.efficiency.at(t);
            let extra_out = (want - got).min(capacity - eff * input[t]).max(0.0);
            let extra_in = match &c.bus_in {
                // Bought fuel is unlimited.
                None => extra_out / eff,
                Some(bus_in) if bus_in != bus => {
                    let mut found = 0.0;
                    for stage in 0..3 {
                        found += self.find_energy(system, bus_in, t, extra_out / eff - found, stage);
                    }
                    found
                }
                Some(_) => 0.0,
            };
            if let Flows::Converter { input, .. } = &mut self.flows[i] {
                input[t] += extra_in;
            }
            got += extra_in * eff;
        }
        got
    }
}

/// Converters into `bus`, cheapest marginal cost per kWh out first.
fn converters_by_cost(system: &System, bus: &str, t: usize) -> Vec<usize> {
    let import_price = |b: &str| {
        system
            .components
            .iter()
            .find_map(|c| match &c.kind {
                Kind::Grid(g) if g.bus == b => Some(g.import_price.at(t)),
                _ => None,
            })
            .unwrap_or(0.0)
    };
    let mut found: Vec<(usize, f64)> = system
        .components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.kind {
            Kind::Converter(cv) if cv.bus_out == bus => {
                let input_price = match &cv.bus_in {
                    Some(b) => import_price(b),
                    None => cv.fuel_price.at(t),
                };
                Some((i, input_price / cv.efficiency.at(t)))
            }
            _ => None,
        })
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1));
    found.into_iter().map(|(i, _)| i).collect()
}
