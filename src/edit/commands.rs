//! `baton config | vserver | rule`: the editing commands, for scripts and people.
//!
//! Every edit follows the same steps ([`edit`]): read the file, apply the change in
//! memory, validate the result as the server would, then either print the diff
//! (`--dry-run`) or save atomically and ask the running server to apply it (`--apply
//! graceful|hard|none`). Exit codes: 0 done, 1 refused or failed (the file is unchanged
//! unless the message says it was saved), 2 wrong usage.

use super::vservers::{self, RuleSpec, Side, VsInfo};
use super::{store, Editor, Refusal};
use crate::cli::{ApplyMode, ConfigCmd, EditArgs, ReadArgs, RuleCmd, VserverCmd};
use crate::command::{reload_running, Applied};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Exit code of a command used wrongly.
pub const USAGE: i32 = 2;

/// The file named with `-C` (after the subcommand, or before it).
pub fn config_path(own: Option<&Path>, top: Option<&Path>) -> Result<PathBuf, i32> {
    match own.or(top) {
        Some(p) => Ok(p.to_path_buf()),
        None => {
            eprintln!("baton: which configuration file? give it with -C FILE");
            Err(USAGE)
        }
    }
}

/// Prints a refusal (with its details) and returns exit code 1.
pub fn refused(json: bool, r: &Refusal) -> i32 {
    if json {
        println!(
            "{}",
            json!({"ok": false, "error": r.message, "details": r.details})
        );
    } else {
        eprintln!("baton: {}", r.message);
        for d in &r.details {
            eprintln!("{d}");
        }
    }
    1
}

/// Runs one edit: `change` edits the in-memory file and returns a one-line summary.
/// `guard` lists the key prefixes the edit touches (refused if an included file sets them).
pub fn edit(
    args: &EditArgs,
    top: Option<&Path>,
    guard: &[String],
    change: impl FnOnce(&mut Editor) -> Result<String, Refusal>,
) -> i32 {
    let path = match config_path(args.config.as_deref(), top) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut editor = match Editor::open(&path) {
        Ok(e) => e,
        Err(r) => return refused(args.json, &r),
    };
    for prefix in guard {
        if let Err(r) = editor.guard(prefix) {
            return refused(args.json, &r);
        }
    }
    let summary = match change(&mut editor) {
        Ok(s) => s,
        Err(r) => return refused(args.json, &r),
    };
    if args.dry_run {
        let warnings = match editor.validate() {
            Ok(w) => w,
            Err(r) => return refused(args.json, &r),
        };
        let diff = editor.diff();
        if args.json {
            println!(
                "{}",
                json!({"ok": true, "dry_run": true, "summary": summary, "diff": diff,
                       "warnings": warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>()})
            );
        } else {
            print!("{diff}");
            println!("baton: dry run: {summary}; {} not changed", path.display());
        }
        return 0;
    }
    let saved = match editor.save() {
        Ok(s) => s,
        Err(r) => return refused(args.json, &r),
    };
    let applied = if !saved.changed || args.apply == ApplyMode::SaveOnly {
        None
    } else {
        Some(reload_running(
            &path,
            args.socket.as_deref(),
            args.apply == ApplyMode::Hard,
        ))
    };
    let ok = applied.as_ref().is_none_or(|a| a.ok);
    if args.json {
        println!(
            "{}",
            json!({"ok": ok, "dry_run": false, "summary": summary, "saved": saved.changed,
                   "history": saved.history, "warnings": saved.warnings,
                   "diff": editor.diff(), "apply": apply_name(args.apply), "applied": applied})
        );
    } else {
        for w in &saved.warnings {
            eprintln!("{w}");
        }
        if saved.changed {
            println!("baton: {summary}");
            match &saved.history {
                Some(h) => println!(
                    "baton: saved {} (previous version: {})",
                    path.display(),
                    h.display()
                ),
                None => println!("baton: saved {}", path.display()),
            }
        } else {
            println!(
                "baton: {summary}; {} already says so, nothing saved",
                path.display()
            );
        }
        if let Some(a) = &applied {
            print_applied(args.apply, a);
        }
    }
    if ok {
        0
    } else {
        1
    }
}

