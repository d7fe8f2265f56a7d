//! A program's connection to a log: proto's verified [`LogClient`] over
//! HTTP. Only the moving of bytes is here; what is believed is decided in
//! `reprolog_proto::logclient` and `reprolog_proto::reader`.

use reprolog_proto::note::Verifier;
use reprolog_proto::transport::{self, FetchError, Transport};
use std::time::Duration;

pub use reprolog_proto::logclient::LogError;

/// A verified client of one log over HTTP.
pub type LogClient = reprolog_proto::logclient::LogClient<Http>;

/// The log at `url` whose checkpoints `key` signs.
pub fn connect(url: &str, key: Verifier) -> LogClient {
    LogClient::new(Http::new(url), key)
}

/// Blocking HTTP(S) with ureq and rustls: answers bounded in size and time.
pub struct Http {
    base: String,
    /// Where the static read path (checkpoint, tiles) is read from, when it
    /// is not `base`: a bucket or CDN the log publishes to.
    static_base: Option<String>,
    agent: ureq::Agent,
}

impl Http {
    pub fn new(url: &str) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(transport::REQUEST_TIMEOUT_SECS)))
            .build()
            .into();
        Http {
            base: url.trim_end_matches('/').to_string(),
            static_base: None,
            agent,
        }
    }

    /// Reads `/checkpoint` and `/tile/…` from `url` instead (C2SP
    /// tlog-tiles paths under a static base URL); the rest still goes to the
    /// log's API, and so does a tile `url` does not hold yet.
    pub fn with_static_reads(mut self, url: &str) -> Http {
        self.static_base = Some(url.trim_end_matches('/').to_string());
        self
    }

    fn get_from(&self, base: &str, path: &str) -> Result<Vec<u8>, FetchError> {
        let url = format!("{base}{path}");
        finish(&url, self.agent.get(&url).call())
    }
}

impl Transport for Http {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        if let Some(static_base) = &self.static_base {
            if transport::is_static_read(path) {
                match self.get_from(static_base, path) {
                    Err(e) if transport::ask_api_instead(path, &e) => {}
                    answer => return answer,
                }
            }
        }
        self.get_from(&self.base, path)
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}{path}", self.base);
        let sent = self
            .agent
            .post(&url)
            .header("Content-Type", content_type)
            .send(body);
        finish(&url, sent)
    }

    fn base(&self) -> &str {
        &self.base
    }
}

fn finish(
    url: &str,
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Vec<u8>, FetchError> {
    let mut resp = answer.map_err(|e| FetchError::network(url, e))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(transport::MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| FetchError::network(url, e))?;
    transport::check_answer(url, status, body)
}
