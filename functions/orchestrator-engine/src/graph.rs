//! Task graphs: tasks created together with `depends_on` form a DAG. Unknown
//! references, self-loops and cycles are refused, each named (a cycle as
//! the list of keys around it).

use std::collections::{BTreeMap, BTreeSet};

/// Why a batch of tasks is not a DAG.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("task key {key:?} is used twice")]
    DuplicateKey { index: usize, key: String },
    #[error("task {key:?} depends on {missing:?}, which is not in the batch")]
    UnknownDependency { index: usize, key: String, missing: String },
    #[error("task {key:?} depends on itself")]
    SelfLoop { index: usize, key: String },
    #[error("the dependencies form a cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
}

/// Checks a batch given as (key, depends_on) and returns the indices in an
/// order where every task comes after its dependencies.
pub fn topological_order(tasks: &[(&str, Vec<&str>)]) -> Result<Vec<usize>, GraphError> {
    let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, (key, _)) in tasks.iter().enumerate() {
        if index_of.insert(key, index).is_some() {
            return Err(GraphError::DuplicateKey { index, key: key.to_string() });
        }
    }
    for (index, (key, parents)) in tasks.iter().enumerate() {
        for parent in parents {
            if parent == key {
                return Err(GraphError::SelfLoop { index, key: key.to_string() });
            }
            if !index_of.contains_key(parent) {
                return Err(GraphError::UnknownDependency { index, key: key.to_string(), missing: parent.to_string() });
            }
        }
    }
    // Depth-first search with colours; a grey node met again closes a cycle,
    // and the stack holds it.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour = vec![Colour::White; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    for start in 0..tasks.len() {
        if colour[start] != Colour::White {
            continue;
        }
        // (node, next parent to visit)
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = Colour::Grey;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let parents = &tasks[node].1;
            if *next < parents.len() {
                let parent = index_of[parents[*next]];
                *next += 1;
                match colour[parent] {
                    Colour::White => {
                        colour[parent] = Colour::Grey;
                        stack.push((parent, 0));
                    }
                    Colour::Grey => {
                        let from = stack.iter().position(|(n, _)| *n == parent).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..].iter().map(|(n, _)| tasks[*n].0.to_owned()).collect();
                        cycle.push(tasks[parent].0.to_owned());
                        return Err(GraphError::Cycle { cycle });
                    }
                    Colour::Black => {}
                }
            } else {
                colour[node] = Colour::Black;
                order.push(node);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// Every task that (transitively) depends on one of `roots`.
pub fn descendants(edges: &[(String, String)], roots: &[String]) -> BTreeSet<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut frontier: Vec<String> = roots.to_vec();
    while let Some(node) = frontier.pop() {
        for (child, parent) in edges {
            if *parent == node && found.insert(child.clone()) {
                frontier.push(child.clone());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tasks: &[(&str, &[&str])]) -> Result<Vec<String>, GraphError> {
        let tasks: Vec<(&str, Vec<&str>)> = tasks.iter().map(|(k, d)| (*k, d.to_vec())).collect();
        topological_order(&tasks).map(|order| order.into_iter().map(|i| tasks[i].0.to_owned()).collect())
    }

    #[test]
    fn a_dag_comes_back_parents_first() {
        let order = check(&[("deploy", &["test", "build"]), ("test", &["build"]), ("build", &[]), ("docs", &[])]).unwrap();
        let at = |k: &str| order.iter().position(|o| o == k).unwrap();
        assert!(at("build") < at("test") && at("test") < at("deploy"));
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn bad_graphs_are_named() {
        assert_eq!(
            check(&[("a", &["b"])]),
            Err(GraphError::UnknownDependency { index: 0, key: "a".into(), missing: "b".into() })
        );
        assert_eq!(check(&[("a", &["a"])]), Err(GraphError::SelfLoop { index: 0, key: "a".into() }));
        assert_eq!(check(&[("a", &[]), ("a", &[])]), Err(GraphError::DuplicateKey { index: 1, key: "a".into() }));
        let Err(GraphError::Cycle { cycle }) = check(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]) else {
            panic!("a cycle")
        };
        assert_eq!(cycle.first(), cycle.last(), "{cycle:?}");
        assert_eq!(cycle.len(), 4, "{cycle:?}");
        let members: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
        assert_eq!(members, BTreeSet::from(["a", "b", "c"]));
    }

    #[test]
    fn descendants_follow_edges_transitively() {
        let edges = vec![("b".into(), "a".into()), ("c".into(), "b".into()), ("d".into(), "x".into())];
        assert_eq!(descendants(&edges, &["a".into()]), BTreeSet::from(["b".to_owned(), "c".to_owned()]));
    }
}
