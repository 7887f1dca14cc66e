//! Architecture contracts (guardian.toml `[[contracts]]`), modelled on
//! import-linter: `forbidden`, `independent` and `layers`, on the Python
//! import graph (relative imports resolved) or the Cargo dependency graph
//! (from `Cargo.lock`). A broken contract names the chain.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::analysis::{FileReport, SourceLanguage};
use crate::config::{Contract, ContractKind, ContractLanguage};
use crate::finding::{Finding, Severity, fnv1a};
use crate::glob::Glob;
use crate::rules::meta::ARCHITECTURE_CONTRACT;

/// A dependency graph: each node, what it depends on, and where it says so.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub edges: BTreeMap<String, Vec<(String, String, u32)>>,
}

impl Graph {
    /// The Python import graph of the analysed files, by dotted module name.
    pub fn python(files: &[FileReport]) -> Graph {
        let module_of = |path: &str| {
            let trimmed = path.trim_start_matches("./").trim_end_matches(".pyi").trim_end_matches(".py");
            trimmed.trim_end_matches("/__init__").replace('/', ".")
        };
        let modules: BTreeSet<String> =
            files.iter().filter(|f| f.language == Some(SourceLanguage::Python)).map(|f| module_of(&f.path)).collect();
        let mut graph = Graph::default();
        for file in files.iter().filter(|f| f.language == Some(SourceLanguage::Python)) {
            let from = module_of(&file.path);
            for (import, line) in &file.imports {
                // `from a.b import c` names `a.b.c`: a module, or a name in `a.b`.
                let target = if modules.contains(import) {
                    import.clone()
                } else {
                    import.rsplit_once('.').map(|(m, _)| m.to_owned()).filter(|m| modules.contains(m)).unwrap_or_else(|| import.clone())
                };
                graph.edges.entry(from.clone()).or_default().push((target, file.path.clone(), *line));
            }
        }
        graph
    }

    /// The crate graph of a `Cargo.lock`.
    pub fn cargo_lock(text: &str) -> Result<Graph, String> {
        let value: toml::Table = toml::from_str(text).map_err(|e| format!("Cargo.lock: {}", e.message()))?;
        let mut graph = Graph::default();
        let packages = value.get("package").and_then(|p| p.as_array()).cloned().unwrap_or_default();
        for package in packages {
            let Some(name) = package.get("name").and_then(|n| n.as_str()) else { continue };
            let line = text.find(&format!("name = \"{name}\"")).map_or(1, |o| text[..o].lines().count() as u32 + 1);
            let deps = package.get("dependencies").and_then(|d| d.as_array()).cloned().unwrap_or_default();
            let entry = graph.edges.entry(name.to_owned()).or_default();
            for dep in deps.iter().filter_map(|d| d.as_str()) {
                let dep = dep.split(' ').next().unwrap_or(dep);
                entry.push((dep.to_owned(), "Cargo.lock".into(), line));
            }
        }
        Ok(graph)
    }

    /// The shortest chain from `from` to a node `target` accepts.
    fn chain(&self, from: &str, target: &dyn Fn(&str) -> bool, direct_only: bool) -> Option<(Vec<String>, String, u32)> {
        let mut seen = BTreeSet::from([from.to_owned()]);
        let mut queue = VecDeque::from([(from.to_owned(), vec![from.to_owned()], None::<(String, u32)>)]);
        while let Some((node, path, first)) = queue.pop_front() {
            for (next, file, line) in self.edges.get(&node).into_iter().flatten() {
                let first = first.clone().or_else(|| Some((file.clone(), *line)));
                let mut chain = path.clone();
                chain.push(next.clone());
                if target(next) {
                    let (file, line) = first.unwrap_or_default();
                    return Some((chain, file, line));
                }
                if !direct_only && seen.insert(next.clone()) {
                    queue.push_back((next.clone(), chain, first));
                }
            }
        }
        None
    }
}

