//! The page and its assets, all in the binary: the HTML is filled in here (the CSRF token,
//! the user, the login mode), the script and style are served as files (the content security
//! policy allows no inline script), and every answer carries the security headers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::auth::{same_origin, Door, Refusal, COOKIE};
use super::App;

const INDEX: &str = include_str!("../../../assets/serve/index.html");
const LOGIN: &str = include_str!("../../../assets/serve/login.html");
const APP_JS: &str = include_str!("../../../assets/serve/app.js");
const LOGIN_JS: &str = include_str!("../../../assets/serve/login.js");
const I18N_JS: &str = include_str!("../../../assets/serve/i18n.js");
const APP_CSS: &str = include_str!("../../../assets/serve/app.css");

/// No inline script or style, nothing from another host, no framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every answer.
pub async fn secure(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Text made safe inside HTML (an attribute or an element).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// The login page, with the reason of the last refusal (a key the page translates).
pub fn login_page(app: &App, status: StatusCode, error: &str) -> Response {
    let mode = match app.auth.door {
        Door::Token(_) => "token",
        Door::Users(_) => "users",
    };
    html(
        status,
        LOGIN.replace("{{mode}}", mode).replace("{{error}}", error),
    )
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `GET /`: the page for a session; `?token=` opens one (then the token leaves the address
/// bar); without either, the login page (401).
pub async fn index(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(token) = q.token {
        let who = [super::client(&headers, addr).to_string()];
        return match app.auth.admit(None, &token, &who) {
            Ok(user) => logged_in(&app, &headers, user),
            Err(Refusal::TooManyTries) => {
                login_page(&app, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            }
            Err(_) => login_page(&app, StatusCode::UNAUTHORIZED, "bad_token"),
        };
    }
    match app.auth.caller(&headers, super::client(&headers, addr)) {
        Ok(caller) => html(
            StatusCode::OK,
            INDEX
                .replace("{{csrf}}", &escape(caller.csrf.as_deref().unwrap_or("")))
                .replace("{{user}}", &escape(&caller.user)),
        ),
        Err(_) => login_page(&app, StatusCode::UNAUTHORIZED, ""),
    }
}

pub async fn login_form(State(app): State<Arc<App>>) -> Response {
    login_page(&app, StatusCode::OK, "")
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

/// `POST /login`: a name and password (or the token) open a session.
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    f: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return login_page(&app, StatusCode::BAD_REQUEST, "bad_login");
    };
    if !same_origin(&headers) {
        return login_page(&app, StatusCode::FORBIDDEN, "bad_login");
    }
    let mut who = vec![super::client(&headers, addr).to_string()];
    who.extend(f.name.iter().map(|n| format!("name:{n}")));
    let secret = f.password.or(f.token).unwrap_or_default();
    match app.auth.admit(f.name.as_deref(), &secret, &who) {
        Ok(user) => logged_in(&app, &headers, user),
        Err(Refusal::TooManyTries) => {
            login_page(&app, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        }
        Err(_) => {
            let why = match app.auth.door {
                Door::Token(_) => "bad_token",
                Door::Users(_) => "bad_login",
            };
            login_page(&app, StatusCode::UNAUTHORIZED, why)
        }
    }
}

/// A new session's cookie, and the way to the page.
fn logged_in(app: &App, headers: &HeaderMap, user: String) -> Response {
    let id = app.auth.open(user);
    let tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = Cookie::build((COOKIE, id))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(tls)
        .path("/")
        .build();
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /logout`: ends the session (with its CSRF token).
pub async fn logout(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    f: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = f.map(|Form(f)| f).unwrap_or(LogoutForm { csrf: None });
    let Ok(caller) = app.auth.caller(&headers, super::client(&headers, addr)) else {
        return Redirect::to("/login").into_response();
    };
    if !super::auth::may_change(&caller, &headers, f.csrf.as_deref()) {
        return super::api::error(
            StatusCode::FORBIDDEN,
            "refused: not from checkuser's own page",
        )
        .into_response();
    }
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(&headers);
    if let Some(c) = jar.get(COOKIE) {
        app.auth.close(c.value());
    }
    let mut r = Redirect::to("/login").into_response();
    let mut gone = Cookie::build((COOKIE, "")).path("/").build();
    gone.make_removal();
    if let Ok(v) = HeaderValue::from_str(&gone.to_string()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /assets/{name}`: the page's script, the login script, their language, the style.
pub async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, mime) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "login.js" => (LOGIN_JS, "text/javascript; charset=utf-8"),
        "i18n.js" => (I18N_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_escapes_what_could_end_an_attribute() {
        assert_eq!(
            super::escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
