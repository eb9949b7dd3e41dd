//! Requests to the Kubernetes API server, as client-go's `rest_client_*` metrics count them
//! but by verb and resource (what a person asks "which controller hammers the API?" by),
//! and the watches among them: a tower layer under the kube `Client`, so every request of
//! every controller, watcher and webhook lookup passes through it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub resource: String,
    /// The HTTP status, or `error` when no response came.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub verb: String,
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

pub struct KubeApiMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<LatencyLabels, Histogram>,
    watch_starts: Family<ResourceLabels, Counter>,
    watch_errors: Family<ResourceLabels, Counter>,
}

impl KubeApiMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = KubeApiMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(super::latency as fn() -> _),
            watch_starts: Family::default(),
            watch_errors: Family::default(),
        };
        registry.register(
            "kube_requests",
            "Requests to the Kubernetes API server, per verb, resource and HTTP status",
            m.requests.clone(),
        );
        registry.register(
            "kube_request_duration_seconds",
            "Time to the API server's response headers, per verb and resource",
            m.duration.clone(),
        );
        registry.register(
            "watch_starts",
            "Watches opened, per resource: one per watcher at start, then one per restart \
             (the API server ends a watch every few minutes; more means trouble)",
            m.watch_starts.clone(),
        );
        registry.register(
            "watch_errors",
            "Watches that failed: refused, broken off, or ended by an ERROR event (e.g. 410 Gone), per resource",
            m.watch_errors.clone(),
        );
        m
    }

    fn watch_error(&self, resource: &str) {
        self.watch_errors
            .get_or_create(&ResourceLabels {
                resource: resource.to_string(),
            })
            .inc();
    }
}

/// What a request asks for, in the API server's terms.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// get, list, watch, create, update, patch, delete, deletecollection
    pub verb: &'static str,
    /// `plural.group` as kubectl names it (`plural` for the core group), with `/subresource`;
    /// `nonresource` for discovery and /version.
    pub resource: String,
}

/// Reads verb and resource from a request line, as the API server's request-info resolver
/// does: `/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{sub}]]` and
/// `/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{sub}]]`.
pub fn target(method: &Method, path: &str, query: Option<&str>) -> Target {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => ("", &[][..]),
    };
    // `namespaces/{ns}/...` scopes what follows; `namespaces[/{name}]` is the resource itself.
    let rest = match rest {
        ["namespaces", _ns, scoped @ ..] if !scoped.is_empty() => scoped,
        other => other,
    };
    let (resource, name, sub) = match rest {
        [] => {
            return Target {
                verb: if *method == Method::GET {
                    "get"
                } else {
                    "other"
                },
                resource: "nonresource".into(),
            };
        }
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub, ..] => (*resource, Some(*name), Some(*sub)),
    };
    let watch = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    });
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "other",
    };
    let mut resource = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    if let Some(sub) = sub {
        resource = format!("{resource}/{sub}");
    }
    Target { verb, resource }
}

/// The layer for `kube::client::ClientBuilder::with_layer`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KubeApiLayer;

impl<S> tower_layer::Layer<S> for KubeApiLayer {
    type Service = KubeApiService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        KubeApiService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct KubeApiService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for KubeApiService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: Body<Data = Bytes> + Unpin,
{
    type Response = Response<WatchBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let target = target(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        let metrics = &super::get().kube_api;
        let watch = target.verb == "watch";
        if watch {
            let resource = ResourceLabels {
                resource: target.resource.clone(),
            };
            metrics.watch_starts.get_or_create(&resource).inc();
            // At 0 from the first watch on, so that a rate of errors is defined before one.
            let _ = metrics.watch_errors.get_or_create(&resource);
        }
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            metrics
                .duration
                .get_or_create(&LatencyLabels {
                    verb: target.verb.to_string(),
                    resource: target.resource.clone(),
                })
                .observe(started.elapsed().as_secs_f64());
            let code = match &response {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    verb: target.verb.to_string(),
                    resource: target.resource.clone(),
                    code,
                })
                .inc();
            let failed = !matches!(&response, Ok(r) if r.status().is_success());
            if watch && failed {
                metrics.watch_error(&target.resource);
            }
            response.map(|r| {
                r.map(|body| WatchBody {
                    inner: body,
                    // Only a watch that started streams events worth reading.
                    resource: (watch && !failed).then_some(target.resource),
                })
            })
        })
    }
}

