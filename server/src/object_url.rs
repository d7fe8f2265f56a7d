//! Which object store a `--publish` URL names, and its options.
//!
//! `object_store` reads the scheme and the bucket from the URL; the query
//! carries the store's options. `object_store::parse_url_opts` skips an
//! option it does not know, so a mistyped `?regoin=…` would be dropped
//! without a word; here every option must be one the store knows.
//!
//! - `s3://bucket/prefix?endpoint=URL&region=R&skip_signature=true&…`: any
//!   `AmazonS3ConfigKey`, with or without its `aws_` prefix. Credentials come
//!   from the usual `AWS_*` variables when not given.
//! - `az://container/prefix?account_name=A&endpoint=URL&…` (also `azure://`,
//!   `abfs://`, or an `https://A.blob.core.windows.net/container` URL): any
//!   `AzureConfigKey`. Credentials come from the usual `AZURE_*` variables
//!   when not given.
//! - `file:///dir` and `memory:///`, without options. A directory keeps no
//!   HTTP headers: the web server in front of it sets `Cache-Control`.
//!
//! An `endpoint` with `http://` (a local S3 server or Azurite) allows plain
//! HTTP; anything else keeps HTTPS only.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreScheme};
use std::str::FromStr;

/// An object store opened from a URL.
pub struct Opened {
    pub store: Box<dyn ObjectStore>,
    /// Where in the store the log's files go.
    pub prefix: ObjectPath,
    /// Whether the store keeps HTTP attributes such as `Cache-Control` with
    /// an object (a local directory does not).
    pub keeps_attributes: bool,
}

/// The store a URL names, with its options applied.
pub fn open(url: &str) -> Result<Opened, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let options: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed.set_query(None);
    let unsupported = || {
        format!(
            "{} is not a store reprolog publishes to (s3://, az://, file://, memory:///)",
            parsed.scheme()
        )
    };
    let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|_| unsupported())?;
    let store: Box<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => Box::new(s3(&parsed, &options)?),
        ObjectStoreScheme::MicrosoftAzure => Box::new(azure(&parsed, &options)?),
        ObjectStoreScheme::Local | ObjectStoreScheme::Memory => {
            if let Some((key, _)) = options.first() {
                return Err(format!(
                    "{} takes no options (got {key:?})",
                    parsed.scheme()
                ));
            }
            let (store, prefix) = object_store::parse_url(&parsed).map_err(|e| e.to_string())?;
            return Ok(Opened {
                store,
                prefix,
                keeps_attributes: scheme == ObjectStoreScheme::Memory,
            });
        }
        _ => return Err(unsupported()),
    };
    Ok(Opened {
        store,
        prefix,
        keeps_attributes: true,
    })
}

/// Whether an `endpoint` option names a plain-HTTP server.
fn plain_http_endpoint(options: &[(String, String)]) -> bool {
    options
        .iter()
        .any(|(k, v)| k.ends_with("endpoint") && v.starts_with("http://"))
}

fn s3(url: &url::Url, options: &[(String, String)]) -> Result<impl ObjectStore, String> {
    let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
    for (key, value) in options {
        let canonical = if key.starts_with("aws_") {
            key.clone()
        } else {
            format!("aws_{key}")
        };
        let config = AmazonS3ConfigKey::from_str(&canonical)
            .map_err(|_| format!("unknown S3 option {key:?}"))?;
        builder = builder.with_config(config, value);
    }
    if plain_http_endpoint(options) {
        builder = builder.with_allow_http(true);
    }
    builder.build().map_err(|e| e.to_string())
}

fn azure(url: &url::Url, options: &[(String, String)]) -> Result<impl ObjectStore, String> {
    let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
    for (key, value) in options {
        let config =
            AzureConfigKey::from_str(key).map_err(|_| format!("unknown Azure option {key:?}"))?;
        builder = builder.with_config(config, value);
    }
    if plain_http_endpoint(options) {
        builder = builder.with_allow_http(true);
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match open(url) {
            Ok(_) => panic!("{url} accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn known_stores_open_with_their_options() {
        let s3 = open(
            "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&skip_signature=true",
        )
        .unwrap();
        assert_eq!(s3.prefix.as_ref(), "some/prefix");
        assert!(s3.keeps_attributes);
        open("s3://bucket?aws_region=eu-central-1&aws_skip_signature=true").unwrap();
        let azure = open(
            "az://container/log?account_name=devstoreaccount1&endpoint=http://127.0.0.1:10000/devstoreaccount1&skip_signature=true",
        )
        .unwrap();
        assert_eq!(azure.prefix.as_ref(), "log");
        assert!(open("memory:///").unwrap().keeps_attributes);
        let dir = tempfile::tempdir().unwrap();
        let local = open(&format!("file://{}/log", dir.path().display())).unwrap();
        assert!(!local.keeps_attributes);
    }

    #[test]
    fn an_unknown_option_or_store_is_an_error_not_ignored() {
        let e = err("s3://bucket/p?regoin=eu-central-1&skip_signature=true");
        assert!(e.contains("unknown S3 option \"regoin\""), "{e}");
        let e = err("az://c/p?account_name=a&acount_key=x");
        assert!(e.contains("unknown Azure option \"acount_key\""), "{e}");
        let e = err("memory:///?region=x");
        assert!(e.contains("takes no options"), "{e}");
        let e = err("ftp://host/dir");
        assert!(e.contains("ftp is not a store"), "{e}");
        let e = err("gs://bucket/p");
        assert!(e.contains("gs is not a store"), "{e}");
        assert!(!err("not a url").is_empty());
    }
}
