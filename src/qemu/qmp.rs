//! A small, synchronous QMP client (QEMU Machine Protocol: JSON lines over a unix socket).
//!
//! Hand-written on purpose: generated QAPI bindings pin one QEMU version's schema and break on
//! new enum variants, while qcmdr needs a handful of commands. Two protocol facts drive the
//! design. Events are interleaved with answers and may arrive BEFORE the answer to the
//! command that caused them (`system_powerdown` → `POWERDOWN` → `{"return": {}}`), so they
//! are queued, and answers are matched by the `id` we put on every command. And a QEMU that
//! hangs must not hang qcmdr, so every read is bounded by a deadline.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// What a read for the greeting is called while it waits.
const GREETING: &str = "the greeting";

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("cannot connect to QMP socket {}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("QMP connection failed")]
    Io(#[from] io::Error),
    /// Nothing (or no complete answer) within the timeout.
    #[error("QMP: no answer to {command} within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    /// The socket accepted the connection but sent no greeting: QEMU serves one QMP client at
    /// a time and leaves the next one waiting in silence, so another client holds it.
    #[error(
        "QMP socket busy: another client is connected? ({} sent no greeting within {} s; \
         QEMU serves one QMP client at a time)",
        socket.display(),
        timeout.as_secs_f64()
    )]
    Busy { socket: PathBuf, timeout: Duration },
    #[error("QMP protocol error: {0}")]
    Protocol(String),
    /// QEMU refused the command, e.g. class `CommandNotFound` or `GenericError`.
    #[error("QMP command failed: {class}: {desc}")]
    Command { class: String, desc: String },
    #[error("QEMU closed the QMP connection")]
    Closed,
}

/// An open, negotiated QMP session. QEMU serves one QMP client per socket at a time: hold a
/// session only as long as needed.
#[derive(Debug)]
pub struct Qmp {
    stream: UnixStream,
    /// Bytes received but not yet forming a whole line.
    pending: Vec<u8>,
    events: VecDeque<Value>,
    next_id: u64,
    timeout: Duration,
    greeting: Value,
}

