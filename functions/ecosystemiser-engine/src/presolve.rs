//! Substituting equalities away before the solver sees them.
//!
//! An equality row `a*x_j + sum(a_k*x_k) = b` gives `x_j` in terms of the
//! other columns; putting that into every other row and the objective
//! removes one row and one column. The interior-point method's work per
//! iteration grows with rows plus columns, so each pivot makes every
//! iteration cheaper. Eliminated values come back after the solve, in
//! reverse order of elimination.

use clarabel::algebra::CscMatrix;

/// A problem in row form, as the builder makes it.
pub struct Rows {
    /// Equality rows first, then inequalities; entries `(column, value)`.
    pub rows: Vec<Vec<(u32, f64)>>,
    pub b: Vec<f64>,
    pub n_eq: usize,
    pub n: usize,
    pub cost: Vec<f64>,
    pub co2: Vec<f64>,
}

/// The reduced problem the solver gets, and how to undo the reduction.
#[derive(Debug)]
pub struct Reduced {
    pub n: usize,
    pub cost: Vec<f64>,
    pub co2: Vec<f64>,
    /// CO2 of the eliminated columns' constant parts: total CO2 is
    /// `co2_offset + co2 . x`.
    pub co2_offset: f64,
    pub a: CscMatrix<f64>,
    pub b: Vec<f64>,
    pub n_eq: usize,
    pub n_ineq: usize,
    /// Reduced column -> original column.
    kept: Vec<u32>,
    eliminated: Vec<Elimination>,
    original_n: usize,
}

/// `x_col = constant - sum(coef * x_k)` over original columns.
#[derive(Debug)]
struct Elimination {
    col: u32,
    constant: f64,
    terms: Vec<(u32, f64)>,
}

impl Reduced {
    /// The solution in original column numbering.
    pub fn recover(&self, x: &[f64]) -> Vec<f64> {
        let mut full = vec![0.0; self.original_n];
        for (reduced, &original) in self.kept.iter().enumerate() {
            full[original as usize] = x[reduced];
        }
        for e in self.eliminated.iter().rev() {
            full[e.col as usize] = e.constant - e.terms.iter().map(|(k, a)| a * full[*k as usize]).sum::<f64>();
        }
        full
    }
}

/// Eliminates each `(row, column)` pivot in turn; a pivot whose column has
/// left its row (cancelled, or eliminated already) is skipped. `co2_cap`
/// adds `total CO2 <= cap` after the reduction, from the reduced CO2 vector,
/// so that a dense row never takes part in substitution.
pub fn reduce(mut p: Rows, pivots: &[(usize, usize)], co2_cap: Option<f64>) -> Reduced {
    let (lo, hi) = column_bounds(&p);
    let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); p.n];
    for (i, row) in p.rows.iter().enumerate() {
        for &(k, _) in row {
            rows_of[k as usize].push(i as u32);
        }
    }
    let mut removed_row = vec![false; p.rows.len()];
    let mut removed_col = vec![false; p.n];
    let mut eliminated = Vec::with_capacity(pivots.len());
    let mut co2_offset = 0.0;
    for &(r, j) in pivots {
        let Some(a) = coefficient(&p.rows[r], j as u32).filter(|a| a.abs() > 1e-9) else { continue };
        let row = std::mem::take(&mut p.rows[r]);
        removed_row[r] = true;
        removed_col[j] = true;
        // x_j = constant - sum(terms)
        let constant = p.b[r] / a;
        let terms: Vec<(u32, f64)> = row.iter().filter(|(k, _)| *k as usize != j).map(|&(k, v)| (k, v / a)).collect();
        for i in std::mem::take(&mut rows_of[j]) {
            let i = i as usize;
            if removed_row[i] {
                continue;
            }
            let Some(c) = take(&mut p.rows[i], j as u32) else { continue };
            p.b[i] -= c * constant;
            for &(k, t) in &terms {
                if add(&mut p.rows[i], k, -c * t) {
                    rows_of[k as usize].push(i as u32);
                }
            }
        }
        for (q, is_co2) in [(&mut p.cost, false), (&mut p.co2, true)] {
            let qj = std::mem::take(&mut q[j]);
            if qj != 0.0 {
                for &(k, t) in &terms {
                    q[k as usize] -= qj * t;
                }
                if is_co2 {
                    co2_offset += qj * constant;
                }
            }
        }
        eliminated.push(Elimination { col: j as u32, constant, terms });
    }
    let kept: Vec<u32> = (0..p.n as u32).filter(|&k| !removed_col[k as usize]).collect();
    let mut new_index = vec![u32::MAX; p.n];
    for (reduced, &original) in kept.iter().enumerate() {
        new_index[original as usize] = reduced as u32;
    }
    let cost: Vec<f64> = kept.iter().map(|&k| p.cost[k as usize]).collect();
    let co2: Vec<f64> = kept.iter().map(|&k| p.co2[k as usize]).collect();
    let mut rows: Vec<Vec<(u32, f64)>> = Vec::with_capacity(p.rows.len());
    let mut b = Vec::with_capacity(p.rows.len());
    let mut n_eq = 0;
    for (i, row) in p.rows.into_iter().enumerate() {
        if removed_row[i] || (i >= p.n_eq && implied(&row, p.b[i], &lo, &hi)) {
            continue;
        }
        n_eq += usize::from(i < p.n_eq);
        rows.push(row.into_iter().filter(|(_, v)| *v != 0.0).map(|(k, v)| (new_index[k as usize], v)).collect());
        b.push(p.b[i]);
    }
    if let Some(cap) = co2_cap {
        rows.push(co2.iter().enumerate().filter(|(_, c)| **c != 0.0).map(|(k, c)| (k as u32, *c)).collect());
        b.push(cap - co2_offset);
    }
    let n = kept.len();
    let n_ineq = rows.len() - n_eq;
    let a = to_csc(&rows, n);
    Reduced { n, cost, co2, co2_offset, a, b, n_eq, n_ineq, kept, eliminated, original_n: p.n }
}

