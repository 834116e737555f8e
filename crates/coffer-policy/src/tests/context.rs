//! `Context`.

use crate::Context;

#[test]
fn keys_ignore_case() {
    let mut ctx = Context::new();
    ctx.set("aws:SourceIp", "203.0.113.1");
    assert_eq!(
        ctx.get("AWS:SOURCEIP"),
        Some(&["203.0.113.1".to_owned()][..])
    );
    assert!(ctx.contains("aws:sourceip"));
    ctx.set("AWS:sourceIP", "198.51.100.1");
    assert_eq!(
        ctx.get("aws:SourceIp"),
        Some(&["198.51.100.1".to_owned()][..])
    );
}

#[test]
fn set_many_and_empty_sets() {
    let mut ctx = Context::new();
    ctx.set_many("aws:TagKeys", ["a", "b"]);
    assert_eq!(ctx.get("aws:tagkeys").map(<[String]>::len), Some(2));
    ctx.set_many("aws:TagKeys", Vec::<String>::new());
    assert_eq!(ctx.get("aws:TagKeys"), None);
    assert!(!ctx.contains("aws:TagKeys"));
}

#[test]
fn builders_and_remove() {
    let mut ctx = Context::new()
        .with("aws:a", "1")
        .with_many("aws:b", vec!["x".to_owned(), "y".to_owned()]);
    assert!(ctx.contains("aws:a") && ctx.contains("aws:b"));
    ctx.remove("AWS:A");
    assert!(!ctx.contains("aws:a"));
    ctx.set("aws:c", "3").set("aws:d", "4");
    assert!(ctx.contains("aws:c") && ctx.contains("aws:d"));
    assert_eq!(Context::new(), Context::default());
}
