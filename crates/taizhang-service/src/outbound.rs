//! The optional outbound channel for workspace notifications: a locality that wants its staff told outside the
//! workspace names one in `<data>/outbound.toml` — a webhook (`[webhook]`: an SMS gateway, a government
//! messaging app), where every notification is also posted as JSON, signed with HMAC-SM3 when a secret is set;
//! or a mail relay (`[smtp]`), where it is also mailed to the recipient. Nothing external is needed to run —
//! without the file nothing is sent — and a failed delivery
//! never touches the notification itself: a round stops at the first failure and the rest are tried in the next
//! (`send_outbound`, every minute in `serve`, in its own task so a slow gateway never delays the sweeps), each up
//! to `MAX_ATTEMPTS` times, then left for the workspace only; a message refused for good (`SendError::Refused`)
//! does not stop the round. The channel is a trait with the two transports behind it.
//!
//! The message names the recipient by username, display name and unit, never by phone or e-mail: the gateway
//! maps usernames to its own contacts, and mail goes to `username@domain` (the relay's alias table maps those),
//! so Taizhang keeps no extra personal data for it.

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

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// The channel is down or busy (no connection, a timeout, a 5xx from a gateway, a 4xx from a mail relay):
    /// the round stops and the rest wait for the next.
    Unavailable(String),
    /// This message was refused for good (a 4xx from a gateway, a 5xx from a mail relay — no such mailbox):
    /// the round goes on with the others.
    Refused(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Unavailable(why) => write!(f, "unavailable: {why}"),
            SendError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

/// What `Channel::send` returns: the delivery, to be awaited.
pub type SendFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SendError>> + Send + 'a>>;

/// A transport for outbound notifications.
pub trait Channel: Send + Sync {
    /// Delivers one message; Err with the reason when it was not accepted.
    fn send<'a>(&'a self, m: &'a OutboundMessage) -> SendFuture<'a>;
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

/// `[smtp]` in `<data>/outbound.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpConfig {
    /// The office mail relay, `host:port`.
    relay: String,
    /// The sender's address.
    from: String,
    /// Each recipient's address is `username@domain`.
    domain: String,
    /// The name this server gives in EHLO (default: the sender's domain).
    #[serde(default)]
    helo: Option<String>,
    /// Prefixed to the workspace link in the message (e.g. `http://taizhang.linjiang.gov.cn`).
    #[serde(default)]
    workspace_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    webhook: Option<WebhookConfig>,
    smtp: Option<SmtpConfig>,
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
    fn send<'a>(&'a self, m: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(m).map_err(|e| SendError::Refused(e.to_string()))?;
            let mut req = self.http.post(&self.url).header("content-type", "application/json");
            if let Some(secret) = &self.secret {
                req = req.header("x-taizhang-signature", Webhook::signature(secret, &body));
            }
            let r = req.body(body).send().await.map_err(|e| SendError::Unavailable(e.to_string()))?;
            let status = r.status();
            match status.as_u16() {
                200..=299 => Ok(()),
                408 | 429 => Err(SendError::Unavailable(format!("HTTP {status}"))),
                400..=499 => Err(SendError::Refused(format!("HTTP {status}"))),
                _ => Err(SendError::Unavailable(format!("HTTP {status}"))),
            }
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
    match (file.webhook, file.smtp) {
        (Some(w), None) => Ok(Some(Arc::new(Webhook::new(&w.url, w.secret)?))),
        (None, Some(m)) => Ok(Some(Arc::new(Smtp::new(m)?))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(DomainError::new(
            ErrorCode::InvalidInput,
            "outbound.toml：[webhook] 与 [smtp] 只能配置其一（需要两种时，由网关转发邮件）",
        )),
    }
}

/// Mails each message through the office relay: plain SMTP (EHLO, MAIL, RCPT, DATA) without TLS or login — a
/// relay on the office network that accepts mail from this server — the text in UTF-8, base64-encoded.
pub struct Smtp {
    relay: String,
    from: String,
    domain: String,
    helo: String,
    workspace_url: String,
}

/// How long one delivery may take, from connecting to the relay's last answer.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl Smtp {
    fn new(c: SmtpConfig) -> DomainResult<Smtp> {
        let bad = |m: String| DomainError::new(ErrorCode::InvalidInput, m);
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && !"<>\"\\".contains(c));
        if c.relay.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
            return Err(bad(format!("outbound.toml：smtp relay 应为 主机:端口（如 10.0.0.25:25），{} 不对", c.relay)));
        }
        if !plain(&c.from) || !c.from.contains('@') {
            return Err(bad(format!("outbound.toml：smtp from 应为发件地址，{} 不对", c.from)));
        }
        if !plain(&c.domain) || c.domain.contains('@') {
            return Err(bad(format!(
                "outbound.toml：smtp domain 应为邮件域名（如 linjiang.gov.cn），{} 不对",
                c.domain
            )));
        }
        let workspace_url = c.workspace_url.unwrap_or_default().trim_end_matches('/').to_string();
        let sender_domain = c.from.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
        let helo = c.helo.filter(|h| plain(h)).unwrap_or(sender_domain);
        Ok(Smtp { relay: c.relay, from: c.from, domain: c.domain, helo, workspace_url })
    }

    /// The message as sent after DATA: headers, a blank line, the base64 body, CRLF line ends. (Base64 lines
    /// never start with a dot, so no dot-stuffing is needed before the final ".".)
    pub fn compose(&self, m: &OutboundMessage, to: &str) -> String {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let mut text = format!("{}（{}）：\n\n{}\n\n{}\n", m.display_name, m.unit, m.title, m.body);
        if let Some(code) = &m.case_code {
            text.push_str(&format!("\n案件编号：{code}"));
        }
        text.push_str(&format!(
            "\n在台账中查看：{}{}\n\n（台账系统自动发送，请勿回复。）\n",
            self.workspace_url, m.link
        ));
        let body = b64(&text.replace('\n', "\r\n"));
        let lines: Vec<&str> = body.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
        format!(
            "From: {} <{}>\r\nTo: <{to}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <taizhang-{}-{}@{}>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            encoded_words("台账"),
            self.from,
            encoded_words(&m.title),
            m.created_at.to_rfc2822(),
            m.notification_id,
            m.created_at.timestamp(),
            self.domain,
            lines.join("\r\n"),
        )
    }

    async fn deliver(&self, to: &str, message: &str) -> Result<(), SendError> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let down = |e: std::io::Error| SendError::Unavailable(e.to_string());
        let stream = tokio::net::TcpStream::connect(&self.relay)
            .await
            .map_err(|e| SendError::Unavailable(format!("连接 {} 失败：{e}", self.relay)))?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        // One reply: its lines up to the last (a line whose fourth byte is not "-"), Err unless its code begins
        // with `want` — a 5xx is a refusal of this message, anything else a reason to try later.
        async fn reply(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, want: &str) -> Result<(), SendError> {
            loop {
                let mut line = String::new();
                if read.read_line(&mut line).await.map_err(|e| SendError::Unavailable(e.to_string()))? == 0 {
                    return Err(SendError::Unavailable("邮件服务器断开了连接".into()));
                }
                if line.len() < 3 || !line.starts_with(want) {
                    let why = format!("邮件服务器答复：{}", line.trim_end());
                    return Err(if line.starts_with('5') {
                        SendError::Refused(why)
                    } else {
                        SendError::Unavailable(why)
                    });
                }
                if line.as_bytes().get(3) != Some(&b'-') {
                    return Ok(());
                }
            }
        }
        reply(&mut read, "220").await?;
        let steps = [
            (format!("EHLO {}\r\n", self.helo), "250"),
            (format!("MAIL FROM:<{}>\r\n", self.from), "250"),
            (format!("RCPT TO:<{to}>\r\n"), "25"),
            ("DATA\r\n".to_string(), "354"),
            (format!("{message}.\r\n"), "250"),
        ];
        for (command, want) in steps {
            write.write_all(command.as_bytes()).await.map_err(down)?;
            reply(&mut read, want).await?;
        }
        // The relay has taken the mail: a failed goodbye must not send it again.
        let quit = async {
            write.write_all(b"QUIT\r\n").await.map_err(down)?;
            reply(&mut read, "221").await
        };
        if let Err(e) = quit.await {
            tracing::debug!(error = %e, "smtp QUIT not answered after the mail was accepted");
        }
        Ok(())
    }
}

/// A header value in UTF-8 as RFC 2047 encoded words, each under 75 characters, folded onto new lines (nothing
/// for an empty value: an empty encoded word is not allowed).
fn encoded_words(s: &str) -> String {
    use base64::Engine;
    if s.is_empty() {
        return String::new();
    }
    let mut words = vec![];
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

impl Channel for Smtp {
    fn send<'a>(&'a self, m: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(async move {
            // Usernames are letters, digits, `_`, `.` and `-` (`auth.rs`): a valid local part as they stand.
            let to = format!("{}@{}", m.username, self.domain);
            let message = self.compose(m, &to);
            tokio::time::timeout(SMTP_TIMEOUT, self.deliver(&to, &message))
                .await
                .map_err(|_| SendError::Unavailable(format!("邮件服务器 {} 超时", self.relay)))?
        })
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
                    Err(SendError::Refused(why)) => {
                        // This one was refused for good: counted as an attempt, the others go on.
                        tracing::warn!(notification = n.id, error = %why, "outbound delivery refused");
                        self.store.mark_notification_sent(n.id, None).await.map_err(se)?;
                    }
                    Err(SendError::Unavailable(why)) => {
                        // The channel is down or busy: the rest wait for the next round rather than each
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
