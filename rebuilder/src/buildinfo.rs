//! Go build information embedded in binaries (Go ≥ 1.18), read without Go.
//!
//! Follows `debug/buildinfo` (src/debug/buildinfo/buildinfo.go): the linker writes
//! a 32-byte header starting `\xff Go buildinf:` (pointer size, flags) at a
//! 16-byte aligned offset in `.go.buildinfo` (ELF), `__go_buildinfo` (Mach-O) or
//! the data section (PE). With flag 0x2 the Go version and the module info follow
//! as uvarint-length-prefixed strings; the module info is framed by 16-byte
//! sentinels and has the text format of `runtime/debug.BuildInfo.String`.

use crate::goquote;
use object::{Object, ObjectSection, ObjectSegment};
use serde::Serialize;

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const ALIGN: usize = 16;
const FLAG_INLINE_STRINGS: u8 = 0x2;
/// Go searches at most this much of the data area for the header.
const SEARCH_LIMIT: usize = 64 * 1024;

/// Why build info could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildInfoError {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("not an executable this tool can read (ELF, PE or Mach-O): {0}")]
    NotExecutable(String),
    #[error("not a Go binary: no Go build information found")]
    NotGo,
    #[error("built with a Go older than 1.18, whose build information format is not supported")]
    TooOld,
    #[error("build information is truncated or corrupt: {0}")]
    Corrupt(&'static str),
    #[error("malformed module information line {line}: {text:?}")]
    BadLine { line: usize, text: String },
}

/// A module line (`mod`, `dep` or `=>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Module {
    pub path: String,
    pub version: String,
    pub sum: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace: Option<Box<Module>>,
}

/// A `build` line: key and value, unquoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

/// Everything `go version -m` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct BuildInfo {
    pub go_version: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    pub settings: Vec<Setting>,
}

impl BuildInfo {
    /// Reads build info from the bytes of an executable.
    pub fn from_binary(data: &[u8]) -> Result<BuildInfo, BuildInfoError> {
        BuildInfo::from_area(data_area(data)?)
    }

    /// Reads build info from a file, reading only the headers and the section
    /// that holds it (as `go version -m` does) rather than the whole binary.
    pub fn from_file(path: &std::path::Path) -> Result<BuildInfo, BuildInfoError> {
        let file = std::fs::File::open(path).map_err(|e| BuildInfoError::Io(e.to_string()))?;
        let cache = object::ReadCache::new(file);
        BuildInfo::from_area(data_area(&cache)?)
    }

    fn from_area(area: &[u8]) -> Result<BuildInfo, BuildInfoError> {
        let header_at = (0..area.len().min(SEARCH_LIMIT))
            .step_by(ALIGN)
            .find(|&off| area[off..].starts_with(MAGIC))
            .ok_or(BuildInfoError::NotGo)?;
        let rest = &area[header_at..];
        if rest.len() < HEADER_LEN {
            return Err(BuildInfoError::Corrupt("header cut short"));
        }
        if rest[15] & FLAG_INLINE_STRINGS == 0 {
            return Err(BuildInfoError::TooOld);
        }
        let mut cursor = &rest[HEADER_LEN..];
        let version = String::from_utf8_lossy(read_bytes(&mut cursor)?).into_owned();
        let modinfo = read_bytes(&mut cursor)?;
        if version.is_empty() {
            return Err(BuildInfoError::NotGo);
        }
        let modinfo = strip_sentinels(modinfo);
        let mut info = BuildInfo::parse_modinfo(&modinfo)?;
        info.go_version = version;
        Ok(info)
    }

