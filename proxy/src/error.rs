//! The proxy's typed rejection: every way a request can fail, with its HTTP
//! status and a stable snake_case reason code.
//!
//! Layers below the respond layer return these boxed; the respond layer turns
//! them into the API's own error shape. Messages never contain prompt text,
//! keys or other request content.

use http::StatusCode;

/// Boxed error used between layers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectKind {
    /// Body is not valid JSON / not the API's shape.
    BadRequest,
    /// Body exceeds the configured cap.
    TooLarge,
    /// Client was too slow sending the body.
    BodyTimeout,
    /// Content type is not JSON.
    UnsupportedMediaType,
    /// Missing or unknown client key.
    Unauthorized,
    /// No route or API for the path.
    NotFound,
    /// Method not allowed on a guarded API path.
    MethodNotAllowed,
    /// Policy blocked the request.
    Blocked,
    /// Policy held the request for human review.
    HeldForReview,
    /// A guard or the policy failed and the route fails closed.
    GuardUnavailable,
    /// Upstream unreachable or broken.
    UpstreamUnavailable,
    /// Upstream did not answer in time.
    UpstreamTimeout,
    /// Upstream response could not be scanned (too large, malformed).
    BadUpstreamResponse,
    /// The audit record could not be written and the mode requires it.
    AuditUnavailable,
    /// The proxy is overloaded.
    Overloaded,
}

/// A rejection with status, code and a log-safe message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Reject {
    kind: RejectKind,
    code: &'static str,
    message: String,
    status: Option<StatusCode>,
}

impl Reject {
    /// A rejection of `kind` with a stable `code` and log-safe `message`.
    pub fn new(kind: RejectKind, code: &'static str, message: impl Into<String>) -> Self {
        Reject {
            kind,
            code,
            message: message.into(),
            status: None,
        }
    }

    /// Overrides the HTTP status (a policy may choose one).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The kind.
    pub fn kind(&self) -> RejectKind {
        self.kind
    }

    /// Stable reason code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        if let Some(s) = self.status {
            return s;
        }
        match self.kind {
            RejectKind::BadRequest => StatusCode::BAD_REQUEST,
            RejectKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RejectKind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            RejectKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectKind::Unauthorized => StatusCode::UNAUTHORIZED,
            RejectKind::NotFound => StatusCode::NOT_FOUND,
            RejectKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RejectKind::Blocked => StatusCode::FORBIDDEN,
            RejectKind::HeldForReview => StatusCode::ACCEPTED,
            RejectKind::GuardUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectKind::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            RejectKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            RejectKind::BadUpstreamResponse => StatusCode::BAD_GATEWAY,
            RejectKind::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Finds a [`Reject`] anywhere in an error's `source()` chain.
pub fn find_reject<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Reject> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Reject>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapper(#[source] Reject);

    #[test]
    fn finds_reject_through_source_chain() {
        let r = Reject::new(RejectKind::Blocked, "blocked_by_policy", "no");
        let w = Wrapper(r);
        let found = find_reject(&w).unwrap();
        assert_eq!(found.code(), "blocked_by_policy");
        assert_eq!(found.status(), StatusCode::FORBIDDEN);
    }
}
