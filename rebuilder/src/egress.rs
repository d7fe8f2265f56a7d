//! Where a rebuilder node may connect when it looks for a source.
//!
//! A module path comes from a binary or a log entry, that is from a stranger.
//! Left alone, `127.0.0.1/x`, `0x7f000001/x` or a `go-import` tag naming
//! `https://169.254.169.254/` would make the node send requests into its own
//! network. So every connection made for a source (the `?go-get=1` page, the
//! repository URL it names, git's fetches and submodules) goes through here:
//!
//! 1. the URL is read strictly ([`HttpsUrl::parse`]): https only, a host that
//!    is a DNS name or an IP literal, no user info, nothing two parsers could
//!    read two ways; numeric hosts are read as the WHATWG URL standard reads
//!    them (`0x7f000001`, `2130706433` and `127.1` are all 127.0.0.1);
//! 2. the host is resolved, and every address it resolves to must pass
//!    [`refusal_rule`] (loopback, private, link-local, unique-local,
//!    multicast, unspecified, IPv4-mapped and the other special-purpose
//!    ranges of RFC 6890) unless the operator allowed its range;
//! 3. the connection is made to the checked addresses only ([`Pinned`]): the
//!    HTTP client is given them as its resolver, git as `http.curloptResolve`,
//!    so a second DNS answer cannot differ from the first.
//!
//! Redirects are followed by hand, https to https only, at most
//! [`MAX_REDIRECTS`], each target checked like the first URL. git follows
//! none (`http.followRedirects=false`, which also refuses dumb-HTTP
//! alternates).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Most redirects one source request follows.
pub const MAX_REDIRECTS: usize = 3;

/// Largest `?go-get=1` page read.
const MAX_PAGE: u64 = 1 << 20;

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("refused to connect to {host} ({addr}): {rule} address (allow its range with --allow-egress)")]
    Refused {
        host: String,
        addr: IpAddr,
        rule: &'static str,
    },
    #[error("refused URL {url}: {why}")]
    BadUrl { url: String, why: String },
    #[error("cannot resolve {host}: {why}")]
    Resolve { host: String, why: String },
    #[error("{url}: {why}")]
    Http { url: String, why: String },
}

/// An address range in CIDR form (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(text: &str) -> Result<IpRange, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an address range (like 10.0.0.0/8)"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpRange { base, prefix })
    }
}

impl IpRange {
    /// Whether `addr` is in the range (IPv4 ranges hold IPv4 addresses only).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.base, addr) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                prefix_eq(&b.octets(), &a.octets(), u32::from(self.prefix))
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                prefix_eq(&b.octets(), &a.octets(), u32::from(self.prefix))
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let whole = (bits / 8) as usize;
    let rest = bits % 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0
}

/// The rule that keeps a node from connecting to `addr`, or `None` for a
/// globally reachable unicast address. The ranges are RFC 6890's
/// special-purpose registries (and RFC 6598, 6761, 4291); an address that
/// embeds an IPv4 one (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by
/// the address it embeds, and IPv4-mapped and -compatible addresses, which
/// no DNS answer for a public host holds, are refused outright.
pub fn refusal_rule(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => v4_rule(v4),
        IpAddr::V6(v6) => v6_rule(v6),
    }
}

