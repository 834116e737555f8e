//! Timestamps as AWS JSON 1.1 sends them: seconds since the Unix epoch, as a JSON number with a
//! fractional part.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, kept to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch.
    pub millis: i64,
}

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    /// From a `SystemTime` (times before 1970 clamp to the epoch).
    pub fn from_system(t: SystemTime) -> Self {
        let millis = t
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self { millis }
    }

    /// As a `SystemTime`.
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.millis).unwrap_or(0))
    }

    /// Seconds since the epoch, as a float (AWS JSON 1.1 encoding).
    pub fn as_epoch_seconds(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    /// This instant plus whole days.
    pub fn plus_days(self, days: i64) -> Self {
        Self {
            millis: self.millis.saturating_add(days.saturating_mul(86_400_000)),
        }
    }

    /// This instant plus milliseconds.
    pub fn plus_millis(self, ms: i64) -> Self {
        Self {
            millis: self.millis.saturating_add(ms),
        }
    }

    /// Midnight UTC of this instant's day.
    pub fn truncate_to_day(self) -> Self {
        Self {
            millis: self.millis - self.millis.rem_euclid(86_400_000),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.millis % 1000 == 0 {
            s.serialize_i64(self.millis / 1000)
        } else {
            s.serialize_f64(self.as_epoch_seconds())
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        if !secs.is_finite() {
            return Err(serde::de::Error::custom("timestamp is not a finite number"));
        }
        Ok(Self {
            millis: (secs * 1000.0).round() as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_epoch_seconds() {
        assert_eq!(
            serde_json::to_string(&Timestamp::from_millis(1_700_000_000_000)).unwrap(),
            "1700000000"
        );
        assert_eq!(
            serde_json::to_string(&Timestamp::from_millis(1_700_000_000_250)).unwrap(),
            "1700000000.25"
        );
        let t: Timestamp = serde_json::from_str("1700000000.5").unwrap();
        assert_eq!(t.millis, 1_700_000_000_500);
    }

    #[test]
    fn truncates_to_day() {
        let t = Timestamp::from_millis(86_400_000 * 3 + 5_000);
        assert_eq!(t.truncate_to_day().millis, 86_400_000 * 3);
    }
}
