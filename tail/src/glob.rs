//! File-name globs as the Agent accepts them: `*`, `?`, `[abc]`, `[a-z]`, `[!a]`, `{a,b}`,
//! `\` to escape. They match one path component (the directory has no wildcards).

/// Most patterns `{...}` may expand to.
const MAX_ALTERNATIVES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    One,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled file-name glob.
#[derive(Clone, Debug)]
pub(crate) struct Glob {
    alternatives: Vec<Vec<Token>>,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong.
    pub(crate) fn new(pattern: &str) -> Result<Glob, String> {
        let expanded = expand_braces(pattern)?;
        let alternatives = expanded
            .iter()
            .map(|p| tokens(p))
            .collect::<Result<_, _>>()?;
        Ok(Glob { alternatives })
    }

    /// Whether `name` (one file name) matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.alternatives.iter().any(|t| matches(t, &name))
    }
}

/// Whether `text` holds a glob character (unescaped).
pub(crate) fn has_wildcards(text: &str) -> bool {
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, '*' | '?' | '[' | '{') {
            return true;
        }
    }
    false
}

/// `a{b,c}d` -> `abd`, `acd` (nested braces expand too).
fn expand_braces(pattern: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let Some((open, close)) = outer_braces(&chars)? else {
        return Ok(vec![pattern.to_owned()]);
    };
    let head: String = chars.get(..open).unwrap_or_default().iter().collect();
    let tail: String = chars.get(close + 1..).unwrap_or_default().iter().collect();
    let inner = chars.get(open + 1..close).unwrap_or_default();
    let mut out = Vec::new();
    for part in split_top_level(inner) {
        for rest in expand_braces(&format!("{head}{part}{tail}"))? {
            out.push(rest);
            if out.len() > MAX_ALTERNATIVES {
                return Err(format!(
                    "{{...}} expands to more than {MAX_ALTERNATIVES} patterns"
                ));
            }
        }
    }
    Ok(out)
}

/// The first top-level `{` and its `}`.
fn outer_braces(chars: &[char]) -> Result<Option<(usize, usize)>, String> {
    let (mut depth, mut open, mut escaped) = (0usize, None, false);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => {
                open = open.or(Some(i));
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Ok(open.map(|o| (o, i)));
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("unclosed '{'".into());
    }
    Ok(None)
}

fn split_top_level(chars: &[char]) -> Vec<String> {
    let (mut parts, mut current, mut depth, mut escaped) =
        (Vec::new(), String::new(), 0usize, false);
    for &c in chars {
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
                continue;
            }
            '\\' => escaped = true,
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

fn tokens(pattern: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => Token::Literal(chars.next().ok_or("a trailing '\\'")?),
            '?' => Token::One,
            '*' => Token::Star,
            '[' => class(&mut chars)?,
            c => Token::Literal(c),
        });
    }
    Ok(out)
}

fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Token, String> {
    let negated = chars.next_if(|c| matches!(c, '!' | '^')).is_some();
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or("unclosed '['")?;
        if c == ']' && !first {
            return Ok(Token::Class { negated, ranges });
        }
        first = false;
        let low = if c == '\\' {
            chars.next().ok_or("unclosed '['")?
        } else {
            c
        };
        let high = match chars.peek() {
            Some('-') => {
                chars.next();
                match chars.next() {
                    Some(']') => {
                        ranges.push((low, low));
                        ranges.push(('-', '-'));
                        return Ok(Token::Class { negated, ranges });
                    }
                    Some(h) => h,
                    None => return Err("unclosed '['".into()),
                }
            }
            _ => low,
        };
        ranges.push((low, high));
    }
}

fn one(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => true,
        Token::Star => false,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(l, h)| (*l..=*h).contains(&c)) != *negated
        }
    }
}

/// Iterative matching with one backtrack point (the last `*`): linear for these patterns.
fn matches(pattern: &[Token], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match (pattern.get(p), name.get(n)) {
            (Some(Token::Star), _) => {
                star = Some((p, n));
                p += 1;
            }
            (Some(t), Some(&c)) if one(t, c) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|t| *t == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn wildcards_classes_and_braces() {
        assert!(m("*.log", "app.log"));
        assert!(m("*.log", ".log"));
        assert!(!m("*.log", "app.log.1"));
        assert!(m("app.log*", "app.log.1"));
        assert!(m("app-????-??.log", "app-2024-01.log"));
        assert!(!m("app-????-??.log", "app-24-01.log"));
        assert!(m("[a-c]*.log", "b.log"));
        assert!(!m("[!a-c]*.log", "b.log"));
        assert!(m("{access,error}.log", "error.log"));
        assert!(!m("{access,error}.log", "other.log"));
        assert!(m("a{b,c{d,e}}f", "acef"));
        assert!(m("\\*.log", "*.log"));
        assert!(!m("\\*.log", "x.log"));
        assert!(m("*a*b*c", "xxaxxbxxc"));
        assert!(m("[a-]x", "-x"));
        assert!(m("é?.log", "éx.log"));
    }

    #[test]
    fn malformed_patterns_are_errors_not_panics() {
        for bad in ["[abc", "a{b,c", "abc\\", "[a-"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
        let many = "{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}";
        assert!(Glob::new(many).is_err());
    }

    #[test]
    fn wildcards_are_found_unless_escaped() {
        assert!(has_wildcards("/var/*/x"));
        assert!(!has_wildcards("/var/log\\*/x"));
        assert!(!has_wildcards("/var/log"));
    }
}