/// Column bounds from single-entry inequality rows. Those rows are never
/// dropped, so bounds taken from them stay in force.
fn column_bounds(p: &Rows) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![f64::NEG_INFINITY; p.n];
    let mut hi = vec![f64::INFINITY; p.n];
    for (row, b) in p.rows.iter().zip(&p.b).skip(p.n_eq) {
        if let [(k, a)] = row.as_slice() {
            let k = *k as usize;
            if *a > 0.0 {
                hi[k] = hi[k].min(b / a);
            } else if *a < 0.0 {
                lo[k] = lo[k].max(b / a);
            }
        }
    }
    (lo, hi)
}

/// Whether `row <= b` holds for every point within the column bounds, so the
/// row can go (the grid import limit, say, when demand plus charging and
/// export can never reach it).
fn implied(row: &[(u32, f64)], b: f64, lo: &[f64], hi: &[f64]) -> bool {
    if row.len() < 2 {
        return false;
    }
    let most: f64 = row.iter().map(|&(k, a)| if a > 0.0 { a * hi[k as usize] } else { a * lo[k as usize] }).sum();
    most <= b - 1e-9 * b.abs().max(1.0)
}

fn coefficient(row: &[(u32, f64)], col: u32) -> Option<f64> {
    row.iter().find(|(k, _)| *k == col).map(|(_, v)| *v)
}

fn take(row: &mut Vec<(u32, f64)>, col: u32) -> Option<f64> {
    let at = row.iter().position(|(k, _)| *k == col)?;
    Some(row.swap_remove(at).1)
}

/// Adds `value` to the row's entry for `col`; true if the entry is new.
fn add(row: &mut Vec<(u32, f64)>, col: u32, value: f64) -> bool {
    match row.iter_mut().find(|(k, _)| *k == col) {
        Some(entry) => {
            entry.1 += value;
            false
        }
        None => {
            row.push((col, value));
            true
        }
    }
}

/// Rows to CSC by a counting sort on columns; rows come out sorted within
/// each column because they are visited in order.
fn to_csc(rows: &[Vec<(u32, f64)>], n: usize) -> CscMatrix<f64> {
    let mut colptr = vec![0usize; n + 1];
    for row in rows {
        for &(k, _) in row {
            colptr[k as usize + 1] += 1;
        }
    }
    for j in 0..n {
        colptr[j + 1] += colptr[j];
    }
    let nnz = colptr[n];
    let mut next = colptr.clone();
    let mut rowval = vec![0usize; nnz];
    let mut nzval = vec![0.0; nnz];
    for (i, row) in rows.iter().enumerate() {
        for &(k, v) in row {
            let slot = &mut next[k as usize];
            rowval[*slot] = i;
            nzval[*slot] = v;
            *slot += 1;
        }
    }
    CscMatrix::new(rows.len(), n, colptr, rowval, nzval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_keeps_the_solution() {
        // x0 + x1 = 3 (pivot x0), x0 <= 2, x1 <= 2, min x0 + 2 x1 → x0 = 2, x1 = 1.
        let rows = Rows {
            rows: vec![vec![(0, 1.0), (1, 1.0)], vec![(0, 1.0)], vec![(1, 1.0)]],
            b: vec![3.0, 2.0, 2.0],
            n_eq: 1,
            n: 2,
            cost: vec![1.0, 2.0],
            co2: vec![0.0, 0.0],
        };
        let reduced = reduce(rows, &[(0, 0)], None);
        assert_eq!((reduced.n, reduced.n_eq, reduced.n_ineq), (1, 0, 2));
        // Rows became -x1 <= -1 and x1 <= 2; the cost of x1 became 2 - 1 = 1.
        assert_eq!(reduced.cost, vec![1.0]);
        assert_eq!(reduced.b, vec![-1.0, 2.0]);
        assert_eq!(reduced.recover(&[1.0]), vec![2.0, 1.0]);
    }
}
