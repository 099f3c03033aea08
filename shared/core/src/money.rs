//! Money: integer minor units with a currency, and the one rounding rule.
//!
//! Rounding rule (documented in the README): every line is rounded on its own, half-up, to
//! the currency's minor unit — line subtotal = round(quantity × unit price), line tax =
//! round(line subtotal × tax rate) — and document totals are plain sums of the rounded lines.
//! Amounts are never negative; arithmetic is checked and overflow is a 400, never a wrap.
use serde::{Deserialize, Serialize};

use crate::problem::{ApiError, FieldError};

/// An ISO 4217 alphabetic code, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let up = raw.trim().to_ascii_uppercase();
        if up.len() == 3 && up.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(up))
        } else {
            Err(format!("{raw:?} is not a three-letter currency code"))
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency("USD".into())
    }
}

/// Largest unit price or line amount accepted (10 billion in major units of a 2-decimal currency).
const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Parse a non-negative decimal with at most `scale` decimals into an integer × 10^scale.
fn parse_fixed(raw: &str, scale: u32) -> Option<i64> {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let ok = !whole.is_empty()
        && whole.len() <= 12
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= scale as usize
        && frac.chars().all(|c| c.is_ascii_digit())
        && !(raw.contains('.') && frac.is_empty());
    if !ok {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac_val: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let frac_scaled = frac_val.checked_mul(10_i64.pow(scale - frac.len() as u32))?;
    whole
        .checked_mul(10_i64.pow(scale))?
        .checked_add(frac_scaled)
}

/// `numerator / denominator`, rounded half-up (both non-negative).
fn div_half_up(numerator: i128, denominator: i128) -> i128 {
    (numerator * 2 + denominator) / (denominator * 2)
}

/// A percentage with at most 2 decimals, in basis points ("12.5" → 1250).
pub fn parse_percent_e2(raw: &str) -> Option<i64> {
    parse_fixed(raw, 2)
}

/// `basis_points` / 10 000 of `amount`, rounded half-up like every line.
pub fn percent_of(amount: i64, basis_points: i64) -> i64 {
    i64::try_from(div_half_up(
        i128::from(amount) * i128::from(basis_points),
        10_000,
    ))
    .unwrap_or(i64::MAX)
}

/// One priced line as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub description: String,
    /// Decimal, up to 3 places, greater than zero: "1", "2.5", "0.125".
    pub quantity: String,
    /// Price of one unit in minor units (cents).
    pub unit_price_minor: i64,
    /// Percent, up to 4 decimal places: "8.875". Snapshotted on the line.
    #[serde(default = "zero_rate")]
    pub tax_rate: String,
}

fn zero_rate() -> String {
    "0".into()
}

/// A priced line with its rounded amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Line {
    pub description: String,
    pub quantity: String,
    pub quantity_milli: i64,
    pub unit_price_minor: i64,
    pub tax_rate: String,
    /// The tax rate in percent × 10 000.
    pub tax_rate_e4: i64,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// Sums of a document's lines.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Totals {
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

impl Line {
    /// Price a line; `field` names it in errors (`options[0].lines[2]`).
    pub fn price(input: &LineInput, field: &str, errors: &mut Vec<FieldError>) -> Option<Line> {
        let mut complain = |f: &str, m: &str| {
            errors.push(FieldError {
                field: format!("{field}.{f}"),
                message: m.into(),
            })
        };
        let description = input.description.trim().to_owned();
        if description.is_empty() || description.chars().count() > 500 {
            complain("description", "is required, at most 500 characters");
        }
        let quantity_milli =
            parse_fixed(&input.quantity, 3).filter(|q| *q > 0 && *q <= 1_000_000_000);
        if quantity_milli.is_none() {
            complain(
                "quantity",
                "must be a number greater than 0 with at most 3 decimals",
            );
        }
        if !(0..=MAX_AMOUNT).contains(&input.unit_price_minor) {
            complain(
                "unit_price_minor",
                "must be between 0 and 10^12 minor units",
            );
        }
        let rate = parse_fixed(&input.tax_rate, 4).filter(|r| *r <= 100 * 10_000);
        if rate.is_none() {
            complain(
                "tax_rate",
                "must be a percentage from 0 to 100 with at most 4 decimals",
            );
        }
        let (Some(q), Some(rate)) = (quantity_milli, rate) else {
            return None;
        };
        if !(0..=MAX_AMOUNT).contains(&input.unit_price_minor) || description.is_empty() {
            return None;
        }
        let subtotal = div_half_up(i128::from(q) * i128::from(input.unit_price_minor), 1000);
        let tax = div_half_up(subtotal * i128::from(rate), 1_000_000);
        let (Ok(subtotal), Ok(tax)) = (i64::try_from(subtotal), i64::try_from(tax)) else {
            complain("quantity", "makes the line amount too large");
            return None;
        };
        if subtotal > MAX_AMOUNT {
            complain("quantity", "makes the line amount too large");
            return None;
        }
        Some(Line {
            description,
            quantity: input.quantity.trim().to_owned(),
            quantity_milli: q,
            unit_price_minor: input.unit_price_minor,
            tax_rate: input.tax_rate.trim().to_owned(),
            tax_rate_e4: rate,
            subtotal_minor: subtotal,
            tax_minor: tax,
            total_minor: subtotal + tax,
        })
    }
}