fn matcher(patterns: &[String]) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| {
        patterns.iter().any(|p| {
            let glob = Glob::new(p);
            glob.matches(name) || name.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

/// Every broken contract of `language`, as findings.
pub fn check(contracts: &[Contract], language: ContractLanguage, graph: &Graph, severity: Severity) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut report = |contract: &Contract, chain: Vec<String>, path: String, line: u32| {
        let message = format!("contract {:?} is broken: {}", contract.name, chain.join(" -> "));
        let fingerprint = format!("{:016x}", fnv1a(&[ARCHITECTURE_CONTRACT.id, &contract.name, &chain.join(">")]));
        findings.push(Finding {
            rule: ARCHITECTURE_CONTRACT.id.into(),
            severity,
            path,
            line: line.max(1),
            column: 1,
            message,
            snippet: String::new(),
            fingerprint,
            suppressed: None,
        });
    };
    for contract in contracts.iter().filter(|c| c.language == language) {
        let nodes: Vec<&String> = graph.edges.keys().collect();
        match contract.kind {
            ContractKind::Forbidden => {
                let source = matcher(&contract.source);
                let forbidden = matcher(&contract.forbidden);
                for node in nodes.iter().filter(|n| source(n)) {
                    if let Some((chain, path, line)) = graph.chain(node, &forbidden, contract.direct_only) {
                        report(contract, chain, path, line);
                    }
                }
            }
            ContractKind::Independent | ContractKind::Layers => {
                let groups: &[String] = if contract.kind == ContractKind::Independent { &contract.modules } else { &contract.layers };
                for (i, group) in groups.iter().enumerate() {
                    let here = matcher(std::slice::from_ref(group));
                    // Independent: no other module; layers: no higher layer.
                    let others: Vec<String> = groups
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| if contract.kind == ContractKind::Independent { *j != i } else { *j < i })
                        .map(|(_, g)| g.clone())
                        .collect();
                    if others.is_empty() {
                        continue;
                    }
                    let target = matcher(&others);
                    for node in nodes.iter().filter(|n| here(n)) {
                        if let Some((chain, path, line)) = graph.chain(node, &target, contract.direct_only) {
                            report(contract, chain, path, line);
                        }
                    }
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::{Severity, analyse};

    fn contracts(text: &str) -> Vec<Contract> {
        Config::parse(text).unwrap().contracts
    }

    #[test]
    fn python_chains_through_relative_imports() {
        let config = Config::standard();
        let files = vec![
            analyse("packages/money/amount.py", b"from ..util import helpers\n", &config, Severity::Info),
            analyse("packages/util/helpers.py", b"import apps.billing.invoice\n", &config, Severity::Info),
            analyse("apps/billing/invoice.py", b"from packages.money.amount import Amount\n", &config, Severity::Info),
            analyse("apps/shop/cart.py", b"from apps.billing import invoice\n", &config, Severity::Info),
        ];
        let graph = Graph::python(&files);
        let found = check(
            &contracts("[[contracts]]\nname = \"packages never import apps\"\nkind = \"forbidden\"\nlanguage = \"python\"\nsource = [\"packages\"]\nforbidden = [\"apps\"]\n[[contracts]]\nname = \"apps are independent\"\nkind = \"independent\"\nlanguage = \"python\"\nmodules = [\"apps.billing\", \"apps.shop\"]\n"),
            ContractLanguage::Python,
            &graph,
            Severity::Error,
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "contract \"packages never import apps\" is broken: packages.money.amount -> packages.util.helpers -> apps.billing.invoice",
                "contract \"packages never import apps\" is broken: packages.util.helpers -> apps.billing.invoice",
                "contract \"apps are independent\" is broken: apps.shop.cart -> apps.billing.invoice",
            ]
        );
        assert_eq!((found[0].path.as_str(), found[0].line), ("packages/money/amount.py", 1));
    }

    #[test]
    fn cargo_lock_chains_and_layers() {
        let lock = "version = 4\n[[package]]\nname = \"app-engine\"\nversion = \"0.1.0\"\ndependencies = [\n \"helper\",\n]\n[[package]]\nname = \"helper\"\nversion = \"0.1.0\"\ndependencies = [\n \"tokio 1.0.0\",\n]\n[[package]]\nname = \"tokio\"\nversion = \"1.0.0\"\n";
        let graph = Graph::cargo_lock(lock).unwrap();
        let found = check(
            &contracts("[[contracts]]\nname = \"engines do no I/O\"\nkind = \"forbidden\"\nlanguage = \"rust\"\nsource = [\"*-engine\"]\nforbidden = [\"tokio\"]\n[[contracts]]\nname = \"layers\"\nkind = \"layers\"\nlanguage = \"rust\"\nlayers = [\"app-engine\", \"helper\"]\n"),
            ContractLanguage::Rust,
            &graph,
            Severity::Error,
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages, ["contract \"engines do no I/O\" is broken: app-engine -> helper -> tokio"]);
    }
}
