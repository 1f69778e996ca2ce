//! Virtual servers and rules as seen in the key tree, and the structural edits on them:
//! add, clone, move, remove; rule add, move, remove.
//!
//! Priorities are the numbers in the keys (`vserver!N`, `rule!M`): larger is evaluated
//! first. A virtual server placed between two others takes a free number between theirs
//! (a multiple of 10 when there is one); when there is none, every virtual server is
//! renumbered (multiples of 10, in the same order, `default` keeping its number) so that
//! gaps exist again. Renumbering renames whole subtrees in place: each line keeps its
//! position, comments and spacing.

use super::Refusal;
use baton_conf::{ConfFile, Node, Tree};
use serde::Serialize;

/// A virtual server as configured.
#[derive(Debug, Clone, Serialize)]
pub struct VsInfo {
    /// N in `vserver!N` (the priority).
    pub id: u64,
    pub nick: String,
    /// Host names and patterns it answers (`~regex` for regular expressions, `ip:NET` for
    /// `target_ip`).
    pub domains: Vec<String>,
    pub document_root: Option<String>,
    /// For a maintenance copycat: the nick of the virtual server it stands in for.
    pub maintenance_of: Option<String>,
    /// `match!exclude!from`, `match!exclude!cookie`.
    pub exclude_from: Option<String>,
    pub exclude_cookie: Option<String>,
    pub rules: Vec<RuleInfo>,
}

/// A behavior rule as configured.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// M in `rule!M` (the priority).
    pub priority: u64,
    /// The match type (`default`, `directory`…).
    pub match_type: String,
    /// The other `match!…` keys (below `match`), as `key = value`.
    pub match_keys: Vec<String>,
    pub handler: Option<String>,
    pub is_final: bool,
    pub disabled: bool,
}

/// The key tree of one file (not its includes).
pub fn tree(file: &ConfFile) -> Tree {
    baton_conf::tree_from_files(std::slice::from_ref(file)).0
}

/// Every virtual server, highest priority first.
pub fn list(file: &ConfFile) -> Vec<VsInfo> {
    let tree = tree(file);
    let Some(vs) = tree.root().child("vserver") else {
        return Vec::new();
    };
    let (numbered, _) = vs.numbered();
    numbered
        .into_iter()
        .rev()
        .map(|(id, node)| info(id, node))
        .collect()
}

fn info(id: u64, node: Node<'_>) -> VsInfo {
    let mut domains = Vec::new();
    if let Some(m) = node.child("match") {
        host_list(m, &mut domains);
    }
    for legacy in ["domain", "domains"] {
        if let Some(l) = node.child(legacy) {
            domains.extend(
                l.children()
                    .filter_map(|(_, c)| c.value().map(String::from)),
            );
        }
    }
    let rules = node
        .child("rule")
        .map(|r| {
            let (numbered, _) = r.numbered();
            numbered
                .into_iter()
                .rev()
                .map(|(p, n)| rule_info(p, n))
                .collect()
        })
        .unwrap_or_default();
    let value = |k: &str| node.get_value(k).map(|v| v.trim().to_string());
    VsInfo {
        id,
        nick: value("nick").unwrap_or_default(),
        domains,
        document_root: value("document_root"),
        maintenance_of: value("maintenance_of"),
        exclude_from: value("match!exclude!from"),
        exclude_cookie: value("match!exclude!cookie"),
        rules,
    }
}

