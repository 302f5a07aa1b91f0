//! Answering a registry's `WWW-Authenticate` challenge: `Basic` means send
//! the user's credentials with every request; `Bearer` means fetch a token
//! from the realm (with the credentials, if any, as basic auth; anonymous
//! otherwise) for the service and scope the challenge names, as the Docker
//! token spec describes.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::blocking::Client as Http;

use super::credentials::Credentials;
use super::RegistryError;

/// What a 401 response asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="repository:x:pull,push"`.
/// Values may be quoted (and hold commas) or bare tokens.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(params);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

fn parse_params(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        let Some((key, rest)) = s.split_once('=') else {
            return out;
        };
        let (value, rest) = match rest.strip_prefix('"') {
            Some(quoted) => quoted_value(quoted),
            None => {
                let end = rest.find(',').unwrap_or(rest.len());
                (rest[..end].trim().to_string(), &rest[end..])
            }
        };
        out.push((key.trim().to_string(), value));
        s = rest;
    }
}

/// The value up to the closing quote (`\"` escapes), and what follows it.
fn quoted_value(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    value.push(next);
                }
            }
            '"' => return (value, &s[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// `Basic base64(user:password)`.
pub fn basic_header(creds: &Credentials) -> String {
    let raw = format!("{}:{}", creds.username, creds.password);
    format!("Basic {}", BASE64.encode(raw))
}

/// Fetches a bearer token for the challenge; returns the header value.
pub(crate) fn fetch_token(
    http: &Http,
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
    creds: Option<&Credentials>,
) -> Result<String, RegistryError> {
    let token_err = |detail: String| RegistryError::Token {
        realm: realm.to_string(),
        detail,
    };
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = service {
        query.push(("service", service));
    }
    for s in scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        query.push(("scope", s));
    }
    let mut req = http.get(realm).query(&query);
    if let Some(creds) = creds {
        req = req.header(reqwest::header::AUTHORIZATION, basic_header(creds));
    }
    let resp = req.send().map_err(|e| token_err(e.to_string()))?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(RegistryError::TokenRefused {
            realm: realm.to_string(),
            status,
        });
    }
    if !status.is_success() {
        return Err(token_err(format!("{status}")));
    }
    let bytes = resp
        .bytes()
        .map_err(|e| token_err(format!("reading the response: {e}")))?;
    let body: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| token_err(format!("invalid response: {e}")))?;
    let token = body
        .get("token")
        .or_else(|| body.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| token_err("the response has no token".to_string()))?;
    Ok(format!("Bearer {token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_style_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
    }

    #[test]
    fn tolerates_bare_values_escapes_and_junk() {
        let c = parse_challenge(r#"bearer realm=http://h/t, scope="a\"b""#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://h/t".into(),
                service: None,
                scope: Some("a\"b".into()),
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(""), None);
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_some());
    }
}
