//! Schema fragments the derive cannot express on its own.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Free-form JSON object (Helm values, provider data): kept as written, never pruned.
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Any JSON value, as Go's `apiextensionsv1.JSON` renders it: no type, nothing pruned.
pub fn any_json(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
