//! The in-memory grid. Objects refer to their network view and DNS view by name, as WAPI
//! bodies do; renames and deletions are carried to the dependents here, in one place.

use crate::objects::{
    eadef::EaDef, fixed::FixedAddress, host::Host, network::Network, networkview::NetworkView,
    range::Range, view::DnsView, zone::Zone,
};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Store {
    seq: u64,
    pub netviews: BTreeMap<String, NetworkView>,
    pub views: BTreeMap<String, DnsView>,
    pub zones: BTreeMap<String, Zone>,
    /// Leaf networks and containers of both families: a child network turns its parent into a
    /// container, so they share one table and one id space.
    pub networks: BTreeMap<String, Network>,
    pub ranges: BTreeMap<String, Range>,
    pub hosts: BTreeMap<String, Host>,
    pub fixed: BTreeMap<String, FixedAddress>,
    pub eadefs: BTreeMap<String, EaDef>,
}

impl Store {
    /// A grid as a fresh NIOS install has it: network view `default` and DNS view `default`.
    pub fn new() -> Store {
        let mut s = Store::default();
        s.seed_defaults();
        s
    }

    /// Empties the grid but keeps the id counter, so refs from before the reset stay dead.
    pub fn reset(&mut self) {
        let seq = self.seq;
        *self = Store::default();
        self.seq = seq;
        self.seed_defaults();
    }

    fn seed_defaults(&mut self) {
        let id = self.new_id(crate::objects::networkview::TAG);
        self.netviews.insert(
            id.clone(),
            NetworkView {
                id,
                name: "default".into(),
                comment: None,
                extattrs: Default::default(),
                is_default: true,
            },
        );
        crate::objects::view::insert(self, "default", "default", true);
    }

    pub fn new_id(&mut self, tag: &str) -> String {
        self.seq += 1;
        crate::refs::make_id(tag, self.seq)
    }

    pub fn netview(&self, name: &str) -> Option<&NetworkView> {
        self.netviews.values().find(|n| n.name == name)
    }

    pub fn view(&self, name: &str) -> Option<&DnsView> {
        self.views.values().find(|v| v.name == name)
    }

    /// The authoritative forward zone a DNS name falls in: the longest matching `fqdn`.
    pub fn zone_for(&self, view: &str, name: &str) -> Option<&Zone> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.zones
            .values()
            .filter(|z| z.view == view && z.zone_format == "FORWARD")
            .filter(|z| name == z.fqdn || name.ends_with(&format!(".{}", z.fqdn)))
            .max_by_key(|z| z.fqdn.len())
    }

    pub fn rename_network_view(&mut self, old: &str, new: &str) {
        let rename = |s: &mut String| {
            if s == old {
                *s = new.to_string();
            }
        };
        self.views
            .values_mut()
            .for_each(|v| rename(&mut v.network_view));
        self.networks
            .values_mut()
            .for_each(|n| rename(&mut n.network_view));
        self.ranges
            .values_mut()
            .for_each(|r| rename(&mut r.network_view));
        self.hosts
            .values_mut()
            .for_each(|h| rename(&mut h.network_view));
        self.fixed
            .values_mut()
            .for_each(|f| rename(&mut f.network_view));
    }

    pub fn rename_view(&mut self, old: &str, new: &str) {
        for z in self.zones.values_mut().filter(|z| z.view == old) {
            z.view = new.to_string();
        }
        for h in self.hosts.values_mut().filter(|h| h.dns && h.view == old) {
            h.view = new.to_string();
        }
    }

    /// Deleting a DNS view deletes its zones and the DNS host records in it.
    pub fn purge_view(&mut self, name: &str) {
        self.zones.retain(|_, z| z.view != name);
        self.hosts.retain(|_, h| !(h.dns && h.view == name));
        self.views.retain(|_, v| v.name != name);
    }

    /// Deleting a network view deletes everything in it, its DNS views included.
    pub fn purge_network_view(&mut self, name: &str) {
        let views: Vec<String> = self
            .views
            .values()
            .filter(|v| v.network_view == name)
            .map(|v| v.name.clone())
            .collect();
        for v in views {
            self.purge_view(&v);
        }
        self.networks.retain(|_, n| n.network_view != name);
        self.ranges.retain(|_, r| r.network_view != name);
        self.hosts.retain(|_, h| h.network_view != name);
        self.fixed.retain(|_, f| f.network_view != name);
    }
}
