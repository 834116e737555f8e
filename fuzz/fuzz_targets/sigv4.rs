//! The SigV4 Authorization header and presigned query-string parser, and verification with a
//! fixed key: never a panic, every rejection an AuthError.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use coffer_http::sigv4::{self, RequestParts};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    authorization: Option<String>,
    amz_date: Option<String>,
    date: Option<String>,
    token: Option<String>,
    content_sha: Option<String>,
    extra: Vec<(String, String)>,
    query: String,
    path: String,
    method: String,
    body: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(i) = Input::arbitrary(&mut Unstructured::new(data)) else { return };
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("localhost"));
    let mut put = |name: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
        }
    };
    put("authorization", &i.authorization);
    put("x-amz-date", &i.amz_date);
    put("date", &i.date);
    put("x-amz-security-token", &i.token);
    put("x-amz-content-sha256", &i.content_sha);
    for (k, v) in &i.extra {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            headers.append(k, v);
        }
    }
    let parts = RequestParts {
        method: &i.method,
        path: &i.path,
        query: &i.query,
        headers: &headers,
        body: &i.body,
    };
    if let Ok(auth) = sigv4::parse(&parts) {
        let _ = auth.credential.access_key_id.len();
        let now = auth.amz_date;
        let _ = sigv4::verify(&auth, &parts, b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", now);
    }
});
