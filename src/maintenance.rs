//! `baton maintenance on | off | status`: Cherokee's maintenance recipe as one command.
//!
//! `on` adds a *copycat* virtual server, `<nick>-maintenance`, directly above the original
//! and answering the same hosts, whose only job is to say the site is down: `custom_error`
//! with 503 (or `--status`), `Retry-After` and `Cache-Control: no-store` (so no cache keeps
//! the maintenance answer), or with `--page DIR` a static page served for every URL.
//! Staff keep reaching the live original: the copycat excludes their addresses and cookie
//! (`match!exclude!from`, `match!exclude!cookie`: an excluded request goes on to the
//! lower-priority virtual servers, i.e. the original), and `--allow-host` adds host names
//! to the original only. What `on` added is recorded on the copycat
//! (`maintenance_of = NICK`, `maintenance_hosts = a,b`) so `off` removes exactly that.
//! Both are ordinary edits: validated, saved atomically, applied by a graceful restart.

use crate::cli::MaintenanceCmd;
use crate::edit::commands::{config_path, edit, refused};
use crate::edit::vservers::{self, VsInfo};
use crate::edit::{Editor, Refusal};
use baton_conf::ConfFile;
use serde_json::json;
use std::path::{Path, PathBuf};

/// What `maintenance on` puts in place.
#[derive(Debug, Clone, Default)]
pub struct OnOptions {
    /// The status every URL gets (without `page`).
    pub status: u16,
    /// Serve this directory's `index.html` (at `/maintenance/`) for every URL instead.
    pub page: Option<PathBuf>,
    pub retry_after: u64,
    pub allow_from: Vec<String>,
    pub allow_cookie: Option<String>,
    pub allow_host: Vec<String>,
}

/// The copycat's nickname.
pub fn copycat_nick(nick: &str) -> String {
    format!("{nick}-maintenance")
}

/// The copycat standing in for `nick`, if it is in maintenance.
pub fn copycat_of<'a>(all: &'a [VsInfo], nick: &str) -> Option<&'a VsInfo> {
    all.iter()
        .find(|v| v.maintenance_of.as_deref() == Some(nick))
}

