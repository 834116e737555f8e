//! The models' shapes, as static data: every structure with its members (wire names, required
//! flags, serialization traits), every list, map and scalar with its constraints. Generated per
//! service into the same files as the operations ([`super::kms::SHAPES`], …); the protocol codecs
//! (coffer-protocol) and the response validator walk them.
//!
//! Shapes refer to each other by `&'static Shape`, so a member's type is one pointer away and
//! recursive shapes need no special case.

use super::Service;

/// One shape of a service model.
#[derive(Debug)]
pub struct Shape {
    /// Its name in the model (`EncryptRequest`, `KeyIdType`).
    pub name: &'static str,
    /// The model it is from.
    pub service: Service,
    /// What it is.
    pub kind: ShapeKind,
    /// The model's `sensitive` trait: values are secrets (never log or echo them).
    pub sensitive: bool,
    /// The model's `deprecated` trait.
    pub deprecated: bool,
}

/// The kind of a shape, with its kind's traits.
#[derive(Debug)]
pub enum ShapeKind {
    /// A structure: named members.
    Structure(Structure),
    /// A list of one member shape.
    List(List),
    /// A map from a key shape (always a string) to a value shape.
    Map(Map),
    /// A string (possibly an enum).
    String(StringShape),
    /// A 32-bit integer.
    Integer(Range),
    /// A 64-bit integer.
    Long(Range),
    /// A 32-bit float.
    Float(FloatRange),
    /// A 64-bit float.
    Double(FloatRange),
    /// A boolean.
    Boolean,
    /// Bytes (base64 on the wire).
    Blob(Length),
    /// An instant; the format, if the shape sets one (else the protocol's default).
    Timestamp(Option<TimestampFormat>),
}

impl ShapeKind {
    /// The model's name of the kind (`structure`, `list`, `string`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ShapeKind::Structure(_) => "structure",
            ShapeKind::List(_) => "list",
            ShapeKind::Map(_) => "map",
            ShapeKind::String(_) => "string",
            ShapeKind::Integer(_) => "integer",
            ShapeKind::Long(_) => "long",
            ShapeKind::Float(_) => "float",
            ShapeKind::Double(_) => "double",
            ShapeKind::Boolean => "boolean",
            ShapeKind::Blob(_) => "blob",
            ShapeKind::Timestamp(_) => "timestamp",
        }
    }
}

/// A structure shape.
#[derive(Debug)]
pub struct Structure {
    /// The members, in the model's order (the order the Query protocol writes them).
    pub members: &'static [Member],
    /// Error structures: the `error` trait (code, HTTP status).
    pub error: Option<ErrorTrait>,
    /// Whether it is an exception (an error shape).
    pub exception: bool,
    /// Whether the error is the server's fault.
    pub fault: bool,
    /// Whether exactly one member may be set (a tagged union).
    pub union: bool,
    /// The shape's XML namespace, if the model gives one.
    pub xml_namespace: Option<XmlNamespace>,
}

impl Structure {
    /// The member named `name` (model name, not wire name).
    pub fn member(&self, name: &str) -> Option<&'static Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// A list shape.
#[derive(Debug)]
pub struct List {
    /// The member (named `member`; its `location_name` is the Query protocol's item element).
    pub member: Member,
    /// Query/XML: items are not wrapped in an element of the list's own.
    pub flattened: bool,
    /// How many items.
    pub length: Length,
}

/// A map shape.
#[derive(Debug)]
pub struct Map {
    /// The key (named `key`, or its `location_name`).
    pub key: Member,
    /// The value (named `value`, or its `location_name`).
    pub value: Member,
    /// Query/XML: entries are not wrapped in `entry` elements.
    pub flattened: bool,
    /// How many entries.
    pub length: Length,
}

/// A string shape.
#[derive(Debug)]
pub struct StringShape {
    /// Length in characters.
    pub length: Length,
    /// The model's pattern (a Java regular expression).
    pub pattern: Option<&'static str>,
    /// An enum's values; empty for a free string.
    pub enum_values: &'static [&'static str],
}

/// Bounds on a length or count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Length {
    /// Least.
    pub min: Option<u64>,
    /// Most.
    pub max: Option<u64>,
}

/// Bounds on an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    /// Least.
    pub min: Option<i64>,
    /// Most.
    pub max: Option<i64>,
}

/// Bounds on a float.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FloatRange {
    /// Least.
    pub min: Option<f64>,
    /// Most.
    pub max: Option<f64>,
}

/// How a timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampFormat {
    /// `2024-05-06T07:08:09Z` (the Query protocol's default).
    Iso8601,
    /// Seconds since the epoch, a number (JSON 1.1's default).
    EpochSeconds,
    /// `Mon, 06 May 2024 07:08:09 GMT`.
    Rfc822,
}

/// An XML namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlNamespace {
    /// Its URI.
    pub uri: &'static str,
    /// Its prefix, if not the default namespace.
    pub prefix: Option<&'static str>,
}

/// An error structure's `error` trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorTrait {
    /// The error code on the wire, when it is not the shape's name (IAM: `NoSuchEntity` for
    /// `NoSuchEntityException`).
    pub code: Option<&'static str>,
    /// The HTTP status.
    pub http_status: Option<u16>,
    /// Whether the caller is at fault (`Sender`) rather than the service (`Receiver`).
    pub sender_fault: bool,
}

/// A member of a structure, or a list's member, or a map's key or value.
#[derive(Debug)]
pub struct Member {
    /// Its name in the model (the JSON protocol's key; serde structs use it).
    pub name: &'static str,
    /// Its shape.
    pub target: &'static Shape,
    /// Whether the model requires it.
    pub required: bool,
    /// Its wire name, when it is not `name` (Query/XML element or parameter name).
    pub location_name: Option<&'static str>,
    /// Query/XML: a list or map member written without its wrapper.
    pub flattened: bool,
    /// XML: written as an attribute.
    pub xml_attribute: bool,
    /// XML: its namespace.
    pub xml_namespace: Option<XmlNamespace>,
    /// Whether it is the operation's idempotency token.
    pub idempotency_token: bool,
    /// Its timestamp format, if the member sets one.
    pub timestamp_format: Option<TimestampFormat>,
    /// The model's `deprecated` trait.
    pub deprecated: bool,
}

impl Member {
    /// A member with every trait at its default (for the generated tables).
    pub const fn of(name: &'static str, target: &'static Shape) -> Member {
        Member {
            name,
            target,
            required: false,
            location_name: None,
            flattened: false,
            xml_attribute: false,
            xml_namespace: None,
            idempotency_token: false,
            timestamp_format: None,
            deprecated: false,
        }
    }

    /// Its name on the wire: `location_name`, else `name`.
    pub fn wire_name(&self) -> &'static str {
        self.location_name.unwrap_or(self.name)
    }

    /// Its timestamp format: the member's, else its shape's.
    pub fn timestamp_format(&self) -> Option<TimestampFormat> {
        self.timestamp_format.or(match self.target.kind {
            ShapeKind::Timestamp(f) => f,
            _ => None,
        })
    }
}

impl Shape {
    /// The structure, if it is one.
    pub fn structure(&self) -> Option<&Structure> {
        match &self.kind {
            ShapeKind::Structure(s) => Some(s),
            _ => None,
        }
    }
}
