//! `--timeout S` values: a number of seconds that a `Duration` can hold and a person means.
//!
//! `Duration::from_secs_f64` panics on `inf`, `nan`, negative and huge values; clap calls this
//! parser instead, so such a value is a usage error (exit 2) that names the flag.

/// Longest accepted bound: about 11.5 days. Anything longer is a typo, not a timeout.
pub const MAX_SECONDS: f64 = 1e6;

/// Parses a positive, finite number of seconds no larger than [`MAX_SECONDS`].
pub fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, like 30 or 2.5, got {text:?}"))?;
    if !value.is_finite() {
        return Err(format!("expected a finite number of seconds, got {text:?}"));
    }
    if value <= 0.0 {
        return Err(format!(
            "expected a number of seconds greater than 0, got {text:?}"
        ));
    }
    if value > MAX_SECONDS {
        return Err(format!(
            "{text} s is longer than the {MAX_SECONDS:.0} s qcmdr accepts"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_fractional_seconds() {
        assert_eq!(seconds("15"), Ok(15.0));
        assert_eq!(seconds("0.5"), Ok(0.5));
        assert_eq!(seconds("1e3"), Ok(1000.0));
    }

    #[test]
    fn refuses_what_a_duration_cannot_hold() {
        for bad in ["inf", "-inf", "nan", "NaN", "1e30", "-1", "0", "", "ten"] {
            assert!(seconds(bad).is_err(), "{bad:?} accepted");
        }
    }
}
