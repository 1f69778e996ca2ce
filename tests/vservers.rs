//! Virtual server selection end to end: host lists in priority order (exact names,
//! wildcards, regular expressions, target addresses, legacy `domain` lists), then
//! nicknames, then `default`; and the Host header rules of HTTP/1.x.
//!
//! Every virtual server serves `%ROOT%/<nick>/`, where `who.txt` holds its nickname, so the
//! body of `/who.txt` tells which one answered.
mod common;
use common::*;

/// `(priority, nick, extra keys of that vserver without the `vserver!N!` prefix)`.
type VDef<'a> = (u32, &'a str, &'a str);

fn config(vservers: &[VDef<'_>]) -> String {
    let mut c = String::from("server!bind!1!port = 0\nserver!bind!1!interface = 127.0.0.1\n");
    for (n, nick, extra) in vservers {
        c.push_str(&format!(
            "vserver!{n}!nick = {nick}\n\
             vserver!{n}!document_root = %ROOT%/{nick}\n\
             vserver!{n}!rule!1!match = default\n\
             vserver!{n}!rule!1!handler = common\n"
        ));
        for l in extra.lines().map(str::trim).filter(|l| !l.is_empty()) {
            c.push_str(&format!("vserver!{n}!{l}\n"));
        }
    }
    c
}

fn start(vservers: &[VDef<'_>]) -> Server {
    let nicks: Vec<String> = vservers.iter().map(|(_, n, _)| n.to_string()).collect();
    Server::start_with(&config(vservers), move |root| {
        for nick in &nicks {
            write_file(root, &format!("{nick}/who.txt"), nick);
        }
    })
}

/// The nickname of the virtual server answering `host`.
fn who(s: &Server, host: &str) -> String {
    let r = get(s.addr(), host, "/who.txt");
    assert_eq!(r.status, 200, "Host {host:?}: {r:?}");
    r.text()
}

#[test]
fn host_lists_are_tried_before_nicknames() {
    // vserver 20's nickname is the name vserver 10 lists: the host list (first pass) wins.
    let s = start(&[
        (20, "shop.test", ""),
        (10, "lister", "match = wildcard\nmatch!domain!1 = shop.test"),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "shop.test"), "lister");
}

#[test]
fn higher_priority_wildcard_wins_over_lower_priority_exact_name() {
    let s = start(&[
        (
            20,
            "wild",
            "match = wildcard\nmatch!domain!1 = *.example.org",
        ),
        (
            10,
            "exact",
            "match = wildcard\nmatch!domain!1 = www.example.org",
        ),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "www.example.org"), "wild");
}

#[test]
fn higher_priority_exact_name_wins_over_lower_priority_wildcard() {
    let s = start(&[
        (
            20,
            "exact",
            "match = wildcard\nmatch!domain!1 = www.example.org",
        ),
        (
            10,
            "wild",
            "match = wildcard\nmatch!domain!1 = *.example.org",
        ),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "www.example.org"), "exact");
    assert_eq!(who(&s, "ftp.example.org"), "wild");
}

#[test]
fn wildcards_with_a_trailing_and_a_leading_star() {
    let s = start(&[
        (20, "anytld", "match = wildcard\nmatch!domain!1 = example.*"),
        (
            10,
            "subs",
            "match = wildcard\nmatch!domain!1 = *.example.org",
        ),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "example.com"), "anytld");
    assert_eq!(who(&s, "example.org"), "anytld");
    assert_eq!(who(&s, "www.example.com"), "default");
    assert_eq!(who(&s, "a.example.org"), "subs");
    assert_eq!(who(&s, "a.b.example.org"), "subs");
    assert_eq!(who(&s, "example.net.evil"), "anytld");
    assert_eq!(who(&s, "notexample.org"), "default");
}

#[test]
fn regex_host_match_honours_inline_case_insensitivity() {
    let s = start(&[
        (
            10,
            "shops",
            r"match = rehost
              match!regex!1 = (?i)^SHOP[0-9]+\.EXAMPLE\.NET$",
        ),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "shop12.example.net"), "shops");
    assert_eq!(who(&s, "Shop7.Example.Net"), "shops");
    assert_eq!(who(&s, "shop.example.net"), "default");
}

#[test]
fn target_ip_matches_the_local_address() {
    let s = start(&[
        (
            20,
            "elsewhere",
            "match = target_ip\nmatch!to!1 = 10.0.0.0/8",
        ),
        (
            10,
            "loopback",
            "match = target_ip\nmatch!to!1 = 127.0.0.1/32",
        ),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "anything.test"), "loopback");
    assert_eq!(who(&s, "localhost"), "loopback");
}

#[test]
fn legacy_domain_list_matches_hosts() {
    let s = start(&[
        (
            10,
            "legacy",
            "domain!1 = old.example.com\ndomain!2 = *.old.example.com",
        ),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "old.example.com"), "legacy");
    assert_eq!(who(&s, "www.old.example.com"), "legacy");
    assert_eq!(who(&s, "new.example.com"), "default");
}

#[test]
fn host_is_case_insensitive_and_ignores_port_and_trailing_dot() {
    let s = start(&[
        (
            10,
            "www",
            "match = wildcard\nmatch!domain!1 = www.example.com",
        ),
        (1, "default", ""),
    ]);
    for host in [
        "www.example.com",
        "WWW.Example.COM",
        "www.example.com:8080",
        "www.example.com.",
        "WWW.EXAMPLE.COM.:80",
    ] {
        assert_eq!(who(&s, host), "www", "Host {host:?}");
    }
}

#[test]
fn nickname_is_a_fallback_host_name() {
    let s = start(&[(10, "intranet", ""), (1, "default", "")]);
    assert_eq!(who(&s, "intranet"), "intranet");
    assert_eq!(who(&s, "INTRANET:81"), "intranet");
    assert_eq!(who(&s, "extranet"), "default");
}

#[test]
fn nickname_matching_can_be_switched_off() {
    let s = start(&[(10, "intranet", "match!nick = 0"), (1, "default", "")]);
    assert_eq!(who(&s, "intranet"), "default");
}

#[test]
fn unknown_host_falls_back_to_default() {
    let s = start(&[
        (30, "a", "match = wildcard\nmatch!domain!1 = a.test"),
        (20, "b", "match = rehost\nmatch!regex!1 = ^b\\.test$"),
        (1, "default", ""),
    ]);
    assert_eq!(who(&s, "c.test"), "default");
    assert_eq!(who(&s, "a.test"), "a");
    assert_eq!(who(&s, "b.test"), "b");
}

#[test]
fn default_need_not_have_the_lowest_priority() {
    // `default` is chosen by name for the fallback, wherever it sits.
    let s = start(&[
        (30, "default", ""),
        (10, "low", "match = wildcard\nmatch!domain!1 = low.test"),
    ]);
    assert_eq!(who(&s, "low.test"), "low");
    assert_eq!(who(&s, "other.test"), "default");
}

#[test]
fn http10_without_host_gets_the_default_vserver() {
    let s = start(&[
        (10, "named", "match = wildcard\nmatch!domain!1 = *"),
        (1, "default", ""),
    ]);
    let r = raw_request(s.addr(), "GET /who.txt HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "default");
}

#[test]
fn http11_without_host_is_400() {
    let s = start(&[(1, "default", "")]);
    let r = raw_request(
        s.addr(),
        "GET /who.txt HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn two_host_headers_are_400() {
    let s = start(&[
        (10, "a", "match = wildcard\nmatch!domain!1 = a.test"),
        (1, "default", ""),
    ]);
    let r = raw_request(
        s.addr(),
        "GET /who.txt HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn absolute_form_target_authority_selects_the_vserver() {
    let s = start(&[
        (10, "a", "match = wildcard\nmatch!domain!1 = a.test"),
        (1, "default", ""),
    ]);
    let r = raw_request(
        s.addr(),
        "GET http://a.test/who.txt HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "a"));
}

#[test]
fn regex_host_groups_are_available_to_redirections() {
    let s = start(&[
        (
            10,
            "users",
            r"match = rehost
              match!regex!1 = ^([a-z]+)\.users\.test$
              rule!10!match = directory
              rule!10!match!directory = /home
              rule!10!handler = redir
              rule!10!handler!rewrite!1!show = 1
              rule!10!handler!rewrite!1!regex = ^/home(.*)$
              rule!10!handler!rewrite!1!substring = http://users.test/~^1$1",
        ),
        (1, "default", ""),
    ]);
    let r = get(s.addr(), "alice.users.test", "/home/pics/");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("http://users.test/~alice/pics/"));
}