/// Adds the copycat for `nick`. Returns a summary.
pub fn on(file: &mut ConfFile, nick: &str, o: &OnOptions) -> Result<String, Refusal> {
    let orig = vservers::find(file, nick)?;
    let all = vservers::list(file);
    if nick == "default" {
        return Err(Refusal::new(
            "the default virtual server cannot be put into maintenance this way: it answers every host no other virtual server takes (give the site its own virtual server first)",
        ));
    }
    if let Some(of) = &orig.maintenance_of {
        return Err(Refusal::new(format!(
            "{nick} is itself the maintenance copycat of {of}"
        )));
    }
    if let Some(c) = copycat_of(&all, nick) {
        return Err(Refusal::new(format!(
            "{nick} is already in maintenance ({} answers its hosts); run `baton maintenance off {nick}` first",
            c.nick
        )));
    }
    let cnick = copycat_nick(nick);
    if all.iter().any(|v| v.nick == cnick) {
        return Err(Refusal::new(format!(
            "a virtual server named {cnick:?} already exists; rename or remove it first"
        )));
    }
    if orig.domains.is_empty() {
        return Err(Refusal::new(format!(
            "{nick} answers no host names (only its nickname), so a copycat could not stand in for it"
        )));
    }
    if let Some(c) = &o.allow_cookie {
        if !c.contains('=') || c.starts_with('=') {
            return Err(Refusal::new(format!(
                "--allow-cookie expects NAME=VALUE, found {c:?}"
            )));
        }
    }
    let match_kind = file
        .get(&format!("vserver!{}!match", orig.id))
        .unwrap_or("")
        .to_string();
    if !o.allow_host.is_empty() && match_kind != "wildcard" {
        return Err(Refusal::new(format!(
            "--allow-host adds names to {nick}'s host list, which needs `vserver!{}!match = wildcard` (it is {match_kind:?})",
            orig.id
        )));
    }

    let before: Vec<(String, u64)> = all.iter().map(|v| (v.nick.clone(), v.id)).collect();
    let id = vservers::new_above(file, nick)?;
    // Virtual servers may have been renumbered to make room: remember their numbers so
    // `off` gives the file back as it was.
    let renumbered: Vec<String> = vservers::list(file)
        .iter()
        .filter_map(|v| {
            let old = before.iter().find(|(n, _)| *n == v.nick)?.1;
            (old != v.id).then(|| format!("{}:{old}", v.nick))
        })
        .collect();
    let orig = vservers::find(file, nick)?;
    let base = format!("vserver!{id}");
    let k = |s: &str| format!("{base}!{s}");
    file.set(&k("nick"), &cnick)?;
    file.set(&k("maintenance_of"), nick)?;
    if !renumbered.is_empty() {
        file.set(&k("maintenance_renumbered"), &renumbered.join(","))?;
    }
    // The same hosts: every host-matching key of the original, as written.
    let from = format!("vserver!{}", orig.id);
    let host_keys: Vec<(String, String)> = file
        .entries()
        .filter(|e| {
            ["match", "domain", "domains"].iter().any(|p| {
                crate::edit::in_tree(e.key, &format!("{from}!{p}"))
                    && !crate::edit::in_tree(e.key, &format!("{from}!match!exclude"))
            })
        })
        .map(|e| (e.key[from.len()..].to_string(), e.value.to_string()))
        .collect();
    for (rest, value) in &host_keys {
        file.set(&format!("{base}{rest}"), value)?;
    }
    if !o.allow_from.is_empty() {
        file.set(&k("match!exclude!from"), &o.allow_from.join(","))?;
    }
    if let Some(c) = &o.allow_cookie {
        file.set(&k("match!exclude!cookie"), c)?;
    }
    let headers = |file: &mut ConfFile, rule: &str| -> Result<(), String> {
        let h = |n: u32, s: &str| format!("{base}!rule!{rule}!header_op!{n}!{s}");
        file.set(&h(1, "type"), "add")?;
        file.set(&h(1, "header"), "Retry-After")?;
        file.set(&h(1, "value"), &o.retry_after.to_string())?;
        file.set(&h(2, "type"), "add")?;
        file.set(&h(2, "header"), "Cache-Control")?;
        file.set(&h(2, "value"), "no-store")?;
        Ok(())
    };
    let what = match &o.page {
        None => {
            if let Some(root) = &orig.document_root {
                file.set(&k("document_root"), root)?;
            }
            file.set(&k("rule!1!match"), "default")?;
            file.set(&k("rule!1!handler"), "custom_error")?;
            file.set(&k("rule!1!handler!error"), &o.status.to_string())?;
            headers(file, "1")?;
            format!("status {}", o.status)
        }
        Some(dir) => {
            let dir = dir.to_string_lossy();
            file.set(&k("document_root"), &dir)?;
            file.set(&k("directory_index"), "index.html")?;
            file.set(&k("rule!2!match"), "directory")?;
            file.set(&k("rule!2!match!directory"), "/maintenance")?;
            file.set(&k("rule!2!handler"), "common")?;
            file.set(&k("rule!2!document_root"), &dir)?;
            file.set(&k("rule!1!match"), "default")?;
            file.set(&k("rule!1!handler"), "redir")?;
            file.set(&k("rule!1!handler!rewrite!1!show"), "0")?;
            file.set(&k("rule!1!handler!rewrite!1!regex"), ".*")?;
            file.set(&k("rule!1!handler!rewrite!1!substring"), "/maintenance/")?;
            headers(file, "1")?;
            format!("the page in {dir}")
        }
    };
    if !o.allow_host.is_empty() {
        let list = format!("{from}!match!domain");
        let next = file
            .keys_under(&list)
            .iter()
            .filter_map(|key| key[list.len()..].strip_prefix('!'))
            .filter_map(|seg| seg.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        for (i, host) in o.allow_host.iter().enumerate() {
            file.set(&format!("{list}!{}", next + i as u64), host)?;
        }
        file.set(&k("maintenance_hosts"), &o.allow_host.join(","))?;
    }
    let mut staff = Vec::new();
    if !o.allow_from.is_empty() {
        staff.push(format!("from {}", o.allow_from.join(", ")));
    }
    if let Some(c) = &o.allow_cookie {
        staff.push(format!("with cookie {c}"));
    }
    if !o.allow_host.is_empty() {
        staff.push(format!("at {}", o.allow_host.join(", ")));
    }
    Ok(format!(
        "{nick} is in maintenance: {cnick} (vserver!{id}) answers {} with {what}{}",
        orig.domains.join(", "),
        if staff.is_empty() {
            String::new()
        } else {
            format!("; staff reach the live site {}", staff.join("; "))
        }
    ))
}

/// Removes the copycat of `nick` and the host names it added to `nick`.
pub fn off(file: &mut ConfFile, nick: &str) -> Result<String, Refusal> {
    vservers::find(file, nick)?;
    let all = vservers::list(file);
    let Some(copycat) = copycat_of(&all, nick) else {
        return Err(Refusal::new(format!("{nick} is not in maintenance")));
    };
    let added: Vec<String> = file
        .get(&format!("vserver!{}!maintenance_hosts", copycat.id))
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let renumbered: Vec<(String, u64)> = file
        .get(&format!("vserver!{}!maintenance_renumbered", copycat.id))
        .map(|r| {
            r.split(',')
                .filter_map(|pair| {
                    let (n, id) = pair.trim().rsplit_once(':')?;
                    Some((n.to_string(), id.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    file.unset_tree(&format!("vserver!{}", copycat.id));
    // Back to the numbers they had before `on` (when those are still free).
    for (other, old) in &renumbered {
        let Ok(now) = vservers::find(file, other) else {
            continue;
        };
        let taken = vservers::list(file).iter().any(|v| v.id == *old);
        if now.id != *old && !taken {
            file.rename_tree(&format!("vserver!{}", now.id), &format!("vserver!{old}"));
        }
    }
    let orig = vservers::find(file, nick)?;
    let list = format!("vserver!{}!match!domain", orig.id);
    let remove: Vec<String> = file
        .entries()
        .filter(|e| crate::edit::in_tree(e.key, &list) && e.key != list)
        .filter(|e| added.iter().any(|h| h == e.value.trim()))
        .map(|e| e.key.to_string())
        .collect();
    for key in &remove {
        file.unset(key);
    }
    Ok(format!(
        "{nick} is live again: removed {} (vserver!{}){}",
        copycat.nick,
        copycat.id,
        if added.is_empty() {
            String::new()
        } else {
            format!(" and the staff host names {}", added.join(", "))
        }
    ))
}

pub fn run(cmd: &MaintenanceCmd, top: Option<&Path>) -> i32 {
    let guard = ["vserver".to_string()];
    match cmd {
        MaintenanceCmd::On {
            vserver,
            status,
            page,
            retry_after,
            allow_from,
            allow_cookie,
            allow_host,
            edit: e,
        } => {
            let page = page.as_ref().map(|p| absolute(p));
            let opts = OnOptions {
                status: status.unwrap_or(503),
                page,
                retry_after: *retry_after,
                allow_from: allow_from.clone(),
                allow_cookie: allow_cookie.clone(),
                allow_host: allow_host.clone(),
            };
            edit(e, top, &guard, |ed| on(&mut ed.file, vserver, &opts))
        }
        MaintenanceCmd::Off { vserver, edit: e } => {
            edit(e, top, &guard, |ed| off(&mut ed.file, vserver))
        }
        MaintenanceCmd::Status(args) => {
            let path = match config_path(args.config.as_deref(), top) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let ed = match Editor::open(&path) {
                Ok(e) => e,
                Err(r) => return refused(args.json, &r),
            };
            let all = vservers::list(&ed.file);
            let copycats: Vec<&VsInfo> =
                all.iter().filter(|v| v.maintenance_of.is_some()).collect();
            if args.json {
                let list: Vec<_> = copycats
                    .iter()
                    .map(|c| {
                        json!({"vserver": c.maintenance_of, "copycat": c.nick, "copycat_id": c.id,
                               "domains": c.domains, "allow_from": c.exclude_from,
                               "allow_cookie": c.exclude_cookie})
                    })
                    .collect();
                println!("{}", json!({ "in_maintenance": list }));
            } else if copycats.is_empty() {
                println!("baton: no virtual server is in maintenance");
            } else {
                for c in copycats {
                    println!(
                        "{} is in maintenance: {} (vserver!{}) answers {}",
                        c.maintenance_of.as_deref().unwrap_or(""),
                        c.nick,
                        c.id,
                        c.domains.join(", ")
                    );
                }
            }
            0
        }
    }
}

/// The page directory as an absolute path (the server resolves relative paths against the
/// configuration's directory, the operator means the current one).
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "vserver!1!nick = default\nvserver!1!rule!1!match = default\nvserver!1!rule!1!handler = common\n\
vserver!10!nick = example\nvserver!10!document_root = /srv/example\nvserver!10!match = wildcard\nvserver!10!match!domain!1 = example.*\n\
vserver!10!rule!1!match = default\nvserver!10!rule!1!handler = common\n";

    #[test]
    fn on_then_off_gives_the_file_back() {
        let (mut f, _) = ConfFile::parse("t.conf", SITE);
        let opts = OnOptions {
            status: 503,
            retry_after: 60,
            allow_from: vec!["10.0.0.0/8".into()],
            allow_cookie: Some("staff=1".into()),
            allow_host: vec!["intranet_example".into()],
            ..OnOptions::default()
        };
        on(&mut f, "example", &opts).unwrap();
        assert_eq!(f.get("vserver!20!nick"), Some("example-maintenance"));
        assert_eq!(f.get("vserver!20!match!domain!1"), Some("example.*"));
        assert_eq!(f.get("vserver!20!match!domain!2"), None);
        assert_eq!(f.get("vserver!10!match!domain!2"), Some("intranet_example"));
        assert_eq!(f.get("vserver!20!match!exclude!from"), Some("10.0.0.0/8"));
        assert!(crate::config::load_str("t.conf", &f.to_text())
            .config
            .is_some());
        assert!(on(&mut f, "example", &opts).is_err());
        assert!(on(&mut f, "default", &opts).is_err());
        off(&mut f, "example").unwrap();
        assert_eq!(f.to_text(), SITE);
        assert!(off(&mut f, "example").is_err());
    }
}
