//! The WAPI objects this backend reads and writes, and the calls on them (infoblox-wapi.md
//! §4 and §6).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::WapiClient;
use super::error::WapiError;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct NetworkView {
    #[serde(rename = "_ref")]
    pub reference: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DnsView {
    #[serde(rename = "_ref")]
    pub reference: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Network {
    #[serde(rename = "_ref")]
    pub reference: String,
    pub network: String,
    #[serde(default)]
    pub network_view: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct HostAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6addr: Option<String>,
    // Kept as read, so writing the list back (a PUT replaces it, §6) leaves the entry as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configure_for_dhcp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duid: Option<String>,
}

impl HostAddress {
    pub fn address(&self) -> Option<&str> {
        self.ipv4addr.as_deref().or(self.ipv6addr.as_deref())
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct HostRecord {
    #[serde(rename = "_ref")]
    pub reference: String,
    pub name: String,
    #[serde(default)]
    pub view: Option<String>,
    #[serde(default)]
    pub network_view: Option<String>,
    #[serde(default)]
    pub ipv4addrs: Vec<HostAddress>,
    #[serde(default)]
    pub ipv6addrs: Vec<HostAddress>,
    /// Who the record belongs to (see `crate::owner`).
    #[serde(default)]
    pub comment: Option<String>,
}

impl HostRecord {
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.ipv4addrs
            .iter()
            .chain(self.ipv6addrs.iter())
            .filter_map(HostAddress::address)
    }
}

const HOST_FIELDS: &str = "name,view,network_view,ipv4addrs,ipv6addrs,comment";

/// Where a new host record goes: its name, network view, DNS registration, and the subnet
/// its address comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRequest {
    pub name: String,
    pub network_view: String,
    /// The DNS view to register the name in; `None` for a host without DNS.
    pub dns_view: Option<String>,
    pub subnet: ipnet::IpNet,
    /// Addresses `nextavailableip` must skip, e.g. the pool's gateway, which Infoblox does
    /// not know to hold back unless a record reserves it.
    pub exclude: Vec<String>,
    /// The owner mark to write (`crate::owner::mark`).
    pub comment: String,
}

impl HostRequest {
    /// The host address list for the subnet's family, and an entry in it that reserves the
    /// next free address of the subnet.
    fn new_entry(&self) -> (&'static str, serde_json::Value) {
        let function = self.next_available();
        match self.subnet {
            ipnet::IpNet::V4(_) => (
                "ipv4addrs",
                json!({"ipv4addr": function, "configure_for_dhcp": false}),
            ),
            ipnet::IpNet::V6(_) => (
                "ipv6addrs",
                json!({"ipv6addr": function, "configure_for_dhcp": false}),
            ),
        }
    }

    /// The address value that makes a create reserve the next free address of the subnet.
    pub fn next_available(&self) -> serde_json::Value {
        if self.exclude.is_empty() {
            json!(format!(
                "func:nextavailableip:{},{}",
                self.subnet.trunc(),
                self.network_view
            ))
        } else {
            // The longhand form of the same atomic reservation, which takes exclusions (§5).
            json!({
                "_object_function": "next_available_ip",
                "_result_field": "ips",
                "_object": if self.subnet.addr().is_ipv4() { "network" } else { "ipv6network" },
                "_object_parameters": {
                    "network": self.subnet.trunc().to_string(),
                    "network_view": self.network_view,
                },
                "_parameters": {"exclude": self.exclude, "num": 1},
            })
        }
    }
}

impl WapiClient {
    pub async fn find_network_view(&self, name: &str) -> Result<Option<NetworkView>, WapiError> {
        let found = self
            .search("networkview", &[("name", name.into())], "name")
            .await?;
        Ok(found.into_iter().next())
    }

    pub async fn find_dns_view(&self, name: &str) -> Result<Option<DnsView>, WapiError> {
        let found = self
            .search("view", &[("name", name.into())], "name")
            .await?;
        Ok(found.into_iter().next())
    }

    /// The leaf network `cidr` in `network_view` (`ipv6network` for IPv6).
    pub async fn find_network(
        &self,
        cidr: &ipnet::IpNet,
        network_view: &str,
    ) -> Result<Option<Network>, WapiError> {
        let objtype = match cidr {
            ipnet::IpNet::V4(_) => "network",
            ipnet::IpNet::V6(_) => "ipv6network",
        };
        let found = self
            .search(
                objtype,
                &[
                    ("network", cidr.to_string()),
                    ("network_view", network_view.into()),
                ],
                "network,network_view",
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// Host records named `name` in `network_view`: the idempotency key (§4.3), so a record
    /// created before a crash is found instead of created again.
    pub async fn find_hosts(
        &self,
        name: &str,
        network_view: &str,
    ) -> Result<Vec<HostRecord>, WapiError> {
        self.search(
            "record:host",
            &[("name", name.into()), ("network_view", network_view.into())],
            HOST_FIELDS,
        )
        .await
    }

    /// Creates a host record whose address `func:nextavailableip` picks and reserves in the
    /// same call (atomic on the server). Sent once; see the module docs of `client`.
    pub async fn create_host(&self, request: &HostRequest) -> Result<HostRecord, WapiError> {
        let (list, entry) = request.new_entry();
        let mut body = json!({
            "name": request.name,
            "network_view": request.network_view,
            "configure_for_dns": request.dns_view.is_some(),
            "ipv4addrs": [],
            "ipv6addrs": [],
            "comment": request.comment,
        });
        body[list] = json!([entry]);
        if let Some(view) = &request.dns_view {
            body["view"] = json!(view);
        }
        self.create("record:host", &body, HOST_FIELDS).await
    }

    /// Adds an address of `request.subnet` to the host at `reference`, whose entries read
    /// `entries`, then reads the host again. The PUT carries that family's list only (§7.5):
    /// its entries by value as read, since a PUT replaces the list (§6), plus one reserving
    /// the next free address, atomically on the server. Sent once; see the module docs of
    /// `client`.
    pub async fn add_host_address(
        &self,
        reference: &str,
        entries: &[HostAddress],
        request: &HostRequest,
    ) -> Result<HostRecord, WapiError> {
        let (list, entry) = request.new_entry();
        let v4 = request.subnet.addr().is_ipv4();
        let mut kept: Vec<serde_json::Value> = entries
            .iter()
            .filter(|e| e.ipv4addr.is_some() == v4)
            .map(|e| json!(e))
            .collect();
        kept.push(entry);
        let reference = self.update(reference, &json!({ list: kept })).await?;
        self.get(&reference, &[("_return_fields", HOST_FIELDS.into())])
            .await
    }

    /// Frees the addresses of the host at `reference` (whose entries read `entries`) that
    /// are not in `keep`: only the lists that lose an entry are sent, the rest as read.
    pub async fn set_host_addresses(
        &self,
        reference: &str,
        entries: &[HostAddress],
        keep: &[&str],
    ) -> Result<(), WapiError> {
        let mut body = serde_json::Map::new();
        for (list, v4) in [("ipv4addrs", true), ("ipv6addrs", false)] {
            let family: Vec<&HostAddress> = entries
                .iter()
                .filter(|e| e.ipv4addr.is_some() == v4)
                .collect();
            let kept: Vec<&HostAddress> = family
                .iter()
                .copied()
                .filter(|e| e.address().is_some_and(|a| keep.contains(&a)))
                .collect();
            if kept.len() < family.len() {
                body.insert(list.into(), json!(kept));
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        self.update(reference, &body.into()).await.map(|_| ())
    }

    /// Replaces the comment of the object at `reference`, nothing else.
    pub async fn set_comment(&self, reference: &str, comment: &str) -> Result<(), WapiError> {
        self.update(reference, &json!({ "comment": comment }))
            .await
            .map(|_| ())
    }
}
