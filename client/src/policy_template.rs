//! The commented policy template `reprolog policy init` writes.

pub const TEMPLATE: &str = r#"# reprolog trust policy
#
# Which log to ask, which rebuilders you trust, and how many of them must have
# reproduced a file before `reprolog verify` says REPRODUCED.
# Lines: keyword, then fields separated by spaces; '#' starts a comment.
#
# log <log verifier key> <log URL>
#   The log's key signs its checkpoints; its name is the log's origin.
#log reprolog.example.org/log+0a1b2c3d+AXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX https://log.example.org
#
# rebuilder <name> <rebuilder verifier key>
#   A rebuilder you trust; the name is yours, the key is what it signs with.
#rebuilder alice alice.example.org+01234567+AYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY
#rebuilder bob   bob.example.net+89abcdef+AZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ
#
# witness <name> <witness verifier key> [<URL>]
#   A checkpoint witness (C2SP tlog-witness); its key has type 0x04
#   (C2SP tlog-cosignature), as `reprolog-server witness-init` prints it.
#witness w1 witness.example.org+4567abcd+BWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW
#
# group <name> <k|all|any> <member>...
#   Satisfied when at least k members are. Members are defined above and are
#   all rebuilders or all witnesses (or groups of them).
#group core 2 alice bob
#
# consensus <rebuilder or group of rebuilders>
#   Who must have reproduced a file for REPRODUCED.
#consensus core
#
# quorum <witness or group of witnesses, or none>
#   Which witnesses must have cosigned every checkpoint the client believes
#   (C2SP tlog-policy). `quorum none` trusts the log's signature alone.
#quorum none
#
# max-age <90s, 30m, 24h, 7d, or none>
#   How long ago the witness quorum may last have cosigned the checkpoint a
#   verdict rests on; older is LOG ERROR (a frozen log hides new evidence).
#   Default with a quorum: 24h. Not allowed with `quorum none`.
#max-age 24h
"#;