impl Qmp {
    /// Connects, reads the greeting and leaves capabilities-negotiation mode. `timeout` bounds
    /// each step and becomes the default for [`Qmp::execute`].
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let stream = UnixStream::connect(socket).map_err(|source| QmpError::Connect {
            socket: socket.to_path_buf(),
            source,
        })?;
        let mut qmp = Qmp {
            stream,
            pending: Vec::new(),
            events: VecDeque::new(),
            next_id: 0,
            timeout,
            greeting: Value::Null,
        };
        let deadline = Instant::now() + timeout;
        // QEMU may queue an event (e.g. RESUME as the machine starts) ahead of the greeting.
        let greeting = loop {
            let message =
                qmp.read_message(deadline, GREETING, timeout)
                    .map_err(|err| match err {
                        QmpError::Timeout { .. } => QmpError::Busy {
                            socket: socket.to_path_buf(),
                            timeout,
                        },
                        other => other,
                    })?;
            if message.get("QMP").is_some() {
                break message;
            }
            if message.get("event").is_none() {
                return Err(QmpError::Protocol(format!(
                    "expected a greeting, got {message}"
                )));
            }
            qmp.events.push_back(message);
        };
        qmp.greeting = greeting;
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    /// The server's greeting (`{"QMP": {"version": ..., "capabilities": ...}}`).
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// Sets how long [`Qmp::execute`] waits for an answer.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs `command` and returns its `"return"` value. Events that arrive meanwhile are queued.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        self.execute_passing(command, arguments, None)
    }

    /// Hands `fd` to QEMU under `name` (`getfd`, the descriptor travelling with the command as
    /// SCM_RIGHTS), for the commands that take `fd:NAME`, e.g. a migration into a file qcmdr
    /// opened itself.
    pub fn pass_fd(&mut self, name: &str, fd: BorrowedFd<'_>) -> Result<(), QmpError> {
        self.execute_passing("getfd", Some(json!({ "fdname": name })), Some(fd))
            .map(drop)
    }

    fn execute_passing(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<Value, QmpError> {
        self.next_id += 1;
        let id = format!("qcmdr-{}", self.next_id);
        let mut request = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let timeout = self.timeout;
        let deadline = Instant::now() + timeout;
        self.send(&request, deadline, command, fd)?;
        loop {
            let message = self.read_message(deadline, command, timeout)?;
            if message.get("event").is_some() {
                self.events.push_back(message);
                continue;
            }
            match message.get("id") {
                Some(Value::String(got)) if *got == id => return answer(message),
                // Late answer to an earlier command that timed out: not ours.
                Some(_) => continue,
                // QEMU drops the id only when it could not parse the request at all.
                None if message.get("error").is_some() => return answer(message),
                None => {
                    return Err(QmpError::Protocol(format!("unexpected message {message}")));
                }
            }
        }
    }

    /// Takes every event received so far, including any already waiting in the socket.
    pub fn events(&mut self) -> Vec<Value> {
        // Errors are left for the next execute to report; the events read up to them count.
        let _ = self.read_available();
        self.events.drain(..).collect()
    }

    /// Waits for the next event called `name` (a queued one counts) and returns it; other
    /// events stay queued in order.
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Value, QmpError> {
        if let Some(index) = self.events.iter().position(|event| is_event(event, name)) {
            return Ok(self.events.remove(index).expect("index from position"));
        }
        let deadline = Instant::now() + timeout;
        let what = format!("event {name}");
        loop {
            let message = self.read_message(deadline, &what, timeout)?;
            if is_event(&message, name) {
                return Ok(message);
            }
            if message.get("event").is_some() {
                self.events.push_back(message);
            }
        }
    }

    fn send(
        &mut self,
        request: &Value,
        deadline: Instant,
        command: &str,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), QmpError> {
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        let remaining = remaining(deadline).ok_or_else(|| timeout_error(command, self.timeout))?;
        self.stream.set_write_timeout(Some(remaining))?;
        let sent = match fd {
            // The descriptor rides on the first bytes of the command; the rest goes as usual.
            Some(fd) => send_with_fd(&self.stream, &line, fd)?,
            None => 0,
        };
        self.stream
            .write_all(&line[sent..])
            .map_err(|err| match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    timeout_error(command, self.timeout)
                }
                _ => io_error(err),
            })
    }

    /// The next whole JSON message, or `Timeout` once `deadline` passes.
    fn read_message(
        &mut self,
        deadline: Instant,
        waiting_for: &str,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        loop {
            if let Some(line) = self.take_line() {
                match parse(&line)? {
                    Some(message) => return Ok(message),
                    None => continue,
                }
            }
            let remaining =
                remaining(deadline).ok_or_else(|| timeout_error(waiting_for, timeout))?;
            self.stream.set_read_timeout(Some(remaining))?;
            match self.fill() {
                Ok(()) => {}
                Err(err) if is_timeout(&err) => return Err(timeout_error(waiting_for, timeout)),
                Err(err) => return Err(io_error(err)),
            }
        }
    }

    /// Queues the events among whatever is already readable, without blocking.
    fn read_available(&mut self) -> Result<(), QmpError> {
        self.stream.set_nonblocking(true)?;
        let filled = loop {
            match self.fill() {
                Ok(()) => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(err) => break Err(io_error(err)),
            }
        };
        self.stream.set_nonblocking(false)?;
        while let Some(line) = self.take_line() {
            // Answers here belong to commands that already timed out.
            if let Some(message) = parse(&line)?.filter(|m| m.get("event").is_some()) {
                self.events.push_back(message);
            }
        }
        filled
    }

    /// One read into `pending`; end of stream is `ConnectionReset` so callers see `Closed`.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::ConnectionReset.into()),
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    fn take_line(&mut self) -> Option<Vec<u8>> {
        let end = self.pending.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop();
        Some(line)
    }
}

fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    loop {
        match sendmsg(
            stream,
            &[io::IoSlice::new(bytes)],
            &mut control,
            SendFlags::empty(),
        ) {
            Ok(sent) => return Ok(sent),
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// `None` for a blank line.
fn parse(line: &[u8]) -> Result<Option<Value>, QmpError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(line).map_err(|err| {
        QmpError::Protocol(format!(
            "invalid JSON ({err}): {}",
            String::from_utf8_lossy(line)
        ))
    })?;
    if !value.is_object() {
        return Err(QmpError::Protocol(format!(
            "expected an object, got {value}"
        )));
    }
    Ok(Some(value))
}

fn answer(mut message: Value) -> Result<Value, QmpError> {
    if let Some(value) = message.get_mut("return") {
        return Ok(value.take());
    }
    let error = message.get("error").and_then(Value::as_object);
    let field = |error: &Map<String, Value>, key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match error {
        Some(error) => Err(QmpError::Command {
            class: field(error, "class"),
            desc: field(error, "desc"),
        }),
        None => Err(QmpError::Protocol(format!(
            "answer without return or error: {message}"
        ))),
    }
}

fn is_event(message: &Value, name: &str) -> bool {
    message.get("event").and_then(Value::as_str) == Some(name)
}

fn remaining(deadline: Instant) -> Option<Duration> {
    // A zero timeout means "block forever" to the socket, so an expired deadline must stop here.
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timeout_error(command: &str, timeout: Duration) -> QmpError {
    QmpError::Timeout {
        command: command.to_owned(),
        timeout,
    }
}

fn io_error(err: io::Error) -> QmpError {
    match err.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => QmpError::Closed,
        _ => QmpError::Io(err),
    }
}
