//! PERT odds and Monte Carlo.
