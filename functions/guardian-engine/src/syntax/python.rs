//! Python, parsed by ruff's parser (`ruff_python_parser`, pinned exactly in
//! the workspace) and lowered into a [`Module`] of facts. This is the only
//! module that names a ruff crate.
//!
//! Names are resolved the way the rules need them: through the imports of
//! each scope (`import time as t; t.sleep` is `time.sleep`), and a builtin
//! is `builtins.NAME` only where no enclosing function or the module binds
//! the name (Python's rule; class bodies do not enclose their methods).

use std::collections::HashMap;

use ruff_python_ast::token::TokenKind;
use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, PySourceType, Stmt};
use ruff_text_size::Ranged;

use super::{Comment, Function, LineIndex, NamedString, StringLiteral, SyntaxError};

/// Everything the Python rules and metrics read from one file.
#[derive(Clone, Debug, Default)]
pub struct Module {
    pub errors: Vec<SyntaxError>,
    pub comments: Vec<Comment>,
    pub calls: Vec<Call>,
    pub imports: Vec<Import>,
    pub bare_excepts: Vec<BareExcept>,
    pub functions: Vec<Function>,
    pub strings: Vec<StringLiteral>,
    pub named_strings: Vec<NamedString>,
    /// Assignment, augmented assignment and `del` targets that are names,
    /// attributes or subscripts of a dotted name, resolved (`sys.path`).
    pub writes: Vec<Reference>,
    /// Subscripts read with a string key (`os.environ["HOME"]`).
    pub subscripts: Vec<Subscript>,
    pub lines: usize,
}