    /// Parses the text form of `runtime/debug.BuildInfo` (as `debug.ParseBuildInfo`).
    pub fn parse_modinfo(text: &str) -> Result<BuildInfo, BuildInfoError> {
        let mut info = BuildInfo::default();
        let mut last_module: Option<LastModule> = None;
        for (i, line) in text.lines().enumerate() {
            let bad = || BuildInfoError::BadLine {
                line: i + 1,
                text: line.chars().take(200).collect(),
            };
            if line.is_empty() {
                continue;
            }
            let (word, rest) = line.split_once('\t').ok_or_else(bad)?;
            match word {
                "go" => info.go_version = rest.to_string(),
                "path" => info.path = rest.to_string(),
                "mod" | "dep" | "=>" => {
                    let f: Vec<&str> = rest.split('\t').collect();
                    let module = match f.as_slice() {
                        [p, v] => Module {
                            path: p.to_string(),
                            version: v.to_string(),
                            ..Default::default()
                        },
                        [p, v, s] => Module {
                            path: p.to_string(),
                            version: v.to_string(),
                            sum: s.to_string(),
                            replace: None,
                        },
                        _ => return Err(bad()),
                    };
                    match word {
                        "mod" => {
                            info.main = Some(module);
                            last_module = Some(LastModule::Main);
                        }
                        "dep" => {
                            info.deps.push(module);
                            last_module = Some(LastModule::Dep);
                        }
                        _ => {
                            let target = match last_module.take() {
                                Some(LastModule::Main) => info.main.as_mut(),
                                Some(LastModule::Dep) => info.deps.last_mut(),
                                None => None,
                            }
                            .ok_or_else(bad)?;
                            if target.replace.is_some() || !target.sum.is_empty() {
                                return Err(bad());
                            }
                            target.replace = Some(Box::new(module));
                        }
                    }
                }
                "build" => {
                    let (key, value) = split_setting(rest).ok_or_else(bad)?;
                    info.settings.push(Setting { key, value });
                }
                _ => return Err(bad()),
            }
        }
        Ok(info)
    }

    /// The value of a build setting, if recorded.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }

    /// The module-info text, exactly as `runtime/debug.BuildInfo.String` writes it
    /// (without the `go` line).
    pub fn modinfo_text(&self) -> String {
        fn module(out: &mut String, word: &str, m: &Module) {
            out.push_str(&format!("{word}\t{}\t{}", m.path, m.version));
            match &m.replace {
                None => out.push_str(&format!("\t{}\n", m.sum)),
                Some(r) => {
                    out.push('\n');
                    module(out, "=>", r);
                }
            }
        }
        let mut out = String::new();
        if !self.path.is_empty() {
            out.push_str(&format!("path\t{}\n", self.path));
        }
        if let Some(m) = &self.main {
            module(&mut out, "mod", m);
        }
        for d in &self.deps {
            module(&mut out, "dep", d);
        }
        for s in &self.settings {
            let key = if goquote::needs_quote_key(&s.key) {
                goquote::quote(&s.key)
            } else {
                s.key.clone()
            };
            let value = if goquote::needs_quote_value(&s.value) {
                goquote::quote(&s.value)
            } else {
                s.value.clone()
            };
            out.push_str(&format!("build\t{key}={value}\n"));
        }
        out
    }

