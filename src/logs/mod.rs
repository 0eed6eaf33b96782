//! Reading VM logs: the last lines for error reports, following a log across restarts, and
//! turning a serial console's terminal output into plain text.
pub mod appended;
pub mod clean_stream;
pub mod follow;
pub mod log_tail;
pub mod terminal_text;
