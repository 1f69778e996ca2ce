//! The admin's JSON API (documented in `openapi.json`, served at `/api/openapi.json`).
//!
//! Reading is free for a signed-in session; every change needs the session's CSRF token in
//! `X-CSRF-Token` and must not come from another site. Saving needs `If-Match` with the
//! ETag of the file as it was read, so two editors cannot overwrite each other.

use super::auth::{self, COOKIE, USER};
use super::edits::{self, Edit};
use super::Admin;
use crate::control::{self, Reply, Request};
use crate::edit::{diff, store, vservers, Editor, Refusal};
use axum::extract::{ConnectInfo, FromRequestParts, Path as UrlPath, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

type Shared = State<Arc<Admin>>;

/// A JSON request body whose rejection (malformed JSON, an unknown edit, a missing
/// field, no body) is answered as JSON like every other error.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    Json<T>: axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(error(rejection.status(), rejection.body_text())),
        }
    }
}

/// An error answer: a status and a JSON body `{"error": …, …}`.
pub struct ApiError(StatusCode, Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(self.1)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, json!({ "error": message.into() }))
}

fn refused(r: Refusal) -> ApiError {
    ApiError(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "error": r.message, "diagnostics": diagnostics(&r.details) }),
    )
}

/// `file:line: error: key: message` lines as objects, so the UI can show each next to
/// the field of its key.
fn diagnostics(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            let mut rest = line.as_str();
            let mut file = None;
            let mut lineno = None;
            if let Some((loc, after)) = rest.split_once(": ") {
                if let Some((f, n)) = loc.rsplit_once(':') {
                    if let Ok(n) = n.parse::<u32>() {
                        file = Some(f.to_string());
                        lineno = Some(n);
                        rest = after;
                    }
                }
            }
            let (severity, rest) = match rest.split_once(": ") {
                Some((s @ ("error" | "warning"), r)) => (s, r),
                _ => ("error", rest),
            };
            let (key, message) = match rest.split_once(": ") {
                Some((k, m)) if !k.contains(' ') => (k, m),
                _ => ("", rest),
            };
            json!({ "severity": severity, "file": file, "line": lineno, "key": key, "message": message, "text": line })
        })
        .collect()
}

/// The session token of the request's cookie and its CSRF token, if the session is live.
fn signed_in<'h>(admin: &Admin, headers: &'h HeaderMap) -> Result<(&'h str, String), ApiError> {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| auth::cookie(c, COOKIE))
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "sign in first"))?;
    let csrf = admin.sessions.check(token).ok_or_else(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "the session expired; sign in again",
        )
    })?;
    Ok((token, csrf))
}

/// A signed-in request. For anything but GET/HEAD it also carried the right CSRF token
/// and did not come from another site.
pub struct Authed;

impl FromRequestParts<Arc<Admin>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, admin: &Arc<Admin>) -> Result<Self, ApiError> {
        let (_, csrf) = signed_in(admin, &parts.headers)?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            check_same_site(&parts.headers)?;
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !auth::same(sent, &csrf) {
                return Err(error(
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token: cross-site request refused",
                ));
            }
        }
        Ok(Authed)
    }
}

