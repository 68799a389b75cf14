//! Mainland resident identity card numbers (GB 11643-1999): 6 digits of region, 8 of birth date
//! (YYYYMMDD), 3 of sequence, and a check character computed with ISO 7064 MOD 11-2.

/// ISO 7064 MOD 11-2 weights of the first 17 digits (2^(17-i) mod 11), as GB 11643-1999 lists them.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder of the weighted sum modulo 11 (10 is written X).
const CHECK_CHARS: &[u8; 11] = b"10X98765432";
/// The earliest birth year accepted: 18-digit numbers carry the full year, and nobody born before
/// 1800 holds one.
const EARLIEST_BIRTH_YEAR: u32 = 1800;
/// China Standard Time (UTC+8), for "today" when checking that a birth date is not in the future.
const CHINA_UTC_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Why an IdCard is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdCardError {
    /// Not 18 characters, 17 digits then a digit or uppercase X.
    #[error("IdCard must be 18 characters: 17 digits and a digit or uppercase X")]
    Format,
    /// The 18th character is not the GB 11643 check character of the first 17.
    #[error("IdCard check digit is wrong")]
    CheckDigit,
    /// Characters 7–14 are not a real date, or it is in the future.
    #[error("IdCard birth date is not a valid date")]
    BirthDate,
}

/// Checks the format, the birth date (a real calendar date, not after `today_ms`'s date in China)
/// and the check character.
pub fn validate(id: &str, now_ms: i64) -> Result<(), IdCardError> {
    let b = id.as_bytes();
    let well_formed = b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X');
    if !well_formed {
        return Err(IdCardError::Format);
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let number = |range: std::ops::Range<usize>| range.fold(0u32, |n, i| n * 10 + digit(i));
    let (year, month, day) = (number(6..10), number(10..12), number(12..14));
    let real_date = year >= EARLIEST_BIRTH_YEAR
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day);
    if !real_date || (year, month, day) > civil_date(now_ms.saturating_add(CHINA_UTC_OFFSET_MS)) {
        return Err(IdCardError::BirthDate);
    }
    let sum: u32 = WEIGHTS.iter().enumerate().map(|(i, w)| w * digit(i)).sum();
    if CHECK_CHARS[(sum % 11) as usize] != b[17] {
        return Err(IdCardError::CheckDigit);
    }
    Ok(())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The proleptic Gregorian (year, month, day) of a time in ms since the Unix epoch (H. Hinnant's
/// `civil_from_days`).
fn civil_date(ms: i64) -> (u32, u32, u32) {
    let z = ms.div_euclid(DAY_MS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (u32::try_from(year).unwrap_or(0), month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-06-01T00:00:00Z.
    const NOW: i64 = 1_717_200_000_000;

    #[test]
    fn check_digits_and_dates() {
        assert_eq!(validate("11010519491231002X", NOW), Ok(()));
        assert_eq!(validate("110105194912310038", NOW), Ok(()));
        assert_eq!(
            validate("110105194912310020", NOW),
            Err(IdCardError::CheckDigit)
        );
        assert_eq!(
            validate("110105194913310021", NOW),
            Err(IdCardError::BirthDate),
            "month 13"
        );
        assert_eq!(
            validate("110105190002290017", NOW),
            Err(IdCardError::BirthDate),
            "1900 is not a leap year"
        );
        assert_eq!(validate("110105200002290013", NOW), Ok(()), "2000 is");
        assert_eq!(
            validate("11010520300101001X", NOW),
            Err(IdCardError::BirthDate),
            "in the future"
        );
        assert_eq!(
            validate("11010519491231002x", NOW),
            Err(IdCardError::Format)
        );
        assert_eq!(validate("1101051949123100", NOW), Err(IdCardError::Format));
        assert_eq!(
            validate("１１０105194912310038", NOW),
            Err(IdCardError::Format)
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(NOW), (2024, 6, 1));
        assert_eq!(civil_date(951_782_400_000), (2000, 2, 29));
    }
}
