//! Validators: the checksums and structural rules that turn a regex candidate
//! into an entity. Every function is total (never panics on any input) and
//! runs in time linear in its argument.
//!
//! Sources: ISO/IEC 7812 (Luhn), ISO 13616 (IBAN mod-97), SSA's SSN
//! randomization rules, GB 11643-1999 (resident ID), GB 32100-2015 (unified
//! social credit code), the Hong Kong Immigration Department and Taiwan MOI
//! check-digit schemes.

/// Digits of `s` as numbers, or `None` if any byte is not an ASCII digit.
pub(crate) fn digits(s: &str) -> Option<Vec<u8>> {
    s.bytes()
        .map(|b| b.is_ascii_digit().then(|| b.wrapping_sub(b'0')))
        .collect()
}

/// Luhn (mod 10) check over ASCII digits. Non-digits fail.
pub(crate) fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    let mut n = 0usize;
    for b in s.bytes().rev() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b.wrapping_sub(b'0'));
        if double {
            d = d.wrapping_mul(2);
            if d > 9 {
                d = d.wrapping_sub(9);
            }
        }
        sum = sum.wrapping_add(d);
        double = !double;
        n = n.wrapping_add(1);
    }
    n > 1 && sum.is_multiple_of(10)
}

/// Card networks we recognise by their issuer prefix (IIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardNetwork {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
}

/// The network whose IIN ranges and lengths `d` (digits only) fits.
pub(crate) fn card_network(d: &str) -> Option<CardNetwork> {
    let len = d.len();
    let p = |n: usize| -> u32 { d.get(..n).and_then(|s| s.parse().ok()).unwrap_or(0) };
    if d.starts_with('4') && matches!(len, 13 | 16 | 19) {
        return Some(CardNetwork::Visa);
    }
    if len == 16 && ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) {
        return Some(CardNetwork::Mastercard);
    }
    if len == 15 && matches!(p(2), 34 | 37) {
        return Some(CardNetwork::Amex);
    }
    if (16..=19).contains(&len) && d.starts_with("62") {
        return Some(CardNetwork::UnionPay);
    }
    if (16..=19).contains(&len) && (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) {
        return Some(CardNetwork::Discover);
    }
    if (16..=19).contains(&len) && (3528..=3589).contains(&p(4)) {
        return Some(CardNetwork::Jcb);
    }
    if (14..=19).contains(&len) && ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39)) {
        return Some(CardNetwork::Diners);
    }
    None
}

/// Expected IBAN length per ISO 3166 country code (SWIFT IBAN registry).
fn iban_length(cc: &str) -> Option<usize> {
    const TABLE: &[(&str, usize)] = &[
        ("AD", 24),
        ("AE", 23),
        ("AL", 28),
        ("AT", 20),
        ("AZ", 28),
        ("BA", 20),
        ("BE", 16),
        ("BG", 22),
        ("BH", 22),
        ("BR", 29),
        ("BY", 28),
        ("CH", 21),
        ("CR", 22),
        ("CY", 28),
        ("CZ", 24),
        ("DE", 22),
        ("DK", 18),
        ("DO", 28),
        ("EE", 20),
        ("EG", 29),
        ("ES", 24),
        ("FI", 18),
        ("FO", 18),
        ("FR", 27),
        ("GB", 22),
        ("GE", 22),
        ("GI", 23),
        ("GL", 18),
        ("GR", 27),
        ("GT", 28),
        ("HR", 21),
        ("HU", 28),
        ("IE", 22),
        ("IL", 23),
        ("IQ", 23),
        ("IS", 26),
        ("IT", 27),
        ("JO", 30),
        ("KW", 30),
        ("KZ", 20),
        ("LB", 28),
        ("LC", 32),
        ("LI", 21),
        ("LT", 20),
        ("LU", 20),
        ("LV", 21),
        ("MC", 27),
        ("MD", 24),
        ("ME", 22),
        ("MK", 19),
        ("MR", 27),
        ("MT", 31),
        ("MU", 30),
        ("NL", 18),
        ("NO", 15),
        ("PK", 24),
        ("PL", 28),
        ("PS", 29),
        ("PT", 25),
        ("QA", 29),
        ("RO", 24),
        ("RS", 22),
        ("SA", 24),
        ("SC", 31),
        ("SE", 24),
        ("SI", 19),
        ("SK", 24),
        ("SM", 27),
        ("ST", 25),
        ("SV", 28),
        ("TL", 23),
        ("TN", 24),
        ("TR", 26),
        ("UA", 29),
        ("VA", 22),
        ("VG", 24),
        ("XK", 20),
    ];
    TABLE
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(cc))
        .map(|&(_, n)| n)
}

