//! Problems found in a configuration, for the operator who must fix them.
//!
//! Reading a configuration does not stop at the first problem: every error
//! and warning is collected as a [`Diagnostic`] so that an operator sees all
//! of them at once, each pointing at the file and line concerned.

use std::fmt;

use crate::location::Location;

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The configuration cannot be used as written.
    Error,
    /// The configuration works, but probably not as the operator meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a configuration, written for the operator who must fix it.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// Whether this stops the configuration from being used.
    pub severity: Severity,
    /// The line concerned, when there is one.
    pub location: Option<Location>,
    /// The configuration key concerned; empty when the problem is not about a key.
    pub key: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// An error: the configuration cannot be used as written.
    pub fn error(
        location: Option<Location>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            key: key.into(),
            message: message.into(),
        }
    }

    /// A warning: the configuration works, but probably not as intended.
    pub fn warning(
        location: Option<Location>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            location,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `path:line: error: key: message`; the location and the key are left
    /// out when absent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}: ", self.severity)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn display_forms() {
        let loc = Location::new(Arc::new(PathBuf::from("a.conf")), 3);
        let d = Diagnostic::error(Some(loc.clone()), "server!port", "not a number");
        assert_eq!(d.to_string(), "a.conf:3: error: server!port: not a number");
        let d = Diagnostic::warning(Some(loc), "", "odd");
        assert_eq!(d.to_string(), "a.conf:3: warning: odd");
        let d = Diagnostic::error(None, "k", "missing");
        assert_eq!(d.to_string(), "error: k: missing");
        assert!(d.is_error());
        let d = Diagnostic::warning(None, "", "m");
        assert_eq!(d.to_string(), "warning: m");
        assert!(!d.is_error());
    }
}