fn apply_name(mode: ApplyMode) -> &'static str {
    match mode {
        ApplyMode::Graceful => "graceful",
        ApplyMode::Hard => "hard",
        ApplyMode::SaveOnly => "none",
    }
}

fn print_applied(mode: ApplyMode, a: &Applied) {
    if !a.server_running {
        if a.ok {
            println!("baton: {}", a.message);
        } else {
            eprintln!(
                "baton: saved, but the server could not be asked to apply it: {}",
                a.message
            );
        }
    } else if a.ok {
        println!("baton: {} restart: {}", apply_name(mode), a.message);
    } else {
        eprintln!(
            "baton: saved, but the running server refused it: {}",
            a.message
        );
        for e in a.errors.iter().skip(1) {
            eprintln!("{e}");
        }
    }
}

/// `K=V` pairs of `--match-key` and friends.
fn pairs(list: &[String], flag: &str) -> Result<Vec<(String, String)>, i32> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => {
                eprintln!("baton: {flag} expects KEY=VALUE, found {kv:?}");
                Err(USAGE)
            }
        })
        .collect()
}

fn open_for_reading(args: &ReadArgs, top: Option<&Path>) -> Result<Editor, i32> {
    let path = config_path(args.config.as_deref(), top)?;
    Editor::open(&path).map_err(|r| refused(args.json, &r))
}

pub fn config(cmd: &ConfigCmd, top: Option<&Path>) -> i32 {
    match cmd {
        ConfigCmd::Get { key, args } => config_get(key, args, top),
        ConfigCmd::Set {
            key,
            value,
            edit: e,
        } => edit(e, top, std::slice::from_ref(key), |ed| {
            ed.set(key, value)?;
            Ok(format!("set {key} = {value}"))
        }),
        ConfigCmd::Unset { key, edit: e } => edit(e, top, std::slice::from_ref(key), |ed| {
            let n = ed.file.unset_tree(key);
            if n == 0 {
                return Err(Refusal::new(format!(
                    "{key} is not set in {}",
                    ed.path().display()
                )));
            }
            Ok(format!(
                "removed {key} ({n} line{})",
                if n == 1 { "" } else { "s" }
            ))
        }),
        ConfigCmd::History(args) => history(args, top),
        ConfigCmd::Restore { version, edit: e } => {
            let path = match config_path(e.config.as_deref(), top) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let found = store::versions(&path).ok().and_then(|v| {
                v.into_iter()
                    .find(|v| &v.name == version || v.number.to_string() == *version)
            });
            let Some(found) = found else {
                return refused(
                    e.json,
                    &Refusal::new(format!(
                        "no saved version {version:?} of {} (see baton config history)",
                        path.display()
                    )),
                );
            };
            edit(e, top, &[], |ed| {
                let text = std::fs::read_to_string(&found.path)
                    .map_err(|err| format!("cannot read {}: {err}", found.path.display()))?;
                ed.file = baton_conf::ConfFile::parse(ed.path(), &text).0;
                Ok(format!("restored {}", found.name))
            })
        }
    }
}

fn config_get(key: &str, args: &ReadArgs, top: Option<&Path>) -> i32 {
    let path = match config_path(args.config.as_deref(), top) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let loaded = match baton_conf::load(&path) {
        Ok(l) => l,
        Err(e) => {
            return refused(
                args.json,
                &Refusal::new(format!("cannot read {}: {e}", path.display())),
            )
        }
    };
    let Some(node) = loaded.tree.root().get(key) else {
        return refused(
            args.json,
            &Refusal::new(format!("{key} is not set in {}", path.display())),
        );
    };
    let values = node.values();
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        println!(
            "{}",
            json!({"key": key, "value": node.value(), "keys": map})
        );
    } else if let (Some(v), 1) = (node.value(), values.len()) {
        println!("{v}");
    } else {
        for (k, v) in values {
            println!("{k} = {v}");
        }
    }
    0
}

