//! A dispatch (every flow at every step, and the sizes) and its accounting.
//!
//! Every solver, LP, rolling or rule-based, produces a [`Dispatch`]; cost,
//! CO2 and KPIs are computed from it here, once, so that the solvers'
//! numbers are comparable by construction.

use std::collections::BTreeMap;

use crate::lp::{ComponentVars, Lp};
use crate::model::*;
use crate::results::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// One entry per component, in system order.
    pub flows: Vec<Flows>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Flows {
    Grid { import: Vec<f64>, export: Vec<f64> },
    Source { capacity: f64, generation: Vec<f64> },
    Storage { energy: f64, charge_kw: f64, discharge_kw: f64, charge: Vec<f64>, discharge: Vec<f64>, soc: Vec<f64> },
    Converter { capacity: f64, input: Vec<f64> },
    Demand { unmet: Vec<f64> },
}

impl Dispatch {
    pub fn from_lp(lp: &Lp, x: &[f64]) -> Dispatch {
        let flows = lp
            .vars
            .iter()
            .map(|vars| match vars {
                ComponentVars::Grid { imp, exp } => Flows::Grid { import: imp.values(x), export: exp.values(x) },
                ComponentVars::Source { output, cap } => {
                    Flows::Source { capacity: cap.value(x), generation: output.values(x) }
                }
                ComponentVars::Storage { ch, dis, soc, energy, charge, discharge } => Flows::Storage {
                    energy: energy.value(x),
                    charge_kw: charge.value(x),
                    discharge_kw: discharge.value(x),
                    charge: ch.values(x),
                    discharge: dis.values(x),
                    soc: soc.values(x),
                },
                ComponentVars::Converter { input, cap } => {
                    Flows::Converter { capacity: cap.value(x), input: input.values(x) }
                }
                ComponentVars::Demand { unmet } => Flows::Demand { unmet: unmet.values(x) },
            })
            .collect();
        Dispatch { flows }
    }

    /// Chosen capacities of sized components, keyed `component.parameter`.
    pub fn sizes(&self, system: &System) -> BTreeMap<String, f64> {
        let mut sizes = BTreeMap::new();
        for (component, flows) in system.components.iter().zip(&self.flows) {
            let values: Vec<f64> = match flows {
                Flows::Source { capacity, .. } | Flows::Converter { capacity, .. } => vec![*capacity],
                Flows::Storage { energy, charge_kw, discharge_kw, .. } => match &component.kind {
                    Kind::Storage(Storage { power: StoragePower::Shared(_), .. }) => vec![*energy, *charge_kw],
                    _ => vec![*energy, *charge_kw, *discharge_kw],
                },
                _ => Vec::new(),
            };
            for ((key, capacity), value) in component.capacities().into_iter().zip(values) {
                if capacity.sizing().is_some() {
                    sizes.insert(format!("{}.{key}", component.name), value);
                }
            }
        }
        sizes
    }

