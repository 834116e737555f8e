//! The crash loop (issue #16 part 4): a mixed write load from many connections — CreateKey,
//! CreateAlias, Encrypt, CreateSecret, PutSecretValue, TagResource, ScheduleKeyDeletion — with the
//! server killed (SIGKILL) at a random moment of each round, restarted, and the log of
//! acknowledged writes checked against the state: none lost, every ciphertext decrypts, every
//! secret that exists opens whole.
//!
//! `COFFER_CRASH_LOOP_KILLS` sets the number of kills (default 10 here; the 100 for the
//! report); the figures are printed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;
use std::sync::{Arc, Mutex};

/// An acknowledged write and what must hold after any crash.
#[derive(Debug, Clone)]
enum Ack {
    Key(String),
    Alias(String, String),
    Ciphertext(String, Vec<u8>, String),
    Secret(String, String, String),
    Tag(String, String, String),
    PendingDeletion(String),
}

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn worker(
    s_kms: aws_sdk_kms::Client,
    s_sm: aws_sdk_secretsmanager::Client,
    id: usize,
    round: usize,
    seed: u64,
    acks: Arc<Mutex<Vec<Ack>>>,
) {
    let mut rng = Rng(seed | 1);
    let mut my_key: Option<String> = None;
    let mut my_secret: Option<String> = None;
    for i in 0.. {
        let op = rng.below(7);
        let tag = format!("r{round}w{id}i{i}");
        let ack = match (op, &my_key, &my_secret) {
            (0, _, _) | (_, None, _) => match s_kms.create_key().send().await {
                Ok(k) => {
                    let kid = k.key_metadata().unwrap().key_id().to_string();
                    my_key = Some(kid.clone());
                    Ack::Key(kid)
                }
                Err(_) => return,
            },
            (1, Some(k), _) => {
                let alias = format!("alias/crash/{tag}");
                match s_kms
                    .create_alias()
                    .alias_name(&alias)
                    .target_key_id(k)
                    .send()
                    .await
                {
                    Ok(_) => Ack::Alias(alias, k.clone()),
                    Err(_) => return,
                }
            }
            (2, Some(k), _) => {
                match s_kms
                    .encrypt()
                    .key_id(k)
                    .plaintext(Blob::new(tag.as_bytes().to_vec()))
                    .send()
                    .await
                {
                    Ok(o) => Ack::Ciphertext(
                        k.clone(),
                        o.ciphertext_blob().unwrap().as_ref().to_vec(),
                        tag,
                    ),
                    Err(_) => return,
                }
            }
            (3, Some(k), None) | (4, Some(k), None) => {
                let name = format!("crash/{tag}");
                match s_sm
                    .create_secret()
                    .name(&name)
                    .kms_key_id(k)
                    .secret_string(&tag)
                    .send()
                    .await
                {
                    Ok(o) => {
                        my_secret = Some(name.clone());
                        Ack::Secret(name, o.version_id().unwrap().to_string(), tag)
                    }
                    Err(_) => return,
                }
            }
            (3, _, Some(name)) | (4, _, Some(name)) => {
                match s_sm
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(&tag)
                    .send()
                    .await
                {
                    Ok(o) => Ack::Secret(name.clone(), o.version_id().unwrap().to_string(), tag),
                    Err(_) => return,
                }
            }
            (5, Some(k), _) => {
                match s_kms
                    .tag_resource()
                    .key_id(k)
                    .tags(
                        aws_sdk_kms::types::Tag::builder()
                            .tag_key("crash")
                            .tag_value(&tag)
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await
                {
                    Ok(_) => Ack::Tag(k.clone(), "crash".into(), tag),
                    Err(_) => return,
                }
            }
            (_, Some(k), _) => {
                // A key with a secret under it stays; another is scheduled for deletion.
                if my_secret.is_some() {
                    continue;
                }
                match s_kms
                    .schedule_key_deletion()
                    .key_id(k)
                    .pending_window_in_days(7)
                    .send()
                    .await
                {
                    Ok(_) => {
                        let k = k.clone();
                        my_key = None;
                        Ack::PendingDeletion(k)
                    }
                    Err(_) => return,
                }
            }
        };
        acks.lock().unwrap().push(ack);
    }
}

/// `(round, write)` of a value `r{round}w{worker}i{write}`: the order one worker wrote in.
fn order(v: &str) -> (u64, u64) {
    let num = |s: &str| s.parse::<u64>().unwrap_or(0);
    let r = v.strip_prefix('r').unwrap_or("");
    let (round, rest) = r.split_once('w').unwrap_or(("", ""));
    let (_, write) = rest.split_once('i').unwrap_or(("", ""));
    (num(round), num(write))
}

/// Checks every acknowledged write against the restarted server; returns how many were checked.
async fn verify(s: &Server, all: &[Ack], acks: &[Ack]) -> usize {
    let kms = s.kms(PRIMARY);
    let sm = s.secrets(PRIMARY);
    // The last acknowledged value of each tag key per key wins.
    let mut last_tag = std::collections::HashMap::new();
    let mut pending = std::collections::HashSet::new();
    for a in all {
        match a {
            Ack::Tag(k, key, v) => {
                last_tag.insert((k.clone(), key.clone()), v.clone());
            }
            Ack::PendingDeletion(k) => {
                pending.insert(k.clone());
            }
            _ => {}
        }
    }
    for a in acks {
        match a {
            Ack::Key(k) => {
                let m = kms.describe_key().key_id(k).send().await.unwrap();
                let state = m
                    .key_metadata()
                    .unwrap()
                    .key_state()
                    .unwrap()
                    .as_str()
                    .to_string();
                if pending.contains(k) {
                    assert_eq!(state, "PendingDeletion", "key {k}");
                } else {
                    // A deletion in flight at the kill may or may not have happened.
                    assert!(
                        state == "Enabled" || state == "PendingDeletion",
                        "key {k}: {state}"
                    );
                }
            }
            Ack::Alias(alias, k) => {
                let m = kms.describe_key().key_id(alias).send().await.unwrap();
                assert_eq!(m.key_metadata().unwrap().key_id(), k, "{alias}");
            }
            Ack::Ciphertext(k, ct, want) => {
                match kms
                    .decrypt()
                    .ciphertext_blob(Blob::new(ct.clone()))
                    .send()
                    .await
                {
                    Ok(o) => assert_eq!(o.plaintext().unwrap().as_ref(), want.as_bytes()),
                    // A key pending deletion decrypts nothing, as in AWS.
                    Err(e) => {
                        let code = e.as_service_error().and_then(|e| {
                            aws_sdk_kms::error::ProvideErrorMetadata::code(e).map(str::to_string)
                        });
                        assert_eq!(code.as_deref(), Some("KMSInvalidStateException"), "{k}");
                        let m = kms.describe_key().key_id(k).send().await.unwrap();
                        assert_eq!(
                            m.key_metadata().unwrap().key_state().unwrap().as_str(),
                            "PendingDeletion"
                        );
                    }
                }
            }
            Ack::Secret(name, version, want) => {
                let v = sm
                    .get_secret_value()
                    .secret_id(name)
                    .version_id(version)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(v.secret_string(), Some(want.as_str()), "{name} {version}");
            }
            Ack::Tag(..) | Ack::PendingDeletion(_) => {}
        }
    }
    for ((k, key), v) in &last_tag {
        let tags = kms.list_resource_tags().key_id(k).send().await.unwrap();
        let got = tags
            .tags()
            .iter()
            .find(|t| t.tag_key() == key)
            .map(|t| t.tag_value().to_string());
        // The last acknowledged value, or a later one whose answer the kill cut off.
        let got = got.unwrap_or_default();
        assert!(
            got == *v || order(&got) > order(v),
            "tag {key} of {k}: {got} (acknowledged {v})"
        );
    }
    // Nothing half-applied: every secret that exists (acknowledged or not) opens whole.
    let mut token = None;
    loop {
        let page = sm
            .list_secrets()
            .set_next_token(token.clone())
            .max_results(100)
            .send()
            .await
            .unwrap();
        for e in page.secret_list() {
            let name = e.name().unwrap();
            sm.get_secret_value().secret_id(name).send().await.unwrap();
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    acks.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_a_kill_loop() {
    let kills: usize = std::env::var("COFFER_CRASH_LOOP_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash loop: seed {seed}, {kills} kills");
    let mut rng = Rng(seed | 1);
    let mut s = Server::secure();
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let mut checked = 0;
    for round in 0..kills {
        let before = acks.lock().unwrap().len();
        // Kill after a random number of acknowledged writes in this round (counted, not timed).
        let kill_after = before + 10 + rng.below(60) as usize;
        let mut tasks = Vec::new();
        for w in 0..8 {
            tasks.push(tokio::spawn(worker(
                s.kms(PRIMARY),
                s.secrets(PRIMARY),
                w,
                round,
                rng.next(),
                acks.clone(),
            )));
        }
        common::eventually(
            "acknowledged writes",
            std::time::Duration::from_secs(120),
            || {
                let n = acks.lock().unwrap().len();
                async move { (n >= kill_after).then_some(()) }
            },
        )
        .await;
        s.kill9();
        for t in tasks {
            let _ = t.await;
        }
        s.start_again();
        let snapshot = acks.lock().unwrap().clone();
        // This round's writes in full; all of them every fifth round and at the end.
        let check: &[Ack] = if round % 5 == 4 || round + 1 == kills {
            &snapshot
        } else {
            &snapshot[before..]
        };
        checked += verify(&s, &snapshot, check).await;
    }
    let total = acks.lock().unwrap().len();
    println!(
        "crash loop: {kills} kills, {total} acknowledged writes, {checked} checks after restarts, 0 lost"
    );
}
