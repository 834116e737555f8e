//! The AWS managed policies Coffer knows: a small catalog of those that matter to its services
//! (KMS, Secrets Manager, IAM, STS), with AWS's documents as published in the AWS Managed Policy
//! Reference Guide (`docs.aws.amazon.com/aws-managed-policy/latest/reference/NAME.html`).
//!
//! Their ARNs are `arn:PARTITION:iam::aws:policy/NAME`; they exist in every account, can be
//! attached and read, and never change (AWS refuses to modify them). Coffer keeps one version of
//! each: the default version AWS documents.

use super::record::{PolicyRecord, VersionRec, RECORD_VERSION};
use coffer_model::iam as wire;

/// The account segment of AWS managed policy ARNs.
pub(crate) const ACCOUNT: &str = "aws";

/// One AWS managed policy.
pub(crate) struct AwsManaged {
    pub name: &'static str,
    pub path: &'static str,
    pub description: &'static str,
    /// The documented default version.
    pub default_version: &'static str,
    /// Creation time, milliseconds since the epoch.
    pub create_date: i64,
    /// When the default version was made (the documented "edited time"), milliseconds.
    pub update_date: i64,
    pub document: &'static str,
}

/// The catalog, by name.
pub(crate) const CATALOG: &[AwsManaged] = &[
    AwsManaged {
        name: "AWSKeyManagementServicePowerUser",
        path: "/",
        description: "Provides access to AWS Key Management Service (KMS).",
        default_version: "v2",
        create_date: 1_423_248_000_000, // 2015-02-06T18:40Z
        update_date: 1_488_848_100_000, // 2017-03-07T00:55Z
        document: include_str!("aws_managed/AWSKeyManagementServicePowerUser.json"),
    },
    AwsManaged {
        name: "AdministratorAccess",
        path: "/",
        description: "Provides full access to AWS services and resources.",
        default_version: "v1",
        create_date: 1_423_247_986_000, // 2015-02-06T18:39:46Z
        update_date: 1_423_247_986_000,
        document: include_str!("aws_managed/AdministratorAccess.json"),
    },
    AwsManaged {
        name: "IAMFullAccess",
        path: "/",
        description: "Provides full access to IAM via the AWS Management Console.",
        default_version: "v2",
        create_date: 1_423_248_000_000, // 2015-02-06T18:40Z
        update_date: 1_561_146_000_000, // 2019-06-21T19:40Z
        document: include_str!("aws_managed/IAMFullAccess.json"),
    },
    AwsManaged {
        name: "IAMReadOnlyAccess",
        path: "/",
        description: "Provides read only access to IAM via the AWS Management Console.",
        default_version: "v4",
        create_date: 1_423_248_000_000, // 2015-02-06T18:40Z
        update_date: 1_516_907_460_000, // 2018-01-25T19:11Z
        document: include_str!("aws_managed/IAMReadOnlyAccess.json"),
    },
    AwsManaged {
        name: "PowerUserAccess",
        path: "/",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        default_version: "v12",
        create_date: 1_423_247_940_000, // 2015-02-06T18:39Z
        update_date: 1_770_919_140_000, // 2026-02-12T17:59Z
        document: include_str!("aws_managed/PowerUserAccess.json"),
    },
    AwsManaged {
        name: "SecretsManagerReadWrite",
        path: "/",
        description: "Provides read/write access to AWS Secrets Manager via the AWS Management Console. Note: this exludes IAM actions, so combine with IAMFullAccess if rotation configuration is required.",
        default_version: "v6",
        create_date: 1_522_865_100_000, // 2018-04-04T18:05Z
        update_date: 1_787_701_030_000, // 2026-08-25T23:37:10Z
        document: include_str!("aws_managed/SecretsManagerReadWrite.json"),
    },
];

/// The AWS managed policy with this path and name (names compare exactly, as in AWS's ARNs).
pub(crate) fn find(path: &str, name: &str) -> Option<&'static AwsManaged> {
    CATALOG.iter().find(|p| p.name == name && p.path == path)
}

/// A stable `ANPA…` id for a catalog policy. AWS's own ids are not published in the reference
/// guide, so Coffer derives one from the name (same on every server, never a customer's).
fn policy_id(name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // FNV-1a, then a splitmix step per character.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::from("ANPA");
    for _ in 0..17 {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push(char::from(ALPHABET[(z % 32) as usize]));
    }
    out
}

impl AwsManaged {
    /// The ARN in `partition`.
    pub fn arn(&self, partition: &str) -> String {
        wire::arn(partition, ACCOUNT, "policy", self.path, self.name)
    }

    /// The policy as a record (never stored), with its ARN in `partition`.
    pub fn record(&self, partition: &str) -> PolicyRecord {
        PolicyRecord {
            v: RECORD_VERSION,
            account: ACCOUNT.to_string(),
            name: self.name.to_string(),
            path: self.path.to_string(),
            policy_id: policy_id(self.name),
            arn: self.arn(partition),
            description: Some(self.description.to_string()),
            create_date: self.create_date,
            default_version: self.default_version.to_string(),
            next_version: 0,
            versions: vec![VersionRec {
                id: self.default_version.to_string(),
                document: self.document.to_string(),
                create_date: self.update_date,
            }],
            tags: Vec::new(),
        }
    }
}
