//! Requests the API server served, from its own counter `apiserver_request_total`: scraped
//! before and after a run and subtracted, this counts every request of every client (the
//! operator's as well as the driver's) without instrumenting either.

use std::collections::BTreeMap;

use anyhow::Context;
use kube::Client;

/// One counter series: verb, resource (with `/subresource` when there is one) and HTTP code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    pub verb: String,
    pub resource: String,
    pub code: String,
}

impl Series {
    /// "PATCH ipaddressclaims/status", the key the reports use.
    pub fn verb_resource(&self) -> String {
        format!("{} {}", self.verb, self.resource)
    }
    /// The resource without its subresource, e.g. "ipaddressclaims".
    pub fn base_resource(&self) -> &str {
        self.resource.split('/').next().unwrap_or_default()
    }
    pub fn succeeded(&self) -> bool {
        self.code.starts_with('2')
    }
}

/// Counts per series at one moment, or the difference of two moments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestCounts(pub BTreeMap<Series, f64>);

impl RequestCounts {
    pub fn total(&self) -> f64 {
        self.0.values().sum()
    }

    /// Only the series `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&Series) -> bool) -> RequestCounts {
        RequestCounts(
            self.0
                .iter()
                .filter(|(s, _)| keep(s))
                .map(|(s, n)| (s.clone(), *n))
                .collect(),
        )
    }

    /// Counts summed over codes, keyed "VERB resource".
    pub fn by_verb_resource(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (series, n) in &self.0 {
            *out.entry(series.verb_resource()).or_insert(0.0) += n;
        }
        out
    }

    /// Requests answered with anything but 2xx, keyed "VERB resource code".
    pub fn failures(&self) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .filter(|(s, _)| !s.succeeded())
            .map(|(s, n)| (format!("{} {}", s.verb_resource(), s.code), *n))
            .collect()
    }

    /// Adds `n` requests of `verb` on `resource` answered with `code`.
    pub fn add(&mut self, verb: &str, resource: &str, code: &str, n: f64) {
        let series = Series {
            verb: verb.into(),
            resource: resource.into(),
            code: code.into(),
        };
        *self.0.entry(series).or_insert(0.0) += n;
    }

    /// `self` less `other`, series by series, dropping what did not grow: what happened
    /// between a scrape `other` and a later scrape `self`, or a total less one client's part.
    pub fn minus(&self, other: &RequestCounts) -> RequestCounts {
        let left = self
            .0
            .iter()
            .filter_map(|(s, n)| {
                let rest = n - other.0.get(s).copied().unwrap_or(0.0);
                (rest > 0.0).then(|| (s.clone(), rest))
            })
            .collect();
        RequestCounts(left)
    }
}

/// Reads the API server's counter now.
pub async fn scrape(client: &Client) -> anyhow::Result<RequestCounts> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .context("build the /metrics request")?;
    let text = client
        .request_text(request)
        .await
        .context("GET /metrics from the API server")?;
    Ok(parse(&text))
}

/// The `apiserver_request_total` lines of a Prometheus text exposition. Other metrics, and
/// requests to non-resource paths (such as /metrics itself), are skipped.
pub fn parse(text: &str) -> RequestCounts {
    let mut counts = RequestCounts::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let labels = labels_of(labels);
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let resource = get("resource");
        if resource.is_empty() {
            continue;
        }
        let subresource = get("subresource");
        let resource = if subresource.is_empty() {
            resource
        } else {
            format!("{resource}/{subresource}")
        };
        counts.add(&get("verb"), &resource, &get("code"), value);
    }
    counts
}

/// `a="x",b="y"` as a map. The API server's label values never hold quotes or commas.
fn labels_of(text: &str) -> BTreeMap<String, String> {
    text.split("\",")
        .filter_map(|pair| {
            let (k, v) = pair.split_once("=\"")?;
            Some((k.trim().to_string(), v.trim_end_matches('"').to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="ipam.cluster.x-k8s.io",resource="ipaddressclaims",scope="resource",subresource="",verb="POST",version="v1beta2"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="ipam-operator.io",resource="addressallocations",scope="resource",subresource="",verb="POST",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="ipam.cluster.x-k8s.io",resource="ipaddressclaims",scope="resource",subresource="status",verb="PATCH",version="v1beta2"} 3
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/metrics",verb="GET",version=""} 4
"#;

    #[test]
    fn reads_resource_requests_and_skips_the_rest() {
        let counts = parse(SAMPLE);
        assert_eq!(counts.total(), 12.0);
        let by = counts.by_verb_resource();
        assert_eq!(by["PATCH ipaddressclaims/status"], 3.0);
        assert_eq!(
            counts.failures()["POST addressallocations 409"],
            2.0,
            "{counts:?}"
        );
    }

    #[test]
    fn a_difference_keeps_only_what_moved() {
        let before = parse(SAMPLE);
        let mut after = before.clone();
        after.add("POST", "ipaddressclaims", "201", 5.0);
        let delta = after.minus(&before);
        assert_eq!(delta.total(), 5.0);
        assert_eq!(delta.minus(&delta).total(), 0.0);
    }
}
