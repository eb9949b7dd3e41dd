//! One interface over the two ways an address is held in Infoblox: a host record (the
//! default, telekom's way, optionally in DNS) or a fixed address (a DHCP reservation with
//! the zero MAC). Both are found by name and network view, the idempotency key.

use serde::Deserialize;
use serde_json::json;

use super::client::WapiClient;
use super::error::WapiError;
use super::objects::{HostAddress, HostRecord, HostRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    HostRecord,
    FixedAddress,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::HostRecord => "host record",
            Kind::FixedAddress => "fixed address",
        }
    }
}

/// An address reservation as found in or written to Infoblox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub kind: Kind,
    pub reference: String,
    pub addresses: Vec<String>,
    /// Who it belongs to (see `crate::owner`).
    pub comment: Option<String>,
    /// A host record's address entries as read, which a PUT of its lists keeps; empty for a
    /// fixed address.
    pub entries: Vec<HostAddress>,
}

impl From<HostRecord> for Reservation {
    fn from(h: HostRecord) -> Self {
        Reservation {
            kind: Kind::HostRecord,
            addresses: h.addresses().map(String::from).collect(),
            entries: h.ipv4addrs.into_iter().chain(h.ipv6addrs).collect(),
            reference: h.reference,
            comment: h.comment,
        }
    }
}

#[derive(Deserialize)]
struct Fixed {
    #[serde(rename = "_ref")]
    reference: String,
    #[serde(default)]
    ipv4addr: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

const FIXED_FIELDS: &str = "name,network_view,ipv4addr,mac,comment";
/// The MAC of a reservation no DHCP client claims: the address is only held.
const NO_MAC: &str = "00:00:00:00:00:00";

impl WapiClient {
    pub async fn find_reservations(
        &self,
        kind: Kind,
        name: &str,
        network_view: &str,
    ) -> Result<Vec<Reservation>, WapiError> {
        match kind {
            Kind::HostRecord => Ok(self
                .find_hosts(name, network_view)
                .await?
                .into_iter()
                .map(Reservation::from)
                .collect()),
            Kind::FixedAddress => {
                let found: Vec<Fixed> = self
                    .search(
                        "fixedaddress",
                        &[("name", name.into()), ("network_view", network_view.into())],
                        FIXED_FIELDS,
                    )
                    .await?;
                Ok(found
                    .into_iter()
                    .map(|f| Reservation {
                        kind,
                        addresses: f.ipv4addr.into_iter().collect(),
                        reference: f.reference,
                        comment: f.comment,
                        entries: Vec::new(),
                    })
                    .collect())
            }
        }
    }

    /// Reserves the next free address of `request.subnet` atomically. Sent once.
    pub async fn reserve(
        &self,
        kind: Kind,
        request: &HostRequest,
    ) -> Result<Reservation, WapiError> {
        match kind {
            Kind::HostRecord => self.create_host(request).await.map(Reservation::from),
            Kind::FixedAddress => {
                let body = json!({
                    "name": request.name,
                    "network_view": request.network_view,
                    "ipv4addr": request.next_available(),
                    "mac": NO_MAC,
                    "comment": request.comment,
                });
                let f: Fixed = self.create("fixedaddress", &body, FIXED_FIELDS).await?;
                Ok(Reservation {
                    kind,
                    addresses: f.ipv4addr.into_iter().collect(),
                    reference: f.reference,
                    comment: f.comment,
                    entries: Vec::new(),
                })
            }
        }
    }

    /// Reserves the next free address of `request.subnet` in the host record `reservation`
    /// too, atomically; it comes back as read after the write. Sent once.
    pub async fn add_address(
        &self,
        reservation: &Reservation,
        request: &HostRequest,
    ) -> Result<Reservation, WapiError> {
        self.add_host_address(&reservation.reference, &reservation.entries, request)
            .await
            .map(Reservation::from)
    }

    /// Frees the reservation's addresses except `keep` (only a host record can keep some).
    pub async fn release(&self, reservation: &Reservation, keep: &[&str]) -> Result<(), WapiError> {
        if keep.is_empty() || reservation.kind == Kind::FixedAddress {
            self.delete(&reservation.reference).await
        } else {
            self.set_host_addresses(&reservation.reference, &reservation.entries, keep)
                .await
        }
    }
}