fn v4_rule(a: Ipv4Addr) -> Option<&'static str> {
    let [o0, o1, o2, _] = a.octets();
    Some(match (o0, o1, o2) {
        _ if a.is_unspecified() => "unspecified",
        (0, _, _) => "this-network",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, b, _) if (16..32).contains(&b) => "private",
        (100, b, _) if (64..128).contains(&b) => "shared (carrier-grade NAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18 | 19, _) => "benchmarking",
        (192, 88, 99) => "6to4 relay anycast",
        _ if a.is_broadcast() => "broadcast",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn v6_rule(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s {
        _ if a.is_unspecified() => "unspecified",
        _ if a.is_loopback() => "loopback",
        [0, 0, 0, 0, 0, 0xffff, _, _] => "IPv4-mapped",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return v4_rule(embedded_v4(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "local-use NAT64",
        [0x2002, hi, lo, ..] => return v4_rule(embedded_v4(hi, lo)),
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x2001, 0, ..] => "Teredo",
        [0x2001, b, ..] if b < 0x200 => "IETF protocol assignment",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique-local",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// The host part of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP literal, or a name that reads as an IPv4 number.
    Ip(IpAddr),
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
}

impl Host {
    /// Reads a host as browsers and curl do: `[v6]`, an IPv4 number in any
    /// of inet_aton's spellings (a name whose last label is a number must be
    /// one: WHATWG URL "ends in a number"), else a DNS name of letters,
    /// digits, `-` and `.`.
    pub fn parse(text: &str) -> Result<Host, String> {
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("{text:?}: unclosed ["))?;
            return inner
                .parse::<Ipv6Addr>()
                .map(|a| Host::Ip(IpAddr::V6(a)))
                .map_err(|_| format!("{text:?} is not an IPv6 address"));
        }
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(format!("{text:?} is not a host name"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(format!("{text:?} is not a host name"));
        }
        let last = name.rsplit('.').next().unwrap_or("");
        if last.is_empty() || name.split('.').any(str::is_empty) {
            return Err(format!("{text:?} has an empty label"));
        }
        // WHATWG URL "ends in a number": all digits, or a number inet_aton reads.
        if last.bytes().all(|b| b.is_ascii_digit()) || ipv4_number(last).is_some() {
            return ipv4(&name)
                .map(|a| Host::Ip(IpAddr::V4(a)))
                .ok_or_else(|| format!("{text:?} is neither a host name nor an IPv4 address"));
        }
        Ok(Host::Name(name))
    }

    /// The host as it goes into a URL: names as they are, IPv4 dotted, IPv6
    /// in brackets.
    pub fn url_form(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::Ip(IpAddr::V4(a)) => a.to_string(),
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]"),
        }
    }
}

/// One part of an inet_aton IPv4 address: decimal, `0x` hex or `0` octal.
fn ipv4_number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (h, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // "0x" alone is zero to WHATWG and inet_aton; "" is no number.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 20 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// An IPv4 address in inet_aton form: one to four numbers, the last filling
/// the bytes the others left.
fn ipv4(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u64> = text
        .split('.')
        .map(ipv4_number)
        .collect::<Option<Vec<_>>>()?;
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|p| *p > 255) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let mut value = *last;
    for (i, p) in leading.iter().enumerate() {
        value |= p << (24 - 8 * i as u32);
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// An https URL read strictly, in the one form both ureq and git's curl read
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    pub host: Host,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpsUrl {
    /// Reads `https://host[:port][/path][?query]`. Refused: other schemes,
    /// user info, fragments, backslashes, spaces, control and non-ASCII
    /// characters (any of which a second parser might read another way).
    pub fn parse(url: &str) -> Result<HttpsUrl, EgressError> {
        let bad = |why: &str| EgressError::BadUrl {
            url: reprolog_proto::display::escape(url, 200),
            why: why.to_string(),
        };
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| bad("only https URLs are fetched"))?;
        if !rest.bytes().all(|b| b.is_ascii_graphic()) || rest.contains(['\\', '#']) {
            return Err(bad(
                "it holds spaces, control, non-ASCII, '\\' or '#' characters",
            ));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad("user info is not allowed"));
        }
        let (host_text, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("bad port"))?;
                (h, port)
            }
            _ => (authority, 443),
        };
        let host = Host::parse(host_text).map_err(|why| bad(&why))?;
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(HttpsUrl { host, port, path })
    }

    /// `host` or `host:port` as it goes into a URL.
    pub fn authority(&self) -> String {
        match self.port {
            443 => self.host.url_form(),
            p => format!("{}:{p}", self.host.url_form()),
        }
    }

    /// The same URL with another path.
    pub fn with_path(&self, path: &str) -> HttpsUrl {
        HttpsUrl {
            path: path.to_string(),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}{}", self.authority(), self.path)
    }
}

/// A URL and the checked addresses its host may be reached at.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub url: HttpsUrl,
    pub addrs: Vec<IpAddr>,
}

