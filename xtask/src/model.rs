//! The botocore service model (`service-2.json`), as far as Coffer reads it.
//!
//! Shapes and members refuse fields this code does not know (`deny_unknown_fields`): a model
//! update that brings a new serialization trait fails the codegen loudly instead of being
//! silently ignored by the codecs. Operations ignore what only SDK clients use (endpoint
//! discovery, checksums, context parameters).

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// A JSON object whose entries keep the model's order (member order is the wire order).
#[derive(Debug)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Ordered<V> {
    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// One `service-2.json`.
#[derive(Debug, Deserialize)]
pub struct Model {
    pub metadata: Metadata,
    pub operations: Ordered<OperationDef>,
    pub shapes: Ordered<ShapeDef>,
}

/// The model's `metadata`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub endpoint_prefix: String,
    #[serde(default)]
    pub json_version: Option<String>,
    pub protocol: String,
    pub service_full_name: String,
    pub service_id: String,
    #[serde(default)]
    pub signing_name: Option<String>,
    #[serde(default)]
    pub target_prefix: Option<String>,
    #[serde(default)]
    pub xml_namespace: Option<String>,
    #[serde(default)]
    pub global_endpoint: Option<String>,
}

/// A reference to a shape from an operation (`input`, `output`, `errors`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpRef {
    pub shape: String,
    #[serde(default)]
    pub result_wrapper: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted, not used
    pub documentation: Option<IgnoredAny>,
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
}

/// One operation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationDef {
    pub name: String,
    pub http: Http,
    #[serde(default)]
    pub input: Option<OpRef>,
    #[serde(default)]
    pub output: Option<OpRef>,
    #[serde(default)]
    pub errors: Vec<OpRef>,
    #[serde(default)]
    pub idempotent: bool,
    #[serde(default)]
    pub authtype: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
}

/// An operation's HTTP binding (always `POST /` for the JSON and Query protocols).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    pub method: String,
    pub request_uri: String,
}

/// `xmlNamespace` of a shape or member: a URI, optionally with a prefix.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum XmlNamespace {
    Uri(String),
    Full {
        uri: String,
        #[serde(default)]
        prefix: Option<String>,
    },
}

/// A structure member, or a list's member, or a map's key or value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberDef {
    pub shape: String,
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub xml_attribute: bool,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
    #[serde(default)]
    pub idempotency_token: bool,
    #[serde(default)]
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    #[allow(dead_code)] // accepted, not used
    pub deprecated_message: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)] // accepted, not used
    pub deprecated_since: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)] // accepted, not used
    pub documentation: Option<IgnoredAny>,
    /// botocore's marker that a value may be null (Coffer treats every member as optional
    /// unless `required`).
    #[serde(default, rename = "box")]
    #[allow(dead_code)] // accepted, not used
    pub boxed: Option<IgnoredAny>,
}

/// An error structure's `error` trait.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorDef {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub http_status_code: Option<u16>,
    #[serde(default)]
    pub sender_fault: bool,
}

/// One shape.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShapeDef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub members: Ordered<MemberDef>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub member: Option<MemberDef>,
    #[serde(default)]
    pub key: Option<MemberDef>,
    #[serde(default)]
    pub value: Option<MemberDef>,
    #[serde(default)]
    pub min: Option<serde_json::Number>,
    #[serde(default)]
    pub max: Option<serde_json::Number>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
    #[serde(default)]
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorDef>,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub fault: bool,
    #[serde(default)]
    pub union: bool,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    #[allow(dead_code)] // accepted, not used
    pub deprecated_message: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)] // accepted, not used
    pub documentation: Option<IgnoredAny>,
    #[serde(default, rename = "box")]
    #[allow(dead_code)] // accepted, not used
    pub boxed: Option<IgnoredAny>,
}

impl Model {
    /// The shape named `name`.
    pub fn shape(&self, name: &str) -> Option<&ShapeDef> {
        self.shapes.get(name)
    }

    /// The name SigV4 scopes requests with: `signingName`, else the endpoint prefix.
    pub fn signing_name(&self) -> &str {
        self.metadata
            .signing_name
            .as_deref()
            .unwrap_or(&self.metadata.endpoint_prefix)
    }
}