/// IBAN: known country, its registered length, and ISO 7064 mod 97-10 == 1.
/// Spaces are ignored; letters may be in either case.
pub(crate) fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    if !compact.is_ascii() || !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (Some(cc), Some(check), Some(bban)) =
        (compact.get(..2), compact.get(2..4), compact.get(4..))
    else {
        return false;
    };
    if iban_length(cc) != Some(compact.len()) || !check.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut rem = 0u32;
    for b in bban.bytes().chain(cc.bytes()).chain(check.bytes()) {
        let v = match b {
            b'0'..=b'9' => u32::from(b.wrapping_sub(b'0')),
            b'a'..=b'z' => u32::from(b.wrapping_sub(b'a')).wrapping_add(10),
            b'A'..=b'Z' => u32::from(b.wrapping_sub(b'A')).wrapping_add(10),
            _ => return false,
        };
        // rem < 97, so rem * 100 + 35 fits easily in u32.
        let scale = if v >= 10 { 100 } else { 10 };
        rem = rem.wrapping_mul(scale).wrapping_add(v) % 97;
    }
    rem == 1
}

/// US SSN validity (post-2011 randomization): area not 000, 666 or 9xx;
/// group not 00; serial not 0000; and not a well-known advertising or
/// test number.
pub(crate) fn us_ssn(area: &str, group: &str, serial: &str) -> bool {
    let ok_shape = area.len() == 3 && group.len() == 2 && serial.len() == 4;
    let (Ok(a), Ok(g), Ok(s)) = (
        area.parse::<u32>(),
        group.parse::<u32>(),
        serial.parse::<u32>(),
    ) else {
        return false;
    };
    if !ok_shape || a == 0 || a == 666 || a >= 900 || g == 0 || s == 0 {
        return false;
    }
    let all: String = [area, group, serial].concat();
    let first = all.bytes().next();
    if all.bytes().all(|b| Some(b) == first) {
        return false;
    }
    !matches!(all.as_str(), "123456789" | "078051120" | "219099999")
}

/// Whether `y-m-d` is a real calendar date with `y` in `1900..=2100`.
pub(crate) fn calendar_date(y: u32, m: u32, d: u32) -> bool {
    if !(1900..=2100).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

/// Province-level codes (the first two digits of a resident ID's region code)
/// from GB/T 2260, plus 81/82/83 used by Hong Kong, Macau and Taiwan residence
/// permits.
fn cn_province(code: u32) -> bool {
    matches!(
        code,
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81..=83
    )
}

/// What a structural check of an 18-character resident ID found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResidentId {
    /// Region prefix and birth date are plausible.
    pub(crate) structure: bool,
    /// The GB 11643 check character matches.
    pub(crate) checksum: bool,
}

