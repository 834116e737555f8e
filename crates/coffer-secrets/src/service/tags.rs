//! TagResource and UntagResource (refused, as AWS does, on a secret scheduled for deletion).

use super::*;

impl SecretsManager {
    /// TagResource.
    pub fn tag_resource(
        &self,
        ctx: &RequestContext,
        req: TagResourceRequest,
    ) -> Result<(), SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("Tags", &req.tags);
            if let Some(tags) = &req.tags {
                check_tags(v, tags);
            }
        })?;
        let tags = req.tags.clone().unwrap_or_default();
        check_system_tags(tags.iter().filter_map(|t| t.key.as_deref()))?;
        self.change(ctx, &id, |rec| {
            merge_tags(&mut rec.tags, &tags);
            rec.tagged = true;
            check_tag_count(&rec.tags)
        })
        .map(drop)
    }

    /// UntagResource.
    pub fn untag_resource(
        &self,
        ctx: &RequestContext,
        req: UntagResourceRequest,
    ) -> Result<(), SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("TagKeys", &req.tag_keys);
            for k in req.tag_keys.iter().flatten() {
                v.length("TagKeys", Some(k), 1, 128);
            }
        })?;
        let keys = req.tag_keys.clone().unwrap_or_default();
        check_system_tags(keys.iter().map(String::as_str))?;
        self.change(ctx, &id, |rec| {
            rec.tags.retain(|t| !keys.contains(&t.key));
            rec.tagged = true;
            Ok(())
        })
        .map(drop)
    }
}
