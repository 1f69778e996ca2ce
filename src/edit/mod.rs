//! Editing a configuration file: the engine behind `baton config|vserver|rule|maintenance`.
//!
//! An [`Editor`] holds the main configuration file as a lossless [`ConfFile`] and applies
//! edits to that in-memory copy only. Nothing reaches the disk until [`Editor::save`],
//! which first validates the result exactly as the server would (`config::load_str` with
//! the file's real path, so messages name the right file and line) and refuses a result
//! with any error, leaving the file untouched. Saving is atomic and keeps the previous
//! version (see [`store`]).
//!
//! Only the main file is edited. Keys that an included file sets cannot be edited here
//! (the edit would be overridden, or would override, depending on where the include line
//! stands): such edits are refused with the file and line of the included key.

pub mod commands;
pub mod diff;
pub mod store;
pub mod vservers;

use crate::config::{self, Diagnostic, Severity};
use baton_conf::ConfFile;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why an edit was not made. The file is untouched.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// One line for people.
    pub message: String,
    /// Details, e.g. every validation error as `file:line: error: key: message`.
    pub details: Vec<String>,
}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal::new(message)
    }
}

/// What a successful save did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Saved {
    /// Whether the file changed at all (an edit may leave it as it was).
    pub changed: bool,
    /// Where the previous version was kept.
    pub history: Option<PathBuf>,
    /// Warnings of the new configuration.
    pub warnings: Vec<String>,
}

/// The main configuration file, read once, edited in memory.
pub struct Editor {
    path: PathBuf,
    /// The bytes as read, to detect a concurrent change and to keep in the history.
    original: Vec<u8>,
    original_text: String,
    /// The edited copy.
    pub file: ConfFile,
    /// Files pulled in by `include` lines (not edited; used to refuse edits they shadow).
    included: Vec<ConfFile>,
}

