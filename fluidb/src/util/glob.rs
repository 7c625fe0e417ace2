//! TEMPORARY stub, replaced by the exact port of Redis's stringmatchlen.
pub fn string_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    fn m(p: &[u8], s: &[u8], nc: bool) -> bool {
        if p.is_empty() {
            return s.is_empty();
        }
        match p[0] {
            b'*' => (0..=s.len()).any(|i| m(&p[1..], &s[i..], nc)),
            b'?' => !s.is_empty() && m(&p[1..], &s[1..], nc),
            c => {
                !s.is_empty() && (if nc { c.eq_ignore_ascii_case(&s[0]) } else { c == s[0] }) && m(&p[1..], &s[1..], nc)
            }
        }
    }
    m(pattern, string, nocase)
}
