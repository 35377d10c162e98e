//! A self-hosted challenge for the resident portal's submission form: a small sum in Chinese numerals that a
//! person answers at a glance. The server keeps no answer: the form carries a token binding the answer, an
//! expiry and a nonce under a secret key (HMAC-SM3). The web layer accepts each nonce once. This stops blind
//! form-posting scripts; a human-assisted attack is met by the per-address rate limit. No third-party
//! service, script or image is involved. Pure: the caller passes the key, random bytes and the time.

use crate::crypto::hmac;
use crate::{DomainError, ErrorCode};

/// How long a question stays answerable, in seconds.
pub const TTL_SECS: u64 = 60 * 60;
const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// What the form shows and carries.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub question: String,
    pub token: String,
}

/// A correct answer's token parts: the nonce (to be used once) and the expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub nonce: String,
    pub expiry: u64,
}

/// "十二" for 12: numbers up to 99 as people write them.
pub fn numeral(n: u32) -> String {
    match n {
        0..=9 => DIGITS[n as usize].to_string(),
        10 => "十".into(),
        11..=19 => format!("十{}", DIGITS[(n % 10) as usize]),
        _ => {
            format!(
                "{}十{}",
                DIGITS[(n / 10) as usize % 10],
                if n.is_multiple_of(10) { "" } else { DIGITS[(n % 10) as usize] }
            )
        }
    }
}

/// The answer as typed: Arabic digits, full-width digits, or Chinese numerals.
pub fn parse_answer(s: &str) -> Option<u32> {
    let s: String = s
        .trim()
        .chars()
        .map(|c| if ('０'..='９').contains(&c) { char::from(b'0' + (c as u32 - '０' as u32) as u8) } else { c })
        .collect();
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    (0..100).find(|n| numeral(*n) == s || (*n == 2 && s == "两"))
}

fn mac(key: &[u8], expiry: u64, nonce: &str, answer: u32) -> String {
    hex::encode(hmac(
        key,
        &[expiry.to_string().as_bytes(), b"|", nonce.as_bytes(), b"|", answer.to_string().as_bytes()],
    ))
}

/// A new question from 18 random bytes, valid until `now + TTL_SECS`.
pub fn issue(key: &[u8], random: [u8; 18], now: u64) -> Challenge {
    let (a, b) = (u32::from(random[0] % 9) + 1, u32::from(random[1] % 9) + 1);
    let (question, answer) = if random[2].is_multiple_of(2) {
        (format!("{}加{}等于多少？", numeral(a), numeral(b)), a + b)
    } else {
        let (hi, lo) = (a.max(b) + 10, a.min(b));
        (format!("{}减{}等于多少？", numeral(hi), numeral(lo)), hi - lo)
    };
    let nonce = hex::encode(&random[3..]);
    let expiry = now + TTL_SECS;
    Challenge { question, token: format!("{expiry}.{nonce}.{}", mac(key, expiry, &nonce, answer)) }
}

/// Checks an answer against its token; the caller must still refuse a nonce it has seen.
pub fn check(key: &[u8], token: &str, answer: &str, now: u64) -> Result<Accepted, DomainError> {
    let wrong = || DomainError::new(ErrorCode::InvalidInput, "验证题答案不正确，请重新作答");
    let mut parts = token.splitn(3, '.');
    let (Some(expiry), Some(nonce), Some(given)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(wrong());
    };
    let expiry: u64 = expiry.parse().map_err(|_| wrong())?;
    if expiry < now {
        return Err(DomainError::new(ErrorCode::InvalidInput, "验证题已过期，请回答新的验证题"));
    }
    let answer = parse_answer(answer).ok_or_else(wrong)?;
    if mac(key, expiry, nonce, answer) != given {
        return Err(wrong());
    }
    Ok(Accepted { nonce: nonce.to_string(), expiry })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(q: &str) -> u32 {
        let body = q.trim_end_matches("等于多少？");
        let (sep, add) = if body.contains('加') { ('加', true) } else { ('减', false) };
        let (a, b) = body.split_once(sep).unwrap();
        let (a, b) = (parse_answer(a).unwrap(), parse_answer(b).unwrap());
        if add { a + b } else { a - b }
    }

    #[test]
    fn numerals_read_as_written() {
        assert_eq!(numeral(7), "七");
        assert_eq!(numeral(10), "十");
        assert_eq!(numeral(13), "十三");
        assert_eq!(numeral(20), "二十");
        assert_eq!(parse_answer("１２"), Some(12));
        assert_eq!(parse_answer(" 十八 "), Some(18));
        assert_eq!(parse_answer("两"), Some(2));
        assert_eq!(parse_answer("很多"), None);
    }

    #[test]
    fn only_the_right_answer_before_expiry_with_the_issuing_key_passes() {
        let key = [9u8; 32];
        for seed in 0..40u8 {
            let mut random = [seed; 18];
            random[1] = seed.wrapping_mul(7);
            let ch = issue(&key, random, 1000);
            let answer = solve(&ch.question);
            assert!((2..=18).contains(&answer), "{}", ch.question);
            assert!(check(&key, &ch.token, &(answer + 1).to_string(), 1000).is_err());
            assert!(check(&key, &ch.token, &answer.to_string(), 1000).is_ok());
            assert!(check(&key, &ch.token, &numeral(answer), 1000).is_ok());
            assert!(check(&[8u8; 32], &ch.token, &answer.to_string(), 1000).is_err());
            let expired = check(&key, &ch.token, &answer.to_string(), 1000 + TTL_SECS + 1).unwrap_err();
            assert!(expired.message.contains("过期"));
            // Moving the expiry breaks the MAC.
            assert!(check(&key, &format!("9{}", ch.token), &answer.to_string(), 1000).is_err());
        }
    }
}
