//! The PII entity vocabulary.

use std::fmt;

/// A kind of personal data the PII detector recognises. The string form
/// ([`PiiEntity::as_str`]) is what appears in [`crate::Finding::entity`], in
/// redaction placeholders and in policy input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PiiEntity {
    /// An email address.
    Email,
    /// A phone number outside mainland China (E.164, NANP, UK, grouped national formats).
    Phone,
    /// A payment card number that passes Luhn and fits a network's IIN range (incl. UnionPay).
    CreditCard,
    /// An IBAN with a valid mod-97 check.
    Iban,
    /// A US social security number that follows SSA's validity rules.
    UsSsn,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A MAC (EUI-48) address.
    MacAddress,
    /// A URL with a user name and password in it.
    UrlCredentials,
    /// A date next to birth context ("born", "DOB", "出生").
    DateOfBirth,
    /// A passport number next to passport context.
    Passport,
    /// A PRC resident identity card number (GB 11643).
    CnResidentId,
    /// A PRC unified social credit code (GB 32100).
    CnUscc,
    /// A mainland China mobile or landline number.
    CnPhone,
    /// A bank account number next to bank-account context.
    CnBankAccount,
    /// A Hong Kong identity card number.
    HkId,
    /// A Macau resident identity card number.
    MoId,
    /// A Taiwan national identification number.
    TwId,
    /// A mainland China vehicle licence plate.
    CnPlate,
}

impl PiiEntity {
    /// Every entity, in a stable order.
    pub const ALL: [PiiEntity; 18] = [
        PiiEntity::Email,
        PiiEntity::Phone,
        PiiEntity::CreditCard,
        PiiEntity::Iban,
        PiiEntity::UsSsn,
        PiiEntity::IpAddress,
        PiiEntity::MacAddress,
        PiiEntity::UrlCredentials,
        PiiEntity::DateOfBirth,
        PiiEntity::Passport,
        PiiEntity::CnResidentId,
        PiiEntity::CnUscc,
        PiiEntity::CnPhone,
        PiiEntity::CnBankAccount,
        PiiEntity::HkId,
        PiiEntity::MoId,
        PiiEntity::TwId,
        PiiEntity::CnPlate,
    ];

    /// Stable upper-snake-case name, e.g. `CN_RESIDENT_ID`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PiiEntity::Email => "EMAIL",
            PiiEntity::Phone => "PHONE",
            PiiEntity::CreditCard => "CREDIT_CARD",
            PiiEntity::Iban => "IBAN",
            PiiEntity::UsSsn => "US_SSN",
            PiiEntity::IpAddress => "IP_ADDRESS",
            PiiEntity::MacAddress => "MAC_ADDRESS",
            PiiEntity::UrlCredentials => "URL_CREDENTIALS",
            PiiEntity::DateOfBirth => "DATE_OF_BIRTH",
            PiiEntity::Passport => "PASSPORT",
            PiiEntity::CnResidentId => "CN_RESIDENT_ID",
            PiiEntity::CnUscc => "CN_USCC",
            PiiEntity::CnPhone => "CN_PHONE",
            PiiEntity::CnBankAccount => "CN_BANK_ACCOUNT",
            PiiEntity::HkId => "HK_ID",
            PiiEntity::MoId => "MO_ID",
            PiiEntity::TwId => "TW_ID",
            PiiEntity::CnPlate => "CN_PLATE",
        }
    }

    /// The entity with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        PiiEntity::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// A bit for entity sets (context word targets, enabled sets).
    pub(crate) const fn bit(self) -> u32 {
        1u32 << (self as u32)
    }
}

impl fmt::Display for PiiEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of entities, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct EntitySet(pub(crate) u32);

impl EntitySet {
    pub(crate) const fn of(entities: &[PiiEntity]) -> Self {
        let mut bits = 0u32;
        let mut i = 0;
        while i < entities.len() {
            // `i < len` bounds the index; const fns cannot use iterators.
            #[allow(clippy::indexing_slicing)]
            let e = entities[i];
            bits |= e.bit();
            i = i.saturating_add(1);
        }
        EntitySet(bits)
    }

    pub(crate) const fn contains(self, e: PiiEntity) -> bool {
        self.0 & e.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in PiiEntity::ALL {
            assert_eq!(PiiEntity::from_name(e.as_str()), Some(e));
        }
        assert_eq!(PiiEntity::from_name("NOPE"), None);
    }
}