/// A response body that, for a watch, counts a break in the stream or an ERROR event as a
/// watch error. Events arrive one JSON object per frame from the API server; one split
/// across frames is missed, which undercounts rather than invents.
pub struct WatchBody<B> {
    inner: B,
    resource: Option<String>,
}

const ERROR_EVENT: &[u8] = br#"{"type":"ERROR""#;

impl<B> Body for WatchBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Some(resource) = &self.resource {
            let error = match &polled {
                Poll::Ready(Some(Ok(frame))) => frame
                    .data_ref()
                    .is_some_and(|data| data.windows(ERROR_EVENT.len()).any(|w| w == ERROR_EVENT)),
                Poll::Ready(Some(Err(_))) => true,
                _ => false,
            };
            if error {
                super::get().kube_api.watch_error(resource);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(method: Method, uri: &str) -> (&'static str, String) {
        let uri: http::Uri = uri.parse().unwrap();
        let t = target(&method, uri.path(), uri.query());
        (t.verb, t.resource)
    }

    #[test]
    fn verbs_and_resources_as_the_api_server_names_them() {
        let cases = [
            (
                t(
                    Method::GET,
                    "/apis/ipam.cluster.x-k8s.io/v1beta2/namespaces/ns/ipaddressclaims?watch=true&resourceVersion=5",
                ),
                ("watch", "ipaddressclaims.ipam.cluster.x-k8s.io"),
            ),
            (
                t(
                    Method::GET,
                    "/apis/ipam.cluster.x-k8s.io/v1beta2/ipaddressclaims?limit=500",
                ),
                ("list", "ipaddressclaims.ipam.cluster.x-k8s.io"),
            ),
            (
                t(
                    Method::PATCH,
                    "/apis/ipam.cluster.x-k8s.io/v1beta2/namespaces/ns/ipaddressclaims/c/status",
                ),
                ("patch", "ipaddressclaims.ipam.cluster.x-k8s.io/status"),
            ),
            (
                t(
                    Method::POST,
                    "/apis/ipam-operator.io/v1alpha1/addressallocations",
                ),
                ("create", "addressallocations.ipam-operator.io"),
            ),
            (
                t(Method::GET, "/api/v1/namespaces/ns/secrets/creds"),
                ("get", "secrets"),
            ),
            (
                t(Method::GET, "/api/v1/namespaces/ns"),
                ("get", "namespaces"),
            ),
            (t(Method::GET, "/api/v1/namespaces"), ("list", "namespaces")),
            (
                t(
                    Method::PUT,
                    "/apis/coordination.k8s.io/v1/namespaces/ns/leases/ipam-operator",
                ),
                ("update", "leases.coordination.k8s.io"),
            ),
            (
                t(Method::DELETE, "/api/v1/namespaces/ns/configmaps"),
                ("deletecollection", "configmaps"),
            ),
            (t(Method::GET, "/version"), ("get", "nonresource")),
            (t(Method::GET, "/apis"), ("get", "nonresource")),
        ];
        for (got, (verb, resource)) in cases {
            assert_eq!(got, (verb, resource.to_string()));
        }
    }

    #[tokio::test]
    async fn a_watch_body_counts_error_events_and_breaks() {
        use http_body_util::BodyExt;
        let resource = "widgets.test.example";
        let errors = || {
            super::super::get()
                .kube_api
                .watch_errors
                .get_or_create(&ResourceLabels {
                    resource: resource.into(),
                })
                .get()
        };
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(
                br#"{"type":"ADDED","object":{}}"#,
            ))),
            Ok(Frame::data(Bytes::from_static(
                br#"{"type":"ERROR","object":{"code":410}}"#,
            ))),
            Err(std::io::Error::other("reset")),
        ];
        let body = WatchBody {
            inner: http_body_util::StreamBody::new(futures::stream::iter(frames)),
            resource: Some(resource.into()),
        };
        let before = errors();
        let _ = body.collect().await;
        assert_eq!(errors(), before + 2);
    }
}
