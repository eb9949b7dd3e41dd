//! HTTP Basic, the `ibapauth` session cookie and client certificates. The cookie keeps NIOS's
//! `k=v,…` layout with integer `ctime` and `timeout`, because the Python client parses them to
//! decide expiry.

use crate::client_certs::ClientCert;
use crate::sim::SimState;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use base64::Engine;
use std::collections::HashMap;
use std::net::IpAddr;

const REALM: &str = "InfoBlox ONE Platform";
/// Bound on remembered sessions: the Go client authenticates every request with Basic, and
/// each of those gets a fresh cookie.
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
struct Session {
    user: String,
    ctime: u64,
    timeout: u64,
    revoked: bool,
}

#[derive(Debug, Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
}

impl Sessions {
    pub fn expire_all(&mut self) {
        self.by_token.values_mut().for_each(|s| s.revoked = true);
    }

    pub fn revoke(&mut self, token: &str) {
        if let Some(s) = self.by_token.get_mut(token) {
            s.revoked = true;
        }
    }

    fn insert(&mut self, token: String, s: Session, now: u64) {
        if self.by_token.len() >= MAX_SESSIONS {
            self.by_token
                .retain(|_, s| !s.revoked && s.ctime + s.timeout >= now);
        }
        if self.by_token.len() >= MAX_SESSIONS {
            self.by_token.clear();
        }
        self.by_token.insert(token, s);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Authenticated by Basic; carries the `Set-Cookie` value to send back.
    Basic {
        user: String,
        set_cookie: String,
    },
    Cookie {
        user: String,
    },
    /// Authenticated by a trusted client certificate alone; no cookie is set, as the
    /// certificate comes with every connection anyway.
    Certificate,
    Denied,
}

impl Auth {
    pub fn label(&self) -> &'static str {
        match self {
            Auth::Basic { .. } => "basic",
            Auth::Cookie { .. } => "cookie",
            Auth::Certificate => "certificate",
            Auth::Denied => "denied",
        }
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .expect("the system random generator works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "));
    // An Authorization header we cannot read counts as wrong credentials, not as absent ones.
    Some(encoded.and_then(|e| {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(e.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }))
}

/// The session token: the last element of the cookie value, the one without `=`.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("ibapauth="))
        .find_map(|v| {
            v.trim_matches('"')
                .rsplit(',')
                .next()
                .filter(|t| !t.contains('=') && !t.is_empty())
                .map(String::from)
        })
}

/// Every credential a request shows must be right: an untrusted certificate (or none, when
/// one is required) and a wrong Basic header each deny. Then Basic takes precedence over a
/// certificate and a cookie, as with NIOS when the Go client sends both; a trusted
/// certificate alone is enough.
pub fn authenticate(
    st: &mut SimState,
    headers: &HeaderMap,
    cert: &ClientCert,
    peer: IpAddr,
    now: u64,
) -> Auth {
    if matches!(cert, ClientCert::Untrusted | ClientCert::Missing) {
        return Auth::Denied;
    }
    if let Some(creds) = basic_credentials(headers) {
        let Some((user, password)) = creds else {
            return Auth::Denied;
        };
        if !st
            .users
            .iter()
            .any(|u| u.username == user && u.password == password)
        {
            return Auth::Denied;
        }
        let timeout = st.config.session_timeout_secs;
        let token = random_hex(16);
        let set_cookie = format!(
            "ibapauth=\"group=admin-group,ctime={now},ip={peer},auth=LOCAL,client=API,su=1,timeout={timeout},mtime={now},user={user},{token}\"; httponly; Path=/; Secure"
        );
        st.sessions.insert(
            token,
            Session {
                user: user.clone(),
                ctime: now,
                timeout,
                revoked: false,
            },
            now,
        );
        return Auth::Basic { user, set_cookie };
    }
    if *cert == ClientCert::Trusted {
        return Auth::Certificate;
    }
    let Some(token) = cookie_token(headers) else {
        return Auth::Denied;
    };
    match st.sessions.by_token.get(&token) {
        Some(s) if !s.revoked && now <= s.ctime + s.timeout => Auth::Cookie {
            user: s.user.clone(),
        },
        _ => Auth::Denied,
    }
}

/// What Apache in front of WAPI sends: HTML, not JSON.
pub fn unauthorized() -> Response<Body> {
    let body = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>401 Authorization Required</title>\n</head><body>\n<h1>Authorization Required</h1>\n<p>The server could not confirm that you may access this document: the credentials were missing or wrong.</p>\n</body></html>\n";
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{REALM}\"")) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=iso-8859-1"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::sim::{Sim, User};

    const NONE: ClientCert = ClientCert::None;

    fn sim() -> Sim {
        Sim::new(
            SimConfig::default(),
            vec![User {
                username: "admin".into(),
                password: "infoblox".into(),
            }],
        )
    }

    fn basic(u: &str, p: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    fn cookie_from(set_cookie: &str) -> HeaderMap {
        let value = set_cookie.split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, value.parse().unwrap());
        h
    }

    #[test]
    fn basic_then_cookie_until_it_expires() {
        let sim = sim();
        let mut st = sim.lock();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let Auth::Basic { set_cookie, .. } =
            authenticate(&mut st, &basic("admin", "infoblox"), &NONE, peer, 1000)
        else {
            panic!("basic auth failed")
        };
        // The Python client parses these two fields; keep them integers.
        assert!(set_cookie.contains("ctime=1000,"));
        assert!(set_cookie.contains("timeout=600,"));
        assert!(set_cookie.ends_with("; httponly; Path=/; Secure"));
        let jar = cookie_from(&set_cookie);
        assert_eq!(
            authenticate(&mut st, &jar, &NONE, peer, 1600).label(),
            "cookie"
        );
        assert_eq!(authenticate(&mut st, &jar, &NONE, peer, 1601), Auth::Denied);
    }

    #[test]
    fn wrong_basic_wins_over_a_good_cookie() {
        let sim = sim();
        let mut st = sim.lock();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let Auth::Basic { set_cookie, .. } =
            authenticate(&mut st, &basic("admin", "infoblox"), &NONE, peer, 10)
        else {
            panic!()
        };
        let mut h = cookie_from(&set_cookie);
        h.extend(basic("admin", "wrong"));
        assert_eq!(authenticate(&mut st, &h, &NONE, peer, 11), Auth::Denied);
        st.sessions.expire_all();
        assert_eq!(
            authenticate(&mut st, &cookie_from(&set_cookie), &NONE, peer, 11),
            Auth::Denied
        );
        assert_eq!(
            authenticate(&mut st, &HeaderMap::new(), &NONE, peer, 11),
            Auth::Denied
        );
    }

    #[test]
    fn a_trusted_certificate_alone_authenticates_and_a_bad_one_denies_everything() {
        let sim = sim();
        let mut st = sim.lock();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            authenticate(&mut st, &none, &ClientCert::Trusted, peer, 1),
            Auth::Certificate
        );
        // Basic, when sent beside a trusted certificate, is still checked.
        let good = basic("admin", "infoblox");
        assert_eq!(
            authenticate(&mut st, &good, &ClientCert::Trusted, peer, 1).label(),
            "basic"
        );
        assert_eq!(
            authenticate(
                &mut st,
                &basic("admin", "wrong"),
                &ClientCert::Trusted,
                peer,
                1
            ),
            Auth::Denied
        );
        // Right passwords do not make up for an untrusted or a missing required certificate.
        for cert in [ClientCert::Untrusted, ClientCert::Missing] {
            assert_eq!(authenticate(&mut st, &good, &cert, peer, 1), Auth::Denied);
        }
    }
}
