//! Three Coffer nodes on one PostgreSQL database act as one service (#12): what one node makes
//! the others serve; two nodes changing the same thing at once never both win or lose an
//! update; credentials made through one node authenticate on another; a node killed under a
//! write load loses nothing it acknowledged.
//!
//! Needs `COFFER_TEST_POSTGRES_URL` (`.ci/postgres` starts a throwaway server); skips without.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use common::*;
use std::time::{Duration, Instant};

/// Three nodes over one fresh schema: the first makes the root key and credentials, the
/// others start from copies of its key files, as an operator gives each node of a deployment.
fn three_nodes(url: &str) -> Vec<Server> {
    three_nodes_with(url, "")
}

/// [`three_nodes`] with more `[store]` keys.
fn three_nodes_with(url: &str, store_keys: &str) -> Vec<Server> {
    let schema = unique("ha").to_ascii_lowercase().replace('-', "_");
    let config = format!(
        "[store]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n{store_keys}"
    );
    let first = Server::start(Options {
        config: Some(config.clone()),
        ..Options::default()
    });
    let from = first.data_dir.clone();
    let mut nodes = vec![first];
    for _ in 0..2 {
        nodes.push(Server::start(Options {
            config: Some(config.clone()),
            data_from: Some(from.clone()),
            ..Options::default()
        }));
    }
    nodes
}

