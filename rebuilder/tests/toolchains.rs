//! The toolchain store follows directory symlinks, as operators lay stores
//! out, and a symlink cycle does not hang the scan.

mod common;

use common::*;
use reprolog_rebuilder::toolchain::ToolchainStore;
use std::os::unix::fs::symlink;

#[test]
fn toolchains_are_found_through_symlinks_and_cycles_end_the_walk() {
    let store = tempfile::tempdir().unwrap();
    // DIR/go1.27.3 -> the GOROOT's parent (the wheel's install directory).
    let parent = goroot("1.27.3").parent().unwrap().to_path_buf();
    symlink(&parent, store.path().join("go1.27.3")).unwrap();
    // Cycles, at the top and deeper down.
    symlink(store.path(), store.path().join("loop")).unwrap();
    std::fs::create_dir_all(store.path().join("a/b")).unwrap();
    symlink(store.path().join("a"), store.path().join("a/b/up")).unwrap();

    let found = ToolchainStore::scan(&[store.path().to_path_buf()]);
    let t = found.find("go1.27.3").expect("found through the symlink");
    assert_eq!(t.goroot, std::fs::canonicalize(goroot("1.27.3")).unwrap());
    assert_eq!(found.versions(), vec!["go1.27.3"]);
}