/// A position in the file, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The callee, resolved: `builtins.print`, `time.sleep`, `os.environ.get`;
    /// a local name or an attribute of something other than a dotted name
    /// has no callee.
    pub callee: Option<String>,
    pub at: Position,
    /// Inside an `async def` (the innermost function).
    pub in_async: bool,
    /// Inside a `for` or `while` body of the innermost function.
    pub in_loop: bool,
    pub keywords: Vec<KeywordArgument>,
    /// The first positional argument, when it is a string literal.
    pub first_string: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeywordArgument {
    /// `None` for `**kwargs`.
    pub name: Option<String>,
    /// The value when it is a dotted name, resolved.
    pub dotted: Option<String>,
    pub is_none: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// `a.b` for `import a.b` or `from a.b import c`; empty for `from . import c`.
    pub module: String,
    /// The names of a `from` import.
    pub names: Vec<String>,
    pub from: bool,
    pub star: bool,
    /// Leading dots of a relative import.
    pub level: u32,
    pub at: Position,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BareExcept {
    pub at: Position,
    /// The handler's body re-raises with a bare `raise` at its top level.
    pub reraises: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub at: Position,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscript {
    pub value: String,
    pub key: String,
    pub at: Position,
}

/// Parses and lowers one file. Syntax errors are facts too: the rules still
/// run on what parsed.
pub fn parse(source: &str) -> Module {
    let index = LineIndex::new(source);
    let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
    let mut module = Module { lines: index.lines(), ..Module::default() };
    for error in parsed.errors() {
        let (line, column) = index.position(error.location.start().to_usize());
        module.errors.push(SyntaxError { line, column, message: error.error.to_string() });
    }
    for token in parsed.tokens().iter() {
        if token.kind() == TokenKind::Comment {
            let range = token.range();
            let start = range.start().to_usize();
            let (line, column) = index.position(start);
            let before = &source[start + 1 - column as usize..start];
            let text = source[start..range.end().to_usize()].trim_start_matches('#').trim().to_owned();
            module.comments.push(Comment { line, text, trailing: !before.trim().is_empty() });
        }
    }
    let body = &parsed.syntax().body;
    let mut lowering = Lowering { index: &index, module: &mut module, scopes: Vec::new(), names: Vec::new(), context: Context::default() };
    let mut scope = Scope::collect(ScopeKind::Module, body, None);
    // A name a function declares `global` is a module binding, seen by
    // every function body (they run after the module body has bound it).
    let mut globals = Globals(Vec::new());
    globals.visit_body(body);
    for name in globals.0 {
        scope.bindings.entry(name).or_insert(Binding::Local);
    }
    lowering.scopes.push(scope);
    lowering.body(body);
    module
}

#[derive(Clone, Copy, Default)]
struct Context {
    in_async: bool,
    loops: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Module,
    Class,
    Function,
}

#[derive(Clone, PartialEq, Eq)]
enum Binding {
    Import(String),
    Local,
}

struct Scope {
    kind: ScopeKind,
    bindings: HashMap<String, Binding>,
}

impl Scope {
    /// The names a body binds, without entering nested functions or classes
    /// (whose own names it does bind).
    fn collect(kind: ScopeKind, body: &[Stmt], parameters: Option<&ast::Parameters>) -> Scope {
        let mut collector = Collector { bindings: HashMap::new(), globals: Vec::new() };
        if let Some(parameters) = parameters {
            for parameter in parameters.iter() {
                collector.local(parameter.name().as_str());
            }
        }
        for stmt in body {
            collector.visit_stmt(stmt);
        }
        for global in &collector.globals {
            collector.bindings.remove(global);
        }
        Scope { kind, bindings: collector.bindings }
    }
}

/// Every `global` declaration in the file, found walking statements only.
struct Globals(Vec<String>);

impl<'a> StatementVisitor<'a> for Globals {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::Global(global) = stmt {
            self.0.extend(global.names.iter().map(|n| n.to_string()));
        }
        statement_visitor::walk_stmt(self, stmt);
    }
}

struct Collector {
    bindings: HashMap<String, Binding>,
    globals: Vec<String>,
}

impl Collector {
    fn local(&mut self, name: &str) {
        self.bindings.entry(name.to_owned()).or_insert(Binding::Local);
    }

    fn import(&mut self, name: &str, qualified: String) {
        let entry = self.bindings.entry(name.to_owned()).or_insert(Binding::Local);
        if *entry == Binding::Local {
            *entry = Binding::Import(qualified);
        }
    }

    fn target(&mut self, expr: &Expr) {
        match expr {
            Expr::Name(name) => self.local(name.id.as_str()),
            Expr::Tuple(tuple) => tuple.elts.iter().for_each(|e| self.target(e)),
            Expr::List(list) => list.elts.iter().for_each(|e| self.target(e)),
            Expr::Starred(starred) => self.target(&starred.value),
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for Collector {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => self.local(def.name.as_str()),
            Stmt::ClassDef(class) => self.local(class.name.as_str()),
            Stmt::Import(import) => {
                for alias in &import.names {
                    match &alias.asname {
                        Some(asname) => self.import(asname.as_str(), alias.name.to_string()),
                        None => {
                            let head = alias.name.as_str().split('.').next().unwrap_or_default();
                            self.import(head, head.to_owned());
                        }
                    }
                }
            }
            Stmt::ImportFrom(import) => {
                let module = format!(
                    "{}{}",
                    ".".repeat(import.level as usize),
                    import.module.as_ref().map(|m| m.as_str()).unwrap_or_default()
                );
                for alias in &import.names {
                    if alias.name.as_str() == "*" {
                        continue;
                    }
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    let qualified =
                        if module.ends_with('.') { format!("{module}{}", alias.name) } else { format!("{module}.{}", alias.name) };
                    self.import(bound, qualified);
                }
            }
            Stmt::Global(global) => self.globals.extend(global.names.iter().map(|n| n.to_string())),
            Stmt::Nonlocal(nonlocal) => self.globals.extend(nonlocal.names.iter().map(|n| n.to_string())),
            Stmt::Assign(assign) => {
                assign.targets.iter().for_each(|t| self.target(t));
                visitor::walk_stmt(self, stmt);
            }
            Stmt::AugAssign(assign) => self.target(&assign.target),
            Stmt::AnnAssign(assign) => self.target(&assign.target),
            Stmt::For(for_) => {
                self.target(&for_.target);
                visitor::walk_stmt(self, stmt);
            }
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(vars) = &item.optional_vars {
                        self.target(vars);
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            Stmt::Try(try_) => {
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    if let Some(name) = &handler.name {
                        self.local(name.as_str());
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        // Walrus targets bind in the enclosing scope; lambdas and
        // comprehensions have their own.
        match expr {
            Expr::Named(named) => {
                self.target(&named.target);
                self.visit_expr(&named.value);
            }
            Expr::Lambda(_) | Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) | Expr::Generator(_) => {}
            _ => visitor::walk_expr(self, expr),
        }
    }
}

const BUILTINS: &[&str] = &["print", "eval", "exec", "open", "breakpoint", "compile", "__import__", "input", "globals"];

struct Lowering<'s, 'm> {
    index: &'s LineIndex,
    module: &'m mut Module,
    scopes: Vec<Scope>,
    /// The qualified names of the enclosing classes and functions.
    names: Vec<(String, ScopeKind)>,
    context: Context,
}

impl Lowering<'_, '_> {
    fn at(&self, node: &impl Ranged) -> Position {
        let (line, column) = self.index.position(node.start().to_usize());
        Position { line, column }
    }

    /// Visits a body, leaving out its docstring.
    fn body(&mut self, body: &[Stmt]) {
        let skip = usize::from(docstring(body).is_some());
        for stmt in &body[skip..] {
            self.visit_stmt(stmt);
        }
    }

    /// A name as the rules see it: resolved through imports, `None` when a
    /// local binding hides what it is.
    fn resolve_name(&self, name: &str) -> Option<String> {
        let innermost = self.scopes.len() - 1;
        for (depth, scope) in self.scopes.iter().enumerate().rev() {
            if scope.kind == ScopeKind::Class && depth != innermost {
                continue;
            }
            match scope.bindings.get(name) {
                Some(Binding::Import(qualified)) => return Some(qualified.clone()),
                Some(Binding::Local) => return None,
                None => {}
            }
        }
        if BUILTINS.contains(&name) { Some(format!("builtins.{name}")) } else { Some(name.to_owned()) }
    }

    fn resolve(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) => self.resolve_name(name.id.as_str()),
            Expr::Attribute(attribute) => {
                let value = self.resolve(&attribute.value)?;
                Some(format!("{value}.{}", attribute.attr))
            }
            _ => None,
        }
    }

    fn write(&mut self, target: &Expr) {
        let name = match target {
            Expr::Attribute(_) | Expr::Name(_) => self.resolve(target),
            Expr::Subscript(subscript) => self.resolve(&subscript.value),
            Expr::Tuple(tuple) => {
                tuple.elts.iter().for_each(|e| self.write(e));
                None
            }
            Expr::List(list) => {
                list.elts.iter().for_each(|e| self.write(e));
                None
            }
            _ => None,
        };
        if let Some(name) = name {
            let at = self.at(target);
            self.module.writes.push(Reference { name, at });
        }
    }

    fn named_string(&mut self, name: &str, value: &Expr) {
        if let Expr::StringLiteral(literal) = value {
            let at = self.at(value);
            self.module.named_strings.push(NamedString {
                line: at.line,
                column: at.column,
                name: name.to_owned(),
                value: literal.value.to_str().to_owned(),
            });
        }
    }

    fn target_name(target: &Expr) -> Option<&str> {
        match target {
            Expr::Name(name) => Some(name.id.as_str()),
            Expr::Attribute(attribute) => Some(attribute.attr.as_str()),
            _ => None,
        }
    }

    fn function(&mut self, def: &ast::StmtFunctionDef) {
        for decorator in &def.decorator_list {
            self.visit_expr(&decorator.expression);
        }
        for parameter in def.parameters.iter() {
            if let Some(annotation) = parameter.annotation() {
                self.visit_expr(annotation);
            }
        }
        for parameter in def.parameters.iter_non_variadic_params() {
            if let Some(default) = &parameter.default {
                self.visit_expr(default);
            }
        }
        if let Some(returns) = &def.returns {
            self.visit_expr(returns);
        }
        let enclosing = self.names.last().map(|(_, kind)| *kind);
        let method = enclosing == Some(ScopeKind::Class);
        let nested = self.names.iter().any(|(_, kind)| *kind == ScopeKind::Function);
        let qualified_name = match self.names.last() {
            Some((outer, _)) => format!("{outer}.{}", def.name),
            None => def.name.to_string(),
        };
        let name = def.name.as_str();
        let mut unannotated = Vec::new();
        for (position, parameter) in def.parameters.iter().enumerate() {
            let pname = parameter.name().as_str();
            if method && position == 0 && (pname == "self" || pname == "cls") {
                continue;
            }
            if parameter.annotation().is_none() {
                unannotated.push(pname.to_owned());
            }
        }
        let at = self.at(&def.name);
        let end_line = self.index.line(def.end().to_usize().saturating_sub(1));
        let private = name.starts_with('_') && !(name.starts_with("__") && name.ends_with("__"));
        let parent_private = self.names.iter().any(|(n, _)| n.rsplit('.').next().is_some_and(|last| last.starts_with('_')));
        self.module.functions.push(Function {
            name: name.to_owned(),
            qualified_name: qualified_name.clone(),
            line: at.line,
            end_line,
            column: at.column,
            complexity: complexity(&def.body),
            public: !private && !nested && !parent_private,
            documented: docstring(&def.body).is_some(),
            is_async: def.is_async,
            method,
            nested,
            unannotated_parameters: unannotated,
            returns_annotated: def.returns.is_some(),
            in_test: false,
        });
        let saved = self.context;
        self.context = Context { in_async: def.is_async, loops: 0 };
        self.scopes.push(Scope::collect(ScopeKind::Function, &def.body, Some(&def.parameters)));
        self.names.push((qualified_name, ScopeKind::Function));
        self.body(&def.body);
        self.names.pop();
        self.scopes.pop();
        self.context = saved;
    }

    fn class(&mut self, class: &ast::StmtClassDef) {
        for decorator in &class.decorator_list {
            self.visit_expr(&decorator.expression);
        }
        if let Some(arguments) = &class.arguments {
            self.visit_arguments(arguments);
        }
        let qualified_name = match self.names.last() {
            Some((outer, _)) => format!("{outer}.{}", class.name),
            None => class.name.to_string(),
        };
        self.scopes.push(Scope::collect(ScopeKind::Class, &class.body, None));
        self.names.push((qualified_name, ScopeKind::Class));
        self.body(&class.body);
        self.names.pop();
        self.scopes.pop();
    }
}

impl<'a> Visitor<'a> for Lowering<'_, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => self.function(def),
            Stmt::ClassDef(class) => self.class(class),
            Stmt::Import(import) => {
                let at = self.at(stmt);
                for alias in &import.names {
                    self.module.imports.push(Import {
                        module: alias.name.to_string(),
                        names: Vec::new(),
                        from: false,
                        star: false,
                        level: 0,
                        at,
                    });
                }
            }
            Stmt::ImportFrom(import) => {
                let at = self.at(stmt);
                let names: Vec<String> = import.names.iter().map(|a| a.name.to_string()).collect();
                self.module.imports.push(Import {
                    module: import.module.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    star: names.iter().any(|n| n == "*"),
                    names,
                    from: true,
                    level: import.level,
                    at,
                });
            }
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.write(target);
                    if let Some(name) = Self::target_name(target) {
                        self.named_string(name, &assign.value);
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            Stmt::AugAssign(assign) => {
                self.write(&assign.target);
                visitor::walk_stmt(self, stmt);
            }
            Stmt::AnnAssign(assign) => {
                self.write(&assign.target);
                if let (Some(name), Some(value)) = (Self::target_name(&assign.target), &assign.value) {
                    self.named_string(name, value);
                }
                visitor::walk_stmt(self, stmt);
            }
            Stmt::Delete(delete) => {
                delete.targets.iter().for_each(|t| self.write(t));
                visitor::walk_stmt(self, stmt);
            }
            Stmt::For(for_) => {
                self.visit_expr(&for_.target);
                self.visit_expr(&for_.iter);
                self.context.loops += 1;
                self.visit_body(&for_.body);
                self.context.loops -= 1;
                self.visit_body(&for_.orelse);
            }
            Stmt::While(while_) => {
                self.visit_expr(&while_.test);
                self.context.loops += 1;
                self.visit_body(&while_.body);
                self.context.loops -= 1;
                self.visit_body(&while_.orelse);
            }
            Stmt::Try(try_) => {
                for handler in &try_.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = handler;
                    if h.type_.is_none() {
                        let reraises = h.body.iter().any(|s| matches!(s, Stmt::Raise(r) if r.exc.is_none()));
                        let at = self.at(handler);
                        self.module.bare_excepts.push(BareExcept { at, reraises });
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) => {
                let callee = self.resolve(&call.func);
                let keywords = call
                    .arguments
                    .keywords
                    .iter()
                    .map(|keyword| {
                        if let Some(name) = &keyword.arg {
                            let name = name.to_string();
                            self.named_string(&name, &keyword.value);
                        }
                        KeywordArgument {
                            name: keyword.arg.as_ref().map(|n| n.to_string()),
                            dotted: self.resolve(&keyword.value),
                            is_none: keyword.value.is_none_literal_expr(),
                        }
                    })
                    .collect();
                let first_string = match call.arguments.args.first() {
                    Some(Expr::StringLiteral(literal)) => Some(literal.value.to_str().to_owned()),
                    _ => None,
                };
                let at = self.at(expr);
                self.module.calls.push(Call {
                    callee,
                    at,
                    in_async: self.context.in_async,
                    in_loop: self.context.loops > 0,
                    keywords,
                    first_string,
                });
                visitor::walk_expr(self, expr);
            }
            Expr::StringLiteral(literal) => {
                let at = self.at(expr);
                self.module.strings.push(StringLiteral {
                    line: at.line,
                    column: at.column,
                    value: literal.value.to_str().to_owned(),
                });
            }
            Expr::Subscript(subscript) => {
                if let (Some(value), Expr::StringLiteral(key)) = (self.resolve(&subscript.value), &*subscript.slice) {
                    let at = self.at(expr);
                    self.module.subscripts.push(Subscript { value, key: key.value.to_str().to_owned(), at });
                }
                visitor::walk_expr(self, expr);
            }
            Expr::Dict(dict) => {
                for item in &dict.items {
                    if let Some(Expr::StringLiteral(key)) = &item.key {
                        let key = key.value.to_str().to_owned();
                        self.named_string(&key, &item.value);
                    }
                }
                visitor::walk_expr(self, expr);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// The docstring of a body: its first statement, when it is a string.
fn docstring(body: &[Stmt]) -> Option<&ast::ExprStringLiteral> {
    match body.first() {
        Some(Stmt::Expr(ast::StmtExpr { value, .. })) => value.as_string_literal_expr(),
        _ => None,
    }
}

/// Cyclomatic complexity as radon 6 computes it for a function: 1, plus
/// each `if`/`elif`/conditional expression, loop (and its `else`), `except`
/// handler and `try`'s `else`, extra operand of `and`/`or`, comprehension
/// (and its `if`s), `assert`, and `match` case (less a catch-all). Nested
/// functions and classes count for themselves; decorators, defaults and
/// the inside of an `assert` are not visited; `try … except*` counts as
/// radon's visitor sees it, that is not at all.
pub fn complexity(body: &[Stmt]) -> u32 {
    let mut counter = Complexity(1);
    for stmt in body {
        counter.visit_stmt(stmt);
    }
    counter.0
}

struct Complexity(u32);

impl<'a> Visitor<'a> for Complexity {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
            Stmt::Assert(_) => {
                self.0 += 1;
                return;
            }
            Stmt::If(if_) => self.0 += 1 + if_.elif_else_clauses.iter().filter(|c| c.test.is_some()).count() as u32,
            Stmt::For(for_) => self.0 += 1 + u32::from(!for_.orelse.is_empty()),
            Stmt::While(while_) => self.0 += 1 + u32::from(!while_.orelse.is_empty()),
            Stmt::Try(try_) if !try_.is_star => {
                self.0 += try_.handlers.len() as u32 + u32::from(!try_.orelse.is_empty());
            }
            Stmt::Match(match_) => {
                let catch_all = match_
                    .cases
                    .iter()
                    .any(|case| matches!(&case.pattern, ast::Pattern::MatchAs(as_) if as_.pattern.is_none()));
                self.0 += (match_.cases.len() as u32).saturating_sub(u32::from(catch_all));
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::BoolOp(op) => self.0 += op.values.len().saturating_sub(1) as u32,
            Expr::If(_) => self.0 += 1,
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.0 += 1 + comprehension.ifs.len() as u32;
        visitor::walk_comprehension(self, comprehension);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(source: &str) -> Vec<(String, u32)> {
        parse(source).functions.into_iter().map(|f| (f.qualified_name, f.complexity)).collect()
    }

    #[test]
    fn complexity_follows_radon() {
        // Values from radon 6's own tests and `radon cc` on these snippets.
        assert_eq!(cc("def f(a, b, c):\n    if a:\n        if b:\n            pass\n    elif c:\n        return 2\n"), [("f".into(), 4)]);
        assert_eq!(cc("def f(a, b):\n    return a and b or b\n"), [("f".into(), 3)]);
        assert_eq!(cc("def f(a):\n    return [x for x in a if x if x > 1]\n"), [("f".into(), 4)]);
        assert_eq!(cc("def f(a):\n    for x in a:\n        pass\n    else:\n        pass\n    while a:\n        pass\n"), [("f".into(), 4)]);
        assert_eq!(cc("def f():\n    try:\n        pass\n    except A:\n        pass\n    except B:\n        pass\n    else:\n        pass\n"), [("f".into(), 4)]);
        assert_eq!(cc("def f(x):\n    match x:\n        case 1:\n            pass\n        case 2:\n            pass\n        case _:\n            pass\n"), [("f".into(), 3)]);
        assert_eq!(cc("def f(x):\n    assert x and x\n    def g(y):\n        if y:\n            pass\n"), [("f".into(), 2), ("f.g".into(), 2)]);
        assert_eq!(cc("@d(a if b else c)\ndef f(x=a if b else c):\n    return lambda: a if b else c\n"), [("f".into(), 2)]);
    }

    #[test]
    fn names_resolve_through_imports_and_builtins_can_be_shadowed() {
        let module = parse("import time as t\nfrom os import path\nt.sleep(1)\npath.join('a')\nprint(1)\ndef f(print):\n    print(2)\n");
        let callees: Vec<_> = module.calls.iter().map(|c| c.callee.clone()).collect();
        assert_eq!(callees, [Some("time.sleep".into()), Some("os.path.join".into()), Some("builtins.print".into()), None]);
    }

    #[test]
    fn syntax_errors_are_located_and_the_rest_still_parses() {
        let module = parse("def f(:\n    pass\nprint(1)\n");
        assert!(!module.errors.is_empty());
        assert_eq!(module.errors[0].line, 1);
        assert!(module.calls.iter().any(|c| c.callee.as_deref() == Some("builtins.print")));
    }
}