    /// The cost split and total CO2, by the rules of the spec.
    pub fn accounts(&self, system: &System) -> (CostSplit, f64) {
        let dt = system.dt;
        let mut cost = CostSplit::default();
        let mut co2 = 0.0;
        for (component, flows) in system.components.iter().zip(&self.flows) {
            match (&component.kind, flows) {
                (Kind::Grid(g), Flows::Grid { import, export }) => {
                    for t in 0..system.timesteps {
                        cost.energy += dt * (g.import_price.at(t) * import[t] - g.export_price.at(t) * export[t]);
                        co2 += dt * g.import_co2.at(t) * import[t];
                    }
                    if g.demand_charge_per_kw != 0.0 {
                        for period in import.chunks(g.billing_period_steps) {
                            let peak = period.iter().copied().fold(0.0, f64::max);
                            cost.demand_charges += g.demand_charge_per_kw * peak;
                        }
                    }
                }
                (Kind::Source(s), Flows::Source { generation, .. }) => {
                    cost.variable += (0..system.timesteps).map(|t| dt * s.variable_cost.at(t) * generation[t]).sum::<f64>();
                }
                (Kind::Converter(c), Flows::Converter { input, .. }) if c.bus_in.is_none() => {
                    for (t, fuel) in input.iter().enumerate().take(system.timesteps) {
                        cost.fuel += dt * c.fuel_price.at(t) * fuel;
                        co2 += dt * c.fuel_co2.at(t) * fuel;
                    }
                }
                (Kind::Demand(d), Flows::Demand { unmet }) => {
                    if let Some(penalty) = d.unmet_penalty_per_kwh {
                        cost.unmet_penalty += dt * penalty * unmet.iter().sum::<f64>();
                    }
                }
                _ => {}
            }
        }
        let sizes = self.sizes(system);
        for component in &system.components {
            for (key, capacity) in component.capacities() {
                if let Some(sizing) = capacity.sizing() {
                    let size = sizes[&format!("{}.{key}", component.name)];
                    cost.capacity += sizing.cost_per_unit_year * size * system.year_share();
                }
            }
        }
        cost.total = cost.energy + cost.demand_charges + cost.fuel + cost.variable + cost.unmet_penalty + cost.capacity;
        (cost, co2)
    }

    /// Every variable's series, by component then variable.
    pub fn series(&self, system: &System) -> BTreeMap<String, BTreeMap<String, Vec<f64>>> {
        let mut all = BTreeMap::new();
        for (component, flows) in system.components.iter().zip(&self.flows) {
            let mut series = BTreeMap::new();
            let mut put = |name: &str, values: Vec<f64>| {
                series.insert(name.to_string(), values);
            };
            match (&component.kind, flows) {
                (Kind::Grid(_), Flows::Grid { import, export }) => {
                    put("import", import.clone());
                    put("export", export.clone());
                }
                (Kind::Source(s), Flows::Source { capacity, generation }) => {
                    let available: Vec<f64> = (0..system.timesteps).map(|t| capacity * s.profile.at(t)).collect();
                    put("curtailment", available.iter().zip(generation).map(|(a, g)| (a - g).max(0.0)).collect());
                    put("available", available);
                    put("generation", generation.clone());
                }
                (Kind::Storage(_), Flows::Storage { charge, discharge, soc, .. }) => {
                    put("charge", charge.clone());
                    put("discharge", discharge.clone());
                    put("soc", soc.clone());
                }
                (Kind::Converter(c), Flows::Converter { input, .. }) => {
                    put("input", input.clone());
                    put("output", (0..system.timesteps).map(|t| c.efficiency.at(t) * input[t]).collect());
                }
                (Kind::Demand(d), Flows::Demand { unmet }) => {
                    let load: Vec<f64> = (0..system.timesteps).map(|t| d.at(t)).collect();
                    put("served", load.iter().zip(unmet).map(|(l, u)| l - u).collect());
                    put("demand", load);
                    put("unmet", unmet.clone());
                }
                _ => {}
            }
            all.insert(component.name.clone(), series);
        }
        all
    }

