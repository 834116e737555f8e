//! Key tags: TagResource, UntagResource and ListResourceTags.

use crate::common::*;
use crate::ops::{self};
use crate::{Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::Validator;

impl Kms {
    /// `TagResource`.
    pub fn tag_resource(
        &self,
        ctx: &RequestContext,
        req: TagResourceRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Tags", &req.tags);
        validate_tags(&mut v, &req.tags);
        v.finish()?;
        let tags = req.tags.unwrap_or_default();
        self.update_key(
            ctx,
            ops::KmsAction::TagResource.info(),
            req.key_id.as_deref().unwrap_or_default(),
            |k| merge_tags(&mut k.tags, &tags),
        )?;
        Ok(Empty {})
    }

    /// `UntagResource`.
    pub fn untag_resource(
        &self,
        ctx: &RequestContext,
        req: UntagResourceRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("TagKeys", &req.tag_keys);
        for (i, k) in req.tag_keys.iter().flatten().enumerate() {
            v.length(&format!("TagKeys.{}.member", i + 1), Some(k), 1, 128);
        }
        v.finish()?;
        let keys = req.tag_keys.unwrap_or_default();
        self.update_key(
            ctx,
            ops::KmsAction::UntagResource.info(),
            req.key_id.as_deref().unwrap_or_default(),
            |k| {
                k.tags.retain(|(tk, _)| !keys.contains(tk));
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `ListResourceTags`.
    pub fn list_resource_tags(
        &self,
        ctx: &RequestContext,
        req: ListRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::ListResourceTags.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let items: Vec<(String, Tag)> = key
            .tags
            .iter()
            .enumerate()
            .map(|(i, (k, val))| {
                (
                    format!("{i:08}"),
                    Tag {
                        tag_key: Some(k.clone()),
                        tag_value: Some(val.clone()),
                    },
                )
            })
            .collect();
        let (tags, next) = page(items, req.limit, 50, 50, req.marker.as_deref())?;
        Ok(ListResourceTagsResponse {
            tags,
            truncated: next.is_some(),
            next_marker: next,
        })
    }
}
