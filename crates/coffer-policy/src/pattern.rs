//! Wildcards (`*`, `?`) and policy variables (`${aws:username}`, `${key, 'default'}`, `${*}`,
//! `${?}`, `${$}`).

use crate::context::{normalize, Context};

/// One element of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// This character exactly.
    Lit(char),
    /// `*`: any run of characters, the empty run included.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Turns wildcard text into tokens: `*` and `?` are wildcards, every other character literal.
pub(crate) fn wildcard_tokens(text: &str) -> Vec<Tok> {
    text.chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// Whether `pattern` matches all of `text`.
pub(crate) fn glob(pattern: &[Tok], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after the last `*`: the pattern index after it and the text index it
    // has consumed up to.
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Star) => {
                resume = Some((p + 1, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((after_star, consumed)) => {
                    p = after_star;
                    t = consumed + 1;
                    resume = Some((after_star, consumed + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|tok| *tok == Tok::Star)
}

/// [`glob`] on a string.
pub(crate) fn glob_str(pattern: &[Tok], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    glob(pattern, &text)
}

/// Lowercases a pattern's literal characters, for case-insensitive matching.
pub(crate) fn lowercase_tokens(tokens: &[Tok]) -> Vec<Tok> {
    let mut out = Vec::with_capacity(tokens.len());
    for tok in tokens {
        match tok {
            Tok::Lit(c) => out.extend(c.to_lowercase().map(Tok::Lit)),
            other => out.push(*other),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// Text as written: in a wildcard context its `*` and `?` are wildcards.
    Text(String),
    /// `${key}` or `${key, 'default'}`; `key` in normal (lowercase) form, `name` as written.
    Var {
        key: String,
        name: String,
        default: Option<String>,
    },
    /// `${*}`, `${?}` or `${$}`: the character itself, never a wildcard.
    Char(char),
}

/// A policy string that may hold policy variables, resolved against a request's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segs: Vec<Seg>,
}

impl Template {
    /// A string taken as written: `${...}` is plain text.
    pub(crate) fn literal(text: &str) -> Self {
        Template {
            segs: vec![Seg::Text(text.to_owned())],
        }
    }

    /// Parses `${...}` variables when `variables` is set (policy `Version` 2012-10-17);
    /// otherwise as [`Template::literal`]. A `${` without its closing `}`, or a malformed
    /// default, is plain text.
    pub(crate) fn parse(text: &str, variables: bool) -> Self {
        if !variables || !text.contains("${") {
            return Self::literal(text);
        }
        let mut segs = Vec::new();
        let mut plain = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match closing_brace(after).and_then(|end| variable(&after[..end]).map(|s| (end, s))) {
                Some((end, seg)) => {
                    plain.push_str(&rest[..start]);
                    if !plain.is_empty() {
                        segs.push(Seg::Text(std::mem::take(&mut plain)));
                    }
                    segs.push(seg);
                    rest = &after[end + 1..];
                }
                None => {
                    plain.push_str(&rest[..start + 2]);
                    rest = after;
                }
            }
        }
        plain.push_str(rest);
        if !plain.is_empty() || segs.is_empty() {
            segs.push(Seg::Text(plain));
        }
        Template { segs }
    }

    /// The template as wildcard tokens: its own text's `*` and `?` are wildcards, values
    /// substituted for variables are literal. `None` when a variable has no value and no
    /// default (AWS: "the value is effectively null. There is no equal or like value").
    pub(crate) fn tokens(&self, ctx: &Context) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        for seg in &self.segs {
            match seg {
                Seg::Text(text) => out.extend(wildcard_tokens(text)),
                Seg::Char(c) => out.push(Tok::Lit(*c)),
                Seg::Var { key, default, .. } => {
                    out.extend(resolve(key, default.as_deref(), ctx)?.chars().map(Tok::Lit))
                }
            }
        }
        Some(out)
    }

    /// The template as a plain string, every character literal. `None` as for
    /// [`Template::tokens`].
    pub(crate) fn string(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Text(text) => out.push_str(text),
                Seg::Char(c) => out.push(*c),
                Seg::Var { key, default, .. } => {
                    out.push_str(resolve(key, default.as_deref(), ctx)?)
                }
            }
        }
        Some(out)
    }

    /// The context keys of its variables, as written.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Var { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// The text as written when the template has no variables.
    pub(crate) fn as_plain(&self) -> Option<&str> {
        match self.segs.as_slice() {
            [Seg::Text(text)] => Some(text),
            _ => None,
        }
    }
}

/// A variable's value: the key's single value, else the default. A multivalued key cannot be
/// a policy variable ("you can't use multivalued context keys as policy variables").
fn resolve<'a>(key: &str, default: Option<&'a str>, ctx: &'a Context) -> Option<&'a str> {
    match ctx.get_normalized(key) {
        Some([value]) => Some(value.as_str()),
        _ => default,
    }
}

/// The index of the `}` closing a variable whose text starts at `text[0]`, skipping braces
/// inside a quoted default.
fn closing_brace(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// The segment for the text between `${` and `}`.
fn variable(inner: &str) -> Option<Seg> {
    let inner = inner.trim();
    match inner {
        "*" => return Some(Seg::Char('*')),
        "?" => return Some(Seg::Char('?')),
        "$" => return Some(Seg::Char('$')),
        _ => {}
    }
    let (name, default) = match inner.split_once(',') {
        None => (inner, None),
        Some((name, default)) => {
            let default = default.trim();
            let quoted = default
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))?;
            // Inside the quotes, '' stands for one quote.
            (name.trim(), Some(quoted.replace("''", "'")))
        }
    };
    if name.is_empty() {
        return None;
    }
    Some(Seg::Var {
        key: normalize(name),
        name: name.to_owned(),
        default,
    })
}
