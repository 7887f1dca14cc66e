//! Rust, parsed by `syn` (`full`, `visit`) and lowered into a [`File`] of
//! facts. This is the only module that names `syn`.
//!
//! Macro bodies that parse as comma-separated expressions (`format!`,
//! `vec!`, `assert!`, …) are visited too, so an `unwrap()` inside
//! `println!("{}", x.unwrap())` is seen.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Expr, Token};

use super::{Comment, Function, LineIndex, NamedString, StringLiteral, SyntaxError};

#[derive(Clone, Debug, Default)]
pub struct File {
    pub errors: Vec<SyntaxError>,
    pub comments: Vec<Comment>,
    /// Macro invocations by their last path segment (`println`, `dbg`).
    pub macros: Vec<Site>,
    /// Method calls by name (`unwrap`, `expect`).
    pub method_calls: Vec<Site>,
    /// Calls of paths, resolved through `use` (`std::env::var`).
    pub calls: Vec<Site>,
    /// `unsafe` blocks, functions, impls and traits (`name` says which).
    pub unsafe_code: Vec<Site>,
    pub strings: Vec<StringLiteral>,
    pub named_strings: Vec<NamedString>,
    pub functions: Vec<Function>,
    /// Every `use` path, `::`-joined (`crate::edge::http`).
    pub uses: Vec<Site>,
    pub lines: usize,
}

/// A named thing at a place, and whether it is test code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub line: u32,
    pub column: u32,
    pub in_test: bool,
}

pub fn parse(source: &str) -> File {
    let index = LineIndex::new(source);
    let mut file = File { lines: index.lines(), comments: comments(source), ..File::default() };
    match syn::parse_file(source) {
        Ok(tree) => {
            let mut lowering = Lowering { file: &mut file, aliases: HashMap::new(), tests: 0, functions: Vec::new() };
            lowering.collect_uses(&tree.items);
            lowering.visit_file(&tree);
        }
        Err(error) => {
            let start = error.span().start();
            file.errors.push(SyntaxError { line: start.line as u32, column: start.column as u32 + 1, message: error.to_string() });
        }
    }
    file
}

/// Line comments, found by scanning: `//` outside string literals (a
/// simple scanner that knows `"…"` strings with escapes, and character
/// literals well enough to skip `'"'`).
fn comments(source: &str) -> Vec<Comment> {
    let mut comments = Vec::new();
    let mut in_string = false;
    for (number, line) in source.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if in_string {
                if byte == b'\\' {
                    i += 1;
                } else if byte == b'"' {
                    in_string = false;
                }
            } else if byte == b'"' {
                in_string = true;
            } else if byte == b'\'' && i + 2 < bytes.len() && bytes[i + 2] == b'\'' {
                i += 2;
            } else if byte == b'/' && bytes.get(i + 1) == Some(&b'/') {
                // Doc comments (`///`, `//!`) are documentation, not directives.
                if matches!(bytes.get(i + 2), Some(b'/' | b'!')) {
                    break;
                }
                let text = line[i..].trim_start_matches('/').trim().to_owned();
                comments.push(Comment { line: number as u32 + 1, text, trailing: !line[..i].trim().is_empty() });
                break;
            }
            i += 1;
        }
    }
    comments
}

struct Lowering<'f> {
    file: &'f mut File,
    /// The last segment of each `use` to its full path.
    aliases: HashMap<String, String>,
    /// How many enclosing items are test code.
    tests: u32,
    /// The functions being lowered, innermost last: (index in `functions`, complexity so far).
    functions: Vec<usize>,
}

fn path_span(path: &syn::Path) -> Span {
    path.segments.first().map_or_else(Span::call_site, |s| s.ident.span())
}

fn position(span: Span) -> (u32, u32) {
    let start = span.start();
    (start.line as u32, start.column as u32 + 1)
}

fn is_test_attribute(attribute: &syn::Attribute) -> bool {
    let path = attribute.path();
    if path.segments.last().is_some_and(|s| s.ident == "test") {
        return true;
    }
    if path.is_ident("cfg") {
        let mut test = false;
        let _ = attribute.parse_nested_meta(|meta| {
            test |= meta.path.is_ident("test");
            Ok(())
        });
        return test;
    }
    false
}

fn documented(attributes: &[syn::Attribute]) -> bool {
    attributes.iter().any(|a| a.path().is_ident("doc"))
}

fn use_paths(tree: &syn::UseTree, prefix: &str, out: &mut Vec<(String, String)>) {
    let join = |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}::{name}") };
    match tree {
        syn::UseTree::Path(path) => use_paths(&path.tree, &join(&path.ident.to_string()), out),
        syn::UseTree::Name(name) => {
            let ident = name.ident.to_string();
            if ident == "self" {
                let last = prefix.rsplit("::").next().unwrap_or(prefix).to_owned();
                out.push((last, prefix.to_owned()));
            } else {
                out.push((ident.clone(), join(&ident)));
            }
        }
        syn::UseTree::Rename(rename) => out.push((rename.rename.to_string(), join(&rename.ident.to_string()))),
        syn::UseTree::Glob(_) => out.push((String::new(), join("*"))),
        syn::UseTree::Group(group) => group.items.iter().for_each(|t| use_paths(t, prefix, out)),
    }
}

