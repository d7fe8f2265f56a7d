//! Go string quoting as `strconv.Quote` / `strconv.Unquote` do it, for the
//! `build` lines of Go build info (runtime/debug.BuildInfo.String quotes keys and
//! values that contain spaces, quotes or control characters).

/// Whether Go quotes a build setting key.
pub fn needs_quote_key(key: &str) -> bool {
    key.is_empty() || key.contains(['=', ' ', '\t', '\r', '\n', '"', '`'])
}

/// Whether Go quotes a build setting value.
pub fn needs_quote_value(value: &str) -> bool {
    value.contains([' ', '\t', '\r', '\n', '"', '`'])
}

/// `strconv.Quote`: a double-quoted Go string literal with escapes for
/// non-printable characters.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `strconv.Unquote` for double-quoted strings; `None` if malformed.
pub fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let hex = |chars: &mut std::str::Chars, n: usize| -> Option<u32> {
            let digits: String = chars.take(n).collect();
            if digits.len() != n {
                return None;
            }
            u32::from_str_radix(&digits, 16).ok()
        };
        match chars.next()? {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => out.push(char::from_u32(hex(&mut chars, 2)?)?),
            'u' => out.push(char::from_u32(hex(&mut chars, 4)?)?),
            'U' => out.push(char::from_u32(hex(&mut chars, 8)?)?),
            d @ '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{d}{rest}"), 8).ok()?;
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_round_trips() {
        for s in [
            "-s -w",
            "a\"b",
            "tab\there",
            "back\\slash",
            "nl\n",
            "\x01",
            "ünï cödé",
        ] {
            assert_eq!(unquote(&quote(s)).as_deref(), Some(s), "{s:?}");
        }
        assert_eq!(quote("-s -w"), "\"-s -w\"");
        assert_eq!(unquote("\"unterminated"), None);
        assert_eq!(unquote("\"bad \\q\""), None);
        assert_eq!(unquote("\"a\"b\""), None);
    }
}
