//! Listen addresses as Cluster API managers take them (`--health-probe-bind-address=:8081`,
//! `--diagnostics-address=:8443`): Go's `host:port`, an empty host meaning every interface,
//! and `0` turning the listener off, as controller-runtime reads it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

/// Where a listener binds; `None` when it is turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

impl FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "0" {
            return Ok(Listen(None));
        }
        let bad = |why: &str| {
            format!(
                "{text:?} is not a listen address ({why}); write host:port, :port, or 0 to turn it off"
            )
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = match host {
            "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip
                .parse()
                .map_err(|_| bad("the host is not an IP address or localhost"))?,
        };
        Ok(Listen(Some(SocketAddr::new(ip, port))))
    }
}

impl Listen {
    /// Every interface at `port`, or off when `port` is 0 (this operator's own port flags).
    pub fn port(port: u16) -> Self {
        Listen((port != 0).then(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<SocketAddr>, String> {
        text.parse::<Listen>().map(|l| l.0)
    }

    #[test]
    fn go_style_addresses() {
        assert_eq!(parse(":8443"), Ok(Some("0.0.0.0:8443".parse().unwrap())));
        assert_eq!(
            parse("127.0.0.1:8081"),
            Ok(Some("127.0.0.1:8081".parse().unwrap()))
        );
        assert_eq!(
            parse("localhost:8080"),
            Ok(Some("127.0.0.1:8080".parse().unwrap()))
        );
        assert_eq!(parse("[::1]:9440"), Ok(Some("[::1]:9440".parse().unwrap())));
        assert_eq!(parse("0"), Ok(None));
        assert_eq!(Listen::port(0), Listen(None));
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        assert!(parse("8443").unwrap_err().contains("no port"));
        assert!(parse(":https").unwrap_err().contains("not a number"));
        assert!(
            parse("metrics.local:8443")
                .unwrap_err()
                .contains("not an IP address")
        );
    }
}
