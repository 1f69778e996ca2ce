//! Who may use the admin API (`baton admin`), over real sockets: the one-time password,
//! the session cookie (HttpOnly, SameSite=Strict), 401 without a session, failed sign-ins
//! slowed down (429 with Retry-After), and changes refused (403) without the session's
//! CSRF token or when the browser says they come from another site.
mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SITE: &str = "server!bind!1!port = 0\n\
server!bind!1!interface = 127.0.0.1\n\
server!control_socket = %ROOT%/control.sock\n\
vserver!1!nick = default\n\
vserver!1!document_root = %ROOT%/default\n\
vserver!1!directory_index = index.html\n\
vserver!1!rule!1!match = default\n\
vserver!1!rule!1!handler = common\n";

fn start() -> (Server, AdminProc) {
    let s = Server::start_with(SITE, |root| {
        write_file(root, "default/index.html", "the default vserver");
    });
    let a = AdminProc::start(&s.config_path);
    (s, a)
}

fn json_of(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

const PREVIEW: &str = r#"{"edits":[{"op":"set","key":"server!timeout","value":"7"}]}"#;

#[test]
fn the_right_password_opens_a_session_in_an_httponly_strict_cookie() {
    let (_s, a) = start();
    // The password printed is the documented shape: four groups of four.
    assert_eq!(a.password.len(), 19, "{}", a.password);
    assert_eq!(a.password.split('-').count(), 4, "{}", a.password);

    let r = a.login_with("admin", &a.password);
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").expect("Set-Cookie");
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attrs[0].starts_with("baton_admin="), "{cookie}");
    assert!(
        attrs[0].len() > "baton_admin=".len() + 31,
        "a long token: {cookie}"
    );
    assert!(
        attrs.iter().any(|x| x.eq_ignore_ascii_case("HttpOnly")),
        "{cookie}"
    );
    assert!(
        attrs
            .iter()
            .any(|x| x.eq_ignore_ascii_case("SameSite=Strict")),
        "{cookie}"
    );
    let body = json_of(&r);
    assert_eq!(body["user"], json!("admin"));
    let csrf = body["csrf"].as_str().expect("csrf");
    assert!(csrf.len() >= 16, "{csrf}");

    // The cookie is a session: it reads the configuration and gives the CSRF token back.
    let session = AdminSession {
        cookie: attrs[0].to_string(),
        csrf: csrf.to_string(),
    };
    let (r, v) = a.get_json(&session, "/api/session");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["csrf"].as_str(), Some(csrf));
    let (r, _) = a.get_json(&session, "/api/config");
    assert_eq!(r.status, 200, "{}", r.text());

    // Each sign-in is a new session with its own tokens.
    let other = a.login();
    assert_ne!(other.cookie, session.cookie);
    assert_ne!(other.csrf, session.csrf);
}

#[test]
fn a_wrong_password_or_user_is_401_without_a_cookie() {
    let (_s, a) = start();
    for (user, password) in [
        ("admin", "aaaa-bbbb-cccc-dddd"),
        ("root", a.password.as_str()),
    ] {
        let r = a.login_with(user, password);
        assert_eq!(r.status, 401, "{user}: {}", r.text());
        assert_eq!(r.header("set-cookie"), None);
        assert!(json_of(&r)["error"].is_string());
    }
}

#[test]
fn without_a_session_every_route_but_sign_in_and_openapi_is_401() {
    let (s, a) = start();
    let before = std::fs::read(&s.config_path).unwrap();
    for path in [
        "/api/config",
        "/api/config/document",
        "/api/session",
        "/api/status",
        "/api/diff/running",
        "/api/history",
        "/api/history/x.conf",
    ] {
        let r = a.request("GET", path, &[], None);
        assert_eq!(r.status, 401, "GET {path}: {}", r.text());
        assert!(
            !r.text().contains("vserver!"),
            "GET {path} leaked: {}",
            r.text()
        );
        // A cookie that is not a session is no better.
        let r = a.request("GET", path, &["Cookie: baton_admin=0123456789abcdef"], None);
        assert_eq!(
            r.status,
            401,
            "GET {path} with a made-up cookie: {}",
            r.text()
        );
    }
    for path in [
        "/api/logout",
        "/api/preview",
        "/api/save",
        "/api/apply",
        "/api/history/x.conf/rollback",
    ] {
        let r = a.request(
            "POST",
            path,
            &["If-Match: *", "X-CSRF-Token: whatever"],
            Some(PREVIEW),
        );
        assert_eq!(r.status, 401, "POST {path}: {}", r.text());
    }
    assert_eq!(std::fs::read(&s.config_path).unwrap(), before);
    assert_eq!(a.request("GET", "/api/openapi.json", &[], None).status, 200);
    assert_eq!(a.request("GET", "/", &[], None).status, 200);
}

#[test]
fn after_three_failures_the_fourth_attempt_waits_even_with_the_right_password() {
    let (_s, a) = start();
    for i in 1..=3 {
        let r = a.login_with("admin", "wrong-wrong-wrong-wrong");
        assert_eq!(r.status, 401, "failure {i}: {}", r.text());
    }
    let r = a.login_with("admin", &a.password);
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=300).contains(&retry), "{retry}");
    assert_eq!(r.header("set-cookie"), None, "no session while throttled");

    // Once the wait is over (bounded), the right password works and clears the count.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = a.login_with("admin", &a.password);
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 429, "{}", r.text());
        assert!(Instant::now() < deadline, "still throttled after 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = a.login_with("admin", "wrong-wrong-wrong-wrong");
    assert_eq!(r.status, 401, "the count starts again after a success");
}