/// Polls `check` until it holds (another node's change arrives within milliseconds; the bound
/// is generous for a loaded machine).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not seen within 10 s");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_on_one_postgres_are_one_service() {
    let Some(url) = pg_url() else { return };
    let nodes = three_nodes(&url);
    let kms: Vec<_> = nodes.iter().map(|n| n.kms(PRIMARY)).collect();
    let sm: Vec<_> = nodes.iter().map(|n| n.secrets(PRIMARY)).collect();

    // A key made through node 1 encrypts there and decrypts through nodes 2 and 3 at once.
    let key = kms[0].create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms[0]
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"one service".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    for k in &kms[1..] {
        let pt = k
            .decrypt()
            .ciphertext_blob(ct.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(pt.plaintext().unwrap().as_ref(), b"one service");
    }
    // A state change made through node 2 is what node 3 enforces, once its notification
    // arrived (consistency "eventual": milliseconds).
    kms[1].disable_key().key_id(&key_id).send().await.unwrap();
    eventually("the disabled key refused on node 3", || async {
        let r = kms[2]
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await;
        r.err()
            .and_then(|e| e.code().map(str::to_string))
            .as_deref()
            == Some("DisabledException")
    })
    .await;
    kms[0].enable_key().key_id(&key_id).send().await.unwrap();

    // The same alias created through two nodes at once: exactly one wins.
    for round in 0..8 {
        let name = format!("alias/ha-{round}");
        let (a, b) = tokio::join!(
            kms[0]
                .create_alias()
                .alias_name(&name)
                .target_key_id(&key_id)
                .send(),
            kms[1]
                .create_alias()
                .alias_name(&name)
                .target_key_id(&key_id)
                .send(),
        );
        let codes: Vec<Option<String>> = [a.map(|_| ()), b.map(|_| ())]
            .into_iter()
            .map(|r| r.err().map(|e| e.code().unwrap_or("?").to_string()))
            .collect();
        let won = codes.iter().filter(|c| c.is_none()).count();
        assert_eq!(won, 1, "round {round}: {codes:?}");
        assert!(
            codes.contains(&Some("AlreadyExistsException".to_string())),
            "round {round}: {codes:?}"
        );
    }
    eventually("the eight aliases on node 3", || async {
        let aliases = kms[2].list_aliases().key_id(&key_id).send().await.unwrap();
        aliases.aliases().len() == 8
    })
    .await;

    // The same secret created through two nodes at once: exactly one wins.
    for round in 0..4 {
        let name = format!("ha/secret-{round}");
        let (a, b) = tokio::join!(
            sm[1].create_secret().name(&name).secret_string("a").send(),
            sm[2].create_secret().name(&name).secret_string("b").send(),
        );
        let oks = [a.is_ok(), b.is_ok()];
        assert_eq!(oks.iter().filter(|ok| **ok).count(), 1, "round {round}");
        if a.is_ok() {
            expect_err(b, "ResourceExistsException");
        } else {
            expect_err(a, "ResourceExistsException");
        }
    }

    // PutSecretValue through two nodes at once: both versions are kept, with consistent labels.
    sm[0]
        .create_secret()
        .name("ha/labels")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    for round in 0..6 {
        let (a, b) = tokio::join!(
            sm[0]
                .put_secret_value()
                .secret_id("ha/labels")
                .secret_string(format!("a{round}"))
                .send(),
            sm[1]
                .put_secret_value()
                .secret_id("ha/labels")
                .secret_string(format!("b{round}"))
                .send(),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let ids = [a.version_id().unwrap(), b.version_id().unwrap()];
        for s in &sm {
            let versions = s
                .list_secret_version_ids()
                .secret_id("ha/labels")
                .send()
                .await
                .unwrap();
            let labelled = |label: &str| -> Vec<String> {
                versions
                    .versions()
                    .iter()
                    .filter(|v| v.version_stages().iter().any(|l| l == label))
                    .map(|v| v.version_id().unwrap().to_string())
                    .collect()
            };
            let (current, previous) = (labelled("AWSCURRENT"), labelled("AWSPREVIOUS"));
            if current.len() == 1 && ids.contains(&current[0].as_str()) {
                assert_eq!(previous.len(), 1, "round {round}");
                assert!(ids.contains(&previous[0].as_str()), "round {round}");
                assert_ne!(current, previous);
            } else {
                // This node has not heard of the later commit yet: it must arrive.
                eventually("both versions on every node", || async {
                    let v = s
                        .list_secret_version_ids()
                        .secret_id("ha/labels")
                        .send()
                        .await
                        .unwrap();
                    v.versions().iter().any(|v| {
                        ids.contains(&v.version_id().unwrap())
                            && v.version_stages().iter().any(|l| l == "AWSCURRENT")
                    })
                })
                .await;
            }
        }
    }

    // A value written through node 1 is read through node 3.
    sm[0]
        .put_secret_value()
        .secret_id("ha/labels")
        .secret_string("latest")
        .send()
        .await
        .unwrap();
    eventually("the latest value on node 3", || async {
        let v = sm[2]
            .get_secret_value()
            .secret_id("ha/labels")
            .send()
            .await
            .unwrap();
        v.secret_string() == Some("latest")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_credentials_from_one_node_work_on_another() {
    let Some(url) = pg_url() else { return };
    let nodes = three_nodes(&url);
    let account = nodes[0]
        .sts(PRIMARY)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .account()
        .unwrap()
        .to_string();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let role = nodes[0]
        .iam()
        .create_role()
        .role_name("ha-reader")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let arn = role.role().unwrap().arn().to_string();
    // Assumed through node 2 (which learns of the role from node 1), used on node 3.
    let creds = nodes[1]
        .sts(PRIMARY)
        .assume_role()
        .role_arn(&arn)
        .role_session_name("ha")
        .send()
        .await
        .unwrap();
    let c = creds.credentials().unwrap();
    let who = {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(PRIMARY))
            .endpoint_url(&nodes[2].endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "test",
            ))
            .build();
        aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .unwrap()
    };
    assert!(
        who.arn().unwrap().contains(":assumed-role/ha-reader/ha"),
        "{who:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_writes_loses_nothing_it_acknowledged() {
    let Some(url) = pg_url() else { return };
    let mut nodes = three_nodes(&url);
    let sm: Vec<_> = nodes.iter().map(|n| n.secrets(PRIMARY)).collect();
    let mut writers = Vec::new();
    for (i, s) in sm.iter().enumerate() {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for j in 0..40 {
                let name = format!("ha/k9/{i}/{j}");
                match s
                    .create_secret()
                    .name(&name)
                    .secret_string(format!("{i}.{j}"))
                    .send()
                    .await
                {
                    Ok(_) => acknowledged.push(name),
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    // Node 2 dies while the three write.
    while nodes[1]
        .secrets(PRIMARY)
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list()
        .len()
        < 20
    {
        tokio::task::yield_now().await;
    }
    nodes[1].kill9();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(acknowledged.len() >= 80, "{}", acknowledged.len());
    for name in &acknowledged {
        for s in [&sm[0], &sm[2]] {
            let v = s.get_secret_value().secret_id(name).send().await.unwrap();
            let want = name.trim_start_matches("ha/k9/").replace('/', ".");
            assert_eq!(v.secret_string(), Some(want.as_str()));
        }
    }
}

/// The seed's Terraform configuration, applied through node 1, re-plans with no changes
/// through node 2 and is destroyed through node 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terraform_applies_plans_and_destroys_through_three_nodes() {
    let Some(url) = pg_url() else { return };
    if !common::terraform::terraform_available() {
        println!("skipping: terraform or /opt/tf-plugins missing");
        return;
    }
    let nodes = three_nodes(&url);
    let (ak, sk) = nodes[0].root_credentials();
    let vars = |n: &Server| {
        vec![
            format!("endpoint={}", n.endpoint),
            "suffix=ha".to_string(),
            format!("access_key={ak}"),
            format!("secret_key={sk}"),
            "with_iam=true".to_string(),
        ]
    };
    let mut tf = common::terraform::Tf::new(vars(&nodes[0]));
    tf.ok(&nodes[0], &["init", "-input=false", "-no-color"], false);
    tf.ok(
        &nodes[0],
        &["apply", "-auto-approve", "-input=false", "-no-color"],
        true,
    );
    tf.vars = vars(&nodes[1]);
    let out = tf.run(
        &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
        true,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan through node 2 is not empty (2 = changes):\n{}\n{}",
        tail(&String::from_utf8_lossy(&out.stdout), 12000),
        tail(&String::from_utf8_lossy(&out.stderr), 6000)
    );
    tf.vars = vars(&nodes[2]);
    tf.ok(
        &nodes[2],
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
        true,
    );
    let alias = format!("alias/{REPLICA}-secrets-manager-ha");
    for n in &nodes {
        expect_err(
            n.kms(REPLICA).describe_key().key_id(&alias).send().await,
            "NotFoundException",
        );
    }
}

/// HAProxy (Debian package `haproxy`) in front of the three nodes, balancing every request
/// anew (`http-server-close`), with `[store] consistency = "strict"`: a client whose requests
/// land on any node sees each of its writes in its next read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_haproxy_every_read_sees_the_write_before_it() {
    let Some(url) = pg_url() else { return };
    let have = std::process::Command::new("haproxy").arg("-v").output();
    if !have.map(|o| o.status.success()).unwrap_or(false) {
        println!("skipping: haproxy is not installed (apt-get install haproxy)");
        return;
    }
    let nodes = three_nodes_with(&url, "consistency = \"strict\"\n");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("    server node{i} {}\n", n.addr))
        .collect();
    let cfg = nodes[0].dir().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    maxconn 256\ndefaults\n    mode http\n    timeout connect 5s\n    \
             timeout client 30s\n    timeout server 30s\n    option http-server-close\n\
             frontend coffer\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n{servers}"
        ),
    )
    .unwrap();
    let mut haproxy = std::process::Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not listen");
        std::thread::yield_now();
    }
    let (ak, sk) = nodes[0].root_credentials();
    let lb_endpoint = format!("http://127.0.0.1:{port}");
    let sm = {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(PRIMARY))
            .endpoint_url(&lb_endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                &ak, &sk, None, None, "test",
            ))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    };
    let kms = {
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(PRIMARY))
            .endpoint_url(&lb_endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                &ak, &sk, None, None, "test",
            ))
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    };
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    sm.create_secret()
        .name("ha/lb")
        .kms_key_id(&key_id)
        .secret_string("0")
        .send()
        .await
        .unwrap();
    for i in 1..=30 {
        sm.put_secret_value()
            .secret_id("ha/lb")
            .secret_string(i.to_string())
            .send()
            .await
            .unwrap();
        let v = sm
            .get_secret_value()
            .secret_id("ha/lb")
            .send()
            .await
            .unwrap();
        assert_eq!(v.secret_string(), Some(i.to_string().as_str()), "write {i}");
        if i % 10 == 0 {
            let enabled = i % 20 == 0;
            if enabled {
                kms.enable_key().key_id(&key_id).send().await.unwrap();
            } else {
                kms.disable_key().key_id(&key_id).send().await.unwrap();
            }
            let d = kms.describe_key().key_id(&key_id).send().await.unwrap();
            assert_eq!(d.key_metadata().unwrap().enabled(), enabled, "write {i}");
            if !enabled {
                kms.enable_key().key_id(&key_id).send().await.unwrap();
            }
        }
    }
    let _ = haproxy.kill();
    let _ = haproxy.wait();
}
