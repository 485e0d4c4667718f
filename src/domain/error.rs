//! The one error type for invalid input found by the domain parsers.

/// Why a value from outside was refused. The `Display` text is a full sentence
/// that names the field and the rule, because it is sent to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field broke one of its documented rules.
    #[error("{field} {rule}.")]
    Invalid {
        /// The field, as the client knows it (`name`, `group`, `version`, ...).
        field: &'static str,
        /// What the rule is, phrased to follow the field name.
        rule: String,
    },
}

impl DomainError {
    pub(crate) fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            rule: rule.into(),
        }
    }
}
