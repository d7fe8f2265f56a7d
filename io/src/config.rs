//! Settings of the long-running commands (`serve`, `witness`, `follow`) from
//! a TOML file and from `REPROLOG_*` environment variables, beside flags.
//!
//! A config file holds flags by their long names, without dashes:
//!
//! ```toml
//! data = "/var/lib/reprolog"
//! listen = "0.0.0.0:8080"
//! min-free-mib = 2048
//! known-key = ["alice.example+1234abcd+AQ…", "bob.example+…"]
//! read-only = false
//! ```
//!
//! [`expand`] turns it into flags placed before the command line's own, so
//! that (with clap's `args_override_self`) a flag given on the command line
//! wins; [`with_env`] gives every long flag a `REPROLOG_<NAME>` variable. A
//! key whose variable is set is left out of the expansion, so the order is:
//! flag, then environment, then config file, then default.

use std::ffi::OsString;
use std::path::Path;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: {why}")]
    Invalid { path: String, why: String },
}

/// The environment variable of a long flag: `min-free-mib` → `REPROLOG_MIN_FREE_MIB`.
pub fn env_name(long: &str) -> String {
    format!("REPROLOG_{}", long.replace('-', "_").to_ascii_uppercase())
}

/// Gives each long flag of the `subcommands` of `cmd` its `REPROLOG_*`
/// variable, except those in `except` (variables that mean something else).
pub fn with_env(cmd: clap::Command, subcommands: &[&str], except: &[&str]) -> clap::Command {
    subcommands.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(*name, |sub| {
            // The command line's flags come after the file's and replace them.
            sub.args_override_self(true)
                .mut_args(|arg| match arg.get_long() {
                    Some(long) if !except.contains(&long) && long != "config" => {
                        let var: &'static str = Box::leak(env_name(long).into_boxed_str());
                        arg.env(var)
                    }
                    _ => arg,
                })
        })
    })
}

/// Parses the program's command line as `T`, after [`expand`]ing the
/// `--config` of the `subcommands` and giving their flags [`with_env`]
/// variables (all but `except`); a flag given twice keeps the last. clap's
/// own errors and `--help` end the process as clap does; an unreadable config
/// file is one line and exit 2.
pub fn parse<T: clap::Parser>(subcommands: &[&str], except: &[&str]) -> T {
    let args = match expand(std::env::args_os().collect(), subcommands) {
        Ok(args) => args,
        Err(e) => {
            let cmd = T::command();
            eprintln!("{}: {e}", cmd.get_name());
            std::process::exit(2);
        }
    };
    let cmd = with_env(T::command(), subcommands, except);
    let mut matches = cmd.try_get_matches_from(args).unwrap_or_else(|e| e.exit());
    T::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit())
}

/// The command line with the flags of its `--config FILE` (if the
/// subcommand is one of `subcommands` and names one) inserted right after
/// the subcommand, before the user's own flags.
pub fn expand(args: Vec<OsString>, subcommands: &[&str]) -> Result<Vec<OsString>, ConfigError> {
    let Some(sub) = args.get(1).and_then(|a| a.to_str()) else {
        return Ok(args);
    };
    if !subcommands.contains(&sub) {
        return Ok(args);
    }
    let Some(path) = config_path(&args[2..]) else {
        return Ok(args);
    };
    let flags = flags_of(Path::new(&path), |var| std::env::var_os(var).is_some())?;
    let mut out = args[..2].to_vec();
    out.extend(flags.into_iter().map(OsString::from));
    out.extend_from_slice(&args[2..]);
    Ok(out)
}

/// The value of `--config FILE` or `--config=FILE`, the last one given.
fn config_path(args: &[OsString]) -> Option<OsString> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(text) = a.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            found = it.next().cloned();
        } else if let Some(v) = text.strip_prefix("--config=") {
            found = Some(OsString::from(v));
        }
    }
    found
}

/// The flags a config file stands for, in key order; keys whose variable
/// `is_set` are left to the environment.
pub fn flags_of(path: &Path, is_set: impl Fn(&str) -> bool) -> Result<Vec<String>, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let invalid = |why: String| ConfigError::Invalid {
        path: shown.clone(),
        why,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let flag_like = long.starts_with(|c: char| c.is_ascii_lowercase())
            && long.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if long == "config" || !flag_like {
            return Err(invalid(format!("{key:?} is not a flag of this command")));
        }
        if is_set(&env_name(&long)) {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items,
            one => vec![one],
        };
        for v in values {
            match v {
                toml::Value::Boolean(true) => flags.push(format!("--{long}")),
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) => flags.push(format!("--{long}={s}")),
                toml::Value::Integer(n) => flags.push(format!("--{long}={n}")),
                toml::Value::Float(x) => flags.push(format!("--{long}={x}")),
                other => {
                    return Err(invalid(format!(
                        "{key}: a {} is not a flag value",
                        other.type_str()
                    )))
                }
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_config_file_becomes_flags_before_the_command_lines_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(
            &path,
            "data = \"/srv/log\"\nmin_free_mib = 2048\nread-only = true\nverbose = false\n\
             known-key = [\"a+1+x\", \"b+2+y\"]\nunknown-key-rate = 0.5\n",
        )
        .unwrap();
        let args = os(&[
            "reprolog-server",
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--min-free-mib",
            "64",
        ]);
        let out = expand(args, &["serve", "witness"]).unwrap();
        let out: Vec<&str> = out.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            out,
            [
                "reprolog-server",
                "serve",
                "--data=/srv/log",
                "--known-key=a+1+x",
                "--known-key=b+2+y",
                "--min-free-mib=2048",
                "--read-only",
                "--unknown-key-rate=0.5",
                "--config",
                path.to_str().unwrap(),
                "--min-free-mib",
                "64",
            ]
        );
        // Other subcommands, and no --config: unchanged.
        let init = os(&["reprolog-server", "init", "--config", "x"]);
        assert_eq!(expand(init.clone(), &["serve"]).unwrap(), init);
        let plain = os(&["reprolog-server", "serve", "--data", "d"]);
        assert_eq!(expand(plain.clone(), &["serve"]).unwrap(), plain);
    }

    #[test]
    fn the_environment_wins_over_the_file_and_bad_files_are_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "max-batch = 8\nlisten = \"127.0.0.1:1\"\n").unwrap();
        let flags = flags_of(&path, |var| var == "REPROLOG_MAX_BATCH").unwrap();
        assert_eq!(flags, ["--listen=127.0.0.1:1"]);
        assert_eq!(
            env_name("unknown-total-burst-bytes"),
            "REPROLOG_UNKNOWN_TOTAL_BURST_BYTES"
        );

        for (text, why) in [
            ("max-batch = ", "config"),
            ("[table]\nx = 1\n", "table"),
            ("config = \"other.toml\"\n", "not a flag"),
            ("\"--evil\" = 1\n", "not a flag"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = flags_of(&path, |_| false).unwrap_err().to_string();
            assert!(err.starts_with("config "), "{err}");
            assert!(err.contains(why), "{text:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        let missing = flags_of(&dir.path().join("none.toml"), |_| false).unwrap_err();
        assert!(
            missing.to_string().starts_with("reading config "),
            "{missing}"
        );
    }
}
