//! What a failed helper program (mutagen, rsync) said, for error messages.

/// What a failed helper said: its stderr (else stdout), trimmed, on one line.
pub fn said(output: &std::process::Output) -> String {
    let pick = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let text = pick(&output.stderr);
    if !text.is_empty() {
        return text;
    }
    let text = pick(&output.stdout);
    if !text.is_empty() {
        return text;
    }
    format!("exited with {}", output.status)
}
