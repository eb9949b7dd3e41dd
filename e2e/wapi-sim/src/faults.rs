//! Fault injection: rules that make the next matching WAPI requests fail in a chosen way.

use crate::errors::WapiError;
use regex::Regex;
use serde::{Deserialize, Serialize};

fn one() -> u32 {
    1
}

fn default_stall_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status and a WAPI error body (defaults describe the injection).
    Status {
        status: u16,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        text: Option<String>,
    },
    /// Answer 401 as if the credentials or cookie were refused.
    Unauthorized,
    /// Wait, then process the request normally.
    Latency { ms: u64 },
    /// Process and commit the request, then wait `ms` before answering, past the client's
    /// timeout: the client sees a timeout for a write that happened.
    TimeoutAfterCommit {
        #[serde(default = "default_stall_ms")]
        ms: u64,
    },
    /// Process and commit the request, then close the connection without an answer.
    DropAfterCommit,
    /// Answer the "network full" error without processing the request.
    NetworkFull,
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::Unauthorized => "unauthorized",
            FaultAction::Latency { .. } => "latency",
            FaultAction::TimeoutAfterCommit { .. } => "timeout_after_commit",
            FaultAction::DropAfterCommit => "drop_after_commit",
            FaultAction::NetworkFull => "network_full",
        }
    }

    /// The error an answering fault sends, if it answers instead of the server.
    pub fn error(&self) -> Option<WapiError> {
        match self {
            FaultAction::Status {
                status,
                error,
                code,
                text,
            } => {
                let text = text
                    .clone()
                    .unwrap_or_else(|| format!("Injected fault (HTTP {status})"));
                Some(WapiError::Injected {
                    status: *status,
                    error: error
                        .clone()
                        .unwrap_or_else(|| format!("AdmConDataError: {text}")),
                    code: code
                        .clone()
                        .unwrap_or_else(|| "Server.Ibap.Injected".into()),
                    text,
                })
            }
            FaultAction::NetworkFull => Some(WapiError::NetworkFull(1)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method to match, any case; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// WAPI object type to match (`record:host`); any when absent.
    #[serde(default)]
    pub object: Option<String>,
    /// Regex over the decoded path after `/wapi/v<version>/`; any when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// How many matching requests to affect; 0 means every one until the rules are cleared.
    #[serde(default = "one")]
    pub count: u32,
    pub action: FaultAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActiveRule {
    pub id: u64,
    #[serde(flatten)]
    pub rule: FaultRule,
    #[serde(skip)]
    regex: Option<Regex>,
}

#[derive(Debug, Default)]
pub struct Faults {
    next_id: u64,
    rules: Vec<ActiveRule>,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) -> Result<u64, String> {
        let regex = match &rule.path {
            Some(p) => Some(Regex::new(p).map_err(|e| format!("invalid path regex: {e}"))?),
            None => None,
        };
        self.next_id += 1;
        self.rules.push(ActiveRule {
            id: self.next_id,
            rule,
            regex,
        });
        Ok(self.next_id)
    }

    pub fn list(&self) -> &[ActiveRule] {
        &self.rules
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The first rule matching the request, used up by one.
    pub fn take(&mut self, method: &str, object: &str, path: &str) -> Option<FaultAction> {
        let i = self.rules.iter().position(|r| {
            r.rule
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.rule.object.as_deref().is_none_or(|o| o == object)
                && r.regex.as_ref().is_none_or(|re| re.is_match(path))
        })?;
        let action = self.rules[i].rule.action.clone();
        match self.rules[i].rule.count {
            0 => {}
            1 => {
                self.rules.remove(i);
            }
            _ => self.rules[i].rule.count -= 1,
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_match_and_are_used_up() {
        let mut f = Faults::default();
        f.add(rule(r#"{"method":"post","object":"record:host","count":2,"action":{"kind":"network_full"}}"#))
            .unwrap();
        assert_eq!(f.take("GET", "record:host", "record:host"), None);
        assert_eq!(f.take("POST", "network", "network"), None);
        assert_eq!(
            f.take("POST", "record:host", "record:host"),
            Some(FaultAction::NetworkFull)
        );
        assert!(f.take("POST", "record:host", "record:host").is_some());
        assert!(f.take("POST", "record:host", "record:host").is_none());
    }

    #[test]
    fn zero_count_lasts_until_cleared_and_path_is_a_regex() {
        let mut f = Faults::default();
        f.add(rule(
            r#"{"path":"^network/","count":0,"action":{"kind":"latency","ms":5}}"#,
        ))
        .unwrap();
        for _ in 0..3 {
            assert_eq!(
                f.take("GET", "network", "network/abc:x"),
                Some(FaultAction::Latency { ms: 5 })
            );
        }
        assert_eq!(f.take("GET", "network", "network"), None);
        f.clear();
        assert_eq!(f.take("GET", "network", "network/abc"), None);
    }

    #[test]
    fn status_fault_has_a_wapi_body() {
        let a: FaultAction = serde_json::from_str(r#"{"kind":"status","status":503}"#).unwrap();
        let e = a.error().unwrap();
        assert_eq!(e.status().as_u16(), 503);
        assert!(e.body().starts_with("{ \"Error\": "));
        assert!(serde_json::from_str::<FaultAction>(r#"{"kind":"latency","ms":1,"x":2}"#).is_err());
    }
}
