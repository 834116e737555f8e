//! Actions a service takes on its own, not in answer to a request — a key deleted when its
//! waiting period ends, an automatic rotation, a secret's rotation steps — reported to whoever
//! records them (the audit trail writes them as CloudTrail `AwsServiceEvent` records).

use std::sync::{Arc, OnceLock};

/// The service that acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// AWS KMS.
    Kms,
    /// AWS Secrets Manager.
    SecretsManager,
}

/// A resource the event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventResource {
    /// Its ARN.
    pub arn: String,
    /// Its CloudFormation-style type, e.g. `AWS::KMS::Key`.
    pub resource_type: &'static str,
}

/// One service event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    /// Who acted.
    pub source: EventSource,
    /// The event's name, e.g. `RotateKey`, `RotationSucceeded`.
    pub name: &'static str,
    /// The Region it happened in.
    pub region: String,
    /// The account it happened in.
    pub account: String,
    /// The resources concerned.
    pub resources: Vec<EventResource>,
    /// `serviceEventDetails`, as string fields (never a secret).
    pub details: Vec<(&'static str, String)>,
}

/// Receives service events.
pub trait ServiceEvents: Send + Sync {
    /// Records `event` (must not block for long; failures are the receiver's to report).
    fn emit(&self, event: ServiceEvent);
}

/// The slot a service keeps its receiver in: set once at start-up, empty until then (events
/// are dropped while nobody listens).
#[derive(Default)]
pub struct EventSink(OnceLock<Arc<dyn ServiceEvents>>);

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "EventSink(set)"
        } else {
            "EventSink(empty)"
        })
    }
}

impl EventSink {
    /// Sets the receiver (a second call is ignored).
    pub fn set(&self, receiver: Arc<dyn ServiceEvents>) {
        let _ = self.0.set(receiver);
    }

    /// Reports `event` to the receiver, if any.
    pub fn emit(&self, event: ServiceEvent) {
        if let Some(r) = self.0.get() {
            r.emit(event);
        }
    }
}
