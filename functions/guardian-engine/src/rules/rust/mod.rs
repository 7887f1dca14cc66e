//! Rust rules. The ones on library code skip `#[cfg(test)]` and `#[test]`
//! code, test files (`tests/`, `benches/`, `examples/`) and binaries
//! (`main.rs`, `src/bin/`, `build.rs`).

pub mod dbg;
pub mod env_var;
pub mod print;
pub mod todo;
pub mod unsafe_code;
pub mod unwrap;

use crate::rules::Context;
use crate::syntax::rust::Site;

/// Reports each site named in `names` that is library code.
pub fn library_sites<'a>(sites: &'a [Site], names: &'a [&str], context: &Context) -> impl Iterator<Item = &'a Site> {
    let library = !context.is_test && !context.is_binary;
    sites.iter().filter(move |s| library && !s.in_test && names.contains(&s.name.as_str()))
}
