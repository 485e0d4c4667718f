//! Which recorded promotions a caller asks for.

/// Which promotions to list; `None` filters nothing. Feed, group and name
/// match ignoring case; the version exactly.
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter {
    pub from_feed: Option<String>,
    pub to_feed: Option<String>,
    pub group: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}
