//! Events, published through a controller's one `Recorder`.

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

/// Publishes an event about `obj`. The API server refuses notes over 1 KiB, so the note is
/// cut to fit; a failure to publish is logged, never returned: an event is not worth failing
/// a reconcile for.
pub async fn publish<K>(
    recorder: &Recorder,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
) where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}
