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

/// The row of `name` in a listing, if listed.
fn row<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let link = format!("<a href=\"{name}\">");
    html.lines()
        .filter(|l| l.starts_with("<tr class="))
        .find(|l| l.contains(&link))
}

/// Lists `/list/` twice (the second answer is the kept copy), runs `change`, and returns
/// the very next listing: it must already show the change, whatever is kept.
fn listing_after(s: &Server, path: &str, change: impl FnOnce(&Path)) -> String {
    for _ in 0..2 {
        assert_eq!(get(s.addr(), "localhost", path).status, 200);
    }
    change(&s.root().join("www/list"));
    let r = get(s.addr(), "localhost", path);
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn a_created_file_shows_in_the_very_next_listing() {
    for handler in ["dirlist", "common"] {
        let s = start(handler, "");
        let html = listing_after(&s, "/list/", |d| {
            std::fs::write(d.join("fresh.txt"), "new").unwrap()
        });
        assert!(row(&html, "fresh.txt").is_some(), "{handler}: {html}");
    }
}

#[test]
fn a_deleted_file_is_gone_from_the_very_next_listing() {
    let s = start("dirlist", "");
    let html = listing_after(&s, "/list/", |d| {
        std::fs::remove_file(d.join("mid.txt")).unwrap()
    });
    assert!(row(&html, "mid.txt").is_none(), "{html}");
    assert!(row(&html, "zeta.txt").is_some());
}

#[test]
fn a_renamed_file_shows_under_its_new_name_in_the_very_next_listing() {
    let s = start("dirlist", "");
    let html = listing_after(&s, "/list/", |d| {
        std::fs::rename(d.join("mid.txt"), d.join("renamed.txt")).unwrap()
    });
    assert!(row(&html, "mid.txt").is_none(), "{html}");
    assert!(row(&html, "renamed.txt").is_some(), "{html}");
}

#[test]
fn a_resized_file_shows_its_new_size_in_the_very_next_listing() {
    let s = start("dirlist", "");
    let before = get(s.addr(), "localhost", "/list/").text();
    assert!(row(&before, "mid.txt")
        .unwrap()
        .contains("title=\"5 bytes\""));
    let html = listing_after(&s, "/list/", |d| {
        std::fs::write(d.join("mid.txt"), "m".repeat(1234)).unwrap()
    });
    let mid = row(&html, "mid.txt").unwrap();
    assert!(mid.contains("title=\"1234 bytes\">1.2K<"), "{mid}");
}

#[test]
fn a_touched_file_shows_its_new_date_in_the_very_next_listing() {
    let s = start("dirlist", "");
    let html = listing_after(&s, "/list/?order=date", |d| {
        // 2001-09-09 01:46:40 UTC.
        set_mtime(&d.join("zeta.txt"), 1_000_000_000);
    });
    let zeta = row(&html, "zeta.txt").unwrap();
    assert!(zeta.contains("2001-09-09 01:46"), "{zeta}");
    // Sorted by date, it is now the oldest file.
    let files: Vec<String> = entry_links(&html)
        .into_iter()
        .filter(|l| !l.ends_with('/'))
        .collect();
    assert_eq!(
        files.first().map(String::as_str),
        Some("zeta.txt"),
        "{files:?}"
    );
}

#[test]
fn every_sort_order_and_head_see_the_change() {
    let s = start("dirlist", "");
    for path in ["/list/", "/list/?order=size", "/list/?order=date"] {
        get(s.addr(), "localhost", path);
    }
    s.write("www/list/late.txt", "late");
    for path in ["/list/", "/list/?order=size", "/list/?order=date"] {
        let html = get(s.addr(), "localhost", path).text();
        assert!(row(&html, "late.txt").is_some(), "{path}: {html}");
    }
    let g = get(s.addr(), "localhost", "/list/");
    let mut c = Raw::connect(s.addr());
    s.write("www/list/later.txt", "later");
    c.send("HEAD /list/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let h = c.read_response_for("HEAD").expect("HEAD response");
    let longer = get(s.addr(), "localhost", "/list/");
    assert!(longer.body.len() > g.body.len());
    assert_eq!(
        h.header("content-length"),
        Some(longer.body.len().to_string().as_str())
    );
}

#[test]
fn a_change_inside_a_subdirectory_updates_its_date_in_the_parent_listing() {
    // The parent's entries do not change; only the subdirectory's own date does.
    let s = Server::start_with(&conf("dirlist", ""), |root| {
        populate(root);
        set_mtime(&root.join("www/list/b_dir"), 1_000_000_000);
    });
    let before = get(s.addr(), "localhost", "/list/").text();
    assert!(row(&before, "b_dir/").unwrap().contains("2001-09-09 01:46"));
    let html = listing_after(&s, "/list/", |d| {
        std::fs::write(d.join("b_dir/new.txt"), "n").unwrap()
    });
    let b = row(&html, "b_dir/").unwrap();
    assert!(!b.contains("2001-09-09"), "{b}");
}

#[test]
fn a_symbolic_link_shows_its_current_target() {
    let s = Server::start_with(&conf("dirlist", ""), |root| {
        populate(root);
        write_file(root, "elsewhere/target.txt", "t");
        std::os::unix::fs::symlink(
            root.join("elsewhere/target.txt"),
            root.join("www/list/link.txt"),
        )
        .unwrap();
    });
    let target = s.root().join("elsewhere/target.txt");
    let html = listing_after(&s, "/list/", |_| {
        std::fs::write(&target, "x".repeat(2000)).unwrap()
    });
    let link = row(&html, "link.txt").unwrap();
    assert!(link.contains("title=\"2000 bytes\""), "{link}");
}

#[test]
fn a_changed_notice_shows_in_the_very_next_listing() {
    let s = Server::start_with(
        &conf(
            "dirlist",
            "vserver!1!rule!1!handler!notice_files = NOTICE.html\n",
        ),
        populate,
    );
    let html = listing_after(&s, "/list/", |d| {
        std::fs::write(d.join("NOTICE.html"), "<p>first</p>").unwrap()
    });
    assert!(html.contains("<p>first</p>"));
    let html = listing_after(&s, "/list/", |d| {
        std::fs::write(d.join("NOTICE.html"), "<p>second</p>").unwrap()
    });
    assert!(html.contains("<p>second</p>") && !html.contains("first"));
}

#[test]
fn a_directory_replaced_at_the_same_path_is_listed_afresh() {
    let s = start("dirlist", "");
    let html = listing_after(&s, "/list/", |d| {
        let www = d.parent().unwrap();
        std::fs::rename(d, www.join("old-list")).unwrap();
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("only.txt"), "o").unwrap();
    });
    assert_eq!(entry_links(&html), ["only.txt"]);
}

#[test]
fn an_unchanged_listing_is_not_modified_and_a_changed_one_is_sent_again() {
    let s = start("dirlist", "");
    let first = get(s.addr(), "localhost", "/list/");
    let etag = first
        .header("etag")
        .expect("listing has an ETag")
        .to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let inm = format!("If-None-Match: {etag}");
    let again = get_with(s.addr(), "localhost", "/list/", &[&inm]);
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert!(again.body.is_empty());
    // Another order is another page with another tag.
    let by_size = get_with(s.addr(), "localhost", "/list/?order=size", &[&inm]);
    assert_eq!(by_size.status, 200);
    assert_ne!(by_size.header("etag"), Some(etag.as_str()));
    s.write("www/list/new.txt", "n");
    let changed = get_with(s.addr(), "localhost", "/list/", &[&inm]);
    assert_eq!(changed.status, 200);
    assert!(row(&changed.text(), "new.txt").is_some());
    let new_tag = changed.header("etag").expect("ETag");
    assert_ne!(new_tag, etag);
    // A date alone never makes a listing "not modified": it has no modification date.
    let ims = get_with(
        s.addr(),
        "localhost",
        "/list/",
        &["If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT"],
    );
    assert_eq!(ims.status, 200);
}