impl Lowering<'_> {
    fn site(&self, name: String, span: Span) -> Site {
        let (line, column) = position(span);
        Site { name, line, column, in_test: self.tests > 0 }
    }

    fn collect_uses(&mut self, items: &[syn::Item]) {
        for item in items {
            if let syn::Item::Use(item) = item {
                let mut paths = Vec::new();
                use_paths(&item.tree, "", &mut paths);
                for (alias, path) in paths {
                    if !alias.is_empty() {
                        self.aliases.insert(alias, path);
                    }
                }
            }
        }
    }

    fn resolve(&self, path: &syn::Path) -> String {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let head = segments.first().cloned().unwrap_or_default();
        match self.aliases.get(&head) {
            Some(full) if path.leading_colon.is_none() => {
                let mut resolved = full.clone();
                for segment in &segments[1..] {
                    resolved.push_str("::");
                    resolved.push_str(segment);
                }
                resolved
            }
            _ => segments.join("::"),
        }
    }

    fn add(&mut self, amount: u32) {
        if let Some(&function) = self.functions.last() {
            self.file.functions[function].complexity += amount;
        }
    }

    fn function(
        &mut self,
        attributes: &[syn::Attribute],
        public: bool,
        signature: &syn::Signature,
        block: &syn::Block,
        method: bool,
    ) {
        let test = attributes.iter().any(is_test_attribute);
        self.tests += u32::from(test);
        let (line, column) = position(signature.ident.span());
        let end_line = block.brace_token.span.close().end().line as u32;
        let name = signature.ident.to_string();
        let nested = !self.functions.is_empty();
        let qualified_name = match self.functions.last() {
            Some(&outer) => format!("{}::{name}", self.file.functions[outer].qualified_name),
            None => name.clone(),
        };
        self.file.functions.push(Function {
            name,
            qualified_name,
            line,
            end_line,
            column,
            complexity: 1,
            public: public && !nested,
            documented: documented(attributes),
            is_async: signature.asyncness.is_some(),
            method,
            nested,
            unannotated_parameters: Vec::new(),
            returns_annotated: true,
            in_test: self.tests > 0,
        });
        if let Some(unsafety) = &signature.unsafety {
            let site = self.site("fn".into(), unsafety.span);
            self.file.unsafe_code.push(site);
        }
        self.functions.push(self.file.functions.len() - 1);
        self.visit_block(block);
        self.functions.pop();
        self.tests -= u32::from(test);
    }

    fn macro_body(&mut self, mac: &syn::Macro) {
        let name = mac.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
        let site = self.site(name, path_span(&mac.path));
        self.file.macros.push(site);
        if let Ok(arguments) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for argument in &arguments {
                self.visit_expr(argument);
            }
        }
    }
}