impl Pinned {
    /// git's `http.curloptResolve` value that makes curl use these addresses.
    pub fn curl_resolve(&self) -> String {
        let host = match &self.url.host {
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]"),
            h => h.url_form(),
        };
        let addrs: Vec<String> = self
            .addrs
            .iter()
            .map(|a| match a {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            })
            .collect();
        format!("{host}:{}:{}", self.url.port, addrs.join(","))
    }
}

/// What a node may connect to for sources, and how.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Ranges allowed although a rule refuses them (`--allow-egress`).
    pub allowed: Vec<IpRange>,
    /// PEM certificates trusted instead of the built-in roots (`--source-ca`).
    pub ca_file: Option<PathBuf>,
    /// Most bytes one clone or fetch may write.
    pub max_clone_bytes: u64,
    /// Longest one clone, fetch or page request may take.
    pub timeout: Duration,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            allowed: vec![],
            ca_file: None,
            max_clone_bytes: 4 << 30,
            timeout: Duration::from_secs(1800),
        }
    }
}

impl EgressPolicy {
    /// `Ok` when the node may connect to `addr`.
    pub fn check(&self, host: &str, addr: IpAddr) -> Result<(), EgressError> {
        let Some(rule) = refusal_rule(addr) else {
            return Ok(());
        };
        if self.allowed.iter().any(|r| r.contains(addr)) {
            return Ok(());
        }
        Err(EgressError::Refused {
            host: host.to_string(),
            addr,
            rule,
        })
    }

    /// Resolves `url`'s host and checks every address it resolves to: one
    /// refused address refuses the host (a public name has no private
    /// address, and the client might pick any of them).
    pub fn resolve(&self, url: &HttpsUrl) -> Result<Pinned, EgressError> {
        let shown = url.host.url_form();
        let addrs = match &url.host {
            Host::Ip(a) => vec![*a],
            // RFC 6761 §6.3: localhost names are loopback, whatever DNS says.
            Host::Name(n) if n == "localhost" || n.ends_with(".localhost") => {
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
            }
            Host::Name(n) => {
                let mut addrs: Vec<IpAddr> = (n.as_str(), url.port)
                    .to_socket_addrs()
                    .map_err(|e| EgressError::Resolve {
                        host: n.clone(),
                        why: e.to_string(),
                    })?
                    .map(|s| s.ip())
                    .collect();
                addrs.dedup();
                addrs
            }
        };
        if addrs.is_empty() {
            return Err(EgressError::Resolve {
                host: shown,
                why: "no address".into(),
            });
        }
        for a in &addrs {
            self.check(&shown, *a)?;
        }
        Ok(Pinned {
            url: url.clone(),
            addrs,
        })
    }

    /// GETs `url` (a page of at most 1 MiB), following at most
    /// [`MAX_REDIRECTS`] redirects, each to an https URL whose host passes
    /// the same checks. Returns the final URL and the body.
    pub fn get_page(&self, url: &HttpsUrl) -> Result<(HttpsUrl, String), EgressError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let pinned = self.resolve(&url)?;
            let fail = |why: String| EgressError::Http {
                url: url.to_string(),
                why,
            };
            let agent = self.agent(&pinned).map_err(fail)?;
            let mut answer = agent
                .get(url.to_string())
                .call()
                .map_err(|e| fail(e.to_string()))?;
            let status = answer.status();
            if status.is_redirection() {
                let location = answer
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| fail(format!("{status} without a usable Location")))?;
                url = redirect_target(&url, location)?;
                continue;
            }
            if !status.is_success() {
                return Err(fail(format!("answered {status}")));
            }
            let body = answer
                .body_mut()
                .with_config()
                .limit(MAX_PAGE)
                .read_to_string()
                .map_err(|e| fail(e.to_string()))?;
            return Ok((url, body));
        }
        Err(EgressError::Http {
            url: url.to_string(),
            why: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// A one-request client that reaches `pinned`'s host at its checked
    /// addresses only, through no proxy and following no redirect.
    fn agent(&self, pinned: &Pinned) -> Result<ureq::Agent, String> {
        use ureq::tls::{RootCerts, TlsConfig};
        let mut tls = TlsConfig::builder();
        if let Some(path) = &self.ca_file {
            let pem =
                std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!("{} holds no PEM certificate", path.display()));
            }
            tls = tls.root_certs(RootCerts::Specific(std::sync::Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .https_only(true)
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30).min(self.timeout)))
            .tls_config(tls.build())
            .build();
        Ok(ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            PinnedResolver(pinned.clone()),
        ))
    }
}

