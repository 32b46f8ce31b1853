//! Context enhancement: words near a candidate raise or lower its confidence,
//! like Presidio's `LemmaContextAwareEnhancer`, in English and Chinese.
//!
//! All context words live in one aho-corasick automaton that runs once over
//! the text (only when there is a candidate), so cost is one extra linear pass
//! whatever the number of words. Each candidate then looks up the hits in a
//! small window before and after it with a binary search.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::entity::{EntitySet, PiiEntity};
use crate::Span;

/// How far before a candidate context words count, in bytes (about ten
/// English words or twenty CJK characters).
const WINDOW_BEFORE: usize = 64;
/// How far after a candidate context words count, in bytes ("555-1234 (office)").
const WINDOW_AFTER: usize = 24;

use PiiEntity as E;

const PHONES: EntitySet = EntitySet::of(&[E::Phone, E::CnPhone]);
const CARDS: EntitySet = EntitySet::of(&[E::CreditCard, E::CnBankAccount]);
const BANK: EntitySet = EntitySet::of(&[E::CnBankAccount, E::Iban, E::CreditCard]);
const IDS: EntitySet = EntitySet::of(&[E::CnResidentId, E::HkId, E::MoId, E::TwId]);
const NUMERIC_WEAK: EntitySet = EntitySet::of(&[
    E::Phone,
    E::CnPhone,
    E::CnBankAccount,
    E::Passport,
    E::UsSsn,
    E::DateOfBirth,
    E::CreditCard,
    E::CnResidentId,
]);

/// `(words, entities they support, score delta)`.
const TABLE: &[(&[&str], EntitySet, f32)] = &[
    (
        &[
            "phone",
            "phones",
            "telephone",
            "tel",
            "mobile",
            "cell",
            "cellphone",
            "call",
            "calls",
            "called",
            "fax",
            "office",
            "contact",
            "reach",
            "whatsapp",
            "sms",
            "answer",
            "answering",
            "voicemail",
            "extension",
            "landline",
            "text me",
            "dial",
            "ring",
            "hotline",
            "电话",
            "手机",
            "联系",
            "致电",
            "拨打",
            "座机",
            "传真",
            "号码",
            "来电",
            "热线",
            "手机号",
            "联系方式",
        ],
        PHONES,
        0.35,
    ),
    (
        &[
            "card",
            "cards",
            "credit",
            "debit",
            "visa",
            "mastercard",
            "amex",
            "cc",
            "payment",
            "pay",
            "charge",
            "信用卡",
            "银行卡",
            "卡号",
            "借记卡",
            "银联",
            "储蓄卡",
        ],
        CARDS,
        0.35,
    ),
    (
        &[
            "account",
            "accounts",
            "acct",
            "bank",
            "routing",
            "beneficiary",
            "wire",
            "transfer",
            "银行",
            "账号",
            "帐号",
            "账户",
            "帐户",
            "开户",
            "收款",
            "汇款",
            "转账",
        ],
        BANK,
        0.4,
    ),
    (&["iban"], EntitySet::of(&[E::Iban]), 0.4),
    (
        &["ssn", "ssns", "social security", "ss#", "ssn#", "taxpayer"],
        EntitySet::of(&[E::UsSsn]),
        0.45,
    ),
    (
        &[
            "born",
            "birth",
            "dob",
            "birthday",
            "birthdate",
            "d.o.b",
            "出生",
            "生日",
            "出生日期",
            "出生于",
        ],
        EntitySet::of(&[E::DateOfBirth]),
        0.45,
    ),
    (
        &[
            "passport",
            "passports",
            "travel document",
            "护照",
            "護照",
            "通行证",
            "通行證",
        ],
        EntitySet::of(&[E::Passport]),
        0.55,
    ),
    (
        &[
            "身份证",
            "身份證",
            "身分證",
            "居民身份",
            "公民身份",
            "证件号",
            "證件號",
            "id card",
            "identity card",
            "identity number",
            "national id",
            "resident id",
            "hkid",
            "hong kong id",
            "macau id",
            "taiwan id",
            "id number",
            "id no",
        ],
        IDS,
        0.45,
    ),
    (
        &[
            "统一社会信用代码",
            "信用代码",
            "营业执照",
            "credit code",
            "uscc",
            "税号",
        ],
        EntitySet::of(&[E::CnUscc]),
        0.4,
    ),
    (
        &[
            "ip",
            "ip address",
            "ipv4",
            "ipv6",
            "server",
            "host",
            "ip地址",
            "地址",
        ],
        EntitySet::of(&[E::IpAddress]),
        0.3,
    ),
    (
        &[
            "mac",
            "mac address",
            "ethernet",
            "wifi",
            "mac地址",
            "物理地址",
        ],
        EntitySet::of(&[E::MacAddress]),
        0.3,
    ),
    (
        &[
            "车牌",
            "车牌号",
            "plate",
            "licence plate",
            "license plate",
            "车辆",
        ],
        EntitySet::of(&[E::CnPlate]),
        0.3,
    ),
    (
        &[
            "order",
            "invoice",
            "tracking",
            "isbn",
            "serial",
            "version",
            "sku",
            "model",
            "part number",
            "zip",
            "postal",
            "postcode",
            "订单",
            "快递",
            "单号",
            "版本",
            "型号",
            "邮编",
            "发票",
            "序列号",
        ],
        NUMERIC_WEAK,
        -0.3,
    ),
    (
        // Another document type is named: not a national ID or passport.
        &[
            "driver",
            "driver's",
            "drivers",
            "licence",
            "license",
            "驾照",
            "驾驶证",
        ],
        EntitySet::of(&[E::TwId, E::HkId, E::Passport, E::MoId]),
        -0.5,
    ),
];

