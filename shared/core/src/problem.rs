//! Errors as RFC 9457 problem details, and the headers every response carries.
use http::StatusCode;
use serde::Serialize;

/// Headers on every response, errors included (DESIGN.md section 8).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
];

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Largest JSON body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One field-level complaint in a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every failure a request can end in. Each maps to a clear status; nothing here is a 500 but
/// `Internal`, which means a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("forbidden")]
    Forbidden,
    /// The action needs a fresh MFA step-up for this action class.
    #[error("step-up required: {0}")]
    StepUpRequired(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The store or the audit trail could not be written: the change was refused.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal,
}

/// The RFC 9457 body.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Per-field complaints of a 400; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With `step-up-required`: the action class to step up for (POST /me/mfa/step-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_up: Option<String>,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            detail: "the request body is invalid".into(),
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::StepUpRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => ("invalid-request", "The request is invalid"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            ApiError::Forbidden => ("forbidden", "You may not do this"),
            ApiError::StepUpRequired(_) => (
                "step-up-required",
                "Confirm with your authenticator code first",
            ),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict with the current state"),
            ApiError::PayloadTooLarge => ("payload-too-large", "The request body is too large"),
            ApiError::Unprocessable(_) => {
                ("unprocessable", "The request cannot be processed as sent")
            }
            ApiError::UnsupportedMediaType => (
                "unsupported-media-type",
                "The request body must be application/json",
            ),
            ApiError::Unavailable(_) => (
                "unavailable",
                "The change could not be recorded; nothing was changed",
            ),
            ApiError::Internal => ("internal", "Internal error"),
        }
    }

    /// The body sent to the caller. Details that could help an attacker (why a policy denied,
    /// which store failed) stay in logs and audit records.
    pub fn problem(&self, instance: Option<&str>) -> Problem {
        let (slug, title) = self.slug_and_title();
        let (detail, errors) = match self {
            ApiError::BadRequest { detail, errors } => (Some(detail.clone()), errors.clone()),
            ApiError::Unauthenticated(d) => (Some(d.clone()), Vec::new()),
            ApiError::Conflict(d) | ApiError::Unprocessable(d) => (Some(d.clone()), Vec::new()),
            ApiError::PayloadTooLarge => (
                Some(format!("the limit is {MAX_BODY_BYTES} bytes")),
                Vec::new(),
            ),
            _ => (None, Vec::new()),
        };
        Problem {
            kind: format!("urn:fieldvault:problem:{slug}"),
            title: title.into(),
            status: self.status().as_u16(),
            detail,
            instance: instance.map(str::to_owned),
            errors,
            step_up: match self {
                ApiError::StepUpRequired(class) => Some((*class).to_owned()),
                _ => None,
            },
        }
    }
}

/// Parse a JSON body strictly: size limit, `application/json`, unknown fields refused (the
/// types use `deny_unknown_fields`), and every serde complaint turned into a 400.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let is_json = content_type
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    // Card numbers are refused before anything reads the body: card data never touches us.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
            detail: "the request body is not valid JSON".into(),
            errors: vec![FieldError {
                field: "body".into(),
                message: e.to_string(),
            }],
        })?;
    // serde reads a struct from an array too (`["x"]` as `{"name":"x"}`): every body is the
    // documented object.
    if !value.is_object() {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    if let Some(path) = find_card_number(&value, "") {
        return Err(card_refusal(path));
    }
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest {
        detail: "the request body is not valid for this operation".into(),
        errors: vec![FieldError {
            field: "body".into(),
            message: e.to_string(),
        }],
    })
}

/// The refusal of a body holding what looks like a card number at `field`.
pub fn card_refusal(field: String) -> ApiError {
    ApiError::BadRequest {
        detail: "the request holds what looks like a payment card number; Fieldvault never accepts card data (payments go through the provider's checkout)".into(),
        errors: vec![FieldError { field, message: "looks like a card number".into() }],
    }
}