/// Browsers say where a request comes from: refuse changes initiated by another site.
fn check_same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(error(StatusCode::FORBIDDEN, "cross-site request refused"));
        }
    }
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin_host != host {
            return Err(error(StatusCode::FORBIDDEN, "cross-site request refused"));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct Login {
    user: String,
    password: String,
}

pub async fn login(
    State(admin): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    check_same_site(&headers)?;
    let ip = peer.ip();
    if let Some(wait) = admin.throttle.wait(ip) {
        let secs = wait.as_secs().max(1);
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins; try again in {secs} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp);
    }
    let good = auth::same(&body.user, USER) & auth::same(&body.password, &admin.password);
    if !good {
        admin.throttle.failed(ip);
        return Err(error(StatusCode::UNAUTHORIZED, "wrong user or password"));
    }
    admin.throttle.succeeded(ip);
    let (token, csrf) = admin.sessions.open();
    let mut resp = Json(json!({ "user": USER, "csrf": csrf })).into_response();
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn logout(State(admin): Shared, _auth: Authed, headers: HeaderMap) -> StatusCode {
    if let Ok((token, _)) = signed_in(&admin, &headers) {
        admin.sessions.close(token);
    }
    StatusCode::NO_CONTENT
}

pub async fn session(State(admin): Shared, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (_, csrf) = signed_in(&admin, &headers)?;
    Ok(Json(json!({ "user": USER, "csrf": csrf })))
}

/// Asks the running server something (blocking socket I/O off the runtime).
async fn ask(admin: &Admin, request: Request) -> Result<Reply, String> {
    let socket = admin.socket.clone();
    tokio::task::spawn_blocking(move || {
        control::call(&socket, &request, Duration::from_secs(120)).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

pub async fn status(State(admin): Shared, _auth: Authed) -> Json<Value> {
    match ask(&admin, Request::Status).await {
        Ok(reply) => Json(json!({ "running": true, "status": reply.status })),
        Err(e) => Json(json!({ "running": false, "message": e })),
    }
}

/// The ETag of a file's bytes.
pub fn etag(bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("\"{}-{:016x}\"", bytes.len(), h.finish())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

fn read_file(admin: &Admin) -> Result<Vec<u8>, ApiError> {
    std::fs::read(&admin.config_path).map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read {}: {e}", admin.config_path.display()),
        )
    })
}

/// The configuration file: its ETag, its text, and its lines.
fn read_parsed(admin: &Admin) -> Result<(String, String, baton_conf::ConfFile), ApiError> {
    let bytes = read_file(admin)?;
    let tag = etag(&bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (file, _) = baton_conf::ConfFile::parse(&admin.config_path, &text);
    Ok((tag, text, file))
}

fn with_etag(body: Value, tag: &str) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(tag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub async fn config(State(admin): Shared, _auth: Authed) -> Result<Response, ApiError> {
    let a = admin.clone();
    blocking(move || {
        let (tag, text, file) = read_parsed(&a)?;
        let entries: Vec<Value> = file
            .entries()
            .map(|e| json!({ "key": e.key, "value": e.value, "line": e.line }))
            .collect();
        let loaded = crate::config::load_str(&a.config_path.to_string_lossy(), &text);
        let diags: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        Ok(with_etag(
            json!({
                "path": a.config_path.display().to_string(),
                "etag": tag,
                "text": text,
                "entries": entries,
                "diagnostics": diagnostics(&diags),
            }),
            &tag,
        ))
    })
    .await
}

pub async fn document(State(admin): Shared, _auth: Authed) -> Result<Response, ApiError> {
    let a = admin.clone();
    blocking(move || {
        let (tag, _, file) = read_parsed(&a)?;
        let server: serde_json::Map<String, Value> = file
            .entries()
            .filter_map(|e| {
                e.key
                    .strip_prefix("server!")
                    .map(|k| (k.to_string(), Value::String(e.value.to_string())))
            })
            .collect();
        Ok(with_etag(
            json!({ "etag": tag, "server": server, "vservers": vservers::list(&file) }),
            &tag,
        ))
    })
    .await
}

#[derive(Deserialize)]
pub struct EditsBody {
    #[serde(default)]
    edits: Vec<Edit>,
}

pub async fn preview(
    State(admin): Shared,
    _auth: Authed,
    JsonBody(body): JsonBody<EditsBody>,
) -> Result<Json<Value>, ApiError> {
    let a = admin.clone();
    blocking(move || {
        let mut editor = Editor::open(&a.config_path).map_err(refused)?;
        edits::apply(&mut editor, &body.edits).map_err(refused)?;
        let (valid, lines) = match editor.validate() {
            Ok(warnings) => (true, warnings.iter().map(|d| d.to_string()).collect()),
            Err(r) => (false, r.details),
        };
        Ok(Json(json!({
            "diff": editor.diff(),
            "text": editor.text(),
            "valid": valid,
            "diagnostics": diagnostics(&lines),
        })))
    })
    .await
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    #[default]
    Graceful,
    Hard,
    None,
}

#[derive(Deserialize)]
pub struct SaveBody {
    #[serde(default)]
    edits: Vec<Edit>,
    #[serde(default)]
    apply: ApplyMode,
}

/// The ETag the client read, from `If-Match`; saving without one is refused (428) so an
/// editor can never overwrite a change it did not see.
fn if_match(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            error(
                StatusCode::PRECONDITION_REQUIRED,
                "send If-Match with the ETag of the configuration you edited",
            )
        })
}

pub async fn save(
    State(admin): Shared,
    _auth: Authed,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SaveBody>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    save_edits(admin, expected, body.edits, body.apply).await
}

async fn save_edits(
    admin: Arc<Admin>,
    expected: String,
    edits: Vec<Edit>,
    mode: ApplyMode,
) -> Result<Response, ApiError> {
    let a = admin.clone();
    let (saved, tag) = blocking(move || {
        // One save at a time: the ETag check and the write must not interleave.
        let _guard = a.save_lock.lock().map_err(|_| {
            error(StatusCode::INTERNAL_SERVER_ERROR, "save lock poisoned")
        })?;
        let current = read_file(&a)?;
        let current_tag = etag(&current);
        // A list of entity tags matches if any does (RFC 9110 §13.1.1).
        let matches = expected
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == current_tag);
        if !matches {
            return Err(ApiError(
                StatusCode::PRECONDITION_FAILED,
                json!({
                    "error": "the configuration changed since you read it; reload it and redo your change",
                    "etag": current_tag,
                }),
            ));
        }
        let mut editor = Editor::open(&a.config_path).map_err(refused)?;
        edits::apply(&mut editor, &edits).map_err(refused)?;
        let saved = editor.save().map_err(refused)?;
        let tag = etag(&read_file(&a)?);
        Ok((saved, tag))
    })
    .await?;
    let applied = apply(&admin, mode).await;
    Ok(with_etag(
        json!({
            "etag": tag,
            "changed": saved.changed,
            "history": saved.history.map(|p| p.display().to_string()),
            "warnings": saved.warnings,
            "applied": applied,
        }),
        &tag,
    ))
}

/// Asks the running server to apply the saved file; `null` for `none`.
async fn apply(admin: &Admin, mode: ApplyMode) -> Value {
    let hard = match mode {
        ApplyMode::None => return Value::Null,
        ApplyMode::Graceful => false,
        ApplyMode::Hard => true,
    };
    match ask(admin, Request::Reload { hard }).await {
        Ok(r) => json!({
            "ok": r.ok,
            "message": r.message,
            "generation": r.generation,
            "diagnostics": diagnostics(&r.errors),
        }),
        Err(e) => json!({ "ok": false, "message": e, "generation": null, "diagnostics": [] }),
    }
}

#[derive(Deserialize)]
pub struct ApplyBody {
    #[serde(default)]
    mode: ApplyMode,
}

pub async fn apply_saved(
    State(admin): Shared,
    _auth: Authed,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Json<Value> {
    Json(apply(&admin, body.mode).await)
}

pub async fn running_diff(State(admin): Shared, _auth: Authed) -> Result<Json<Value>, ApiError> {
    let reply = ask(&admin, Request::RunningConfig)
        .await
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e))?;
    if !reply.ok {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, reply.message));
    }
    let running = reply.config_text.unwrap_or_default();
    let a = admin.clone();
    let saved = blocking(move || read_file(&a)).await?;
    let saved = String::from_utf8_lossy(&saved).into_owned();
    let name = admin.config_path.display().to_string();
    Ok(Json(json!({
        "generation": reply.generation,
        "diff": diff::unified(&running, &saved, &format!("{name} (running)"), &format!("{name} (saved)")),
        "pending": running != saved,
    })))
}

