//! Cherokee's maintenance recipe (cookbook_maintenance.txt) with static configurations: a
//! copycat virtual server placed above the original one answers the same domains while the
//! site is being worked on.
//!
//! Virtual servers in every test:
//! - 20 `copycat`: answers `example.*` (the maintenance behaviour under test);
//! - 10 `example`: the real site, answers `example.*` (and `intranet_example` in the
//!   staff-review variant), document root `%ROOT%/site`;
//! - 1 `default`: everything else, document root `%ROOT%/default`.
mod common;
use common::*;

const REAL_INDEX: &str = "<h1>the real site</h1>";
const MAINTENANCE_PAGE: &str = "<h1>down for maintenance</h1>";

fn config(copycat_rules: &str, original_extra_domain: bool) -> String {
    let mut c = String::from(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!20!nick = copycat\n\
         vserver!20!document_root = %ROOT%/copycat\n\
         vserver!20!directory_index = index.html\n\
         vserver!20!match = wildcard\n\
         vserver!20!match!domain!1 = example.*\n",
    );
    for l in copycat_rules
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        c.push_str("vserver!20!");
        c.push_str(l);
        c.push('\n');
    }
    c.push_str(
        "vserver!10!nick = example\n\
         vserver!10!document_root = %ROOT%/site\n\
         vserver!10!directory_index = index.html\n\
         vserver!10!match = wildcard\n\
         vserver!10!match!domain!1 = example.*\n\
         vserver!10!rule!1!match = default\n\
         vserver!10!rule!1!handler = common\n",
    );
    if original_extra_domain {
        c.push_str("vserver!10!match!domain!2 = intranet_example\n");
    }
    c.push_str(
        "vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/default\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = common\n",
    );
    c
}

fn start(copycat_rules: &str, original_extra_domain: bool) -> Server {
    Server::start_with(&config(copycat_rules, original_extra_domain), |root| {
        write_file(root, "site/index.html", REAL_INDEX);
        write_file(root, "site/dir/index.html", "real dir");
        write_file(root, "copycat/maintenance/index.html", MAINTENANCE_PAGE);
        write_file(root, "default/who.txt", "default");
    })
}

/// (a) The basic recipe: one default rule answering 503 with `custom_error`.
const COPYCAT_503: &str = "rule!1!match = default
     rule!1!handler = custom_error
     rule!1!handler!error = 503";

/// (b) The static message: `/maintenance` served by `common`, every other URL internally
/// redirected there by the default rule.
const COPYCAT_STATIC: &str = "rule!2!match = directory
     rule!2!match!directory = /maintenance
     rule!2!handler = common
     rule!1!match = default
     rule!1!handler = redir
     rule!1!handler!rewrite!1!show = 0
     rule!1!handler!rewrite!1!regex = .*
     rule!1!handler!rewrite!1!substring = /maintenance/";

const URLS: &[&str] = &["/", "/index.html", "/missing", "/dir/", "/a/b/c.html?x=1"];

#[test]
fn copycat_answers_503_for_every_url_of_the_site() {
    let s = start(COPYCAT_503, false);
    for host in ["example.com", "example.org", "EXAMPLE.com:8080"] {
        for url in URLS {
            let r = get(s.addr(), host, url);
            assert_eq!(r.status, 503, "Host {host} {url}");
            assert!(
                !r.text().contains("real"),
                "Host {host} {url}: {}",
                r.text()
            );
        }
    }
    let post = raw_request(
        s.addr(),
        "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(post.status, 503);
}

#[test]
fn copycat_503_leaves_other_hosts_on_the_default_vserver() {
    let s = start(COPYCAT_503, false);
    let r = get(s.addr(), "other.test", "/who.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "default"));
    let r = get(s.addr(), "www.example.com", "/who.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "default"),
        "example.* does not cover subdomains"
    );
}

#[test]
fn copycat_serves_the_maintenance_page_for_every_url() {
    // Status 200, not 503: an internal redirection serves the maintenance page as a normal
    // resource of the copycat (Cherokee does the same). The 503 variant is the basic recipe
    // above.
    let s = start(COPYCAT_STATIC, false);
    for url in URLS
        .iter()
        .chain(&["/maintenance/", "/maintenance/index.html"])
    {
        let r = get(s.addr(), "example.com", url);
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(r.text(), MAINTENANCE_PAGE, "{url}");
    }
}

#[test]
fn maintenance_page_redirection_does_not_loop() {
    // `/maintenance/` itself is served by the higher-priority directory rule, so the
    // default rule's `.*` rewrite never applies to it again: a loop would answer 500.
    let s = start(COPYCAT_STATIC, false);
    for _ in 0..3 {
        let r = get(s.addr(), "example.com", "/deep/path/that/does/not/exist");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), MAINTENANCE_PAGE);
    }
    let r = get(s.addr(), "other.test", "/who.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "default"));
}

#[test]
fn staff_host_reaches_the_real_site_during_maintenance() {
    let s = start(COPYCAT_STATIC, true);
    let staff = get(s.addr(), "intranet_example", "/");
    assert_eq!((staff.status, staff.text().as_str()), (200, REAL_INDEX));
    let staff = get(s.addr(), "intranet_example", "/dir/");
    assert_eq!((staff.status, staff.text().as_str()), (200, "real dir"));
    assert_eq!(get(s.addr(), "intranet_example", "/missing").status, 404);
    let public = get(s.addr(), "example.com", "/");
    assert_eq!(
        (public.status, public.text().as_str()),
        (200, MAINTENANCE_PAGE)
    );
}

#[test]
fn staff_host_reaches_the_real_site_with_the_503_copycat() {
    let s = start(COPYCAT_503, true);
    let staff = get(s.addr(), "intranet_example", "/index.html");
    assert_eq!((staff.status, staff.text().as_str()), (200, REAL_INDEX));
    assert_eq!(get(s.addr(), "example.com", "/index.html").status, 503);
}