/// Where a redirect from `from` to `location` leads: an absolute https URL
/// or an absolute path on the same host. Anything else is refused.
fn redirect_target(from: &HttpsUrl, location: &str) -> Result<HttpsUrl, EgressError> {
    if location.starts_with('/') && !location.starts_with("//") {
        return HttpsUrl::parse(&format!("https://{}{location}", from.authority()));
    }
    HttpsUrl::parse(location).map_err(|e| match e {
        EgressError::BadUrl { url, why } => EgressError::BadUrl {
            url,
            why: format!("redirect from {from}: {why}"),
        },
        other => other,
    })
}

/// git options for network fetches: https only (no `ext::`, ssh, `git://`,
/// file or other transports a crafted URL could name), no redirects (nor
/// the dumb-HTTP alternates git treats like them), curl told the checked
/// addresses of every host, and the operator's CA file if one is given.
pub fn git_network_args(pins: &[Pinned], ca_file: Option<&std::path::Path>) -> Vec<String> {
    let mut args: Vec<String> = [
        "protocol.allow=never",
        "protocol.https.allow=always",
        "http.followRedirects=false",
    ]
    .iter()
    .flat_map(|c| ["-c".to_string(), c.to_string()])
    .collect();
    for p in pins {
        args.extend([
            "-c".into(),
            format!("http.curloptResolve={}", p.curl_resolve()),
        ]);
    }
    if let Some(ca) = ca_file {
        args.extend(["-c".into(), format!("http.sslCAInfo={}", ca.display())]);
    }
    args
}

/// ureq's resolver for one checked host: its addresses, nothing else.
#[derive(Debug)]
struct PinnedResolver(Pinned);