    pub fn kpis(&self, system: &System, cost: CostSplit, co2_kg: f64) -> Kpis {
        let dt = system.dt;
        let mut buses: BTreeMap<String, BusKpis> = system.buses().into_iter().map(|b| (b, BusKpis::default())).collect();
        let mut converter_input = BTreeMap::<String, f64>::new();
        let mut storage_cycles = BTreeMap::new();
        let energy = |values: &[f64]| values.iter().sum::<f64>() * dt;
        let peak = |values: &[f64]| values.iter().copied().fold(0.0, f64::max);
        let series = self.series(system);
        for (component, flows) in system.components.iter().zip(&self.flows) {
            let own = &series[&component.name];
            match (&component.kind, flows) {
                (Kind::Grid(g), Flows::Grid { import, export }) => {
                    let k = buses.get_mut(&g.bus).expect("bus");
                    k.grid_import_kwh += energy(import);
                    k.grid_export_kwh += energy(export);
                    k.peak_import_kw = k.peak_import_kw.max(peak(import));
                    k.peak_export_kw = k.peak_export_kw.max(peak(export));
                }
                (Kind::Source(s), Flows::Source { generation, .. }) => {
                    let k = buses.get_mut(&s.bus).expect("bus");
                    k.generation_kwh += energy(generation);
                    k.curtailed_kwh += energy(&own["curtailment"]);
                    k.peak_generation_kw = k.peak_generation_kw.max(peak(generation));
                }
                (Kind::Storage(_), Flows::Storage { energy: e, discharge, .. })
                    if *e > 0.0 => {
                        storage_cycles.insert(component.name.clone(), energy(discharge) / e);
                    }
                (Kind::Converter(c), Flows::Converter { input, .. }) => {
                    if let Some(bus_in) = &c.bus_in {
                        *converter_input.entry(bus_in.clone()).or_default() += energy(input);
                    }
                }
                (Kind::Demand(d), Flows::Demand { unmet }) => {
                    let k = buses.get_mut(&d.bus).expect("bus");
                    k.demand_served_kwh += energy(&own["served"]);
                    k.unmet_kwh += energy(unmet);
                    k.peak_demand_kw = k.peak_demand_kw.max(peak(&own["demand"]));
                }
                _ => {}
            }
        }
        let (self_consumption, self_sufficiency) = match buses.get("electricity") {
            Some(k) => {
                let local = k.generation_kwh;
                let withdrawn = k.demand_served_kwh + converter_input.get("electricity").copied().unwrap_or(0.0);
                (
                    (local > 0.0).then(|| (local - k.grid_export_kwh) / local),
                    (withdrawn > 0.0).then(|| 1.0 - k.grid_import_kwh / withdrawn),
                )
            }
            None => (None, None),
        };
        Kpis { buses, self_consumption, self_sufficiency, storage_cycles, cost, co2_kg }
    }
}

