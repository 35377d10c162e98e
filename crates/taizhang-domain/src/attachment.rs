//! Attachments (images and PDF a resident or clerk adds to a case): what is accepted, how big, and the record
//! of each file that goes into the event history. The type is decided by the file's first bytes, never by its
//! name or the browser's claim, so a script renamed `photo.jpg` is refused.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::ledger::sm3_hex;

/// Largest single file.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most files on one submission.
pub const MAX_FILES: usize = 5;
/// Largest total of one submission.
pub const MAX_TOTAL_BYTES: usize = 20 * 1024 * 1024;
/// What the upload form says is accepted (also its `accept` attribute).
pub const ACCEPT: &str = ".jpg,.jpeg,.png,.gif,.webp,.pdf,image/jpeg,image/png,image/gif,image/webp,application/pdf";

/// One attached file as the event records it: the SM3 digest binds the stored content to the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub sm3: String,
}

/// The media type of `bytes` from its signature, for the accepted types only.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// A file name safe to show and to offer for download: the last path component, without control characters,
/// at most 80 characters.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(80).collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." { "附件".to_string() } else { cleaned }
}

pub fn too_large(name: &str) -> DomainError {
    DomainError::new(
        ErrorCode::BodyTooLarge,
        format!("附件“{}”超过 {} MB，请压缩或分开提交", clean_name(name), MAX_FILE_BYTES / 1024 / 1024),
    )
    .at("files")
}

/// Checks one upload and describes it; refuses an empty file, an unaccepted type or an oversized file.
pub fn check(name: &str, bytes: &[u8]) -> DomainResult<AttachmentRef> {
    let name = clean_name(name);
    if bytes.is_empty() {
        return Err(DomainError::new(ErrorCode::InvalidInput, format!("附件“{name}”是空文件")).at("files"));
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(&name));
    }
    let mime = sniff(bytes).ok_or_else(|| {
        DomainError::new(
            ErrorCode::InvalidInput,
            format!("附件“{name}”不是可接受的文件类型：只接受 JPG、PNG、GIF、WebP 图片和 PDF 文件"),
        )
        .at("files")
    })?;
    Ok(AttachmentRef { name, mime: mime.to_string(), size: bytes.len() as u64, sm3: sm3_hex(bytes) })
}

/// Checks a whole submission: each file, their number and their total size.
pub fn check_all<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> DomainResult<Vec<AttachmentRef>> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for (name, bytes) in files {
        out.push(check(name, bytes)?);
        total += bytes.len();
        if out.len() > MAX_FILES {
            return Err(DomainError::new(ErrorCode::InvalidInput, format!("附件最多 {MAX_FILES} 个")).at("files"));
        }
        if total > MAX_TOTAL_BYTES {
            return Err(DomainError::new(
                ErrorCode::BodyTooLarge,
                format!("附件合计超过 {} MB", MAX_TOTAL_BYTES / 1024 / 1024),
            )
            .at("files"));
        }
    }
    Ok(out)
}

/// "1.2 MB", "35 KB" — sizes as a page shows them.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / 1024.0 / 1024.0)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_content_not_the_name() {
        assert_eq!(check("照片.jpg", b"\xFF\xD8\xFF\xE0rest").unwrap().mime, "image/jpeg");
        assert_eq!(check("scan", b"%PDF-1.4\n...").unwrap().mime, "application/pdf");
        let e = check("photo.jpg", b"<script>alert(1)</script>").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("photo.jpg") && e.message.contains("PDF"), "{}", e.message);
        assert!(check("x.png", b"").is_err());
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"MZ\x90\0"), None);
    }

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(clean_name("C:\\Users\\王\\Desktop\\合同.pdf"), "合同.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\u{0}b\r\n.jpg"), "ab.jpg");
        assert_eq!(clean_name("/"), "附件");
        assert_eq!(clean_name(&"长".repeat(200)).chars().count(), 80);
    }

    #[test]
    fn sizes_and_counts_are_limited() {
        let big = vec![0xFFu8; MAX_FILE_BYTES + 1];
        let mut big = big;
        big[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
        assert_eq!(check("大.jpg", &big).unwrap_err().code, ErrorCode::BodyTooLarge);
        let ok = b"%PDF-1.4".to_vec();
        let six: Vec<(&str, &[u8])> = (0..6).map(|_| ("a.pdf", ok.as_slice())).collect();
        assert!(check_all(six[..5].iter().copied()).is_ok());
        assert!(check_all(six.iter().copied()).unwrap_err().message.contains("最多 5 个"));
        let nine =
            vec![0xFF, 0xD8, 0xFF].into_iter().chain(std::iter::repeat_n(0, 9 * 1024 * 1024)).collect::<Vec<_>>();
        let three: Vec<(&str, &[u8])> = (0..3).map(|_| ("p.jpg", nine.as_slice())).collect();
        assert_eq!(check_all(three).unwrap_err().code, ErrorCode::BodyTooLarge);
        assert_eq!(human_size(35 * 1024), "35 KB");
        assert_eq!(human_size(1_300_000), "1.2 MB");
    }
}
