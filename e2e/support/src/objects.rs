//! Writing test objects the way a user would: from their JSON form.

use kube::Api;
use kube::api::PostParams;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Creates an object from JSON, expecting the API server to accept it.
pub async fn create<K>(api: &Api<K>, body: serde_json::Value) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + DeserializeOwned + Serialize,
{
    let obj: K = serde_json::from_value(body).expect("test object deserializes");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("API server accepts the object")
}