#[test]
fn a_change_without_the_right_csrf_token_is_403() {
    let (s, a) = start();
    let session = a.login();
    let other = a.login();
    let before = std::fs::read(&s.config_path).unwrap();
    let cookie = format!("Cookie: {}", session.cookie);
    let wrong = format!("X-CSRF-Token: {}", "0".repeat(session.csrf.len()));
    let someone_elses = format!("X-CSRF-Token: {}", other.csrf);
    for token in [None, Some(wrong.as_str()), Some(someone_elses.as_str())] {
        let mut headers = vec![cookie.as_str()];
        headers.extend(token);
        let r = a.request("POST", "/api/preview", &headers, Some(PREVIEW));
        assert_eq!(r.status, 403, "{token:?}: {}", r.text());
        assert!(json_of(&r)["error"].as_str().unwrap().contains("CSRF"));
        // A save with a good If-Match is refused the same way and writes nothing.
        let (_, v) = a.get_json(&session, "/api/config");
        let if_match = format!("If-Match: {}", v["etag"].as_str().unwrap());
        headers.push(&if_match);
        let body =
            r#"{"edits":[{"op":"set","key":"server!timeout","value":"7"}],"apply":"graceful"}"#;
        let r = a.request("POST", "/api/save", &headers, Some(body));
        assert_eq!(r.status, 403, "{token:?}: {}", r.text());
        let r = a.request("POST", "/api/logout", &headers[..headers.len() - 1], None);
        assert_eq!(r.status, 403, "logout {token:?}: {}", r.text());
    }
    assert_eq!(std::fs::read(&s.config_path).unwrap(), before);
    // Reading never needs the token, and the right one is accepted.
    let (r, v) = a.post_json(
        &session,
        "/api/preview",
        &serde_json::from_str(PREVIEW).unwrap(),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(v["diff"].as_str().unwrap().contains("+server!timeout = 7"));
}

#[test]
fn a_cross_site_change_is_403_even_with_the_token() {
    let (s, a) = start();
    let session = a.login();
    let before = std::fs::read(&s.config_path).unwrap();
    let body: Value = serde_json::from_str(PREVIEW).unwrap();
    for header in [
        "Origin: http://evil.example",
        "Origin: null",
        &format!("Origin: http://{}.evil.example", a.addr),
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    ] {
        let (r, _) = a.post_json(&session, "/api/preview", &body, &[header]);
        assert_eq!(r.status, 403, "{header}: {}", r.text());
        let r = a.request(
            "POST",
            "/api/login",
            &[header],
            Some(&json!({"user": "admin", "password": a.password}).to_string()),
        );
        assert_eq!(r.status, 403, "sign-in with {header}: {}", r.text());
        assert_eq!(r.header("set-cookie"), None);
    }
    assert_eq!(std::fs::read(&s.config_path).unwrap(), before);
    // What a browser sends from the admin's own page is accepted.
    let own = format!("Origin: http://{}", a.addr);
    for headers in [
        vec![own.as_str(), "Sec-Fetch-Site: same-origin"],
        vec!["Sec-Fetch-Site: none"],
    ] {
        let (r, _) = a.post_json(&session, "/api/preview", &body, &headers);
        assert_eq!(r.status, 200, "{headers:?}: {}", r.text());
    }
}

#[test]
fn logout_ends_the_session() {
    let (_s, a) = start();
    let session = a.login();
    let other = a.login();
    let (r, _) = a.post_json(&session, "/api/logout", &json!({}), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let (r, _) = a.get_json(&session, "/api/config");
    assert_eq!(r.status, 401, "{}", r.text());
    let (r, _) = a.post_json(
        &session,
        "/api/preview",
        &serde_json::from_str(PREVIEW).unwrap(),
        &[],
    );
    assert_eq!(r.status, 401, "{}", r.text());
    // Other sessions are untouched.
    let (r, _) = a.get_json(&other, "/api/config");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn history_ids_cannot_name_files_outside_the_history() {
    let (s, a) = start();
    let session = a.login();
    // One version in the history, so the directory exists.
    let (_, v) = a.get_json(&session, "/api/config");
    let if_match = format!("If-Match: {}", v["etag"].as_str().unwrap());
    let (r, _) = a.post_json(
        &session,
        "/api/save",
        &json!({"edits": [{"op": "set", "key": "server!timeout", "value": "7"}], "apply": "none"}),
        &[&if_match],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    s.write("secret.conf", "password = hunter2\n");
    for id in [
        "..%2Fcherokee.conf",
        "..%2Fsecret.conf",
        "%2Fetc%2Fpasswd",
        "..%2F..%2Fsecret.conf",
    ] {
        let (r, _) = a.get_json(&session, &format!("/api/history/{id}"));
        assert_eq!(r.status, 404, "{id}: {}", r.text());
        assert!(!r.text().contains("hunter2"));
    }
}