/// Price every line; all complaints at once.
pub fn price_lines(inputs: &[LineInput], field: &str, errors: &mut Vec<FieldError>) -> Vec<Line> {
    if inputs.is_empty() || inputs.len() > 100 {
        errors.push(FieldError {
            field: field.into(),
            message: "needs 1 to 100 lines".into(),
        });
    }
    inputs
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Line::price(l, &format!("{field}[{i}]"), errors))
        .collect()
}

/// Sum rounded lines. Sums of at most 100 lines of at most 10^12 fit easily in i64.
pub fn totals(lines: &[Line]) -> Totals {
    lines.iter().fold(Totals::default(), |t, l| Totals {
        subtotal_minor: t.subtotal_minor + l.subtotal_minor,
        tax_minor: t.tax_minor + l.tax_minor,
        total_minor: t.total_minor + l.total_minor,
    })
}

pub fn invalid(detail: &str, errors: Vec<FieldError>) -> ApiError {
    ApiError::BadRequest {
        detail: detail.into(),
        errors,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn deposits_round_half_up_in_basis_points() {
        assert_eq!(parse_percent_e2("25"), Some(2500));
        assert_eq!(parse_percent_e2("33.33"), Some(3333));
        assert_eq!(parse_percent_e2("33.333"), None);
        assert_eq!(percent_of(10_001, 5000), 5001);
        assert_eq!(percent_of(10_000, 3333), 3333);
        assert_eq!(percent_of(1, 5000), 1);
        assert_eq!(percent_of(1, 4999), 0);
    }

    use super::*;

    fn line(q: &str, price: i64, rate: &str) -> Line {
        let mut errors = Vec::new();
        let input = LineInput {
            description: "Work".into(),
            quantity: q.into(),
            unit_price_minor: price,
            tax_rate: rate.into(),
        };
        Line::price(&input, "line", &mut errors).unwrap_or_else(|| panic!("{errors:?}"))
    }

    #[test]
    fn per_line_half_up_rounding() {
        // 1.5 × 3.33 = 4.995 → 5.00; tax 8.875% of 5.00 = 0.44375 → 0.44
        let l = line("1.5", 333, "8.875");
        assert_eq!(
            (l.subtotal_minor, l.tax_minor, l.total_minor),
            (500, 44, 544)
        );
        // exactly half rounds up: 0.5 × 1 cent = 0.5 → 1
        assert_eq!(line("0.5", 1, "0").subtotal_minor, 1);
        // 0.125 × 10 cents = 1.25 → 1
        assert_eq!(line("0.125", 10, "0").subtotal_minor, 1);
        // tax half-up: 10% of 5 cents = 0.5 → 1
        assert_eq!(line("1", 5, "10").tax_minor, 1);
    }

    #[test]
    fn totals_are_sums_of_rounded_lines() {
        let lines = vec![
            line("1", 333, "10"),
            line("1", 333, "10"),
            line("1", 334, "10"),
        ];
        let t = totals(&lines);
        // per-line: 33 + 33 + 33 tax (33.3, 33.3, 33.4 → 33, 33, 33); not 100 from the sum
        assert_eq!(
            t,
            Totals {
                subtotal_minor: 1000,
                tax_minor: 99,
                total_minor: 1099
            }
        );
    }

    #[test]
    fn bad_numbers_are_refused() {
        for (q, p, r) in [
            ("0", 100, "0"),
            ("-1", 100, "0"),
            ("1.2345", 100, "0"),
            ("1e3", 100, "0"),
            ("1", -5, "0"),
            ("1", 100, "101"),
            ("1", 100, "abc"),
            ("1.", 1, "0"),
            ("1", i64::MAX, "0"),
        ] {
            let mut errors = Vec::new();
            let input = LineInput {
                description: "x".into(),
                quantity: q.into(),
                unit_price_minor: p,
                tax_rate: r.into(),
            };
            assert!(
                Line::price(&input, "l", &mut errors).is_none(),
                "{q} {p} {r}"
            );
            assert!(!errors.is_empty());
        }
        let mut errors = Vec::new();
        let huge = LineInput {
            description: "x".into(),
            quantity: "1000000".into(),
            unit_price_minor: MAX_AMOUNT,
            tax_rate: "0".into(),
        };
        assert!(Line::price(&huge, "l", &mut errors).is_none());
    }

    #[test]
    fn currencies_are_three_letters() {
        assert!(Currency::try_from("usd".to_string()).is_ok_and(|c| String::from(c) == "USD"));
        assert!(Currency::try_from("US".to_string()).is_err());
        assert!(Currency::try_from("U$D".to_string()).is_err());
    }
}
