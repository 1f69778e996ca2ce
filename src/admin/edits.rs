//! The edits the admin API accepts: the same operations as the `baton config | vserver |
//! rule` commands, as JSON, applied in order to an in-memory copy of the file (see
//! `crate::edit`). Nothing here touches the disk.

use crate::edit::vservers::{self, RuleSpec, Side};
use crate::edit::{Editor, Refusal};
use crate::maintenance;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    Set {
        key: String,
        value: String,
    },
    /// Removes the key and everything below it.
    Unset {
        key: String,
    },
    VserverAdd {
        nick: String,
        document_root: String,
        #[serde(default)]
        domains: Vec<String>,
    },
    VserverClone {
        source: String,
        nick: String,
    },
    VserverMove {
        nick: String,
        #[serde(default)]
        above: Option<String>,
        #[serde(default)]
        below: Option<String>,
    },
    VserverRemove {
        nick: String,
    },
    RuleAdd {
        vserver: String,
        #[serde(rename = "match")]
        match_type: String,
        #[serde(default)]
        match_keys: BTreeMap<String, String>,
        handler: String,
        #[serde(default)]
        handler_keys: BTreeMap<String, String>,
        /// Other rule keys (`encoder!gzip`, `expiration`, `header_op!1!header`…).
        #[serde(default)]
        keys: BTreeMap<String, String>,
        #[serde(default)]
        priority: Option<u64>,
        #[serde(default, rename = "final")]
        is_final: Option<bool>,
    },
    RuleMove {
        vserver: String,
        priority: u64,
        to: u64,
    },
    RuleRemove {
        vserver: String,
        priority: u64,
    },
    /// Puts a virtual server into maintenance (a copycat answering its domains, above it).
    MaintenanceOn {
        vserver: String,
        /// The status visitors get (default 503), unless `page` is given.
        #[serde(default)]
        status: Option<u16>,
        /// A directory with a static maintenance page (index.html) to show instead.
        #[serde(default)]
        page: Option<String>,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        allow_from: Vec<String>,
        #[serde(default)]
        allow_cookie: Option<String>,
        #[serde(default)]
        allow_host: Vec<String>,
    },
    MaintenanceOff {
        vserver: String,
    },
    /// Replaces the whole file (the raw editor).
    Text {
        text: String,
    },
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Applies `edits` in order; the first one that cannot be made refuses them all.
pub fn apply(editor: &mut Editor, edits: &[Edit]) -> Result<(), Refusal> {
    for (i, edit) in edits.iter().enumerate() {
        apply_one(editor, edit).map_err(|mut r| {
            r.message = format!("edit {} ({}): {}", i + 1, name(edit), r.message);
            r
        })?;
    }
    Ok(())
}

fn name(edit: &Edit) -> &'static str {
    match edit {
        Edit::Set { .. } => "set",
        Edit::Unset { .. } => "unset",
        Edit::VserverAdd { .. } => "vserver_add",
        Edit::VserverClone { .. } => "vserver_clone",
        Edit::VserverMove { .. } => "vserver_move",
        Edit::VserverRemove { .. } => "vserver_remove",
        Edit::RuleAdd { .. } => "rule_add",
        Edit::RuleMove { .. } => "rule_move",
        Edit::RuleRemove { .. } => "rule_remove",
        Edit::MaintenanceOn { .. } => "maintenance_on",
        Edit::MaintenanceOff { .. } => "maintenance_off",
        Edit::Text { .. } => "text",
    }
}

fn apply_one(editor: &mut Editor, edit: &Edit) -> Result<(), Refusal> {
    match edit {
        Edit::Set { key, value } => {
            editor.guard(key)?;
            editor.set(key, value)
        }
        Edit::Unset { key } => {
            editor.guard(key)?;
            if editor.file.unset_tree(key) == 0 {
                return Err(Refusal::new(format!("{key} is not set")));
            }
            Ok(())
        }
        Edit::VserverAdd {
            nick,
            document_root,
            domains,
        } => {
            editor.guard("vserver")?;
            vservers::add(&mut editor.file, nick, document_root, domains).map(|_| ())
        }
        Edit::VserverClone { source, nick } => {
            editor.guard("vserver")?;
            vservers::clone(&mut editor.file, source, nick).map(|_| ())
        }
        Edit::VserverMove { nick, above, below } => {
            editor.guard("vserver")?;
            let (side, other) = match (above, below) {
                (Some(o), None) => (Side::Above, o),
                (None, Some(o)) => (Side::Below, o),
                _ => return Err(Refusal::new("give exactly one of above and below")),
            };
            vservers::move_to(&mut editor.file, nick, side, other).map(|_| ())
        }
        Edit::VserverRemove { nick } => {
            editor.guard("vserver")?;
            vservers::remove(&mut editor.file, nick).map(|_| ())
        }
        Edit::RuleAdd {
            vserver,
            match_type,
            match_keys,
            handler,
            handler_keys,
            keys,
            priority,
            is_final,
        } => {
            editor.guard("vserver")?;
            let spec = RuleSpec {
                match_type: match_type.clone(),
                match_keys: pairs(match_keys),
                handler: handler.clone(),
                handler_keys: pairs(handler_keys),
                keys: pairs(keys),
                priority: *priority,
                is_final: *is_final,
            };
            vservers::rule_add(&mut editor.file, vserver, &spec).map(|_| ())
        }
        Edit::RuleMove {
            vserver,
            priority,
            to,
        } => {
            editor.guard("vserver")?;
            vservers::rule_move(&mut editor.file, vserver, *priority, *to)
        }
        Edit::RuleRemove { vserver, priority } => {
            editor.guard("vserver")?;
            vservers::rule_remove(&mut editor.file, vserver, *priority)
        }
        Edit::MaintenanceOn {
            vserver,
            status,
            page,
            retry_after,
            allow_from,
            allow_cookie,
            allow_host,
        } => {
            editor.guard("vserver")?;
            let options = maintenance::OnOptions {
                status: status.unwrap_or(503),
                page: page.as_ref().map(std::path::PathBuf::from),
                retry_after: retry_after.unwrap_or(300),
                allow_from: allow_from.clone(),
                allow_cookie: allow_cookie.clone(),
                allow_host: allow_host.clone(),
            };
            maintenance::on(&mut editor.file, vserver, &options).map(|_| ())
        }
        Edit::MaintenanceOff { vserver } => {
            editor.guard("vserver")?;
            maintenance::off(&mut editor.file, vserver).map(|_| ())
        }
        Edit::Text { text } => {
            let (file, diagnostics) = baton_conf::ConfFile::parse(editor.path(), text);
            let errors: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            if !errors.is_empty() {
                return Err(Refusal {
                    message: format!(
                        "the text has {} syntax error{}",
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    ),
                    details: errors,
                });
            }
            editor.file = file;
            Ok(())
        }
    }
}
