//! The reader on archives built by hand, byte by byte, in the shapes that
//! matter: genuine ones read as before, hostile ones refused. (The same
//! shapes against the real extractors: client/tests/archive_differential.rs.)

use super::craft::*;
use super::*;
use std::io::Cursor;

fn read(bytes: &[u8]) -> Result<Vec<Member>, ArchiveError> {
    members(Cursor::new(bytes), bytes.len() as u64, Limits::default())
}

fn go_binary() -> Vec<u8> {
    let mut go = b"\x7fELF".to_vec();
    go.extend_from_slice(BUILDINFO_MAGIC);
    go
}

fn refused(bytes: &[u8], because: &str) {
    match read(bytes) {
        Err(ArchiveError::Refused(why)) if why.contains(because) => {}
        other => panic!("expected a refusal for {because:?}, got {other:?}"),
    }
}

#[test]
fn the_magic_is_found_across_chunk_boundaries() {
    let mut bin = b"\x7fELF".to_vec();
    bin.extend(vec![0u8; 100]);
    bin.extend_from_slice(BUILDINFO_MAGIC);
    bin.extend(vec![0u8; 100]);
    for split in 0..bin.len() {
        let mut d = GoDetector::default();
        d.feed(&bin[..split]);
        d.feed(&bin[split..]);
        assert!(d.is_go_binary(), "split at {split}");
    }
    let mut d = GoDetector::default();
    d.feed(b"#!/bin/sh\n\xff Go buildinf:");
    assert!(!d.is_go_binary(), "a script is not a binary");
}

#[test]
fn members_are_hashed_and_the_budget_holds_across_members() {
    let go = go_binary();
    let tar = tar_of(&[("LICENSE", b"MIT"), ("./bin/app", &go)]);
    assert_eq!(sniff(&tar), Some(ArchiveKind::Tar));
    let found = read(&tar).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].sha256, Hash::of(b"MIT"));
    assert!(!found[0].go_binary);
    assert_eq!(
        (found[1].path.as_str(), found[1].go_binary),
        ("bin/app", true)
    );
    // 10 bytes of budget: the second member runs past it.
    let tight = Limits {
        floor: 10,
        max_ratio: 0,
        ..Limits::default()
    };
    let err = members(Cursor::new(&tar), 0, tight).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::TooLarge { member, limit: 10 } if member == "bin/app"),
        "{err}"
    );
}

#[test]
fn unsafe_names_are_refused() {
    for bad in [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "C:\\x",
        "a\\..\\x",
        "",
        "./",
    ] {
        assert!(safe_path(bad).is_err(), "{bad:?}");
    }
    assert_eq!(safe_path("./dist//./app").unwrap(), "dist/app");
}

#[test]
fn a_gzip_of_two_members_is_one_tar_stream() {
    // The first member ends without end blocks; the second holds `app` again.
    let mut first = Vec::new();
    tar_entry(&mut first, header("README", 2, b'0', USTAR), b"hi");
    tar_entry(&mut first, header("app", 4, b'0', USTAR), b"good");
    let mut two = gz(&first);
    two.extend(gz(&tar_of(&[("app", b"evil")])));
    refused(&two, "\"app\" twice");
    // Two members that together hold each path once read fine.
    let mut split = gz(&first);
    split.extend(gz(&tar_of(&[("LICENSE", b"MIT")])));
    let found = read(&split).unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[1].sha256, Hash::of(b"good"));
    // Garbage after the last member is refused; zero padding is not.
    let mut padded = split.clone();
    padded.extend([0u8; 1000]);
    assert_eq!(read(&padded).unwrap().len(), 3);
    padded.extend(b"junk");
    refused(&padded, "neither a gzip member nor zero padding");
}

#[test]
fn data_after_the_end_blocks_is_refused() {
    let mut two = tar_of(&[("app", b"good")]);
    two.extend(tar_of(&[("app", b"evil")]));
    refused(&two, "follows the tar archive's end block");
    let mut padded = tar_of(&[("app", b"good")]);
    padded.resize(10240, 0);
    assert_eq!(read(&padded).unwrap().len(), 1);
}