impl Editor {
    /// Reads `path` for editing.
    pub fn open(path: &Path) -> Result<Editor, Refusal> {
        let original =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let original_text = String::from_utf8(original.clone()).map_err(|e| {
            format!(
                "{}: not valid UTF-8 (at byte {}); Baton edits only text files",
                path.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        let (file, _) = ConfFile::parse(path, &original_text);
        let loaded = baton_conf::load_str(path, &original_text);
        let included = loaded.files.into_iter().skip(1).collect();
        Ok(Editor {
            path: path.to_path_buf(),
            original,
            original_text,
            file,
            included,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses an edit of the keys under `prefix` when an included file sets any of them,
    /// or when the edit would touch `include` lines themselves.
    pub fn guard(&self, prefix: &str) -> Result<(), Refusal> {
        if in_tree(baton_conf::INCLUDE_KEY, prefix) || prefix == baton_conf::INCLUDE_KEY {
            return Err(Refusal::new(format!(
                "`{prefix}` covers include lines; edit includes by hand"
            )));
        }
        for f in &self.included {
            if let Some(e) = f
                .entries()
                .find(|e| in_tree(e.key, prefix) || in_tree(prefix, e.key))
            {
                return Err(Refusal::new(format!(
                    "{} uses include, and {}:{} sets {}: Baton edits only the main file, so this edit of `{prefix}` is refused (edit the included file by hand, or move those keys into the main file)",
                    self.path.display(),
                    f.path().display(),
                    e.line,
                    e.key
                )));
            }
        }
        Ok(())
    }

    /// The edited text.
    pub fn text(&self) -> String {
        self.file.to_text()
    }

    pub fn changed(&self) -> bool {
        self.text() != self.original_text
    }

    /// Sets a key, refusing values or keys that could not be written back.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Refusal> {
        self.file.set(key, value).map_err(Refusal::new)
    }

    /// The diff of the edit (empty when nothing changed).
    pub fn diff(&self) -> String {
        let name = self.path.display().to_string();
        diff::unified(
            &self.original_text,
            &self.text(),
            &name,
            &format!("{name} (edited)"),
        )
    }

    /// Validates the edited text as the server would: every error refuses the edit.
    pub fn validate(&self) -> Result<Vec<Diagnostic>, Refusal> {
        let result = config::load_str(&self.path.to_string_lossy(), &self.text());
        let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) = result
            .diagnostics
            .into_iter()
            .partition(|d| d.severity == Severity::Error);
        if errors.is_empty() {
            return Ok(warnings);
        }
        Err(Refusal {
            message: format!(
                "the edit is refused: the result would have {} error{} ({} is unchanged)",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                self.path.display()
            ),
            details: errors.iter().map(|d| d.to_string()).collect(),
        })
    }

    /// Validates and writes the edited text (atomically, keeping the previous version).
    /// Refused, touching nothing, if the result has errors or if the file changed on disk
    /// since it was read.
    pub fn save(&self) -> Result<Saved, Refusal> {
        let warnings = self.validate()?;
        let warnings: Vec<String> = warnings.iter().map(|d| d.to_string()).collect();
        if !self.changed() {
            return Ok(Saved {
                changed: false,
                history: None,
                warnings,
            });
        }
        let now = std::fs::read(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if now != self.original {
            return Err(Refusal::new(format!(
                "{} changed on disk while it was being edited; nothing was saved (run the command again)",
                self.path.display()
            )));
        }
        let history = store::save(&self.path, Some(&self.original), &self.text())
            .map_err(|e| format!("cannot save {}: {e}", self.path.display()))?;
        Ok(Saved {
            changed: true,
            history,
            warnings,
        })
    }

    /// The configuration as it is now in memory, validated (for reading a model).
    pub fn model(&self) -> Option<config::Config> {
        config::load_str(&self.path.to_string_lossy(), &self.text()).config
    }
}

/// Whether `key` is `prefix` or lies below it (whole segments).
pub fn in_tree(key: &str, prefix: &str) -> bool {
    match key.strip_prefix(prefix) {
        Some("") => !prefix.is_empty(),
        Some(rest) => !prefix.is_empty() && rest.starts_with('!'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# head\nvserver!1!nick = default\nvserver!1!rule!1!match = default\nvserver!1!rule!1!handler = common\n";

    #[test]
    fn invalid_edits_are_refused_and_the_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.conf");
        std::fs::write(&path, GOOD).unwrap();
        let mut e = Editor::open(&path).unwrap();
        e.set("vserver!1!rule!1!handler", "nonsense").unwrap();
        let r = e.save().unwrap_err();
        assert!(r.details[0].contains("c.conf:4"), "{:?}", r.details);
        assert!(r.details[0].contains("vserver!1!rule!1!handler"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), GOOD);
    }

    #[test]
    fn saves_keep_the_previous_version_and_refuse_concurrent_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.conf");
        std::fs::write(&path, GOOD).unwrap();
        let mut e = Editor::open(&path).unwrap();
        e.set("vserver!1!document_root", "/tmp").unwrap();
        assert!(e.diff().contains("+vserver!1!document_root = /tmp\n"));
        let saved = e.save().unwrap();
        assert_eq!(
            std::fs::read_to_string(saved.history.unwrap()).unwrap(),
            GOOD
        );
        let mut stale = Editor::open(&path).unwrap();
        std::fs::write(&path, GOOD).unwrap();
        stale.set("server!timeout", "5").unwrap();
        assert!(stale
            .save()
            .unwrap_err()
            .message
            .contains("changed on disk"));
    }

    #[test]
    fn keys_set_by_included_files_are_not_edited() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("more.conf"), "server!timeout = 5\n").unwrap();
        let path = dir.path().join("c.conf");
        std::fs::write(&path, format!("{GOOD}include = more.conf\n")).unwrap();
        let e = Editor::open(&path).unwrap();
        assert!(e.guard("vserver").is_ok());
        let r = e.guard("server!timeout").unwrap_err();
        assert!(r.message.contains("more.conf:1"), "{}", r.message);
        assert!(e.guard("server").is_err());
        assert!(e.guard("include").is_err());
    }
}