impl ureq::unversioned::resolver::Resolver for PinnedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(443);
        if host != self.0.url.host.url_form() || port != self.0.url.port {
            return Err(ureq::Error::HostNotFound);
        }
        let mut out = self.empty();
        for a in &self.0.addrs {
            out.push(SocketAddr::new(*a, port));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    #[test]
    fn every_special_range_is_refused_and_public_addresses_pass() {
        for (addr, rule) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this-network"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("169.254.169.254", "link-local"),
            ("192.0.0.8", "IETF protocol assignment"),
            ("192.0.2.2", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            assert_eq!(refusal_rule(v4(addr)), Some(rule), "{addr}");
        }
        for (addr, rule) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:8.8.8.8", "IPv4-mapped"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("2002:0a00:0001::1", "private"),
            ("2002:7f00:1::1", "loopback"),
            ("100::1", "discard-only"),
            ("2001:db8::1", "documentation"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("fd00::2", "unique-local"),
            ("fc12::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("fd00:ec2::254", "unique-local"),
        ] {
            assert_eq!(refusal_rule(v6(addr)), Some(rule), "{addr}");
        }
        for addr in ["8.8.8.8", "140.82.121.4", "172.32.0.1", "100.128.0.1"] {
            assert_eq!(refusal_rule(v4(addr)), None, "{addr}");
        }
        for addr in [
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "64:ff9b::808:808",
        ] {
            assert_eq!(refusal_rule(v6(addr)), None, "{addr}");
        }
    }

    #[test]
    fn an_operator_allows_a_range_and_only_that_range() {
        let policy = EgressPolicy {
            allowed: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            ..EgressPolicy::default()
        };
        assert!(policy.check("git.internal", v4("10.9.8.7")).is_ok());
        assert!(policy.check("git.internal", v6("fd00::2")).is_ok());
        let err = policy
            .check("x", v4("192.168.0.1"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "refused to connect to x (192.168.0.1): private address (allow its range with --allow-egress)"
        );
        assert!(policy.check("x", v4("11.0.0.1")).is_ok());
        let one: IpRange = "127.0.0.2".parse().unwrap();
        assert!(one.contains(v4("127.0.0.2")) && !one.contains(v4("127.0.0.3")));
        let odd: IpRange = "172.16.0.0/12".parse().unwrap();
        assert!(odd.contains(v4("172.31.1.1")) && !odd.contains(v4("172.32.0.0")));
        assert!(!odd.contains(v6("::ffff:172.16.0.1")));
        for bad in ["10.0.0.0/33", "fd00::/129", "host/8", "10.0.0.0/x"] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_hosts_read_as_inet_aton_and_whatwg_read_them() {
        for spelling in [
            "127.0.0.1",
            "0x7f000001",
            "2130706433",
            "127.1",
            "0177.0.0.1",
            "0x7f.1",
            "127.0.1",
            "127.0.0.1.",
            "017700000001",
        ] {
            assert_eq!(
                Host::parse(spelling),
                Ok(Host::Ip(v4("127.0.0.1"))),
                "{spelling}"
            );
        }
        assert_eq!(Host::parse("[::1]"), Ok(Host::Ip(v6("::1"))));
        assert_eq!(
            Host::parse("[::ffff:127.0.0.1]"),
            Ok(Host::Ip(v6("::ffff:127.0.0.1")))
        );
        assert_eq!(
            Host::parse("Example.COM."),
            Ok(Host::Name("example.com".into()))
        );
        assert_eq!(Host::parse("1.example"), Ok(Host::Name("1.example".into())));
        // Ends in a number but is no address: neither a name nor an address.
        for bad in [
            "1.2.3.4.5",
            "256.0.0.1",
            "0x100000000",
            "1.2.3.09",
            "a.1",
            "[::1",
            "[fe80::1%eth0]",
            "a..b",
            "",
            "ex_ample.com",
            "exämple.com",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_read_one_way_or_refused() {
        let u = HttpsUrl::parse("https://0x7f000001:8443/a/b?go-get=1").unwrap();
        assert_eq!(u.to_string(), "https://127.0.0.1:8443/a/b?go-get=1");
        let u = HttpsUrl::parse("https://[::1]/r").unwrap();
        assert_eq!((u.host.clone(), u.port), (Host::Ip(v6("::1")), 443));
        assert_eq!(u.to_string(), "https://[::1]/r");
        assert_eq!(
            HttpsUrl::parse("https://github.com").unwrap().to_string(),
            "https://github.com/"
        );
        for bad in [
            "http://example.com/x",
            "ssh://git@example.com/x",
            "https://user@127.0.0.1/x",
            "https://example.com@127.0.0.1/",
            "https://example.com\\@127.0.0.1/",
            "https://example.com/a b",
            "https://example.com/#x",
            "https://example.com:0/",
            "https://example.com:99999/",
            "https://exa\u{0}mple.com/",
            "ext::sh -c touch% /tmp/x",
        ] {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_names_are_refused_without_asking_dns() {
        let policy = EgressPolicy::default();
        for url in [
            "https://localhost/x",
            "https://LOCALHOST./x",
            "https://a.b.localhost/x",
            "https://127.1/x",
            "https://[::1]/x",
            "https://[::ffff:7f00:1]/x",
            "https://2130706433/x",
        ] {
            let err = policy.resolve(&HttpsUrl::parse(url).unwrap()).unwrap_err();
            assert!(
                matches!(
                    err,
                    EgressError::Refused {
                        rule: "loopback" | "IPv4-mapped",
                        ..
                    }
                ),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn redirects_stay_on_https() {
        let from = HttpsUrl::parse("https://example.com:8443/a").unwrap();
        assert_eq!(
            redirect_target(&from, "/b?c").unwrap().to_string(),
            "https://example.com:8443/b?c"
        );
        assert!(redirect_target(&from, "http://example.com/").is_err());
        assert!(redirect_target(&from, "//127.0.0.1/").is_err());
        assert!(redirect_target(&from, "b").is_err());
    }

    #[test]
    fn curl_is_told_the_checked_addresses() {
        let pinned = Pinned {
            url: HttpsUrl::parse("https://git.example/r").unwrap(),
            addrs: vec![v4("140.82.121.4"), v6("2606:4700::1111")],
        };
        assert_eq!(
            pinned.curl_resolve(),
            "git.example:443:140.82.121.4,[2606:4700::1111]"
        );
    }
}