/// Where in `value` something looks like a card number (13–19 digits, single spaces or
/// dashes allowed between them, passing the Luhn check). A run that starts with `+` is a
/// phone number in international form, not a card.
pub fn find_card_number(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let here = || path.trim_start_matches('.').to_owned();
    match value {
        Value::String(s) => contains_card_number(s).then(here),
        Value::Number(n) => contains_card_number(&n.to_string()).then(here),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_card_number(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = format!("{path}.{k}");
            if contains_card_number(k) {
                Some(here.trim_start_matches('.').to_owned())
            } else {
                find_card_number(v, &here)
            }
        }),
        _ => None,
    }
}

/// Where a request body, whatever its content type, holds what looks like a card number:
/// its raw text; as JSON (values and keys, escapes decoded) if it parses as JSON; as form
/// fields (names and values, `+` and `%XX` decoded) if it is declared a form or is not JSON.
/// Checked before any handler runs, so no reading of a body can find card data in it.
pub fn card_number_in_body(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    if contains_card_number(&text) {
        return Some("body".into());
    }
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    if let Some(path) = json.as_ref().and_then(|v| find_card_number(v, "")) {
        return Some(if path.is_empty() { "body".into() } else { path });
    }
    let form = content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if form || json.is_none() {
        for pair in text.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (form_decode(name), form_decode(value));
            if contains_card_number(&name) || contains_card_number(&value) {
                return Some(name);
            }
        }
    }
    None
}