fn host_list(m: Node<'_>, out: &mut Vec<String>) {
    let values = |list: &str| -> Vec<String> {
        m.child(list)
            .map(|l| {
                l.children()
                    .filter_map(|(_, c)| c.value().map(|v| v.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    match m.value().unwrap_or("").trim() {
        "wildcard" => out.extend(values("domain")),
        "rehost" => out.extend(values("regex").into_iter().map(|r| format!("~{r}"))),
        "target_ip" => out.extend(values("to").into_iter().map(|r| format!("ip:{r}"))),
        "v_or" => {
            for side in ["left", "right"] {
                if let Some(s) = m.child(side) {
                    host_list(s, out);
                }
            }
        }
        _ => {}
    }
}

fn rule_info(priority: u64, node: Node<'_>) -> RuleInfo {
    let m = node.child("match");
    let match_type = m
        .and_then(|m| m.value().or_else(|| m.get_value("type")))
        .unwrap_or("")
        .trim()
        .to_string();
    let mut match_keys = Vec::new();
    if let Some(m) = m {
        collect(m, "", &mut match_keys, &["type", "final"]);
    }
    let flag = |k: &str, default: bool| {
        node.get_value(k)
            .map(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
            .unwrap_or(default)
    };
    RuleInfo {
        priority,
        match_type,
        match_keys,
        handler: node.get_value("handler").map(|h| h.trim().to_string()),
        is_final: flag("match!final", true),
        disabled: flag("disabled", false),
    }
}

fn collect(node: Node<'_>, prefix: &str, out: &mut Vec<String>, skip: &[&str]) {
    for (seg, child) in node.children() {
        if prefix.is_empty() && skip.contains(&seg) {
            continue;
        }
        let key = if prefix.is_empty() {
            seg.to_string()
        } else {
            format!("{prefix}!{seg}")
        };
        if let Some(v) = child.value() {
            out.push(format!("{key} = {v}"));
        }
        collect(child, &key, out, skip);
    }
}

/// The virtual server named `nick`, or a refusal listing the names that exist.
pub fn find(file: &ConfFile, nick: &str) -> Result<VsInfo, Refusal> {
    let all = list(file);
    match all.iter().find(|v| v.nick == nick) {
        Some(v) => Ok(v.clone()),
        None => Err(Refusal::new(format!(
            "no virtual server is named {nick:?} (there are: {})",
            all.iter()
                .map(|v| v.nick.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn refuse_existing(file: &ConfFile, nick: &str) -> Result<(), Refusal> {
    if let Some(v) = list(file).iter().find(|v| v.nick == nick) {
        return Err(Refusal::new(format!(
            "a virtual server named {nick:?} already exists (vserver!{})",
            v.id
        )));
    }
    if nick.is_empty() || nick.contains(char::is_whitespace) {
        return Err(Refusal::new(format!(
            "{nick:?} is not a usable nickname (empty, or contains whitespace)"
        )));
    }
    Ok(())
}

/// A free number between `lower` and `upper` (exclusive), a multiple of 10 if possible.
fn free_between(lower: u64, upper: Option<u64>) -> Option<u64> {
    let ten = (lower / 10 + 1).checked_mul(10)?;
    match upper {
        None => Some(ten),
        Some(u) if ten < u => Some(ten),
        Some(u) if u > lower + 1 => Some(lower + (u - lower) / 2),
        Some(_) => None,
    }
}

/// Renumbers the virtual servers `desc` (their ids, highest priority first) with gaps,
/// leaving a slot for a new one at `hole`: the lowest keeps its number, the others (and
/// the slot) get the following multiples of 10. Returns the slot's number.
fn renumber(file: &mut ConfFile, desc: &[u64], hole: usize) -> u64 {
    let mut slots: Vec<Option<u64>> = desc.iter().copied().map(Some).collect();
    slots.insert(hole.min(slots.len()), None);
    let mut new = vec![0; slots.len()];
    let mut next = 10;
    for (k, slot) in slots.iter().enumerate().rev() {
        match slot {
            Some(old) if k + 1 == slots.len() => {
                new[k] = *old;
                next = (old / 10 + 1) * 10;
                if next - old < 2 {
                    next += 10;
                }
            }
            _ => {
                new[k] = next;
                next += 10;
            }
        }
    }
    let changed: Vec<(u64, u64)> = slots
        .iter()
        .zip(&new)
        .filter_map(|(o, &n)| o.filter(|&o| o != n).map(|o| (o, n)))
        .collect();
    for &(old, _) in &changed {
        file.rename_tree(
            &format!("vserver!{old}"),
            &format!("vserver!renumber-{old}"),
        );
    }
    for &(old, n) in &changed {
        file.rename_tree(&format!("vserver!renumber-{old}"), &format!("vserver!{n}"));
    }
    new[hole.min(slots.len() - 1)]
}

/// A number for a virtual server that is not (or no longer) in the file, placed at
/// `index` among `desc` (the other ids, highest first): 0 is the top, `desc.len() - 1`
/// directly above the lowest. Renumbers the others if there is no free number there.
fn place(file: &mut ConfFile, desc: &[u64], index: usize) -> u64 {
    let lower = desc.get(index).copied().unwrap_or(0);
    let upper = if index == 0 {
        None
    } else {
        desc.get(index - 1).copied()
    };
    match free_between(lower, upper) {
        Some(n) => n,
        None => renumber(file, desc, index),
    }
}

fn ids(file: &ConfFile) -> Vec<u64> {
    list(file).iter().map(|v| v.id).collect()
}

/// `baton vserver add`: a new virtual server at the top, serving `document_root` with
/// `common` for `domains`. Returns its number.
pub fn add(
    file: &mut ConfFile,
    nick: &str,
    document_root: &str,
    domains: &[String],
) -> Result<u64, Refusal> {
    refuse_existing(file, nick)?;
    let desc = ids(file);
    let id = place(file, &desc, 0);
    let k = |s: &str| format!("vserver!{id}!{s}");
    file.set(&k("nick"), nick)?;
    file.set(&k("document_root"), document_root)?;
    if !domains.is_empty() {
        file.set(&k("match"), "wildcard")?;
        for (i, d) in domains.iter().enumerate() {
            file.set(&k(&format!("match!domain!{}", i + 1)), d)?;
        }
    }
    file.set(&k("rule!1!match"), "default")?;
    file.set(&k("rule!1!handler"), "common")?;
    Ok(id)
}

/// `baton vserver clone`: a copy of every key of `src`, named `new`, placed directly
/// above `src`. Returns its number.
pub fn clone(file: &mut ConfFile, src: &str, new: &str) -> Result<u64, Refusal> {
    find(file, src)?;
    refuse_existing(file, new)?;
    let id = new_above(file, src)?;
    let src_id = find(file, src)?.id;
    file.copy_tree(&format!("vserver!{src_id}"), &format!("vserver!{id}"));
    file.set(&format!("vserver!{id}!nick"), new)?;
    Ok(id)
}

/// A free number directly above the virtual server `nick` (renumbering if needed).
pub fn new_above(file: &mut ConfFile, nick: &str) -> Result<u64, Refusal> {
    let target = find(file, nick)?;
    let desc = ids(file);
    let index = desc.iter().position(|&i| i == target.id).unwrap_or(0);
    Ok(place(file, &desc, index))
}

/// Where to move a virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Above,
    Below,
}

/// `baton vserver move`: gives `nick` a number directly above or below `other`. Returns
/// its new number.
pub fn move_to(file: &mut ConfFile, nick: &str, side: Side, other: &str) -> Result<u64, Refusal> {
    let moving = find(file, nick)?;
    find(file, other)?;
    if nick == "default" {
        return Err(Refusal::new(
            "the default virtual server stays at the bottom; move the others instead",
        ));
    }
    if nick == other {
        return Err(Refusal::new(format!(
            "cannot move {nick:?} relative to itself"
        )));
    }
    if other == "default" && side == Side::Below {
        return Err(Refusal::new(
            "nothing can be placed below the default virtual server",
        ));
    }
    let temp = "vserver!moving";
    file.rename_tree(&format!("vserver!{}", moving.id), temp);
    let desc = ids(file);
    let anchor_id = find(file, other)?.id;
    let pos = desc.iter().position(|&i| i == anchor_id).unwrap_or(0);
    let index = match side {
        Side::Above => pos,
        Side::Below => pos + 1,
    };
    let id = place(file, &desc, index);
    file.rename_tree(temp, &format!("vserver!{id}"));
    Ok(id)
}

/// `baton vserver remove`.
pub fn remove(file: &mut ConfFile, nick: &str) -> Result<u64, Refusal> {
    let v = find(file, nick)?;
    if nick == "default" {
        return Err(Refusal::new(
            "the default virtual server cannot be removed: it answers every request no other virtual server takes",
        ));
    }
    file.unset_tree(&format!("vserver!{}", v.id));
    Ok(v.id)
}

/// What `baton rule add` writes.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    pub match_type: String,
    pub match_keys: Vec<(String, String)>,
    pub handler: String,
    pub handler_keys: Vec<(String, String)>,
    /// Other rule keys (`document_root`, `header_op!1!header`…).
    pub keys: Vec<(String, String)>,
    pub priority: Option<u64>,
    pub is_final: Option<bool>,
}

/// `baton rule add`: returns the rule's priority (given, or 100 above the highest).
pub fn rule_add(file: &mut ConfFile, nick: &str, spec: &RuleSpec) -> Result<u64, Refusal> {
    let v = find(file, nick)?;
    let priority = match spec.priority {
        Some(p) => {
            if v.rules.iter().any(|r| r.priority == p) {
                return Err(Refusal::new(format!(
                    "{nick} already has a rule {p} (vserver!{}!rule!{p}); choose another --priority or remove it first",
                    v.id
                )));
            }
            p
        }
        None => v
            .rules
            .first()
            .map_or(100, |r| (r.priority / 100 + 1) * 100),
    };
    let base = format!("vserver!{}!rule!{priority}", v.id);
    file.set(&format!("{base}!match"), &spec.match_type)?;
    for (k, val) in &spec.match_keys {
        file.set(&format!("{base}!match!{k}"), val)?;
    }
    if let Some(f) = spec.is_final {
        file.set(&format!("{base}!match!final"), if f { "1" } else { "0" })?;
    }
    file.set(&format!("{base}!handler"), &spec.handler)?;
    for (k, val) in &spec.handler_keys {
        file.set(&format!("{base}!handler!{k}"), val)?;
    }
    for (k, val) in &spec.keys {
        file.set(&format!("{base}!{k}"), val)?;
    }
    Ok(priority)
}

fn rule_of(v: &VsInfo, priority: u64) -> Result<(), Refusal> {
    if v.rules.iter().any(|r| r.priority == priority) {
        return Ok(());
    }
    Err(Refusal::new(format!(
        "{} has no rule {priority} (its rules: {})",
        v.nick,
        v.rules
            .iter()
            .map(|r| r.priority.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// `baton rule move`: renumbers one rule.
pub fn rule_move(file: &mut ConfFile, nick: &str, from: u64, to: u64) -> Result<(), Refusal> {
    let v = find(file, nick)?;
    rule_of(&v, from)?;
    if from == to {
        return Ok(());
    }
    if v.rules.iter().any(|r| r.priority == to) {
        return Err(Refusal::new(format!(
            "{nick} already has a rule {to}; move or remove it first"
        )));
    }
    file.rename_tree(
        &format!("vserver!{}!rule!{from}", v.id),
        &format!("vserver!{}!rule!{to}", v.id),
    );
    Ok(())
}

/// `baton rule remove`.
pub fn rule_remove(file: &mut ConfFile, nick: &str, priority: u64) -> Result<(), Refusal> {
    let v = find(file, nick)?;
    rule_of(&v, priority)?;
    file.unset_tree(&format!("vserver!{}!rule!{priority}", v.id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ConfFile {
        ConfFile::parse("t.conf", text).0
    }

    const THREE: &str = "vserver!1!nick = default\nvserver!10!nick = a\nvserver!11!nick = b\n";

    fn order(f: &ConfFile) -> Vec<(u64, String)> {
        list(f).into_iter().map(|v| (v.id, v.nick)).collect()
    }

    #[test]
    fn free_numbers_prefer_multiples_of_ten() {
        assert_eq!(free_between(1, None), Some(10));
        assert_eq!(free_between(10, None), Some(20));
        assert_eq!(free_between(1, Some(10)), Some(5));
        assert_eq!(free_between(10, Some(30)), Some(20));
        assert_eq!(free_between(10, Some(11)), None);
    }

    #[test]
    fn clone_goes_directly_above_renumbering_when_needed() {
        let mut f = parse(THREE);
        assert_eq!(clone(&mut f, "a", "a2").unwrap(), 20);
        assert_eq!(
            order(&f),
            vec![
                (30, "b".into()),
                (20, "a2".into()),
                (10, "a".into()),
                (1, "default".into())
            ]
        );
        assert!(clone(&mut f, "a", "b").is_err());
        assert!(clone(&mut f, "zz", "c").is_err());
    }

    #[test]
    fn move_keeps_default_at_the_bottom() {
        let mut f = parse(THREE);
        assert_eq!(move_to(&mut f, "b", Side::Below, "a").unwrap(), 5);
        assert_eq!(order(&f)[0].1, "a");
        assert!(move_to(&mut f, "default", Side::Above, "a").is_err());
        assert!(move_to(&mut f, "a", Side::Below, "default").is_err());
        move_to(&mut f, "b", Side::Above, "a").unwrap();
        assert_eq!(order(&f)[0], (20, "b".into()));
    }

    #[test]
    fn rules_add_move_remove() {
        let mut f = parse("vserver!1!nick = default\nvserver!1!rule!1!match = default\n");
        let spec = RuleSpec {
            match_type: "directory".into(),
            match_keys: vec![("directory".into(), "/x".into())],
            handler: "file".into(),
            ..RuleSpec::default()
        };
        assert_eq!(rule_add(&mut f, "default", &spec).unwrap(), 100);
        assert_eq!(rule_add(&mut f, "default", &spec).unwrap(), 200);
        rule_move(&mut f, "default", 200, 300).unwrap();
        assert!(rule_move(&mut f, "default", 300, 100).is_err());
        rule_remove(&mut f, "default", 100).unwrap();
        assert!(rule_remove(&mut f, "default", 100).is_err());
        let rules = &list(&f)[0].rules;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].priority, 300);
        assert_eq!(rules[0].match_keys, vec!["directory = /x".to_string()]);
    }
}