/// A context word that occurred in the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    start: usize,
    end: usize,
    targets: EntitySet,
    delta: f32,
}

/// The compiled context words.
#[derive(Debug)]
pub(crate) struct ContextIndex {
    automaton: AhoCorasick,
    effects: Vec<(EntitySet, f32, bool)>,
}

impl ContextIndex {
    pub(crate) fn new() -> Result<Self, aho_corasick::BuildError> {
        let mut words = Vec::new();
        let mut effects = Vec::new();
        for (list, targets, delta) in TABLE {
            for w in *list {
                words.push(*w);
                effects.push((*targets, *delta, w.is_ascii()));
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&words)?;
        Ok(ContextIndex { automaton, effects })
    }

    /// Every context word in `text`, in order. English words must stand alone
    /// ("tel" in "hotel" is not a phone cue); CJK words need no boundary.
    pub(crate) fn hits(&self, text: &str) -> Vec<Hit> {
        let bytes = text.as_bytes();
        let is_word = |i: Option<&u8>| i.is_some_and(|b| b.is_ascii_alphanumeric());
        self.automaton
            .find_iter(text)
            .filter_map(|m| {
                let &(targets, delta, ascii) = self.effects.get(m.pattern().as_usize())?;
                if ascii {
                    let before = m.start().checked_sub(1).and_then(|i| bytes.get(i));
                    if is_word(before) || is_word(bytes.get(m.end())) {
                        return None;
                    }
                }
                Some(Hit {
                    start: m.start(),
                    end: m.end(),
                    targets,
                    delta,
                })
            })
            .collect()
    }
}

/// The score change context gives `entity` at `span`: the strongest positive
/// cue plus the strongest negative cue in the window.
pub(crate) fn adjustment(hits: &[Hit], span: Span, entity: PiiEntity) -> f32 {
    let lo = span.start.saturating_sub(WINDOW_BEFORE);
    let hi = span.end.saturating_add(WINDOW_AFTER);
    let first = hits.partition_point(|h| h.end <= lo);
    let mut pos = 0.0f32;
    let mut neg = 0.0f32;
    for h in hits.iter().skip(first).take_while(|h| h.start < hi) {
        let outside = h.end <= span.start || h.start >= span.end;
        if !outside || !h.targets.contains(entity) {
            continue;
        }
        pos = pos.max(h.delta);
        neg = neg.min(h.delta);
    }
    pos + neg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_words_need_boundaries_cjk_do_not() {
        let idx = ContextIndex::new().unwrap();
        assert!(idx.hits("the hotel lobby").is_empty());
        assert_eq!(idx.hits("Tel: 123").len(), 1);
        assert_eq!(idx.hits("我的手机是").len(), 1);
    }

    #[test]
    fn window_and_entity_filtering() {
        let idx = ContextIndex::new().unwrap();
        let text = "call me at 555 0100 for the order";
        let hits = idx.hits(text);
        let span = Span::new(11, 19);
        let adj = adjustment(&hits, span, PiiEntity::Phone);
        assert!((adj - 0.05).abs() < 1e-6, "{adj}");
        assert_eq!(adjustment(&hits, span, PiiEntity::Email), 0.0);
    }
}