/// One `application/x-www-form-urlencoded` name or value, decoded (`+` is a space; a `%`
/// not followed by two hex digits stays as it is).
fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn contains_card_number(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let international = i > 0 && chars[i - 1] == '+';
        let mut digits = Vec::new();
        let mut j = i;
        while j < chars.len() {
            if let Some(d) = chars[j].to_digit(10) {
                digits.push(d);
                j += 1;
            } else if (chars[j] == ' ' || chars[j] == '-')
                && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit())
            {
                j += 1;
            } else {
                break;
            }
        }
        // A whole run of 13–19 digits; inside a longer run, any 13–19 digit window (a card
        // pasted next to other digits still counts).
        let card = match digits.len() {
            13..=19 => luhn(&digits),
            n if n > 19 => (13..=19).any(|len| digits.windows(len).any(luhn)),
            _ => false,
        };
        if card && !international {
            return true;
        }
        i = j;
    }
    false
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2, d * 2) {
            (1, doubled) if doubled > 9 => doubled - 9,
            (1, doubled) => doubled,
            _ => d,
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn strict_json_parsing() {
        let ct = Some("application/json; charset=utf-8");
        assert!(parse_json::<Thing>(ct, br#"{"name":"a"}"#).is_ok());
        let unknown = parse_json::<Thing>(ct, br#"{"name":"a","tenant_id":"other"}"#);
        assert!(matches!(unknown, Err(ApiError::BadRequest { .. })));
        assert_eq!(
            parse_json::<Thing>(Some("text/plain"), b"{}").err(),
            Some(ApiError::UnsupportedMediaType)
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse_json::<Thing>(ct, &big).err(),
            Some(ApiError::PayloadTooLarge)
        );
    }

    #[test]
    fn card_numbers_are_refused_wherever_they_hide() {
        let ct = Some("application/json");
        for body in [
            r#"{"name":"4111 1111 1111 1111"}"#,
            r#"{"name":"a","notes":["card 5555-5555-5555-4444 exp 12/29"]}"#,
            r#"{"name":"a","n":378282246310005}"#,
            r#"{"name":"x4012888888881881y"}"#,
        ] {
            let got = parse_json::<serde_json::Value>(ct, body.as_bytes());
            assert!(matches!(got, Err(ApiError::BadRequest { .. })), "{body}");
        }
        for body in [
            r#"{"name":"4111 1111 1111 1112"}"#,
            r#"{"phone":"+44 20 7946 0958 1234"}"#,
            r#"{"name":"call 555-010-0199"}"#,
            r#"{"id":"01M83F5PE145ASVYN8C5Z99018"}"#,
        ] {
            assert!(
                parse_json::<serde_json::Value>(ct, body.as_bytes()).is_ok(),
                "{body}"
            );
        }
        let Err(ApiError::BadRequest { errors, .. }) =
            parse_json::<serde_json::Value>(ct, br#"{"a":{"b":[1,"4111111111111111"]}}"#)
        else {
            panic!("refused");
        };
        assert_eq!(errors[0].field, "a.b[1]");
    }

    #[test]
    fn only_a_json_object_is_a_body() {
        let ct = Some("application/json");
        for body in [r#"["x"]"#, "[]", r#""x""#, "1", "null", "true"] {
            assert!(
                matches!(
                    parse_json::<Thing>(ct, body.as_bytes()),
                    Err(ApiError::BadRequest { .. })
                ),
                "{body}"
            );
        }
        // A struct whose fields are all optional would read `[]` as empty: still refused.
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Optional {
            #[allow(dead_code)]
            reason: Option<String>,
        }
        assert!(parse_json::<Optional>(ct, b"[]").is_err());
        assert!(parse_json::<Optional>(ct, b"{}").is_ok());
    }

    #[test]
    fn card_numbers_in_json_keys_are_refused() {
        let ct = Some("application/json");
        let got = parse_json::<serde_json::Value>(ct, br#"{"4111 1111 1111 1111":"x"}"#);
        let Err(ApiError::BadRequest { errors, .. }) = got else {
            panic!("refused");
        };
        assert_eq!(errors[0].field, "4111 1111 1111 1111");
    }

    /// 4111111111111111, every digit a JSON escape (no run of digits in the raw text).
    const ESCAPED_CARD_VALUE: &str = r#"{"name":"\u0034\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031"}"#;
    const ESCAPED_CARD_KEY: &str = r#"{"\u0034\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031":1}"#;

    #[test]
    fn card_numbers_are_found_in_every_kind_of_body() {
        assert!(!contains_card_number(ESCAPED_CARD_VALUE));
        let form = Some("application/x-www-form-urlencoded");
        for (ct, body) in [
            (form, "action=approve&name=4111+1111+1111+1111&consent=yes"),
            (
                form,
                "action=decline&reason=card%204111%201111%201111%201111",
            ),
            (form, "4111111111111111=x"),
            // Undeclared or wrongly declared: still read as a form when it is not JSON.
            (None, "name=4111+1111+1111+1111"),
            (Some("application/json"), "name=4111+1111+1111+1111"),
            (Some("text/plain"), "my card is 4111-1111-1111-1111"),
            (
                Some("application/json"),
                r#"{"call":{"caller_name":"4111 1111 1111 1111"}}"#,
            ),
            // JSON escapes hide the digits from the raw text, not from the JSON reading.
            (Some("application/json"), ESCAPED_CARD_VALUE),
            (Some("text/plain"), ESCAPED_CARD_KEY),
        ] {
            assert!(card_number_in_body(ct, body.as_bytes()).is_some(), "{body}");
        }
        for (ct, body) in [
            (
                form,
                "action=approve&name=Pat+Doe&consent=yes&option_id=01M83F5PE145ASVYN8C5Z99018",
            ),
            (
                Some("application/json"),
                r#"{"phone":"+44 20 7946 0958 1234"}"#,
            ),
            (
                Some("application/json"),
                r#"{"name":"4111 1111 1111 1112"}"#,
            ),
            (None, ""),
        ] {
            assert_eq!(card_number_in_body(ct, body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn problems_hide_internal_reasons() {
        let p = ApiError::Unavailable("audit table missing".into()).problem(None);
        assert_eq!(p.status, 503);
        assert!(p.detail.is_none());
    }
}
