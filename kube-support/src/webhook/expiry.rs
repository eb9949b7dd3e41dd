//! When a PEM certificate expires: its `notAfter`, read from the DER with the few steps of
//! X.509's structure it takes (Certificate → TBSCertificate → Validity), rather than a whole
//! X.509 parser for one field.

use k8s_openapi::jiff::civil::DateTime;
use k8s_openapi::jiff::tz::TimeZone;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// One DER element: (tag, contents, rest after it).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `notAfter` of a DER certificate, in seconds since the epoch.
pub fn not_after_der(der: &[u8]) -> Option<i64> {
    let (0x30, certificate, _) = element(der)? else {
        return None;
    };
    let (0x30, tbs, _) = element(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version is optional; then serialNumber, signature, issuer, and validity.
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (0x30, validity, _) = element(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    let text = std::str::from_utf8(time).ok()?.strip_suffix('Z')?;
    // UTCTime has a two-digit year (1950–2049), GeneralizedTime four.
    let full = match tag {
        0x17 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        0x18 => text.to_string(),
        _ => return None,
    };
    let at = DateTime::strptime("%Y%m%d%H%M%S", &full).ok()?;
    Some(at.to_zoned(TimeZone::UTC).ok()?.timestamp().as_second())
}

/// `notAfter` of the first certificate of a PEM chain (the serving one).
pub fn not_after(cert_pem: &str) -> Option<i64> {
    let first = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .next()?
        .ok()?;
    not_after_der(&first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, date_time_ymd};

    fn pem(year: i32) -> String {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_after = date_time_ymd(year, 3, 4);
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    }

    #[test]
    fn reads_utc_and_generalized_times() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050, as RFC 5280 says.
        assert_eq!(
            not_after(&pem(2031)),
            Some(1930348800),
            "2031-03-04T00:00:00Z"
        );
        assert_eq!(
            not_after(&pem(2099)),
            Some(4076265600),
            "2099-03-04T00:00:00Z"
        );
        assert_eq!(not_after("no certificate"), None);
        assert_eq!(not_after_der(&[0x30, 0x03, 0x02, 0x01]), None);
    }
}