pub async fn history(State(admin): Shared, _auth: Authed) -> Result<Json<Value>, ApiError> {
    let a = admin.clone();
    blocking(move || {
        let versions = store::versions(&a.config_path)
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let list: Vec<Value> = versions
            .iter()
            .rev()
            .map(|v| {
                let size = std::fs::metadata(&v.path).map(|m| m.len()).unwrap_or(0);
                json!({ "id": v.name, "number": v.number, "size": size })
            })
            .collect();
        Ok(Json(json!({ "versions": list })))
    })
    .await
}

fn version_text(admin: &Admin, id: &str) -> Result<String, ApiError> {
    let versions = store::versions(&admin.config_path)
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let v = versions
        .iter()
        .find(|v| v.name == id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no saved version {id:?}")))?;
    std::fs::read_to_string(&v.path)
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

pub async fn history_version(
    State(admin): Shared,
    _auth: Authed,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let a = admin.clone();
    blocking(move || {
        let text = version_text(&a, &id)?;
        let current = String::from_utf8_lossy(&read_file(&a)?).into_owned();
        let name = a.config_path.display().to_string();
        Ok(Json(json!({
            "id": id,
            "text": text,
            "diff": diff::unified(&current, &text, &format!("{name} (current)"), &format!("{name} ({id})")),
        })))
    })
    .await
}

pub async fn rollback(
    State(admin): Shared,
    _auth: Authed,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let a = admin.clone();
    let text = blocking(move || version_text(&a, &id)).await?;
    save_edits(admin, expected, vec![Edit::Text { text }], body.mode).await
}

pub async fn openapi() -> Response {
    let mut resp = super::OPENAPI.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
