//! One API call, retried while the API server is only busy: under a burst it may answer 429
//! (priority and fairness) or time out, and a benchmark should measure the system under test,
//! not give up on it. Every attempt is counted in the driver's tally.

use std::future::Future;
use std::time::Duration;

use crate::tally::Tally;

/// What a request was, for the tally: verb, resource (with `/subresource`), the code the API
/// server records on success.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub ok: &'a str,
}

pub async fn retried<T, F, Fut>(tally: &Tally, call: Call<'_>, mut request: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kube::Result<T>>,
{
    let mut pause = Duration::from_millis(50);
    for attempt in 1.. {
        let result = request().await;
        tally.record(call.verb, call.resource, call.ok, &result);
        match &result {
            Err(e) if attempt < 8 && busy(e) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            _ => return result,
        }
    }
    unreachable!("the loop returns")
}

fn busy(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}
