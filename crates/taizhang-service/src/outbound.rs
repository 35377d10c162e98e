//! The optional outbound channel for workspace notifications: a locality that wants its staff told outside the
//! workspace (an SMS gateway, a government messaging app, a mail relay) names a webhook in
//! `<data>/outbound.toml`; every notification is then also posted there as JSON, signed with HMAC-SM3 when a
//! secret is set. Nothing external is needed to run — without the file nothing is sent — and a failed delivery
//! never touches the notification itself: a round stops at the first failure and the rest are tried in the next
//! (`send_outbound`, every minute in `serve`, in its own task so a slow gateway never delays the sweeps), each up
//! to `MAX_ATTEMPTS` times, then left for the workspace only. The channel is a trait, so another
//! transport can be added beside the webhook.
//!
//! The message names the recipient by username, display name and unit, never by phone or e-mail: the gateway
//! maps usernames to its own contacts, so Taizhang keeps no extra personal data for it.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use taizhang_domain::{DomainError, DomainResult, ErrorCode};

use crate::{Service, se};

/// Deliveries tried per notification before it is left to the workspace alone.
pub const MAX_ATTEMPTS: i64 = 5;
/// Notifications older than this are not sent when the channel is first configured or was down.
const STALE_AFTER_HOURS: i64 = 24;

/// What the channel receives for one notification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboundMessage {
    pub notification_id: i64,
    pub username: String,
    pub display_name: String,
    pub unit: String,
    pub title: String,
    pub body: String,
    pub case_code: Option<String>,
    /// The workspace path to open (`/cases/{id}`, or `/notifications`).
    pub link: String,
    pub created_at: DateTime<Utc>,
}

/// A transport for outbound notifications.
pub trait Channel: Send + Sync {
    /// Delivers one message; Err with the reason when it was not accepted.
    fn send<'a>(
        &'a self,
        m: &'a OutboundMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

/// `[webhook]` in `<data>/outbound.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfig {
    url: String,
    /// When set, the body's HMAC-SM3 under this secret is sent in `X-Taizhang-Signature` (hex).
    #[serde(default)]
    secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    webhook: Option<WebhookConfig>,
}

/// Posts each message as JSON to a URL (plain HTTP: a gateway on the office network).
pub struct Webhook {
    url: String,
    secret: Option<String>,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(url: &str, secret: Option<String>) -> DomainResult<Webhook> {
        let bad = |m: String| DomainError::new(ErrorCode::InvalidInput, m);
        let parsed =
            reqwest::Url::parse(url).map_err(|e| bad(format!("outbound.toml：webhook 地址 {url} 无效（{e}）")))?;
        if parsed.scheme() != "http" {
            return Err(bad(format!("outbound.toml：webhook 地址须以 http:// 开头（内网网关），{url} 不支持")));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| bad(format!("outbound.toml：无法创建 HTTP 客户端（{e}）")))?;
        Ok(Webhook { url: url.to_string(), secret, http })
    }

    /// The signature header's value for a body.
    pub fn signature(secret: &str, body: &[u8]) -> String {
        hex::encode(taizhang_domain::crypto::hmac(secret.as_bytes(), &[body]))
    }
}

impl Channel for Webhook {
    fn send<'a>(
        &'a self,
        m: &'a OutboundMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let body = serde_json::to_vec(m).map_err(|e| e.to_string())?;
            let mut req = self.http.post(&self.url).header("content-type", "application/json");
            if let Some(secret) = &self.secret {
                req = req.header("x-taizhang-signature", Webhook::signature(secret, &body));
            }
            let r = req.body(body).send().await.map_err(|e| e.to_string())?;
            if r.status().is_success() { Ok(()) } else { Err(format!("HTTP {}", r.status())) }
        })
    }
}

/// The channel `<data>/outbound.toml` configures, if any.
pub fn load_channel(dir: &Path) -> DomainResult<Option<Arc<dyn Channel>>> {
    let path = dir.join("outbound.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DomainError::new(ErrorCode::Internal, format!("无法读取 {}：{e}", path.display())));
        }
    };
    let file: OutboundFile = toml::from_str(&text)
        .map_err(|e| DomainError::new(ErrorCode::InvalidInput, format!("outbound.toml 格式错误：{e}")))?;
    match file.webhook {
        Some(w) => Ok(Some(Arc::new(Webhook::new(&w.url, w.secret)?))),
        None => Ok(None),
    }
}

impl Service {
    /// Sends the notifications not yet delivered through the outbound channel (none configured: nothing to do).
    /// Returns how many were delivered.
    pub async fn send_outbound(&self) -> DomainResult<usize> {
        let Some(channel) = &self.outbound else { return Ok(0) };
        let since = self.now() - Duration::hours(STALE_AFTER_HOURS);
        let mut sent = 0;
        // Each notification is tried once a round: the pages move past the ones just tried.
        let mut after = 0;
        loop {
            let batch = self.store.unsent_notifications(since, MAX_ATTEMPTS, after, 100).await.map_err(se)?;
            let Some(last) = batch.last() else { break };
            after = last.id;
            for n in batch {
                let user = self.store.user(n.user_id).await.map_err(se)?;
                let unit = match &user {
                    Some(u) => self.store.unit(u.unit_id).await.map_err(se)?.map(|u| u.name).unwrap_or_default(),
                    None => String::new(),
                };
                let m = OutboundMessage {
                    notification_id: n.id,
                    username: user.as_ref().map(|u| u.username.clone()).unwrap_or_default(),
                    display_name: user.as_ref().map(|u| u.display_name.clone()).unwrap_or_default(),
                    unit,
                    title: n.title.clone(),
                    body: n.body.clone(),
                    case_code: n.case_code.clone(),
                    link: n.case_id.map(|c| format!("/cases/{c}")).unwrap_or_else(|| "/notifications".into()),
                    created_at: n.created_at,
                };
                match channel.send(&m).await {
                    Ok(()) => {
                        self.store.mark_notification_sent(n.id, Some(self.now())).await.map_err(se)?;
                        sent += 1;
                    }
                    Err(why) => {
                        // The gateway is down or refusing: the rest wait for the next round rather than each
                        // waiting out its own timeout now.
                        tracing::warn!(notification = n.id, error = %why, "outbound delivery failed");
                        self.store.mark_notification_sent(n.id, None).await.map_err(se)?;
                        return Ok(sent);
                    }
                }
            }
        }
        Ok(sent)
    }
}
