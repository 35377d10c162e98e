//! Personal data at rest: SM4 encryption (CTR mode) with an HMAC-SM3 tag (encrypt-then-MAC), and keyed blind
//! indexes that let the store match a phone or ID number without decrypting anything.

use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sm3::Sm3;

use crate::error::{DomainError, DomainResult, ErrorCode};

type Sm4Ctr = ctr::Ctr128BE<sm4::Sm4>;
type HmacSm3 = Hmac<Sm3>;

/// Key material: 16 bytes SM4 key, 32 bytes MAC key, 32 bytes blind-index key.
pub const KEY_LEN: usize = 80;

#[derive(Clone)]
pub struct Keys {
    enc: [u8; 16],
    mac: [u8; 32],
    index: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

fn broken() -> DomainError {
    DomainError::new(ErrorCode::Internal, "加密数据已损坏或密钥不符")
}

/// HMAC-SM3 over the concatenation of `parts`.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSm3 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl Keys {
    pub fn from_bytes(b: &[u8]) -> DomainResult<Keys> {
        if b.len() != KEY_LEN {
            return Err(DomainError::new(ErrorCode::Internal, format!("密钥文件长度应为 {KEY_LEN} 字节")));
        }
        let mut k = Keys { enc: [0; 16], mac: [0; 32], index: [0; 32] };
        k.enc.copy_from_slice(&b[..16]);
        k.mac.copy_from_slice(&b[16..48]);
        k.index.copy_from_slice(&b[48..80]);
        Ok(k)
    }

    /// Encrypts `plain` with the caller's random 16-byte IV. Output: hex of IV ‖ ciphertext ‖ tag.
    pub fn seal(&self, iv: [u8; 16], plain: &str) -> String {
        hex::encode(self.seal_bytes(iv, plain.as_bytes()))
    }

    pub fn open(&self, sealed: &str) -> DomainResult<String> {
        let raw = hex::decode(sealed).map_err(|_| broken())?;
        String::from_utf8(self.open_bytes(&raw)?).map_err(|_| broken())
    }

    /// Encrypts bytes (attachments): IV ‖ ciphertext ‖ tag, raw.
    pub fn seal_bytes(&self, iv: [u8; 16], plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + 48);
        out.extend_from_slice(&iv);
        out.extend_from_slice(plain);
        let mut c = Sm4Ctr::new(&self.enc.into(), &iv.into());
        c.apply_keystream(&mut out[16..]);
        let tag = hmac(&self.mac, &[&iv, &out[16..]]);
        out.extend_from_slice(&tag);
        out
    }

    pub fn open_bytes(&self, raw: &[u8]) -> DomainResult<Vec<u8>> {
        if raw.len() < 48 {
            return Err(broken());
        }
        let (iv, rest) = raw.split_at(16);
        let (ct, tag) = rest.split_at(rest.len() - 32);
        let mut m = <HmacSm3 as KeyInit>::new_from_slice(&self.mac).expect("any key length");
        m.update(iv);
        m.update(ct);
        m.verify_slice(tag).map_err(|_| broken())?;
        let mut buf = ct.to_vec();
        let iv: [u8; 16] = iv.try_into().map_err(|_| broken())?;
        let mut c = Sm4Ctr::new(&self.enc.into(), &iv.into());
        c.apply_keystream(&mut buf);
        Ok(buf)
    }

    /// A keyed, deterministic digest of a normalised value (digits of a phone, upper-cased ID number), for
    /// equality lookups. Without the key it reveals nothing.
    pub fn blind_index(&self, kind: &str, value: &str) -> String {
        hex::encode(hmac(&self.index, &[kind.as_bytes(), b":", value.as_bytes()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctr::cipher::BlockCipherEncrypt;

    #[test]
    fn sm4_matches_the_standard_vector() {
        // GB/T 32907-2016 appendix A example 1.
        let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let cipher = sm4::Sm4::new_from_slice(&key).unwrap();
        let mut block = [0u8; 16];
        block.copy_from_slice(&key);
        let mut b = block.into();
        cipher.encrypt_block(&mut b);
        assert_eq!(hex::encode(b), "681edf34d206965e86b3e94f536e4246");
    }

    #[test]
    fn sealed_personal_data_round_trips_and_detects_tampering() {
        let keys = Keys::from_bytes(&[7u8; KEY_LEN]).unwrap();
        let sealed = keys.seal([1; 16], "13812341234");
        assert!(!sealed.contains("13812341234"));
        assert_eq!(keys.open(&sealed).unwrap(), "13812341234");
        let mut bad = sealed.clone();
        bad.replace_range(40..41, if &sealed[40..41] == "0" { "1" } else { "0" });
        assert!(keys.open(&bad).is_err());
        assert_eq!(keys.blind_index("phone", "138"), keys.blind_index("phone", "138"));
        let blob = keys.seal_bytes([2; 16], b"%PDF-1.7 binary \x00\xff");
        assert_eq!(keys.open_bytes(&blob).unwrap(), b"%PDF-1.7 binary \x00\xff");
        let mut bad = blob.clone();
        bad[20] ^= 1;
        assert!(keys.open_bytes(&bad).is_err());
        assert_ne!(keys.blind_index("phone", "138"), keys.blind_index("id", "138"));
    }
}
