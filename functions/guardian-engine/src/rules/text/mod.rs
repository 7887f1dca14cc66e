//! Rules on string literals, for both languages.

pub mod paths;
pub mod secrets;

use crate::syntax::python::Module;
use crate::syntax::rust::File;
use crate::syntax::{NamedString, StringLiteral};

/// The literals and named literals of either language.
pub trait Literals {
    fn strings(&self) -> &[StringLiteral];
    fn named_strings(&self) -> &[NamedString];
}

impl Literals for Module {
    fn strings(&self) -> &[StringLiteral] {
        &self.strings
    }
    fn named_strings(&self) -> &[NamedString] {
        &self.named_strings
    }
}

impl Literals for File {
    fn strings(&self) -> &[StringLiteral] {
        &self.strings
    }
    fn named_strings(&self) -> &[NamedString] {
        &self.named_strings
    }
}