#[test]
fn a_pax_size_is_honoured_even_before_a_v7_header() {
    // GNU tar, bsdtar and Python take the pax size over the header's.
    let pax = pax_record("size", "4");
    let mut tar = Vec::new();
    tar_entry(
        &mut tar,
        header("pax", pax.len() as u64, b'x', USTAR),
        pax.as_bytes(),
    );
    let mut data = b"evil".to_vec();
    data.resize(512, 0);
    // The V7 header claims 0 bytes; the pax size gives 4.
    tar_entry(&mut tar, header("app", 0, b'0', V7), &data);
    tar.extend_from_slice(&[0u8; 1024]);
    let found = read(&tar).unwrap();
    assert_eq!(found[0].sha256, Hash::of(b"evil"));
    // And a pax path renames.
    let pax = pax_record("path", "bin/real");
    let mut tar = Vec::new();
    tar_entry(
        &mut tar,
        header("pax", pax.len() as u64, b'x', USTAR),
        pax.as_bytes(),
    );
    tar_entry(&mut tar, header("shown", 2, b'0', USTAR), b"ok");
    tar.extend_from_slice(&[0u8; 1024]);
    assert_eq!(read(&tar).unwrap()[0].path, "bin/real");
}

#[test]
fn extension_headers_not_fully_understood_are_refused() {
    let with_pax = |kind: u8, records: &str| {
        let mut tar = Vec::new();
        tar_entry(
            &mut tar,
            header("pax", records.len() as u64, kind, USTAR),
            records.as_bytes(),
        );
        tar_entry(&mut tar, header("app", 2, b'0', USTAR), b"ok");
        tar.extend_from_slice(&[0u8; 1024]);
        tar
    };
    refused(
        &with_pax(b'g', &pax_record("path", "app")),
        "global keyword \"path\"",
    );
    refused(
        &with_pax(b'x', &pax_record("GNU.sparse.major", "1")),
        "sparse",
    );
    refused(
        &with_pax(b'x', &pax_record("hdrcharset", "BINARY")),
        "\"hdrcharset\"",
    );
    let twice = pax_record("size", "2") + &pax_record("size", "2");
    refused(&with_pax(b'x', &twice), "twice");
    // git archive's global comment and descriptive keywords are fine.
    assert_eq!(
        read(&with_pax(b'g', &pax_record("comment", "abc123")))
            .unwrap()
            .len(),
        1
    );
    let times = pax_record("mtime", "1.5") + &pax_record("uname", "root");
    assert_eq!(read(&with_pax(b'x', &times)).unwrap().len(), 1);
    // A GNU long name is honoured; with a pax path too it is refused.
    let mut long = Vec::new();
    let name = format!("{}/app\0", "d".repeat(120));
    tar_entry(
        &mut long,
        header("././@LongLink", name.len() as u64, b'L', b"ustar  \0"),
        name.as_bytes(),
    );
    tar_entry(&mut long, header("short", 2, b'0', b"ustar  \0"), b"ok");
    long.extend_from_slice(&[0u8; 1024]);
    assert_eq!(
        read(&long).unwrap()[0].path,
        format!("{}/app", "d".repeat(120))
    );
    let mut both = Vec::new();
    let pax = pax_record("path", "x");
    tar_entry(
        &mut both,
        header("pax", pax.len() as u64, b'x', USTAR),
        pax.as_bytes(),
    );
    tar_entry(
        &mut both,
        header("././@LongLink", name.len() as u64, b'L', b"ustar  \0"),
        name.as_bytes(),
    );
    tar_entry(&mut both, header("short", 2, b'0', USTAR), b"ok");
    both.extend_from_slice(&[0u8; 1024]);
    refused(&both, "two tar extension headers");
}

