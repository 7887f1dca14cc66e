//! Templates tenants write, rendered by minijinja in a sandbox: an
//! undefined name is an error (not an empty string), a fuel limit stops
//! runaway loops, the HTML part is auto-escaped, and there is no access to
//! anything but the data given. An error names the template, its part and
//! the line.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Instructions one render may spend; ample for a message, fatal to a loop
/// over a billion items.
pub const FUEL: u64 = 50_000;
/// The longest source of one part, and of one rendered part.
pub const MAX_SOURCE: usize = 64 * 1024;
pub const MAX_OUTPUT: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The template's name (or id), for errors.
    pub name: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}, {part} line {line}: {message}")]
pub struct RenderError {
    pub template: String,
    /// `subject`, `text` or `html`: the request field at fault.
    pub part: &'static str,
    pub line: usize,
    pub message: String,
}

impl Template {
    /// Compiles every part, so a syntax error is found when the template is
    /// saved rather than when a message needs it.
    pub fn check(&self) -> Result<(), RenderError> {
        let env = environment();
        for (part, source) in self.parts() {
            self.limit(part, source)?;
            env.template_from_named_str(file(part), source).map_err(|error| self.error(part, &error))?;
        }
        Ok(())
    }

    pub fn render(&self, data: &serde_json::Value) -> Result<Rendered, RenderError> {
        let env = environment();
        let render = |part: &'static str, source: &str| -> Result<String, RenderError> {
            self.limit(part, source)?;
            let output = env
                .template_from_named_str(file(part), source)
                .and_then(|template| template.render(data))
                .map_err(|error| self.error(part, &error))?;
            if output.len() > MAX_OUTPUT {
                return Err(RenderError { template: self.name.clone(), part, line: 1, message: format!("renders to more than {MAX_OUTPUT} bytes") });
            }
            Ok(output)
        };
        let subject = render("subject", &self.subject)?;
        Ok(Rendered {
            // A subject is one line (a header, a Slack title).
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: render("text", &self.text)?,
            html: self.html.as_deref().map(|html| render("html", html)).transpose()?,
        })
    }

    fn parts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("subject", Some(self.subject.as_str())), ("text", Some(self.text.as_str())), ("html", self.html.as_deref())]
            .into_iter()
            .filter_map(|(part, source)| source.map(|source| (part, source)))
    }

    fn limit(&self, part: &'static str, source: &str) -> Result<(), RenderError> {
        if source.len() > MAX_SOURCE {
            return Err(RenderError { template: self.name.clone(), part, line: 1, message: format!("longer than {MAX_SOURCE} bytes") });
        }
        Ok(())
    }

    fn error(&self, part: &'static str, error: &minijinja::Error) -> RenderError {
        let message = match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        };
        RenderError { template: self.name.clone(), part, line: error.line().unwrap_or(1), message }
    }
}

fn file(part: &str) -> &'static str {
    match part {
        "html" => "body.html",
        "subject" => "subject.txt",
        _ => "body.txt",
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(subject: &str, text: &str, html: Option<&str>) -> Template {
        Template { name: "welcome".into(), subject: subject.into(), text: text.into(), html: html.map(str::to_owned) }
    }

    #[test]
    fn renders_and_escapes_html_only() {
        let t = template("Study {{ study }}\n done", "Hi {{ name }}", Some("<p>Hi {{ name }}</p>"));
        let rendered = t.render(&json!({"study": "s-1", "name": "<b>Ann</b>"})).unwrap();
        assert_eq!(rendered.subject, "Study s-1 done");
        assert_eq!(rendered.text, "Hi <b>Ann</b>");
        assert_eq!(rendered.html.unwrap(), "<p>Hi &lt;b&gt;Ann&lt;&#x2f;b&gt;</p>");
    }

    #[test]
    fn undefined_names_and_python_attributes_are_errors_with_part_and_line() {
        let t = template("ok", "line one\n{{ ''.__class__ }}", None);
        let error = t.render(&json!({})).unwrap_err();
        assert_eq!((error.template.as_str(), error.part, error.line), ("welcome", "text", 2));
        assert!(error.message.contains("undefined"), "{}", error.message);
        let error = template("{{ missing }}", "x", None).render(&json!({})).unwrap_err();
        assert_eq!((error.part, error.line), ("subject", 1));
    }

    #[test]
    fn syntax_errors_are_found_when_saved() {
        let error = template("ok", "fine", Some("<p>\n\n{% if %}</p>")).check().unwrap_err();
        assert_eq!((error.part, error.line), ("html", 3));
        assert!(template("a", "b", None).check().is_ok());
    }

    #[test]
    fn fuel_stops_a_runaway_loop() {
        let t = template("x", "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}", None);
        let error = t.render(&json!({})).unwrap_err();
        assert!(error.message.contains("fuel"), "{}", error.message);
    }
}