fn history(args: &ReadArgs, top: Option<&Path>) -> i32 {
    let path = match config_path(args.config.as_deref(), top) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // Newest first, everywhere (as the admin API lists them).
    let versions: Vec<_> = match store::versions(&path) {
        Ok(v) => v.into_iter().rev().collect(),
        Err(e) => return refused(args.json, &Refusal::new(e.to_string())),
    };
    if args.json {
        println!("{}", json!({"versions": versions}));
    } else if versions.is_empty() {
        println!("baton: no earlier versions of {} are kept", path.display());
    } else {
        for v in &versions {
            println!("{}", v.name);
        }
    }
    0
}

pub fn vserver(cmd: &VserverCmd, top: Option<&Path>) -> i32 {
    let guard = ["vserver".to_string()];
    match cmd {
        VserverCmd::List(args) => {
            let ed = match open_for_reading(args, top) {
                Ok(e) => e,
                Err(code) => return code,
            };
            let all = vservers::list(&ed.file);
            if args.json {
                println!("{}", json!({"vservers": all}));
            } else {
                print_list(&all);
            }
            0
        }
        VserverCmd::Show { nick, args } => {
            let ed = match open_for_reading(args, top) {
                Ok(e) => e,
                Err(code) => return code,
            };
            let v = match vservers::find(&ed.file, nick) {
                Ok(v) => v,
                Err(r) => return refused(args.json, &r),
            };
            if args.json {
                println!("{}", json!(v));
            } else {
                print_show(&ed, &v);
            }
            0
        }
        VserverCmd::Add {
            nick,
            document_root,
            domains,
            edit: e,
        } => edit(e, top, &guard, |ed| {
            let id = vservers::add(&mut ed.file, nick, document_root, domains)?;
            Ok(format!("added {nick} as vserver!{id}"))
        }),
        VserverCmd::Clone { src, new, edit: e } => edit(e, top, &guard, |ed| {
            let id = vservers::clone(&mut ed.file, src, new)?;
            Ok(format!(
                "cloned {src} as {new} (vserver!{id}, directly above {src})"
            ))
        }),
        VserverCmd::Move {
            nick,
            above,
            below,
            edit: e,
        } => {
            let (side, other) = match (above, below) {
                (Some(o), None) => (Side::Above, o),
                (None, Some(o)) => (Side::Below, o),
                _ => {
                    eprintln!("baton: give exactly one of --above OTHER or --below OTHER");
                    return USAGE;
                }
            };
            edit(e, top, &guard, |ed| {
                let id = vservers::move_to(&mut ed.file, nick, side, other)?;
                Ok(format!(
                    "moved {nick} {} {other} (now vserver!{id})",
                    if side == Side::Above {
                        "above"
                    } else {
                        "below"
                    }
                ))
            })
        }
        VserverCmd::Remove { nick, edit: e } => edit(e, top, &guard, |ed| {
            let id = vservers::remove(&mut ed.file, nick)?;
            Ok(format!("removed {nick} (vserver!{id})"))
        }),
    }
}

