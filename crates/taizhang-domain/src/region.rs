//! Administrative divisions (行政区划代码, GB/T 2260): a 6-digit code whose first two digits name one of
//! the 31 mainland provincial-level divisions, the next two a prefecture and the last two a county.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult, ErrorCode};

/// The 31 mainland provincial-level divisions: two-digit prefix and name.
const PROVINCES: [(&str, &str); 31] = [
    ("11", "北京市"),
    ("12", "天津市"),
    ("13", "河北省"),
    ("14", "山西省"),
    ("15", "内蒙古自治区"),
    ("21", "辽宁省"),
    ("22", "吉林省"),
    ("23", "黑龙江省"),
    ("31", "上海市"),
    ("32", "江苏省"),
    ("33", "浙江省"),
    ("34", "安徽省"),
    ("35", "福建省"),
    ("36", "江西省"),
    ("37", "山东省"),
    ("41", "河南省"),
    ("42", "湖北省"),
    ("43", "湖南省"),
    ("44", "广东省"),
    ("45", "广西壮族自治区"),
    ("46", "海南省"),
    ("50", "重庆市"),
    ("51", "四川省"),
    ("52", "贵州省"),
    ("53", "云南省"),
    ("54", "西藏自治区"),
    ("61", "陕西省"),
    ("62", "甘肃省"),
    ("63", "青海省"),
    ("64", "宁夏回族自治区"),
    ("65", "新疆维吾尔自治区"),
];

/// A validated 6-digit administrative division code, serialized as the plain string ("330000").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Accepts a 6-digit code ("330106") or a 2-digit province prefix ("33" → "330000").
    pub fn parse(input: &str) -> DomainResult<Region> {
        let code = input.trim();
        let code = match code.len() {
            2 => format!("{code}0000"),
            _ => code.to_owned(),
        };
        let known = code.len() == 6
            && code.bytes().all(|b| b.is_ascii_digit())
            && PROVINCES.iter().any(|(prefix, _)| code.starts_with(prefix));
        if known {
            Ok(Region(code))
        } else {
            Err(DomainError::new(
                ErrorCode::UnknownRegion,
                format!("无法识别的行政区划代码：“{input}”，应为以省级代码开头的 6 位数字（如 330000）"),
            ))
        }
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// The provincial-level division this region belongs to ("330106" → "330000").
    pub fn province(&self) -> Region {
        Region(format!("{}0000", &self.0[..2]))
    }

    pub fn province_name(&self) -> &'static str {
        PROVINCES.iter().find(|(prefix, _)| self.0.starts_with(prefix)).map_or("", |(_, name)| name)
    }

    /// Whether `other` lies within this region: a province ("XX0000") contains all its codes, a prefecture
    /// ("XXYY00") the codes starting with XXYY, any other code only itself.
    pub fn contains(&self, other: &Region) -> bool {
        other.0.starts_with(self.0.trim_end_matches("00"))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Region {
    type Err = DomainError;
    fn from_str(s: &str) -> DomainResult<Region> {
        Region::parse(s)
    }
}

impl TryFrom<String> for Region {
    type Error = DomainError;
    fn try_from(s: String) -> DomainResult<Region> {
        Region::parse(&s)
    }
}

impl From<Region> for String {
    fn from(region: Region) -> String {
        region.0
    }
}

/// A unit grid code (单元网格编码): 15 digits — the 6-digit administrative code of the county, 3 for the street
/// (township), 3 for the community, 3 for the grid's sequence.
pub fn check_grid_code(code: &str) -> DomainResult<()> {
    if code.len() != 15 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::new(ErrorCode::InvalidInput, format!("网格编码应为 15 位数字：{code}")));
    }
    Region::parse(&code[..6]).map(|_| ()).map_err(|e| {
        DomainError::new(
            ErrorCode::InvalidInput,
            format!("网格编码 {code} 的前 6 位不是有效的行政区划代码：{}", e.message),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_codes_are_fifteen_digits_under_a_real_county() {
        assert!(check_grid_code("330106001001003").is_ok());
        assert!(check_grid_code("33010600100100").is_err(), "14 digits");
        assert!(check_grid_code("33010600100100a").is_err());
        assert!(check_grid_code("990000001001001").unwrap_err().message.contains("前 6 位"));
    }

    #[test]
    fn county_code_belongs_to_its_province() {
        let xihu = Region::parse("330106").unwrap();
        assert_eq!(xihu.code(), "330106");
        assert_eq!(xihu.province().code(), "330000");
        assert_eq!(xihu.province_name(), "浙江省");
        assert_eq!(Region::parse("650000").unwrap().province_name(), "新疆维吾尔自治区");
    }

    #[test]
    fn two_digit_province_prefix_expands_to_province_code() {
        assert_eq!(Region::parse("33").unwrap().code(), "330000");
        assert_eq!(Region::parse(" 11 ").unwrap().province_name(), "北京市");
    }

    #[test]
    fn every_provincial_prefix_is_known_and_nothing_else() {
        let known: Vec<u32> = PROVINCES.iter().map(|(p, _)| p.parse().unwrap()).collect();
        for prefix in 0..100u32 {
            let parsed = Region::parse(&format!("{prefix:02}0000"));
            assert_eq!(parsed.is_ok(), known.contains(&prefix), "prefix {prefix:02}");
        }
    }

    #[test]
    fn malformed_codes_are_unknown_regions_named_in_the_message() {
        for bad in ["", "3", "330", "33010", "3301060", "33010a", "710000", "810000", "中国", "33０106"] {
            let err = Region::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnknownRegion);
            assert!(err.message.contains(bad), "{}", err.message);
        }
    }

    #[test]
    fn provinces_and_prefectures_contain_their_counties() {
        let r = |c: &str| Region::parse(c).unwrap();
        assert!(r("650000").contains(&r("652301")));
        assert!(r("652300").contains(&r("652301")));
        assert!(!r("652300").contains(&r("650102")));
        assert!(r("652301").contains(&r("652301")));
        assert!(!r("652301").contains(&r("652302")));
        assert!(!r("330000").contains(&r("650000")));
    }

    #[test]
    fn serializes_as_the_plain_code_and_validates_on_deserialize() {
        let json = serde_json::to_string(&Region::parse("330106").unwrap()).unwrap();
        assert_eq!(json, "\"330106\"");
        assert_eq!(serde_json::from_str::<Region>(&json).unwrap().code(), "330106");
        assert!(serde_json::from_str::<Region>("\"990000\"").is_err());
    }
}
