//! Failing some entries of a PutRecords request: the failed entries are taken out of the
//! request before it is forwarded (so they are really not written) and put back into the
//! response as failures at their positions.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::fault_proxy::{State, full};
use crate::faults::Plan;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn fail_entries(
    state: &State,
    plan: &Plan,
    req: Request<Incoming>,
    fraction: f64,
    error_code: &str,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, BoxError>>, BoxError> {
    let (mut parts, body) = req.into_parts();
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
    let failure =
        json!({ "ErrorCode": error_code, "ErrorMessage": "injected by the testkit fault proxy" });

    let mut results: Vec<Value> = Vec::with_capacity(failed.len());
    let mut upstream_failed = 0;
    let mut response_parts = None;
    if !kept.is_empty() {
        *entries = kept;
        let body = Bytes::from(serde_json::to_vec(&request)?);
        parts
            .headers
            .insert("content-length", http::HeaderValue::from(body.len()));
        let (rparts, rbody) = state
            .forward_buffered_body(Request::from_parts(parts, body))
            .await?;
        if !rparts.status.is_success() {
            // The whole request failed upstream: pass that on unchanged.
            return Ok(Response::from_parts(rparts, full(rbody)));
        }
        let response: Value = serde_json::from_slice(&rbody)?;
        upstream_failed = response
            .get("FailedRecordCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        results = response
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        response_parts = Some(rparts);
    }
    let mut upstream = results.into_iter();
    let merged: Vec<Value> = failed
        .iter()
        .map(|&f| {
            if f {
                failure.clone()
            } else {
                upstream.next().unwrap_or_else(|| failure.clone())
            }
        })
        .collect();
    let injected = failed.iter().filter(|f| **f).count() as u64;
    let body = json!({ "FailedRecordCount": upstream_failed + injected, "Records": merged });
    let body = Bytes::from(serde_json::to_vec(&body)?);
    let mut response = match response_parts {
        Some(p) => Response::from_parts(p, full(body.clone())),
        None => {
            let mut r = Response::new(full(body.clone()));
            r.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            r
        }
    };
    response
        .headers_mut()
        .insert("content-length", http::HeaderValue::from(body.len()));
    Ok(response)
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
