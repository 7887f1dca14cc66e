//! The validated, typed energy system (energy-model v1).
//!
//! Everything here has passed validation: series have exactly `timesteps`
//! values, capacities are non-negative, references resolve. The LP builder and
//! the rule-based dispatcher rely on that and do not check again.

use std::sync::Arc;

/// Hours in the year that annualised capacity costs are quoted against.
pub const HOURS_PER_YEAR: f64 = 8760.0;

#[derive(Debug, Clone, PartialEq)]
pub struct System {
    pub name: String,
    pub timesteps: usize,
    pub dt: f64,
    pub discount_rate: f64,
    pub objective: Objective,
    pub components: Vec<Component>,
    /// The optional `economics` section (v1.1); `None` means what v1 meant.
    pub economics: Option<EconomicsSpec>,
}

/// What the `economics` section asks for: a baseline to compare with, and
/// the project's length.
#[derive(Debug, Clone, PartialEq)]
pub struct EconomicsSpec {
    /// `N`, 1..=100.
    pub project_years: u32,
    /// Components deleted for the baseline; `None`: every component with a
    /// sizing block.
    pub remove: Option<Vec<String>>,
}

impl System {
    /// The horizon's share of a year, which scales annualised capacity costs.
    pub fn year_share(&self) -> f64 {
        self.timesteps as f64 * self.dt / HOURS_PER_YEAR
    }

    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Every bus named by a component, in first-seen order.
    pub fn buses(&self) -> Vec<String> {
        let mut buses: Vec<String> = Vec::new();
        for component in &self.components {
            for bus in component.buses() {
                if !buses.iter().any(|b| b == bus) {
                    buses.push(bus.to_string());
                }
            }
        }
        buses
    }

    /// The same system restricted to steps `start..start + len`, for rolling
    /// horizons. Storage state is carried by the caller through `soc_initial_kwh`.
    pub fn window(&self, start: usize, len: usize) -> System {
        let mut window = self.clone();
        window.timesteps = len;
        for component in &mut window.components {
            component.kind.slice(start, len);
        }
        window
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    Cost,
    Co2,
    Weighted { cost: f64, co2: f64 },
}

impl Objective {
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Cost => "cost",
            Objective::Co2 => "co2",
            Objective::Weighted { .. } => "weighted",
        }
    }

    /// The weights on (cost, co2) that this objective puts in the LP.
    pub fn weights(&self) -> (f64, f64) {
        match *self {
            Objective::Cost => (1.0, 0.0),
            Objective::Co2 => (0.0, 1.0),
            Objective::Weighted { cost, co2 } => (cost, co2),
        }
    }
}

/// A number per step: a constant, or a profile column.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    Constant(f64),
    Profile { name: String, values: Arc<[f64]> },
}

impl Series {
    pub fn at(&self, t: usize) -> f64 {
        match self {
            Series::Constant(v) => *v,
            Series::Profile { values, .. } => values[t],
        }
    }

    pub fn is_zero(&self) -> bool {
        match self {
            Series::Constant(v) => *v == 0.0,
            Series::Profile { values, .. } => values.iter().all(|v| *v == 0.0),
        }
    }

    /// Multiplies every value, keeping the profile's name for reports.
    pub fn scaled(&self, factor: f64) -> Series {
        match self {
            Series::Constant(v) => Series::Constant(v * factor),
            Series::Profile { name, values } => Series::Profile {
                name: name.clone(),
                values: values.iter().map(|v| v * factor).collect(),
            },
        }
    }

    fn slice(&mut self, start: usize, len: usize) {
        if let Series::Profile { values, .. } = self {
            *values = values[start..start + len].into();
        }
    }
}

/// A fixed capacity, or a decision variable with its annualised cost.
#[derive(Debug, Clone, PartialEq)]
pub enum Capacity {
    Fixed(f64),
    Sized(Sizing),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    pub min: f64,
    pub max: Option<f64>,
    /// Annualised cost per unit of capacity per year (`a` in the spec).
    pub cost_per_unit_year: f64,
    /// The capex form the cost came from; `None` for the annual form
    /// (`cost_per_unit_year` as written). Economics needs the split.
    pub capex: Option<CapexForm>,
}

/// `capex_per_unit` with `lifetime_years` and `opex_per_unit_year`, from which
/// `cost_per_unit_year = capex_per_unit * CRF + opex_per_unit_year`.
#[derive(Debug, Clone, PartialEq)]
pub struct CapexForm {
    pub capex_per_unit: f64,
    pub lifetime_years: f64,
    pub opex_per_unit_year: f64,
}

impl Sizing {
    /// What one unit costs up front: `capex_per_unit`, or 0 in the annual form.
    pub fn capex_per_unit(&self) -> f64 {
        self.capex.as_ref().map_or(0.0, |c| c.capex_per_unit)
    }

    /// What one unit costs to run each year: `opex_per_unit_year` in the
    /// capex form, the whole `cost_per_unit_year` in the annual form (a lease).
    pub fn operating_per_unit_year(&self) -> f64 {
        self.capex.as_ref().map_or(self.cost_per_unit_year, |c| c.opex_per_unit_year)
    }