#[test]
fn headers_read_two_ways_are_refused() {
    let mut bad_sum = tar_of(&[("app", b"ok")]);
    bad_sum[0] ^= 1;
    assert!(read(&bad_sum).is_err());
    // A GNU header with bytes in ustar's prefix field.
    let mut h = header("app", 2, b'0', b"ustar  \0");
    h[345..349].copy_from_slice(b"evil");
    seal(&mut h);
    let mut tar = Vec::new();
    tar_entry(&mut tar, h, b"ok");
    tar.extend_from_slice(&[0u8; 1024]);
    refused(&tar, "prefix field");
    // A regular file named like a directory; a directory with data; a
    // type GNU tar would extract as a file.
    refused(&tar_of(&[("dir/", b"x")]), "named like a directory");
    let mut dir = Vec::new();
    tar_entry(&mut dir, header("dir", 2, b'5', USTAR), b"ok");
    refused(&dir, "has data");
    let mut odd = Vec::new();
    tar_entry(&mut odd, header("app", 2, b'Q', USTAR), b"ok");
    refused(&odd, "not one this reader knows");
    // The same path in two spellings.
    refused(&tar_of(&[("app", b"a"), ("./app", b"b")]), "twice");
}

#[test]
fn a_file_that_is_both_tar_and_zip_is_refused() {
    let mut both = tar_of(&[("app", b"good")]);
    both.truncate(both.len() - 1024);
    // A zip appended as a member's data would also be found by unzip.
    let zip = zip_of(&[("app", b"evil")], |_, _| {});
    tar_entry(
        &mut both,
        header("x.zip", zip.len() as u64, b'0', USTAR),
        &zip,
    );
    both.extend_from_slice(&[0u8; 1024]);
    // unzip looks in the last 64 KiB; the end record must be found there.
    let err = read(&both).unwrap_err();
    assert!(err.to_string().contains("both as tar and as zip"), "{err}");
}

#[test]
fn zips_are_read_and_their_hostile_shapes_refused() {
    let go = go_binary();
    let good = zip_of(&[("bin/app", &go), ("README", b"hi")], |_, _| {});
    let found = read(&good).unwrap();
    assert_eq!(found.len(), 2);
    assert!(found[0].go_binary);
    // Two zips back to back: two end records.
    let mut two = good.clone();
    two.extend(zip_of(&[("bin/app", b"evil")], |_, _| {}));
    refused(&two, "2 zip end-of-central-directory records");
    // A local name that is not the central directory's.
    let renamed = zip_of(&[("app", b"good")], |_, local| {
        let n = local.len();
        local[n - 3..].copy_from_slice(b"evl");
    });
    refused(&renamed, "local header's name differs");
    // Bytes nobody lists, before the first entry.
    let mut prefixed = b"#!/bin/sh\nexit\n".to_vec();
    prefixed.extend(&good);
    assert!(read(&prefixed).is_err());
    // A wrong CRC is found at the member's end.
    let mut bad_crc = good.clone();
    bad_crc[14] ^= 1;
    let cd = bad_crc.len() - 22 - 2 * 46 - "bin/app".len() - "README".len();
    bad_crc[cd + 16] ^= 1;
    let err = read(&bad_crc).unwrap_err();
    assert!(err.to_string().contains("CRC-32"), "{err}");
    // A comment claimed past the end of the file.
    let mut long_comment = good.clone();
    let n = long_comment.len();
    long_comment[n - 2] = 10;
    refused(&long_comment, "comment does not end");
}

#[test]
fn a_header_whose_unused_numbers_are_not_numbers_is_refused() {
    // Found by fuzz target archive_python: after a member whose mode was
    // "0030083", Python's tarfile saw the archive end and GNU tar went on.
    for (range, what) in [
        (100..107, "mode"),
        (108..115, "uid"),
        (116..123, "gid"),
        (136..147, "mtime"),
        (329..336, "devmajor"),
        (337..344, "devminor"),
    ] {
        let mut h = header("bin/app", 2, b'0', USTAR);
        h[range.clone()].copy_from_slice(&b"0030083000000"[..range.len()]);
        seal(&mut h);
        let mut tar = Vec::new();
        tar_entry(&mut tar, header("README", 2, b'0', USTAR), b"hi");
        tar_entry(&mut tar, h, b"ok");
        tar.extend_from_slice(&[0u8; 1024]);
        refused(&tar, &format!("{what} field is not a number"));
    }
    // Empty (all NUL) fields are zero, as every reader takes them.
    let mut h = header("app", 2, b'0', USTAR);
    h[100..108].fill(0);
    seal(&mut h);
    let mut tar = Vec::new();
    tar_entry(&mut tar, h, b"ok");
    tar.extend_from_slice(&[0u8; 1024]);
    assert_eq!(read(&tar).unwrap().len(), 1);
}
