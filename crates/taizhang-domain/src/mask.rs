//! Masking of residents' personal data for screens and exports (个人信息保护法 minimisation):
//! phone 138****1234, ID number first 6 + last 4, name 张*.

pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        n => format!("{}{}", chars[0], "*".repeat(n - 1)),
    }
}

pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    let n = digits.len();
    if n < 11 {
        // Landlines and short numbers: only the last two digits stay visible.
        let tail: String = digits[n.saturating_sub(2)..].iter().collect();
        return format!("{}{tail}", "*".repeat(n.saturating_sub(2)));
    }
    let head: String = digits[..3].iter().collect();
    let tail: String = digits[n - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(n - 7))
}

pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.trim().chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(n - 10))
}

/// Keeps the address down to the district/town words and hides the rest.
pub fn mask_address(addr: &str) -> String {
    let chars: Vec<char> = addr.trim().chars().collect();
    let keep = chars.len().min(6);
    let head: String = chars[..keep].iter().collect();
    if chars.len() > keep { format!("{head}****") } else { head }
}

/// A resident identity card number (GB 11643): 17 digits and a check character (0–9 or X) that matches them.
pub fn valid_id_number(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    b[17] == CHECK[(sum % 11) as usize]
}

/// Digits only, for phone matching.
pub fn normalise_phone(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit()).collect()
}

pub fn normalise_id_number(id: &str) -> String {
    id.trim().to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_need_their_check_character() {
        assert!(valid_id_number("110101199003071233"));
        assert!(valid_id_number("11010119900307002X"), "X as the check character");
        assert!(!valid_id_number("110101199003074511"), "wrong check digit");
        assert!(!valid_id_number("1101011990030712"), "too short");
        assert!(!valid_id_number("11010119900307123é"), "not ASCII");
    }

    #[test]
    fn masks_follow_the_conventions() {
        assert_eq!(mask_phone("138-1234-1234"), "138****1234");
        assert_eq!(mask_phone("0571-888812"), "********12");
        assert_eq!(mask_phone("1234567"), "*****67");
        assert_eq!(mask_id_number("110101199003071234"), "110101********1234");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_address("A市A3区幸福路12号3栋"), "A市A3区幸****");
    }
}