impl Dispatch {
    /// The largest violation of any rule of the spec by this dispatch (bus
    /// balances, bounds, storage dynamics, cyclic end state), in kW or kWh,
    /// with where it is. An independent check on every solver's output.
    pub fn worst_violation(&self, system: &System) -> (f64, String) {
        let mut worst = (0.0, String::from("none"));
        let mut note = |amount: f64, what: &dyn Fn() -> String| {
            if amount > worst.0 {
                worst = (amount, what());
            }
        };
        let series = self.series(system);
        let dt = system.dt;
        let mut balance: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut add = |bus: &str, values: &[f64], sign: f64| {
            let row = balance.entry(bus.to_string()).or_insert_with(|| vec![0.0; system.timesteps]);
            for (r, v) in row.iter_mut().zip(values) {
                *r += sign * v;
            }
        };
        for (component, flows) in system.components.iter().zip(&self.flows) {
            let own = &series[&component.name];
            let name = &component.name;
            let negative = |values: &[f64]| values.iter().copied().fold(0.0, |w: f64, v| w.max(-v));
            for (var, values) in own {
                note(negative(values), &|| format!("{name}.{var} < 0"));
            }
            match (&component.kind, flows) {
                (Kind::Grid(g), Flows::Grid { import, export }) => {
                    add(&g.bus, import, 1.0);
                    add(&g.bus, export, -1.0);
                    let over = |v: &[f64], max: Option<f64>| v.iter().map(|x| x - max.unwrap_or(f64::INFINITY)).fold(0.0, f64::max);
                    note(over(import, g.import_max_kw), &|| format!("{name} import above its limit"));
                    note(over(export, g.export_max_kw), &|| format!("{name} export above its limit"));
                }
                (Kind::Source(s), Flows::Source { generation, .. }) => {
                    add(&s.bus, generation, 1.0);
                    let over = generation.iter().zip(&own["available"]).map(|(g, a)| g - a).fold(0.0, f64::max);
                    note(over, &|| format!("{name} generates above its availability"));
                }
                (Kind::Storage(s), Flows::Storage { energy, charge_kw, discharge_kw, charge, discharge, soc }) => {
                    add(&s.bus, discharge, 1.0);
                    add(&s.bus, charge, -1.0);
                    let keep = (1.0 - s.loss_per_hour).powf(dt);
                    let mut before = s.soc_start_kwh.unwrap_or(s.soc_initial * energy);
                    for t in 0..system.timesteps {
                        let expected = keep * before + dt * (s.efficiency_charge * charge[t] - discharge[t] / s.efficiency_discharge);
                        note((soc[t] - expected).abs(), &|| format!("{name} soc dynamics at step {t}"));
                        note(soc[t] - energy, &|| format!("{name} soc above E at step {t}"));
                        note(s.soc_min * energy - soc[t], &|| format!("{name} soc below soc_min at step {t}"));
                        note(charge[t] - charge_kw, &|| format!("{name} charge above its power at step {t}"));
                        note(discharge[t] - discharge_kw, &|| format!("{name} discharge above its power at step {t}"));
                        before = soc[t];
                    }
                    if s.cyclic {
                        note(s.soc_initial * energy - soc[system.timesteps - 1], &|| format!("{name} ends below its initial level"));
                    }
                }
                (Kind::Converter(c), Flows::Converter { capacity, input }) => {
                    add(&c.bus_out, &own["output"], 1.0);
                    if let Some(bus_in) = &c.bus_in {
                        add(bus_in, input, -1.0);
                    }
                    let over = own["output"].iter().map(|o| o - capacity).fold(0.0, f64::max);
                    note(over, &|| format!("{name} output above its capacity"));
                }
                (Kind::Demand(d), Flows::Demand { unmet }) => {
                    add(&d.bus, &own["served"], -1.0);
                    if d.unmet_penalty_per_kwh.is_none() {
                        note(unmet.iter().copied().fold(0.0, f64::max), &|| format!("{name} is hard but has unmet demand"));
                    }
                }
                _ => {}
            }
        }
        for (bus, row) in balance {
            for (t, r) in row.iter().enumerate() {
                note(r.abs(), &|| format!("bus {bus} unbalanced at step {t}"));
            }
        }
        worst
    }
}

impl Dispatch {
    /// Rebuilds a dispatch from a results document, so that what a user
    /// receives can be checked against the model. `None` if series are missing.
    pub fn from_series(system: &System, results: &Results) -> Option<Dispatch> {
        let size = |component: &Component, key: &str, capacity: &Capacity| match capacity {
            Capacity::Fixed(v) => Some(*v),
            Capacity::Sized(_) => results.sizes.get(&format!("{}.{key}", component.name)).copied(),
        };
        let mut flows = Vec::with_capacity(system.components.len());
        for component in &system.components {
            let own = results.series.get(&component.name)?;
            let get = |var: &str| own.get(var).cloned();
            flows.push(match &component.kind {
                Kind::Grid(_) => Flows::Grid { import: get("import")?, export: get("export")? },
                Kind::Source(s) => Flows::Source { capacity: size(component, "capacity", &s.capacity)?, generation: get("generation")? },
                Kind::Storage(s) => {
                    let (charge_key, discharge_key) = match s.power {
                        StoragePower::Shared(_) => ("power_kw", "power_kw"),
                        StoragePower::Separate { .. } => ("charge_kw", "discharge_kw"),
                    };
                    Flows::Storage {
                        energy: size(component, "energy_kwh", &s.energy)?,
                        charge_kw: size(component, charge_key, s.power.charge())?,
                        discharge_kw: size(component, discharge_key, s.power.discharge())?,
                        charge: get("charge")?,
                        discharge: get("discharge")?,
                        soc: get("soc")?,
                    }
                }
                Kind::Converter(c) => Flows::Converter { capacity: size(component, "capacity", &c.capacity)?, input: get("input")? },
                Kind::Demand(_) => Flows::Demand { unmet: get("unmet")? },
            });
        }
        Some(Dispatch { flows })
    }
}
