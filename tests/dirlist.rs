//! Directory listings (`dirlist` and `common`) through the real binary.
mod common;
use common::*;
use std::path::Path;

fn conf(handler: &str, extra: &str) -> String {
    format!(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/www\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = {handler}\n\
         {extra}"
    )
}

/// `www/list/` with directories, files of different sizes, hidden files and a backup.
fn populate(root: &Path) {
    write_file(root, "www/list/zeta.txt", "z");
    write_file(root, "www/list/alpha.txt", "aaaaaaaaaaaaaaaaaaaa");
    write_file(root, "www/list/mid.txt", "mmmmm");
    write_file(root, "www/list/b_dir/inner.txt", "i");
    write_file(root, "www/list/y_dir/inner.txt", "i");
    write_file(root, "www/list/a b&<c>.txt", "odd");
    write_file(root, "www/list/.hidden", "h");
    write_file(root, "www/list/backup.txt~", "old");
}

fn start(handler: &str, extra: &str) -> Server {
    Server::start_with(&conf(handler, extra), populate)
}

/// Link targets of the listing rows, in order (not the header or parent links).
fn entry_links(html: &str) -> Vec<String> {
    html.lines()
        .filter(|l| l.starts_with("<tr class=\"dir") || l.starts_with("<tr class=\"file"))
        .filter_map(|l| {
            let at = l.find("<a href=\"")? + 9;
            let rest = &l[at..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

#[test]
fn dirlist_lists_directories_first_then_files_by_name() {
    let s = start("dirlist", "");
    let r = get(s.addr(), "localhost", "/list/");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert_eq!(
        entry_links(&r.text()),
        [
            "b_dir/",
            "y_dir/",
            "a%20b%26%3Cc%3E.txt",
            "alpha.txt",
            "mid.txt",
            "zeta.txt"
        ]
    );
}

#[test]
fn common_lists_a_directory_without_index_the_same_way() {
    let s = start("common", "");
    let r = get(s.addr(), "localhost", "/list/");
    assert_eq!(r.status, 200);
    let links = entry_links(&r.text());
    assert_eq!(links.first().map(String::as_str), Some("b_dir/"));
    assert!(links.contains(&"alpha.txt".to_string()));
}

#[test]
fn names_are_html_escaped_and_links_percent_encoded() {
    let s = start("dirlist", "");
    let html = get(s.addr(), "localhost", "/list/").text();
    assert!(
        html.contains("<a href=\"a%20b%26%3Cc%3E.txt\">a b&amp;&lt;c&gt;.txt</a>"),
        "{html}"
    );
    assert!(!html.contains("<c>"));
    // The encoded link leads back to the file.
    let r = get(s.addr(), "localhost", "/list/a%20b%26%3Cc%3E.txt");
    assert_eq!(r.status, 403, "dirlist does not send files");
    let s = start("common", "");
    let r = get(s.addr(), "localhost", "/list/a%20b%26%3Cc%3E.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "odd");
}

#[test]
fn hidden_and_backup_files_are_not_listed_by_default() {
    let s = start("dirlist", "");
    let links = entry_links(&get(s.addr(), "localhost", "/list/").text());
    assert!(!links.iter().any(|l| l.contains("hidden")), "{links:?}");
    assert!(!links.iter().any(|l| l.contains("backup")), "{links:?}");
}

#[test]
fn hidden_files_are_listed_with_hidden_on() {
    let s = start("dirlist", "vserver!1!rule!1!handler!hidden = 1\n");
    let links = entry_links(&get(s.addr(), "localhost", "/list/").text());
    assert!(links.contains(&".hidden".to_string()), "{links:?}");
    assert!(!links.iter().any(|l| l.contains("backup")), "{links:?}");
}

#[test]
fn backup_files_are_listed_with_backup_on() {
    let s = start("dirlist", "vserver!1!rule!1!handler!backup = 1\n");
    let links = entry_links(&get(s.addr(), "localhost", "/list/").text());
    assert!(links.contains(&"backup.txt~".to_string()), "{links:?}");
}

#[test]
fn order_size_sorts_files_by_size() {
    let s = start("dirlist", "");
    let links = entry_links(&get(s.addr(), "localhost", "/list/?order=size").text());
    // Directories first (by name), then files smallest first: z(1) odd(3) m(5) a(20).
    assert_eq!(
        links,
        [
            "b_dir/",
            "y_dir/",
            "zeta.txt",
            "a%20b%26%3Cc%3E.txt",
            "mid.txt",
            "alpha.txt"
        ]
    );
}

#[test]
fn listing_has_a_parent_link_except_at_the_root() {
    let s = start("dirlist", "");
    let sub = get(s.addr(), "localhost", "/list/").text();
    assert!(sub.contains("<a href=\"../\">"), "{sub}");
    assert!(sub.contains("Index of /list/"));
    let top = get(s.addr(), "localhost", "/").text();
    assert!(!top.contains("<a href=\"../\">"));
    assert_eq!(entry_links(&top), ["list/"]);
}

#[test]
fn head_on_a_listing_has_no_body_and_the_get_length() {
    let s = start("dirlist", "");
    let g = get(s.addr(), "localhost", "/list/");
    let mut c = Raw::connect(s.addr());
    c.send("HEAD /list/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let h = c.read_response_for("HEAD").expect("HEAD response");
    assert_eq!(h.status, 200);
    assert!(c.is_closed(), "HEAD response carried body bytes");
    assert_eq!(h.header("content-type"), g.header("content-type"));
    assert_eq!(
        h.header("content-length"),
        Some(g.body.len().to_string().as_str())
    );
}

#[test]
fn directory_without_slash_is_redirected() {
    let s = start("dirlist", "");
    let r = get(s.addr(), "localhost", "/list");
    assert_eq!(r.status, 301);
    assert!(r.header("location").is_some_and(|l| l.ends_with("/list/")));
}

#[test]
fn dirlist_refuses_to_send_a_file() {
    let s = start("dirlist", "");
    let r = get(s.addr(), "localhost", "/list/alpha.txt");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("aaaa"));
}

#[test]
fn common_with_allow_dirlist_off_refuses_a_directory_without_index() {
    let s = start("common", "vserver!1!rule!1!handler!allow_dirlist = 0\n");
    let r = get(s.addr(), "localhost", "/list/");
    assert_eq!(r.status, 403);
    // Files are still sent.
    assert_eq!(get(s.addr(), "localhost", "/list/mid.txt").status, 200);
}

#[test]
fn notice_file_is_shown_above_the_listing() {
    let s = Server::start_with(
        &conf(
            "dirlist",
            "vserver!1!rule!1!handler!notice_files = NOTICE.html\n",
        ),
        |root| {
            populate(root);
            write_file(
                root,
                "www/list/NOTICE.html",
                "<p class=\"notice\">Read me first</p>",
            );
        },
    );
    let html = get(s.addr(), "localhost", "/list/").text();
    let notice = html
        .find("<p class=\"notice\">Read me first</p>")
        .expect("notice included verbatim");
    let table = html.find("<table>").expect("table");
    assert!(notice < table, "notice must come before the table");
}