pub fn rule(cmd: &RuleCmd, top: Option<&Path>) -> i32 {
    let guard = ["vserver".to_string()];
    match cmd {
        RuleCmd::List { nick, args } => {
            let ed = match open_for_reading(args, top) {
                Ok(e) => e,
                Err(code) => return code,
            };
            match vservers::find(&ed.file, nick) {
                Ok(v) => {
                    if args.json {
                        println!("{}", json!({"vserver": v.nick, "rules": v.rules}));
                    } else {
                        print_rules(&v);
                    }
                    0
                }
                Err(r) => refused(args.json, &r),
            }
        }
        RuleCmd::Add {
            nick,
            match_type,
            match_keys,
            handler,
            handler_keys,
            keys,
            priority,
            is_final,
            edit: e,
        } => {
            let spec = match (|| {
                Ok::<_, i32>(RuleSpec {
                    match_type: match_type.clone(),
                    match_keys: pairs(match_keys, "--match-key")?,
                    handler: handler.clone(),
                    handler_keys: pairs(handler_keys, "--handler-key")?,
                    keys: pairs(keys, "--key")?,
                    priority: *priority,
                    is_final: is_final.map(|f| f == 1),
                })
            })() {
                Ok(s) => s,
                Err(code) => return code,
            };
            edit(e, top, &guard, |ed| {
                let p = vservers::rule_add(&mut ed.file, nick, &spec)?;
                Ok(format!(
                    "added rule {p} to {nick} ({match_type} -> {handler})"
                ))
            })
        }
        RuleCmd::Move {
            nick,
            priority,
            to,
            edit: e,
        } => edit(e, top, &guard, |ed| {
            vservers::rule_move(&mut ed.file, nick, *priority, *to)?;
            Ok(format!("moved rule {priority} of {nick} to {to}"))
        }),
        RuleCmd::Remove {
            nick,
            priority,
            edit: e,
        } => edit(e, top, &guard, |ed| {
            vservers::rule_remove(&mut ed.file, nick, *priority)?;
            Ok(format!("removed rule {priority} of {nick}"))
        }),
    }
}

/// The state column of `vserver list`.
pub fn state(v: &VsInfo, all: &[VsInfo]) -> String {
    if let Some(of) = &v.maintenance_of {
        return format!("maintenance copycat of {of}");
    }
    match all
        .iter()
        .find(|c| c.maintenance_of.as_deref() == Some(v.nick.as_str()))
    {
        Some(c) => format!("in maintenance ({} answers its hosts)", c.nick),
        None => String::new(),
    }
}

fn domains(v: &VsInfo) -> String {
    if v.nick == "default" && v.domains.is_empty() {
        "(every other host)".to_string()
    } else if v.domains.is_empty() {
        "(nickname only)".to_string()
    } else {
        v.domains.join(", ")
    }
}

fn print_list(all: &[VsInfo]) {
    let rows: Vec<[String; 5]> = all
        .iter()
        .map(|v| {
            [
                v.id.to_string(),
                v.nick.clone(),
                domains(v),
                v.document_root.clone().unwrap_or_else(|| "-".into()),
                state(v, all),
            ]
        })
        .collect();
    let head = [
        "PRIORITY",
        "NICK",
        "DOMAINS",
        "DOCUMENT ROOT",
        "MAINTENANCE",
    ];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(head);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    println!("(evaluated top to bottom: the first whose hosts match answers; default last)");
}

fn print_show(ed: &Editor, v: &VsInfo) {
    let all = vservers::list(&ed.file);
    println!("vserver!{} {}", v.id, v.nick);
    println!("  domains:       {}", domains(v));
    println!(
        "  document root: {}",
        v.document_root.as_deref().unwrap_or("-")
    );
    let st = state(v, &all);
    if !st.is_empty() {
        println!("  maintenance:   {st}");
    }
    if let Some(f) = &v.exclude_from {
        println!("  not taken from: {f} (match!exclude!from)");
    }
    if let Some(c) = &v.exclude_cookie {
        println!("  not taken with cookie: {c} (match!exclude!cookie)");
    }
    print_rules(v);
}

fn print_rules(v: &VsInfo) {
    println!("rules of {} (highest priority first):", v.nick);
    for r in &v.rules {
        let mut flags = Vec::new();
        if !r.is_final {
            flags.push("non-final");
        }
        if r.disabled {
            flags.push("disabled");
        }
        println!(
            "  {:>6}  {}{}  -> {}{}",
            r.priority,
            r.match_type,
            if r.match_keys.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.match_keys.join(", "))
            },
            r.handler.as_deref().unwrap_or("(no handler)"),
            if flags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", flags.join(", "))
            }
        );
    }
}