/// GB 11643-1999 resident ID: 6-digit region, 8-digit birth date, 3-digit
/// sequence, check character `0-9X` (ISO 7064 MOD 11-2).
pub(crate) fn cn_resident_id(s: &str) -> Option<ResidentId> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    if s.len() != 18 {
        return None;
    }
    let body = digits(s.get(..17)?)?;
    let last = s.as_bytes().last()?.to_ascii_uppercase();
    if !(last.is_ascii_digit() || last == b'X') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let structure = cn_province(num(0..2)?)
        && num(2..6)? != 0
        && calendar_date(num(6..10)?, num(10..12)?, num(12..14)?);
    let sum = body.iter().zip(WEIGHTS).fold(0u32, |acc, (&d, w)| {
        acc.wrapping_add(u32::from(d).wrapping_mul(w))
    });
    let expected = CHECK.get((sum % 11) as usize).copied();
    Some(ResidentId {
        structure,
        checksum: expected == Some(last),
    })
}

/// GB 32100-2015 unified social credit code: 18 characters over the 31-symbol
/// alphabet (no I, O, S, V, Z), region digits in positions 3-8, check
/// character mod 31.
pub(crate) fn cn_uscc(s: &str) -> bool {
    const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let bytes = s.as_bytes();
    if bytes.len() != 18
        || !s
            .get(2..8)
            .is_some_and(|r| r.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let value = |b: u8| ALPHABET.iter().position(|&a| a == b);
    let mut sum = 0u32;
    for (&b, w) in bytes.iter().zip(WEIGHTS) {
        let Some(v) = value(b) else { return false };
        sum = sum.wrapping_add((v as u32).wrapping_mul(w));
    }
    let check = (31u32.wrapping_sub(sum % 31)) % 31;
    let Some(&last) = bytes.last() else {
        return false;
    };
    value(last) == Some(check as usize)
}

/// Hong Kong identity card: one or two letters, six digits, check character
/// `0-9A` (mod 11 with weights 9..2, a single letter padded with value 36).
pub(crate) fn hk_id(letters: &str, digits6: &str, check: char) -> bool {
    let lv = |c: u8| -> Option<u32> {
        c.is_ascii_uppercase()
            .then(|| u32::from(c.wrapping_sub(b'A')).wrapping_add(10))
    };
    let lb = letters.as_bytes();
    let (first, second) = match lb {
        [a] => (Some(36), lv(*a)),
        [a, b] => (lv(*a), lv(*b)),
        _ => return false,
    };
    let (Some(first), Some(second), Some(ds)) = (first, second, digits(digits6)) else {
        return false;
    };
    if ds.len() != 6 {
        return false;
    }
    let mut sum = first.wrapping_mul(9).wrapping_add(second.wrapping_mul(8));
    for (d, w) in ds.iter().zip([7u32, 6, 5, 4, 3, 2]) {
        sum = sum.wrapping_add(u32::from(*d).wrapping_mul(w));
    }
    let expected = (11u32.wrapping_sub(sum % 11)) % 11;
    let got = match check {
        'A' => 10,
        c => match c.to_digit(10) {
            Some(d) => d,
            None => return false,
        },
    };
    expected == got
}

/// Taiwan national ID / new-format resident certificate: a letter, `1`/`2`
/// (citizens) or `8`/`9` (residents), eight digits; weighted mod 10.
pub(crate) fn tw_id(s: &str) -> bool {
    const LETTERS: &[u8; 26] = b"ABCDEFGHJKLMNPQRSTUVXYWZIO";
    let b = s.as_bytes();
    let [l, rest @ ..] = b else { return false };
    if rest.len() != 9 || !matches!(rest.first(), Some(b'1' | b'2' | b'8' | b'9')) {
        return false;
    }
    let Some(pos) = LETTERS.iter().position(|c| c == l) else {
        return false;
    };
    let Some(ds) = digits(std::str::from_utf8(rest).unwrap_or("")) else {
        return false;
    };
    let code = (pos as u32).wrapping_add(10);
    let mut sum = (code / 10).wrapping_add((code % 10).wrapping_mul(9));
    for (d, w) in ds.iter().zip([8u32, 7, 6, 5, 4, 3, 2, 1, 1]) {
        sum = sum.wrapping_add(u32::from(*d).wrapping_mul(w));
    }
    sum.is_multiple_of(10)
}

/// A dotted-quad IPv4 address with no leading zeros.
pub(crate) fn ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && !(p.len() > 1 && p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

/// Shannon entropy in bits per character.
pub(crate) fn entropy(s: &str) -> f32 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c = c.saturating_add(1);
        }
        n = n.saturating_add(1);
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_test_cards() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("5500005555555559"));
        assert!(luhn("6212345678901265"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn("41111a1111111111"));
    }

    #[test]
    fn card_networks_follow_iin_ranges() {
        assert_eq!(card_network("4111111111111111"), Some(CardNetwork::Visa));
        assert_eq!(
            card_network("2221000000000009"),
            Some(CardNetwork::Mastercard)
        );
        assert_eq!(card_network("378282246310005"), Some(CardNetwork::Amex));
        assert_eq!(
            card_network("6212345678901265"),
            Some(CardNetwork::UnionPay)
        );
        assert_eq!(card_network("1234567890123452"), None);
    }

    #[test]
    fn iban_mod97() {
        assert!(iban("GB82WEST12345698765432"));
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(iban("de89370400440532013000"));
        assert!(!iban("GB82WEST12345698765433"));
        assert!(!iban("XX82WEST12345698765432"));
    }

    #[test]
    fn ssn_rules() {
        assert!(us_ssn("308", "63", "0237"));
        assert!(!us_ssn("000", "63", "0237"));
        assert!(!us_ssn("666", "63", "0237"));
        assert!(!us_ssn("901", "63", "0237"));
        assert!(!us_ssn("308", "00", "0237"));
        assert!(!us_ssn("308", "63", "0000"));
        assert!(!us_ssn("123", "45", "6789"));
        assert!(!us_ssn("111", "11", "1111"));
    }

    #[test]
    fn resident_id_checksum_and_structure() {
        // GB 11643 worked example.
        let r = cn_resident_id("11010519491231002X").unwrap();
        assert!(r.structure && r.checksum);
        let r = cn_resident_id("110105194912310021").unwrap();
        assert!(r.structure && !r.checksum);
        let r = cn_resident_id("990105194912310021").unwrap();
        assert!(!r.structure);
        assert!(cn_resident_id("11010519491331002X").is_some_and(|r| !r.structure));
        assert!(cn_resident_id("1101051949123100").is_none());
    }

    #[test]
    fn uscc_checksum() {
        assert!(cn_uscc("91350100M000100Y43"));
        assert!(cn_uscc(
            "911100001000000000"
                .get(..17)
                .map(|b| {
                    let mut s = b.to_owned();
                    s.push(uscc_check_for_test(b));
                    s
                })
                .unwrap()
                .as_str()
        ));
        assert!(!cn_uscc("91350100M000100Y44"));
        assert!(!cn_uscc("91350100M000100Y4"));
    }

    fn uscc_check_for_test(body: &str) -> char {
        for c in "0123456789ABCDEFGHJKLMNPQRTUWXY".chars() {
            if cn_uscc(&format!("{body}{c}")) {
                return c;
            }
        }
        panic!("no check char")
    }

    #[test]
    fn hk_and_tw_ids() {
        assert!(hk_id("A", "123456", '3'));
        assert!(!hk_id("A", "123456", '4'));
        assert!(hk_id("G", "123456", 'A'));
        assert!(tw_id("A123456789"));
        assert!(!tw_id("A123456788"));
        assert!(!tw_id("A323456789"));
    }

    #[test]
    fn ipv4_and_dates() {
        assert!(ipv4("192.168.0.1"));
        assert!(!ipv4("192.168.0.256"));
        assert!(!ipv4("01.2.3.4"));
        assert!(calendar_date(2000, 2, 29));
        assert!(!calendar_date(1900, 2, 29));
        assert!(!calendar_date(2001, 4, 31));
    }

    #[test]
    fn entropy_orders_random_above_words() {
        assert!(entropy("aaaaaaaa") < 0.1);
        assert!(entropy("Xk9#pQ2$vL7!") > 3.0);
    }
}