impl<'ast> Visit<'ast> for Lowering<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        let public = matches!(item.vis, syn::Visibility::Public(_));
        self.function(&item.attrs, public, &item.sig, &item.block, false);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        let public = matches!(item.vis, syn::Visibility::Public(_));
        self.function(&item.attrs, public, &item.sig, &item.block, true);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.function(&item.attrs, true, &item.sig, block, true);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        let test = item.attrs.iter().any(is_test_attribute);
        self.tests += u32::from(test);
        if let Some((_, items)) = &item.content {
            self.collect_uses(items);
        }
        visit::visit_item_mod(self, item);
        self.tests -= u32::from(test);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let test = item.attrs.iter().any(is_test_attribute);
        self.tests += u32::from(test);
        if let Some(unsafety) = &item.unsafety {
            let site = self.site("impl".into(), unsafety.span);
            self.file.unsafe_code.push(site);
        }
        visit::visit_item_impl(self, item);
        self.tests -= u32::from(test);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        if let Some(unsafety) = &item.unsafety {
            let site = self.site("trait".into(), unsafety.span);
            self.file.unsafe_code.push(site);
        }
        visit::visit_item_trait(self, item);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        use_paths(&item.tree, "", &mut paths);
        for (_, path) in paths {
            let site = self.site(path, item.use_token.span);
            self.file.uses.push(site);
        }
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.named(&item.ident.to_string(), &item.expr);
        visit::visit_item_const(self, item);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        self.named(&item.ident.to_string(), &item.expr);
        visit::visit_item_static(self, item);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let (syn::Pat::Ident(ident), Some(init)) = (&local.pat, &local.init) {
            self.named(&ident.ident.to_string(), &init.expr);
        }
        visit::visit_local(self, local);
    }

    fn visit_field_value(&mut self, field: &'ast syn::FieldValue) {
        if let syn::Member::Named(name) = &field.member {
            self.named(&name.to_string(), &field.expr);
        }
        visit::visit_field_value(self, field);
    }

    fn visit_expr_unsafe(&mut self, expr: &'ast syn::ExprUnsafe) {
        let site = self.site("block".into(), expr.unsafe_token.span);
        self.file.unsafe_code.push(site);
        visit::visit_expr_unsafe(self, expr);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let site = self.site(call.method.to_string(), call.method.span());
        self.file.method_calls.push(site);
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(path) = &*call.func {
            let name = self.resolve(&path.path);
            let site = self.site(name, path_span(&path.path));
            self.file.calls.push(site);
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.macro_body(mac);
    }

    fn visit_lit_str(&mut self, literal: &'ast syn::LitStr) {
        // Test code's literals are fixtures, not configuration.
        if self.tests > 0 {
            return;
        }
        let (line, column) = position(literal.span());
        self.file.strings.push(StringLiteral { line, column, value: literal.value() });
    }

    fn visit_attribute(&mut self, _attribute: &'ast syn::Attribute) {
        // Doc comments and attribute arguments are not code.
    }

    fn visit_expr_if(&mut self, expr: &'ast syn::ExprIf) {
        self.add(1);
        visit::visit_expr_if(self, expr);
    }

    fn visit_expr_match(&mut self, expr: &'ast syn::ExprMatch) {
        let catch_all = expr.arms.iter().any(|arm| {
            arm.guard.is_none() && matches!(&arm.pat, syn::Pat::Wild(_))
        });
        self.add((expr.arms.len() as u32).saturating_sub(u32::from(catch_all)));
        visit::visit_expr_match(self, expr);
    }

    fn visit_expr_for_loop(&mut self, expr: &'ast syn::ExprForLoop) {
        self.add(1);
        visit::visit_expr_for_loop(self, expr);
    }

    fn visit_expr_while(&mut self, expr: &'ast syn::ExprWhile) {
        self.add(1);
        visit::visit_expr_while(self, expr);
    }

    fn visit_expr_loop(&mut self, expr: &'ast syn::ExprLoop) {
        self.add(1);
        visit::visit_expr_loop(self, expr);
    }

    fn visit_expr_try(&mut self, expr: &'ast syn::ExprTry) {
        self.add(1);
        visit::visit_expr_try(self, expr);
    }

    fn visit_expr_binary(&mut self, expr: &'ast syn::ExprBinary) {
        if matches!(expr.op, syn::BinOp::And(_) | syn::BinOp::Or(_)) {
            self.add(1);
        }
        visit::visit_expr_binary(self, expr);
    }
}

impl Lowering<'_> {
    fn named(&mut self, name: &str, expr: &Expr) {
        if self.tests > 0 {
            return;
        }
        let expr = match expr {
            Expr::Reference(reference) => &*reference.expr,
            other => other,
        };
        if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(literal), .. }) = expr {
            let (line, column) = position(literal.span());
            self.file.named_strings.push(NamedString { line, column, name: name.to_owned(), value: literal.value() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_counts_rusts_branches() {
        let file = parse(
            "fn f(x: Option<u8>, a: bool, b: bool) -> Result<u8, E> {\n    if a && b || a { }\n    match x { Some(1) => {}, Some(_) => {}, None => {}, }\n    for _ in 0..3 {}\n    let y = g()?;\n    Ok(y)\n}\nfn h(x: u8) { match x { 1 => {}, _ => {} } }\n",
        );
        let cc: Vec<_> = file.functions.iter().map(|f| (f.name.as_str(), f.complexity)).collect();
        // f: 1 + if + && + || + 3 arms + for + ?; h: 1 + (2 arms - the catch-all).
        assert_eq!(cc, [("f", 9), ("h", 2)]);
    }

    #[test]
    fn test_code_is_marked_and_macro_bodies_are_seen() {
        let file = parse(
            "fn a() { println!(\"{}\", x.unwrap()); }\n#[cfg(test)]\nmod tests { fn b() { y.unwrap(); } }\n",
        );
        let unwraps: Vec<_> = file.method_calls.iter().map(|s| (s.line, s.in_test)).collect();
        assert_eq!(unwraps, [(1, false), (3, true)]);
        assert_eq!(file.macros[0].name, "println");
    }

    #[test]
    fn calls_resolve_through_use() {
        let file = parse("use std::env;\nuse std::env::var as v;\nfn a() { env::var(\"A\"); v(\"B\"); }\n");
        let calls: Vec<_> = file.calls.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(calls, ["std::env::var", "std::env::var"]);
    }

    #[test]
    fn comments_skip_strings() {
        let found = comments("let a = \"// not\"; // guardian: ignore[x]\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "guardian: ignore[x]");
        assert!(found[0].trailing);
        assert!(comments("/// guardian: ignore[x]\n//! guardian: ignore[y]\n").is_empty());
    }
}
