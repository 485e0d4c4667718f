//! Recorded promotions, grouped by version.

use serde::Serialize;
use utoipa::ToSchema;

use super::timestamp;
use crate::service::model::Promotion;

/// One promotion of a version.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRecord {
    from_feed: String,
    to_feed: String,
    /// When (RFC 3339, UTC).
    date: String,
    /// Who promoted it.
    user: String,
    comments: String,
}

/// A version and its promotions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotedVersion {
    group: String,
    package: String,
    /// Always `upack`.
    package_type: &'static str,
    version: String,
    promotions: Vec<PromotionRecord>,
}

/// Promotions grouped by package version, as `/api/promotions/list` answers.
pub fn promotions_by_version(promotions: &[Promotion]) -> Vec<PromotedVersion> {
    let mut grouped: Vec<PromotedVersion> = Vec::new();
    for promotion in promotions {
        let record = PromotionRecord {
            from_feed: promotion.from_feed.clone(),
            to_feed: promotion.to_feed.clone(),
            date: timestamp(promotion.promoted_at),
            user: promotion.promoted_by.clone(),
            comments: promotion.comments.clone(),
        };
        let existing = grouped.iter_mut().find(|g| {
            g.group == promotion.group
                && g.package == promotion.name
                && g.version == promotion.version
        });
        match existing {
            Some(group) => group.promotions.push(record),
            None => grouped.push(PromotedVersion {
                group: promotion.group.clone(),
                package: promotion.name.clone(),
                package_type: "upack",
                version: promotion.version.clone(),
                promotions: vec![record],
            }),
        }
    }
    grouped
}
