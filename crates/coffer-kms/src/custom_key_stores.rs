//! Custom key stores. Coffer has no CloudHSM clusters and connects to no external key store
//! proxy, so there never is a custom key store: `DescribeCustomKeyStores` lists none, every
//! operation naming one answers `CustomKeyStoreNotFoundException`, and creating one fails the way
//! AWS fails when the backing store cannot be found or reached (`CloudHsmClusterNotFoundException`
//! for `AWS_CLOUDHSM`, `XksProxyUriUnreachableException` for `EXTERNAL_KEY_STORE`).

use super::{Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::Validator;

/// AWS's answer for a custom key store ID that does not exist.
pub(super) fn store_not_found(id: &str) -> KmsError {
    KmsError::CustomKeyStoreNotFound(format!(
        "Custom key store {id} does not exist in this account and Region."
    ))
}

fn cluster_id_ok(s: &str) -> bool {
    s.strip_prefix("cluster-").is_some_and(|r| {
        (11..=16).contains(&r.len())
            && r.chars()
                .all(|c| c.is_ascii_alphabetic() || ('2'..='7').contains(&c))
    })
}

fn validate_store_id(v: &mut Validator, id: &Option<String>) {
    v.required("CustomKeyStoreId", id);
    v.length("CustomKeyStoreId", id.as_deref(), 1, 64);
}

#[allow(clippy::too_many_arguments)]
fn validate_xks(
    v: &mut Validator,
    endpoint: Option<&str>,
    path: Option<&str>,
    vpc_service: Option<&str>,
    owner: Option<&str>,
    connectivity: Option<&str>,
    password: Option<&str>,
    cluster: Option<&str>,
) {
    v.length("XksProxyUriEndpoint", endpoint, 10, 128);
    v.pattern(
        "XksProxyUriEndpoint",
        endpoint,
        |s| {
            s.strip_prefix("https://").is_some_and(|r| {
                !r.is_empty()
                    && r.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
        },
        "^https://[a-zA-Z0-9.-]+$",
    );
    v.length("XksProxyUriPath", path, 10, 128);
    v.length("XksProxyVpcEndpointServiceName", vpc_service, 20, 64);
    v.length("XksProxyVpcEndpointServiceOwner", owner, 12, 12);
    v.pattern(
        "XksProxyVpcEndpointServiceOwner",
        owner,
        |s| s.chars().all(|c| c.is_ascii_digit()),
        "[0-9]{12}",
    );
    v.one_of(
        "XksProxyConnectivity",
        connectivity,
        XKS_PROXY_CONNECTIVITIES,
    );
    v.length("KeyStorePassword", password, 7, 32);
    v.length("CloudHsmClusterId", cluster, 19, 24);
    v.pattern(
        "CloudHsmClusterId",
        cluster,
        cluster_id_ok,
        "cluster-[2-7a-zA-Z]{11,16}",
    );
}

impl Kms {
    /// `CreateCustomKeyStore`: the backing store can never be found or reached.
    pub fn create_custom_key_store(
        &self,
        _ctx: &RequestContext,
        req: CreateCustomKeyStoreRequest,
    ) -> Result<CreateCustomKeyStoreResponse, KmsError> {
        let mut v = Validator::new();
        v.required("CustomKeyStoreName", &req.custom_key_store_name);
        v.length(
            "CustomKeyStoreName",
            req.custom_key_store_name.as_deref(),
            1,
            256,
        );
        v.length(
            "TrustAnchorCertificate",
            req.trust_anchor_certificate.as_deref(),
            1,
            5000,
        );
        v.one_of(
            "CustomKeyStoreType",
            req.custom_key_store_type.as_deref(),
            CUSTOM_KEY_STORE_TYPES,
        );
        validate_xks(
            &mut v,
            req.xks_proxy_uri_endpoint.as_deref(),
            req.xks_proxy_uri_path.as_deref(),
            req.xks_proxy_vpc_endpoint_service_name.as_deref(),
            req.xks_proxy_vpc_endpoint_service_owner.as_deref(),
            req.xks_proxy_connectivity.as_deref(),
            req.key_store_password.as_deref(),
            req.cloud_hsm_cluster_id.as_deref(),
        );
        v.finish()?;
        match req.custom_key_store_type.as_deref() {
            Some("EXTERNAL_KEY_STORE") => Err(KmsError::XksProxyUriUnreachable(
                "Coffer does not connect to external key store proxies: the XKS proxy cannot be reached.".into(),
            )),
            _ => Err(KmsError::CloudHsmClusterNotFound(format!(
                "CloudHSM cluster {} not found: Coffer has no CloudHSM clusters.",
                req.cloud_hsm_cluster_id.as_deref().unwrap_or("(none given)")
            ))),
        }
    }

    /// `DescribeCustomKeyStores`: always an empty list.
    pub fn describe_custom_key_stores(
        &self,
        _ctx: &RequestContext,
        req: DescribeCustomKeyStoresRequest,
    ) -> Result<DescribeCustomKeyStoresResponse, KmsError> {
        let mut v = Validator::new();
        v.length(
            "CustomKeyStoreId",
            req.custom_key_store_id.as_deref(),
            1,
            64,
        );
        v.length(
            "CustomKeyStoreName",
            req.custom_key_store_name.as_deref(),
            1,
            256,
        );
        crate::common::validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        if let Some(id) = &req.custom_key_store_id {
            return Err(store_not_found(id));
        }
        if let Some(name) = &req.custom_key_store_name {
            return Err(KmsError::CustomKeyStoreNotFound(format!(
                "Custom key store with name {name} does not exist in this account and Region."
            )));
        }
        if req.marker.is_some() {
            return Err(KmsError::InvalidMarker("Invalid marker".into()));
        }
        Ok(DescribeCustomKeyStoresResponse {
            custom_key_stores: Vec::new(),
            truncated: false,
        })
    }

    fn no_store(req: &CustomKeyStoreIdRequest) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        validate_store_id(&mut v, &req.custom_key_store_id);
        v.finish()?;
        Err(store_not_found(
            req.custom_key_store_id.as_deref().unwrap_or_default(),
        ))
    }

    /// `ConnectCustomKeyStore`.
    pub fn connect_custom_key_store(
        &self,
        _ctx: &RequestContext,
        req: CustomKeyStoreIdRequest,
    ) -> Result<Empty, KmsError> {
        Self::no_store(&req)
    }

    /// `DisconnectCustomKeyStore`.
    pub fn disconnect_custom_key_store(
        &self,
        _ctx: &RequestContext,
        req: CustomKeyStoreIdRequest,
    ) -> Result<Empty, KmsError> {
        Self::no_store(&req)
    }

    /// `DeleteCustomKeyStore`.
    pub fn delete_custom_key_store(
        &self,
        _ctx: &RequestContext,
        req: CustomKeyStoreIdRequest,
    ) -> Result<Empty, KmsError> {
        Self::no_store(&req)
    }

    /// `UpdateCustomKeyStore`.
    pub fn update_custom_key_store(
        &self,
        _ctx: &RequestContext,
        req: UpdateCustomKeyStoreRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        validate_store_id(&mut v, &req.custom_key_store_id);
        v.length(
            "NewCustomKeyStoreName",
            req.new_custom_key_store_name.as_deref(),
            1,
            256,
        );
        validate_xks(
            &mut v,
            req.xks_proxy_uri_endpoint.as_deref(),
            req.xks_proxy_uri_path.as_deref(),
            req.xks_proxy_vpc_endpoint_service_name.as_deref(),
            req.xks_proxy_vpc_endpoint_service_owner.as_deref(),
            req.xks_proxy_connectivity.as_deref(),
            req.key_store_password.as_deref(),
            req.cloud_hsm_cluster_id.as_deref(),
        );
        v.finish()?;
        Err(store_not_found(
            req.custom_key_store_id.as_deref().unwrap_or_default(),
        ))
    }

    /// The answer for any other operation that names a custom key store (`CreateKey`,
    /// `GenerateRandom`).
    pub(super) fn check_no_custom_key_store(id: Option<&str>) -> Result<(), KmsError> {
        match id {
            Some(id) => Err(store_not_found(id)),
            None => Ok(()),
        }
    }
}
