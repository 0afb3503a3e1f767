//! Failing some entries of a PutRecords request: the failed entries are taken out of the
//! request before it is forwarded (so they are really not written) and put back into the
//! response as failures at their positions.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use serde_json::{Value, json};

use crate::fault_proxy::{State, full};
use crate::faults::Plan;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// Upstream's answer to the entries that were forwarded.
struct Upstream {
    parts: Option<http::response::Parts>,
    failed: u64,
    results: Vec<Value>,
}

pub(crate) async fn fail_entries(
    state: &State,
    plan: &Plan,
    req: Request<Body>,
    fraction: f64,
    error_code: &str,
) -> Result<Response<Body>, BoxError> {
    let (parts, body) = req.into_parts();
    let mut request: Value = serde_json::from_slice(&body.collect().await?.to_bytes())?;
    let entries = request
        .get_mut("Records")
        .and_then(Value::as_array_mut)
        .ok_or("PutRecords without Records")?;
    let failed: Vec<bool> = entries.iter().map(|_| plan.draw(fraction)).collect();
    let kept: Vec<Value> = entries
        .iter()
        .zip(&failed)
        .filter(|(_, f)| !**f)
        .map(|(e, _)| e.clone())
        .collect();
    let upstream = if kept.is_empty() {
        Upstream {
            parts: None,
            failed: 0,
            results: Vec::new(),
        }
    } else {
        *entries = kept;
        match forward(state, parts, &request).await? {
            Ok(upstream) => upstream,
            // The whole request failed upstream: pass that on unchanged.
            Err(response) => return Ok(response),
        }
    };
    Ok(merge(upstream, &failed, error_code))
}

/// Forwards the request with the kept entries; an error response comes back as `Err`.
async fn forward(
    state: &State,
    mut parts: http::request::Parts,
    request: &Value,
) -> Result<Result<Upstream, Response<Body>>, BoxError> {
    let body = Bytes::from(serde_json::to_vec(request)?);
    parts
        .headers
        .insert("content-length", http::HeaderValue::from(body.len()));
    let (rparts, rbody) = state
        .forward_buffered_body(Request::from_parts(parts, body))
        .await?;
    if !rparts.status.is_success() {
        return Ok(Err(Response::from_parts(rparts, full(rbody))));
    }
    let response: Value = serde_json::from_slice(&rbody)?;
    Ok(Ok(Upstream {
        failed: response
            .get("FailedRecordCount")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        results: response
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        parts: Some(rparts),
    }))
}

/// The response with the injected failures in their places among upstream's results.
fn merge(upstream: Upstream, failed: &[bool], error_code: &str) -> Response<Body> {
    let failure =
        json!({ "ErrorCode": error_code, "ErrorMessage": "injected by the testkit fault proxy" });
    let mut results = upstream.results.into_iter();
    let merged: Vec<Value> = failed
        .iter()
        .map(|&f| {
            if f {
                failure.clone()
            } else {
                results.next().unwrap_or_else(|| failure.clone())
            }
        })
        .collect();
    let injected = failed.iter().filter(|f| **f).count() as u64;
    let body = json!({ "FailedRecordCount": upstream.failed + injected, "Records": merged });
    let body = Bytes::from(body.to_string());
    let length = http::HeaderValue::from(body.len());
    let mut response = match upstream.parts {
        Some(p) => Response::from_parts(p, full(body)),
        None => {
            let mut r = Response::new(full(body));
            r.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
    };
    response.headers_mut().insert("content-length", length);
    response
}

impl State {
    /// Sends a complete request upstream and reads the whole response.
    pub(crate) async fn forward_buffered_body(
        &self,
        req: Request<Bytes>,
    ) -> Result<(http::response::Parts, Bytes), BoxError> {
        let response = self.forward(req.map(full)).await?;
        let (parts, body) = response.into_parts();
        Ok((parts, body.collect().await?.to_bytes()))
    }
}
