//! Forms that may carry files (`multipart/form-data`), read in a way that loses nothing: every text field is
//! kept, an oversized file is drained and dropped with a Chinese reason (so the page can be shown again with
//! the input), and files that passed are stashed server-side for a while, so a form re-shown after an error
//! does not ask for them again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use taizhang_domain::attachment::{self, MAX_FILE_BYTES};
use taizhang_domain::{DomainError, ErrorCode};
use taizhang_service::cases::Upload;

/// Largest body of an upload form. Above the attachment limits so that a too-large file is read to the end
/// and answered with the form again; beyond this the connection is closed with a plain refusal.
pub const UPLOAD_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Largest text field of a form.
const MAX_TEXT_BYTES: usize = 256 * 1024;

/// A submitted form: its text fields in order, the files that passed the size check, and the first problem.
#[derive(Default)]
pub struct FormData {
    pub pairs: Vec<(String, String)>,
    pub files: Vec<Upload>,
    pub problem: Option<DomainError>,
}

fn note(problem: &mut Option<DomainError>, e: DomainError) {
    if problem.is_none() {
        *problem = Some(e);
    }
}

/// Reads a url-encoded or multipart form. Never fails: what could not be read is described in `problem`.
pub async fn read_form(req: Request) -> FormData {
    let multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut out = FormData::default();
    if !multipart {
        match axum::Form::<Vec<(String, String)>>::from_request(req, &()).await {
            Ok(axum::Form(pairs)) => out.pairs = pairs,
            Err(e) => out.problem = Some(DomainError::new(ErrorCode::InvalidInput, format!("表单无法读取：{e}"))),
        }
        return out;
    }
    let mut mp = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => {
            out.problem = Some(DomainError::new(ErrorCode::InvalidInput, format!("表单无法读取：{e}")));
            return out;
        }
    };
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let too_big = e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
                let msg = if too_big {
                    DomainError::new(
                        ErrorCode::BodyTooLarge,
                        format!(
                            "提交的内容过大（上限 {} MB），附件未能收到，请压缩后重新选择",
                            UPLOAD_BODY_BYTES / 1024 / 1024
                        ),
                    )
                } else {
                    DomainError::new(ErrorCode::InvalidInput, "表单传输中断，请重新提交")
                };
                note(&mut out.problem, msg);
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let limit = if file_name.is_some() { MAX_FILE_BYTES } else { MAX_TEXT_BYTES };
        let mut buf = Vec::new();
        let mut over = false;
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    if !over && buf.len() + c.len() > limit {
                        over = true;
                        // A file over the limit is dropped; a text keeps what fits, so nothing typed is lost
                        // wholesale.
                        if file_name.is_some() {
                            buf = Vec::new();
                        } else {
                            buf.extend_from_slice(&c[..limit - buf.len()]);
                        }
                    }
                    if !over {
                        buf.extend_from_slice(&c);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    note(
                        &mut out.problem,
                        DomainError::new(
                            ErrorCode::BodyTooLarge,
                            format!(
                                "提交的内容过大（上限 {} MB），请压缩附件后重新选择",
                                UPLOAD_BODY_BYTES / 1024 / 1024
                            ),
                        ),
                    );
                    return out;
                }
            }
        }
        match file_name {
            // A file input left empty arrives as a nameless, empty part.
            Some(f) if f.is_empty() && buf.is_empty() && !over => {}
            Some(f) if over => note(&mut out.problem, attachment::too_large(&f)),
            Some(f) => out.files.push(Upload { name: f, bytes: buf }),
            None if over => {
                // Cut at the last whole character.
                let text = match String::from_utf8(buf) {
                    Ok(t) => t,
                    Err(e) => {
                        let valid = e.utf8_error().valid_up_to();
                        let mut b = e.into_bytes();
                        b.truncate(valid);
                        String::from_utf8(b).unwrap_or_default()
                    }
                };
                out.pairs.push((name.clone(), text));
                let why =
                    format!("此项内容过长（超过 {} KB），只保留了前面部分，请删减后再提交", MAX_TEXT_BYTES / 1024);
                note(&mut out.problem, DomainError::new(ErrorCode::InvalidInput, why).at(name));
            }
            None => match String::from_utf8(buf) {
                Ok(v) => out.pairs.push((name, v)),
                Err(_) => {
                    note(&mut out.problem, DomainError::new(ErrorCode::InvalidUtf8, "表单内容不是有效的 UTF-8 编码"))
                }
            },
        }
    }
    out
}

/// Keeps the files that are acceptable (type by content, size, count, total) and says why any other was
/// dropped, so that a form shown again never claims to hold a file that would be refused.
pub fn screen(files: Vec<Upload>) -> (Vec<Upload>, Option<DomainError>) {
    let mut kept: Vec<Upload> = Vec::new();
    let mut problem = None;
    for f in files {
        let mut trial: Vec<(&str, &[u8])> = kept.iter().map(|k| (k.name.as_str(), k.bytes.as_slice())).collect();
        trial.push((f.name.as_str(), f.bytes.as_slice()));
        match attachment::check_all(trial) {
            Ok(_) => kept.push(f),
            Err(e) => note(&mut problem, e),
        }
    }
    (kept, problem)
}

/// Files of forms shown again after an error, by the form's one-time id; kept 30 minutes, at most 256 MB.
#[derive(Default)]
pub struct Stash {
    inner: Mutex<HashMap<String, (Instant, Vec<Upload>)>>,
}

const STASH_TTL: Duration = Duration::from_secs(30 * 60);
const STASH_BYTES: usize = 256 * 1024 * 1024;

impl Stash {
    /// Adds `files` to what is kept for `form_id` (if any), and returns everything kept for it.
    pub fn merge(&self, form_id: &str, files: Vec<Upload>) -> Vec<Upload> {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        m.retain(|_, (at, _)| now.duration_since(*at) < STASH_TTL);
        let mut all = if form_id.is_empty() { vec![] } else { m.remove(form_id).map(|(_, f)| f).unwrap_or_default() };
        all.extend(files);
        all
    }

    /// Keeps `files` for `form_id` until the form comes back (or the time runs out).
    pub fn keep(&self, form_id: &str, files: Vec<Upload>) {
        if form_id.is_empty() || files.is_empty() {
            return;
        }
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let size = |f: &Vec<Upload>| f.iter().map(|u| u.bytes.len()).sum::<usize>();
        let mut total: usize = m.values().map(|(_, f)| size(f)).sum::<usize>() + size(&files);
        // Oldest first out when full: a form abandoned long ago loses its files before a fresh one.
        while total > STASH_BYTES {
            let Some(oldest) = m.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone()) else { break };
            if let Some((_, f)) = m.remove(&oldest) {
                total -= size(&f);
            }
        }
        m.insert(form_id.to_string(), (Instant::now(), files));
    }
}
