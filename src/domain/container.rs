//! How a package's bytes are stored: a zip archive or a bare JSON manifest.

use std::fmt;

/// How the package was sent, and so how its stored bytes are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// A zip archive (`.upack`, or a zipped `.vpack`).
    Zip,
    /// A bare JSON virtual package manifest.
    Json,
}

impl Container {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::Json => "json",
        }
    }

    /// The media type to serve the stored bytes with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Zip => "application/zip",
            Self::Json => "application/json",
        }
    }
}

impl TryFrom<String> for Container {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, String> {
        match stored.as_str() {
            "zip" => Ok(Self::Zip),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown container '{other}'")),
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_word_round_trips() {
        for container in [Container::Zip, Container::Json] {
            assert_eq!(
                Container::try_from(container.as_str().to_owned()),
                Ok(container)
            );
        }
        assert!(Container::try_from("rar".to_owned()).is_err());
    }
}
