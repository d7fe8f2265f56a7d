//! Go and GNU build IDs: reading them, explaining how two differ, and
//! comparing binaries with both masked out.
//!
//! A Go executable's build ID has four parts (cmd/go/internal/work/buildid.go):
//! `actionID(link)/actionID(main package)/contentID(main package)/contentID(binary)`.
//! The link action ID hashes every link input, `-ldflags` among them, so two
//! builds that differ only in how the flag string was spelled (`-s -w` or
//! `-w -s`, the order of `-X` flags) differ only there, in the binary's content
//! ID, and in the GNU build ID the linker derives from the Go one. With those
//! masked the two files are equal: the cheap test that tells "search flag
//! orders by relinking" from "search values".

use object::{Object, ObjectSection};

/// The Go build ID: the `.note.go.buildid` ELF note, or for other formats the
/// `\xff Go build ID: "..."` string at the start of the text.
pub fn go_build_id(data: &[u8]) -> Option<String> {
    if let Some(id) = elf_note(data, ".note.go.buildid") {
        return String::from_utf8(id.to_vec()).ok();
    }
    const MARKER: &[u8] = b"\xff Go build ID: \"";
    let window = &data[..data.len().min(1 << 20)];
    let start = window.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
    let end = window[start..].iter().position(|&c| c == b'"')? + start;
    String::from_utf8(window[start..end].to_vec()).ok()
}

/// The descriptor of an ELF note section. Layout: namesz, descsz, type (u32
/// each, little-endian on every Go ELF target we rebuild), name padded to 4
/// bytes, then the descriptor.
fn elf_note<'a>(data: &'a [u8], section: &str) -> Option<&'a [u8]> {
    let file = object::File::parse(data).ok()?;
    let note = file.section_by_name(section)?.data().ok()?;
    let word = |i: usize| {
        note.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (namesz, descsz) = (word(0)?, word(4)?);
    let desc_start = 12 + namesz.div_ceil(4) * 4;
    note.get(desc_start..desc_start.checked_add(descsz)?)
}

/// `data` with every copy of its Go build ID and its GNU build ID zeroed.
pub fn masked(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut ids: Vec<Vec<u8>> = Vec::new();
    if let Some(id) = go_build_id(data).filter(|id| !id.is_empty()) {
        ids.push(id.into_bytes());
    }
    if let Some(gnu) = elf_note(data, ".note.gnu.build-id").filter(|d| !d.is_empty()) {
        ids.push(gnu.to_vec());
    }
    for id in ids {
        let mut i = 0;
        while let Some(p) = find(&out[i..], &id) {
            let at = i + p;
            out[at..at + id.len()].fill(0);
            i = at + id.len();
        }
    }
    out
}

/// Whether two binaries are equal once their build IDs are masked: then they
/// differ only in the link flag string (or not at all).
pub fn equal_but_build_ids(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && masked(a) == masked(b)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Which of two Go build IDs' parts differ, in words.
pub fn explain(a: &str, b: &str) -> String {
    if a == b {
        return "Go build IDs are identical: the compiler and linker saw the same inputs; the difference comes after linking".into();
    }
    let pa: Vec<&str> = a.split('/').collect();
    let pb: Vec<&str> = b.split('/').collect();
    if pa.len() != 4 || pb.len() != 4 {
        return format!("Go build IDs differ ({a} vs {b})");
    }
    let note = if pa[1] != pb[1] {
        "the main package's compile inputs differ (source files, dependencies, compiler flags or Go version)"
    } else if pa[2] != pb[2] {
        "the main package compiled to different output from the same inputs"
    } else if pa[0] != pb[0] {
        "the main package is identical; only the link inputs differ (the -ldflags string, dependency packages or link settings)"
    } else {
        "all inputs agree but the linked output differs"
    };
    format!("Go build IDs differ: {note}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_parts_are_named_for_what_they_hash() {
        assert!(explain("L/M/C/B", "X/M/C/Y").contains("only the link inputs differ"));
        assert!(explain("L/M/C/B", "X/N/D/Y").contains("compile inputs differ"));
        assert!(explain("L/M/C/B", "L/M/D/Y").contains("different output from the same inputs"));
        assert!(explain("L/M/C/B", "L/M/C/B").contains("identical"));
    }

    #[test]
    fn masking_hides_only_the_ids() {
        let a = b"\xff Go build ID: \"aa/bb/cc/dd\"\n rest aa/bb/cc/dd";
        let b = b"\xff Go build ID: \"xx/bb/cc/yy\"\n rest xx/bb/cc/yy";
        assert!(equal_but_build_ids(a, b));
        let c = b"\xff Go build ID: \"xx/bb/cc/yy\"\n rest xx/bb/cc/yZ";
        assert!(!equal_but_build_ids(a, c));
    }
}
