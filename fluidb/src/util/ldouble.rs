//! TEMPORARY stub, replaced by the exact long double port of Redis's INCRBYFLOAT arithmetic.
//! Same interface; f64 arithmetic and formatting stand in for `long double` until then.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrFloatError {
    CurrentNotFloat,
    IncrementNotFloat,
    NanOrInfinity,
}

impl IncrFloatError {
    pub fn message(&self) -> &'static str {
        match self {
            IncrFloatError::CurrentNotFloat | IncrFloatError::IncrementNotFloat => "ERR value is not a valid float",
            IncrFloatError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        }
    }
}

fn parse(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() >= 5 * 1024 || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

pub fn incrbyfloat(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let c = match cur {
        Some(b) => parse(b).ok_or(IncrFloatError::CurrentNotFloat)?,
        None => 0.0,
    };
    let i = parse(incr).ok_or(IncrFloatError::IncrementNotFloat)?;
    let v = c + i;
    if !v.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    let v = if v == 0.0 { 0.0 } else { v };
    Ok(format!("{v}").into_bytes())
}
