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
# witness <name> <witness verifier key>
#   Reserved for checkpoint witnesses (C2SP tlog-witness).
#
# group <name> <k|all|any> <member>...
#   Satisfied when at least k members are (members: rebuilders or earlier groups).
#group core 2 alice bob
#
# quorum <group or rebuilder>
#   What must be satisfied for REPRODUCED.
#quorum core
"#;