    /// The output of `go version -m FILE` for this binary.
    pub fn go_version_m(&self, file: &str) -> String {
        let mut out = format!("{file}: {}\n", self.go_version);
        for line in self.modinfo_text().lines() {
            out.push('\t');
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

enum LastModule {
    Main,
    Dep,
}

/// Splits `key=value` with Go's optional quoting of either side.
fn split_setting(s: &str) -> Option<(String, String)> {
    let (key, rest) = if s.starts_with('"') {
        let end = quoted_end(s)?;
        (goquote::unquote(&s[..end])?, s[end..].strip_prefix('=')?)
    } else {
        let (k, v) = s.split_once('=')?;
        (k.to_string(), v)
    };
    let value = if rest.starts_with('"') {
        let end = quoted_end(rest)?;
        if end != rest.len() {
            return None;
        }
        goquote::unquote(rest)?
    } else {
        rest.to_string()
    };
    Some((key, value))
}

/// Byte offset just past the closing quote of the quoted string at the start of `s`.
fn quoted_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The module info without its 16-byte framing sentinels (empty if unframed).
fn strip_sentinels(b: &[u8]) -> String {
    if b.len() >= 33 && b[b.len() - 17] == b'\n' {
        String::from_utf8_lossy(&b[16..b.len() - 16]).into_owned()
    } else {
        String::new()
    }
}

fn read_uvarint(cursor: &mut &[u8]) -> Result<u64, BuildInfoError> {
    let mut value: u64 = 0;
    for (i, &b) in cursor.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *cursor = &cursor[i + 1..];
            return Ok(value);
        }
    }
    Err(BuildInfoError::Corrupt("bad string length"))
}

fn read_bytes<'a>(cursor: &mut &'a [u8]) -> Result<&'a [u8], BuildInfoError> {
    let len = read_uvarint(cursor)?;
    let len = usize::try_from(len).map_err(|_| BuildInfoError::Corrupt("string length"))?;
    if len > cursor.len() {
        return Err(BuildInfoError::Corrupt(
            "string runs past the end of the file",
        ));
    }
    let (s, rest) = cursor.split_at(len);
    *cursor = rest;
    Ok(s)
}

/// The bytes where the build info header lives, per object format.
fn data_area<'data, R: object::ReadRef<'data>>(data: R) -> Result<&'data [u8], BuildInfoError> {
    let file =
        object::File::parse(data).map_err(|e| BuildInfoError::NotExecutable(e.to_string()))?;
    for name in [".go.buildinfo", "__go_buildinfo"] {
        if let Some(section) = file.section_by_name(name) {
            return section
                .data()
                .map_err(|_| BuildInfoError::Corrupt("build info section lies outside the file"));
        }
    }
    // Older layouts and PE: the first writable data section or segment.
    if let Some(section) = file
        .section_by_name(".data")
        .or_else(|| file.section_by_name("__data"))
    {
        if let Ok(d) = section.data() {
            return Ok(d);
        }
    }
    for segment in file.segments() {
        if let Ok(d) = segment.data() {
            if d.windows(MAGIC.len())
                .step_by(1)
                .take(SEARCH_LIMIT)
                .any(|w| w == MAGIC)
            {
                return Ok(d);
            }
        }
    }
    Err(BuildInfoError::NotGo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "path\texample.com/hello\nmod\texample.com/hello\tv1.2.3\th1:abc=\ndep\tgolang.org/x/text\tv0.3.0\th1:def=\ndep\texample.com/old\tv1.0.0\n=>\texample.com/new\tv1.1.0\th1:ghi=\nbuild\t-buildmode=exe\nbuild\t-ldflags=\"-s -w\"\nbuild\tCGO_ENABLED=0\nbuild\t\"we=ird\"=x\n";

    #[test]
    fn modinfo_round_trips_byte_for_byte() {
        let info = BuildInfo::parse_modinfo(SAMPLE).unwrap();
        assert_eq!(info.path, "example.com/hello");
        assert_eq!(info.main.as_ref().unwrap().sum, "h1:abc=");
        assert_eq!(
            info.deps[1].replace.as_ref().unwrap().path,
            "example.com/new"
        );
        assert_eq!(info.setting("-ldflags"), Some("-s -w"));
        assert_eq!(info.setting("we=ird"), Some("x"));
        assert_eq!(info.modinfo_text(), SAMPLE);
    }

    #[test]
    fn malformed_lines_are_rejected() {
        for bad in [
            "nonsense\n",
            "mod\tonly-path\n",
            "build\tnoequals\n",
            "=>\ta\tb\tc\n",
            "build\t-x=\"unterminated\n",
        ] {
            assert!(BuildInfo::parse_modinfo(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn non_go_and_truncated_inputs_get_clear_errors() {
        assert!(matches!(
            BuildInfo::from_binary(b"hello"),
            Err(BuildInfoError::NotExecutable(_))
        ));
        assert!(matches!(
            BuildInfo::from_binary(&[]),
            Err(BuildInfoError::NotExecutable(_))
        ));
    }
}
