//! TEMPORARY stub, replaced by the exact port of sdssplitargs.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = vec![];
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut cur = vec![];
        if line[i] == b'"' || line[i] == b'\'' {
            let q = line[i];
            i += 1;
            while i < line.len() && line[i] != q {
                cur.push(line[i]);
                i += 1;
            }
            if i >= line.len() {
                return None;
            }
            i += 1;
        } else {
            while i < line.len() && !line[i].is_ascii_whitespace() {
                cur.push(line[i]);
                i += 1;
            }
        }
        out.push(cur);
    }
    Some(out)
}
