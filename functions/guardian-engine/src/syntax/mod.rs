//! Guardian's view of source code. Each language is parsed once, by the one
//! module that knows the parser, and lowered into the facts every rule and
//! metric reads ([`python::Module`], [`rust::File`]). No other module names
//! a parser crate, so a parser can be swapped by rewriting its lowering.

pub mod python;
pub mod rust;

/// Byte offsets to 1-based lines and columns.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        // `match_indices` of a char searches with memchr.
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> u32 {
        (self.starts.partition_point(|&start| start <= offset)) as u32
    }

    /// The 1-based (line, column) of a byte offset; the column counts bytes.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let line = self.line(offset);
        let start = self.starts[line as usize - 1];
        (line, (offset - start) as u32 + 1)
    }

    pub fn lines(&self) -> usize {
        self.starts.len()
    }
}

/// Source that is not UTF-8: the line of the first invalid byte.
pub fn utf8_error_line(bytes: &[u8], error: &std::str::Utf8Error) -> u32 {
    bytes[..error.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u32 + 1
}

/// The deepest nesting of brackets, outside nothing in particular: a cheap
/// guard run before a parser, whose recursion a pathological file (a
/// million opening parentheses) would otherwise exhaust. Brackets inside
/// strings and comments count too, so the limit is generous.
pub fn bracket_depth(text: &str) -> (usize, usize) {
    let mut depth = 0usize;
    let mut deepest = (0usize, 0usize);
    for (offset, byte) in text.bytes().enumerate() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > deepest.0 {
                    deepest = (depth, offset);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The most operators in one logical line (strings and comments skipped,
/// bracketed newlines joined) and the offset where that line ends: a chain
/// like `1 + 1 + …` a hundred thousand terms long is a tree that deep, and
/// walking or dropping it would exhaust any stack. `line_comment` is `#` or
/// `//`.
pub fn longest_operator_chain(text: &str, line_comment: &[u8]) -> (usize, usize) {
    let bytes = text.as_bytes();
    let (mut i, mut depth, mut count) = (0usize, 0usize, 0usize);
    let mut longest = (0usize, 0usize);
    let mut quote: Option<(u8, bool)> = None;
    while i < bytes.len() {
        let byte = bytes[i];
        if let Some((q, triple)) = quote {
            if byte == b'\\' {
                i += 2;
                continue;
            }
            if byte == q && (!triple || bytes[i..].starts_with(&[q, q, q])) {
                i += if triple { 3 } else { 1 };
                quote = None;
                continue;
            }
            if byte == b'\n' && !triple {
                quote = None;
            }
            i += 1;
            continue;
        }
        if bytes[i..].starts_with(line_comment) {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        match byte {
            b'"' | b'\'' => {
                let triple = bytes[i..].starts_with(&[byte, byte, byte]);
                quote = Some((byte, triple));
                i += if triple { 3 } else { 1 };
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'<' | b'>' => {
                count += 1;
                if count > longest.0 {
                    longest = (count, i);
                }
            }
            b'\n' if depth == 0 && (i == 0 || bytes[i - 1] != b'\\') => count = 0,
            _ => {}
        }
        i += 1;
    }
    longest
}

/// Byte classes for [`guard_bounds`]: 1 for an operator
/// [`longest_operator_chain`] counts, 2 for an opening bracket, 3 for a
/// closing one.
const GUARD_CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let operators = b"+-*/%@&|^<>";
    let mut i = 0;
    while i < operators.len() {
        table[operators[i] as usize] = 1;
        i += 1;
    }
    table[b'(' as usize] = 2;
    table[b'[' as usize] = 2;
    table[b'{' as usize] = 2;
    table[b')' as usize] = 3;
    table[b']' as usize] = 3;
    table[b'}' as usize] = 3;
    table
};

/// In one branch-free pass, for the guards: all the operators (an upper
/// bound: no logical line holds more) and the deepest bracket nesting (as
/// [`bracket_depth`] counts it). The exact scans, which also locate the
/// offence, then run only on a file that could trip them.
pub fn guard_bounds(text: &str) -> (usize, usize) {
    let (mut operators, mut depth, mut deepest) = (0usize, 0isize, 0isize);
    for &byte in text.as_bytes() {
        let class = GUARD_CLASSES[byte as usize];
        operators += usize::from(class == 1);
        depth = (depth + isize::from(class == 2) - isize::from(class == 3)).max(0);
        deepest = deepest.max(depth);
    }
    (operators, deepest as usize)
}

/// The lines of `text` as `str::lines` counts them, by counting newlines.
pub fn line_count(text: &str) -> usize {
    text.bytes().filter(|b| *b == b'\n').count() + usize::from(!text.is_empty() && !text.ends_with('\n'))
}

/// The most operators one logical line may hold before it is not parsed.
pub const MAX_OPERATOR_CHAIN: usize = 10_000;

/// A syntax error, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// One comment: its line and its text after the comment marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub line: u32,
    pub text: String,
    /// Whether code precedes the comment on its line.
    pub trailing: bool,
}

/// A string literal in code (docstrings excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringLiteral {
    pub line: u32,
    pub column: u32,
    pub value: String,
}

/// A string literal bound to a name (`password = "…"`, `const TOKEN: &str = "…"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedString {
    pub line: u32,
    pub column: u32,
    pub name: String,
    pub value: String,
}

/// One function or method, for the metrics and the rules on signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// `Class.method`, `outer.inner`, or the name.
    pub qualified_name: String,
    pub line: u32,
    pub end_line: u32,
    pub column: u32,
    /// Cyclomatic complexity (radon's definition, carried over to Rust).
    pub complexity: u32,
    pub public: bool,
    pub documented: bool,
    pub is_async: bool,
    /// A method of a class (Python) or an associated function (Rust).
    pub method: bool,
    /// Defined inside another function.
    pub nested: bool,
    /// Parameters without a type annotation (Python; `self`/`cls` excluded).
    pub unannotated_parameters: Vec<String>,
    /// Whether the return type is annotated (Python).
    pub returns_annotated: bool,
    /// Inside `#[cfg(test)]` or a `#[test]` function (Rust).
    pub in_test: bool,
}

/// The last byte offset at which a syntax tree may still be this deep.
pub const MAX_BRACKET_DEPTH: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guards_bounds_agree_with_the_exact_scans() {
        let nested = format!("{}x{}", "([{".repeat(90), "}])".repeat(90));
        let chain = format!("x = {}1\n", "1 + ".repeat(300));
        for text in ["", "a\n", "f(x)[0]", ")))((", "x = (1,\n (2, [3]))\n# (((\n", "s = '((('\n", nested.as_str(), chain.as_str()] {
            let (operators, deepest) = guard_bounds(text);
            assert_eq!(deepest, bracket_depth(text).0, "{text:?}");
            assert!(operators >= longest_operator_chain(text, b"#").0, "{text:?}");
            assert_eq!(line_count(text), text.lines().count(), "{text:?}");
        }
    }
}
