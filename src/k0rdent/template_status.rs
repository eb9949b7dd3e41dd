//! What a ClusterTemplate's status says, decided from what was found of its chart. Pure: the
//! template controller fetches, this decides, the controller writes.
//!
//! As in kcm, a template is `valid` once the Flux HelmChart it stands for has a ready artifact
//! for its current spec; `chartRef` names that HelmChart (it is what a ClusterDeployment's
//! HelmRelease points at) and `validationError` says, in words a person can act on, why the
//! template is not valid yet.

use serde_json::Value;

use crate::api::cluster_template::{ChartRefKind, CrossNamespaceSourceReference};

/// What the controller found of the template's chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// `chartRef` names a kind other than HelmChart, which kcm does not support either.
    UnsupportedKind(ChartRefKind),
    /// The HelmChart kind is not served: Flux's source-controller is not installed.
    FluxMissing,
    /// `chartRef` names a HelmChart that does not exist.
    ChartMissing { namespace: String, name: String },
    /// The HelmChart (as JSON) and, for a `chartSpec`, whether its source exists: `Some` names
    /// the missing source as `Kind ns/name`.
    Chart {
        chart: Value,
        missing_source: Option<String>,
    },
}

/// The status fields the template controller owns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    pub valid: bool,
    pub validation_error: Option<String>,
    pub chart_ref: Option<CrossNamespaceSourceReference>,
    pub chart_version: Option<String>,
}

impl Verdict {
    fn invalid(error: String) -> Self {
        Verdict {
            validation_error: Some(error),
            ..Default::default()
        }
    }
}

pub fn decide(found: &Found) -> Verdict {
    let (chart, missing_source) = match found {
        Found::UnsupportedKind(kind) => {
            let kind = serde_json::to_value(kind).expect("an enum serializes");
            return Verdict::invalid(format!(
                "invalid chartRef.Kind: {}. Only HelmChart kind is supported",
                kind.as_str().unwrap_or_default()
            ));
        }
        Found::FluxMissing => {
            return Verdict::invalid(
                "the HelmChart kind (source.toolkit.fluxcd.io/v1) is not served: install Flux's source-controller".into(),
            );
        }
        Found::ChartMissing { namespace, name } => {
            return Verdict::invalid(format!(
                "HelmChart {namespace}/{name} named by spec.helm.chartRef does not exist"
            ));
        }
        Found::Chart {
            chart,
            missing_source,
        } => (chart, missing_source),
    };
    let namespace = str_at(chart, "/metadata/namespace");
    let name = str_at(chart, "/metadata/name");
    // Set whatever the chart's state, as kcm does: it says which HelmChart to look at.
    let mut verdict = Verdict {
        chart_ref: Some(CrossNamespaceSourceReference {
            api_version: None,
            kind: ChartRefKind::HelmChart,
            name: name.clone(),
            namespace: Some(namespace.clone()),
        }),
        chart_version: chart
            .pointer("/spec/version")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    };
    let error = if let Some(source) = missing_source {
        Some(format!(
            "{source} named by spec.helm.chartSpec.sourceRef does not exist: create it, or point the template at a source that does"
        ))
    } else {
        readiness_error(chart, &namespace, &name)
    };
    verdict.valid = error.is_none();
    verdict.validation_error = error;
    verdict
}

/// `None` when the chart has an artifact for its current generation, else why not.
fn readiness_error(chart: &Value, namespace: &str, name: &str) -> Option<String> {
    let generation = chart
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = chart
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let ready = chart
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let has_artifact = chart.pointer("/status/artifact/url").is_some();
    match ready {
        Some(c) if c["status"] == "False" => Some(format!(
            "HelmChart {namespace}/{name} is not ready: {}: {}",
            c["reason"].as_str().unwrap_or_default(),
            c["message"].as_str().unwrap_or_default()
        )),
        Some(c) if c["status"] == "True" && observed == generation && has_artifact => None,
        _ => Some(format!(
            "HelmChart {namespace}/{name} has no artifact for its current spec yet: waiting for Flux's source-controller"
        )),
    }
}

fn str_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart(generation: i64, status: Value) -> Value {
        json!({"metadata": {"name": "vsphere", "namespace": "kcm", "generation": generation},
               "spec": {"chart": "vsphere-standalone-cp", "version": "1.0.42"},
               "status": status})
    }

    fn found(chart: Value) -> Found {
        Found::Chart {
            chart,
            missing_source: None,
        }
    }

    fn ready_status(observed: i64) -> Value {
        json!({"observedGeneration": observed,
               "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "pulled"}],
               "artifact": {"url": "http://127.0.0.1/helmchart/kcm/vsphere/vsphere-standalone-cp-1.0.42.tgz"}})
    }

    #[test]
    fn a_ready_chart_makes_the_template_valid_with_its_ref_and_version() {
        let verdict = decide(&found(chart(2, ready_status(2))));
        assert_eq!(
            verdict,
            Verdict {
                valid: true,
                validation_error: None,
                chart_ref: Some(CrossNamespaceSourceReference {
                    api_version: None,
                    kind: ChartRefKind::HelmChart,
                    name: "vsphere".into(),
                    namespace: Some("kcm".into()),
                }),
                chart_version: Some("1.0.42".into()),
            }
        );
    }

    #[test]
    fn a_chart_ready_for_an_older_spec_is_not_enough() {
        let verdict = decide(&found(chart(3, ready_status(2))));
        assert!(!verdict.valid);
        assert!(verdict.chart_ref.is_some(), "the ref is set regardless");
        assert_eq!(
            verdict.validation_error.as_deref(),
            Some(
                "HelmChart kcm/vsphere has no artifact for its current spec yet: waiting for Flux's source-controller"
            )
        );
    }

    #[test]
    fn a_failed_chart_passes_source_controllers_words_on() {
        let status = json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False",
            "reason": "InvalidChartReference", "message": "no 'vsphere-standalone-cp' chart with version matching '9.9.9' found"}]});
        let verdict = decide(&found(chart(1, status)));
        assert!(!verdict.valid);
        assert_eq!(
            verdict.validation_error.as_deref(),
            Some(
                "HelmChart kcm/vsphere is not ready: InvalidChartReference: no 'vsphere-standalone-cp' chart with version matching '9.9.9' found"
            )
        );
    }

    #[test]
    fn a_missing_source_is_named() {
        let verdict = decide(&Found::Chart {
            chart: chart(1, json!({})),
            missing_source: Some("HelmRepository kcm/kcm-templates".into()),
        });
        assert!(!verdict.valid);
        assert_eq!(
            verdict.validation_error.as_deref(),
            Some(
                "HelmRepository kcm/kcm-templates named by spec.helm.chartSpec.sourceRef does not exist: create it, or point the template at a source that does"
            )
        );
    }

    #[test]
    fn refs_that_cannot_work_say_why() {
        assert_eq!(
            decide(&Found::UnsupportedKind(ChartRefKind::OciRepository)).validation_error,
            Some("invalid chartRef.Kind: OCIRepository. Only HelmChart kind is supported".into())
        );
        assert_eq!(
            decide(&Found::ChartMissing {
                namespace: "kcm".into(),
                name: "x".into()
            })
            .validation_error,
            Some("HelmChart kcm/x named by spec.helm.chartRef does not exist".into())
        );
        let flux = decide(&Found::FluxMissing);
        assert!(!flux.valid && flux.validation_error.unwrap().contains("source-controller"));
    }
}