    /// Multiplies the annualised cost, keeping its capex form consistent:
    /// capex and opex scale together, so `a` scales by the same factor.
    pub fn scale_cost(&mut self, factor: f64) {
        self.cost_per_unit_year *= factor;
        if let Some(c) = &mut self.capex {
            c.capex_per_unit *= factor;
            c.opex_per_unit_year *= factor;
        }
    }
}

impl Capacity {
    /// The largest value the capacity can take (`None`: unbounded).
    pub fn upper(&self) -> Option<f64> {
        match self {
            Capacity::Fixed(v) => Some(*v),
            Capacity::Sized(s) => s.max,
        }
    }

    pub fn is_fixed_zero(&self) -> bool {
        matches!(self, Capacity::Fixed(v) if *v == 0.0)
    }

    pub fn sizing(&self) -> Option<&Sizing> {
        match self {
            Capacity::Sized(s) => Some(s),
            Capacity::Fixed(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    /// The `type` as written, alias included (`battery`, `heat_pump`, …).
    pub type_name: String,
    pub kind: Kind,
}

impl Component {
    pub fn buses(&self) -> Vec<&str> {
        match &self.kind {
            Kind::Grid(g) => vec![&g.bus],
            Kind::Source(s) => vec![&s.bus],
            Kind::Storage(s) => vec![&s.bus],
            Kind::Demand(d) => vec![&d.bus],
            Kind::Converter(c) => match &c.bus_in {
                Some(bus_in) => vec![bus_in, &c.bus_out],
                None => vec![&c.bus_out],
            },
        }
    }

    /// Every capacity of the component with its parameter name, for sizes.
    pub fn capacities(&self) -> Vec<(&'static str, &Capacity)> {
        match &self.kind {
            Kind::Source(s) => vec![("capacity", &s.capacity)],
            Kind::Converter(c) => vec![("capacity", &c.capacity)],
            Kind::Storage(s) => {
                let mut caps = vec![("energy_kwh", &s.energy)];
                match &s.power {
                    StoragePower::Shared(p) => caps.push(("power_kw", p)),
                    StoragePower::Separate { charge, discharge } => {
                        caps.push(("charge_kw", charge));
                        caps.push(("discharge_kw", discharge));
                    }
                }
                caps
            }
            Kind::Grid(_) | Kind::Demand(_) => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Grid(Grid),
    Source(Source),
    Storage(Storage),
    Converter(Converter),
    Demand(Demand),
}

impl Kind {
    fn slice(&mut self, start: usize, len: usize) {
        match self {
            Kind::Grid(g) => {
                for s in [&mut g.import_price, &mut g.export_price, &mut g.import_co2] {
                    s.slice(start, len);
                }
            }
            Kind::Source(s) => {
                s.profile.slice(start, len);
                s.variable_cost.slice(start, len);
            }
            Kind::Storage(_) => {}
            Kind::Converter(c) => {
                for s in [&mut c.efficiency, &mut c.fuel_price, &mut c.fuel_co2] {
                    s.slice(start, len);
                }
            }
            Kind::Demand(d) => d.profile.slice(start, len),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub bus: String,
    pub import_price: Series,
    pub export_price: Series,
    pub import_max_kw: Option<f64>,
    pub export_max_kw: Option<f64>,
    pub import_co2: Series,
    pub demand_charge_per_kw: f64,
    /// `round(billing_period_hours / dt)`, at least 1.
    pub billing_period_steps: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub bus: String,
    pub capacity: Capacity,
    pub profile: Series,
    pub variable_cost: Series,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub bus: String,
    pub energy: Capacity,
    pub power: StoragePower,
    pub efficiency_charge: f64,
    pub efficiency_discharge: f64,
    pub loss_per_hour: f64,
    pub soc_min: f64,
    pub soc_initial: f64,
    pub cyclic: bool,
    /// Overrides `soc_initial * E` as the state before the first step. Only a
    /// rolling horizon sets it, to carry state between windows; never parsed.
    pub soc_start_kwh: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoragePower {
    /// `power_kw`: one capacity bounds both charge and discharge.
    Shared(Capacity),
    Separate { charge: Capacity, discharge: Capacity },
}

impl StoragePower {
    pub fn charge(&self) -> &Capacity {
        match self {
            StoragePower::Shared(p) => p,
            StoragePower::Separate { charge, .. } => charge,
        }
    }

    pub fn discharge(&self) -> &Capacity {
        match self {
            StoragePower::Shared(p) => p,
            StoragePower::Separate { discharge, .. } => discharge,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Converter {
    /// `None`: no input bus, the converter burns bought fuel.
    pub bus_in: Option<String>,
    pub bus_out: String,
    /// `cop` or `efficiency`: out = efficiency * in.
    pub efficiency: Series,
    /// Bounds the output side.
    pub capacity: Capacity,
    pub fuel_price: Series,
    pub fuel_co2: Series,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub bus: String,
    pub profile: Series,
    pub scale: f64,
    /// `None`: hard demand.
    pub unmet_penalty_per_kwh: Option<f64>,
}

impl Demand {
    pub fn at(&self, t: usize) -> f64 {
        self.scale * self.profile.at(t)
    }
}
