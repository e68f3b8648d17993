//! A blocking netlink request/reply channel, shared by [`crate::kernel::mptcp_pm`]
//! (generic netlink) and [`crate::kernel::sock_diag`]: one `netlink-sys` socket,
//! messages framed with `netlink-packet-core`, every receive bounded by a
//! timeout so a silent kernel cannot hang `check` or `inspect`.

use std::fmt::Debug;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkDeserializable, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable,
};
use netlink_sys::{Socket, SocketAddr};

/// How long to wait for each answer datagram.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Channel {
    socket: Socket,
    sequence: u32,
}

impl Channel {
    /// A socket of the given netlink protocol (`NETLINK_GENERIC`,
    /// `NETLINK_SOCK_DIAG`), in the calling thread's network namespace,
    /// connected to the kernel.
    pub fn open(protocol: isize) -> io::Result<Channel> {
        let mut socket = Socket::new(protocol)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        set_receive_timeout(&socket, RECEIVE_TIMEOUT)?;
        Ok(Channel {
            socket,
            sequence: 0,
        })
    }

    /// The next sequence number, to put in a request's header.
    pub fn next_sequence(&mut self) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    /// Sends `message` as a dump (`dump`) or a single request with an ACK,
    /// and collects the answers.
    pub fn request<I>(&mut self, mut message: NetlinkMessage<I>, dump: bool) -> io::Result<Vec<I>>
    where
        I: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let sequence = self.next_sequence();
        message.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        message.header.sequence_number = sequence;
        message.finalize();
        let mut bytes = vec![0; message.buffer_len()];
        message.serialize(&mut bytes);
        self.exchange(&bytes, sequence, dump)
    }

    /// Sends an already framed request (with `sequence` in its header) and
    /// collects the answers: for a dump, until `NLMSG_DONE`; otherwise until
    /// the ACK. A kernel error answer becomes the `io::Error` it carries.
    pub fn exchange<I>(&mut self, request: &[u8], sequence: u32, dump: bool) -> io::Result<Vec<I>>
    where
        I: NetlinkDeserializable + Debug,
    {
        self.socket.send(request, 0)?;
        let mut answers = Vec::new();
        loop {
            let datagram = match self.socket.recv_from_full() {
                Ok((datagram, _)) => datagram,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the kernel did not answer the netlink request in time",
                    ));
                }
                Err(error) => return Err(error),
            };
            let mut offset = 0;
            while offset < datagram.len() {
                let bytes = &datagram[offset..];
                let length = NetlinkBuffer::new_checked(bytes).map_err(invalid)?.length() as usize;
                let message = NetlinkMessage::<I>::deserialize(&bytes[..length.min(bytes.len())])
                    .map_err(invalid)?;
                // Netlink messages are 4-byte aligned within a datagram.
                offset += (length + 3) & !3;
                if message.header.sequence_number != sequence {
                    continue; // a late answer to an earlier request
                }
                match message.payload {
                    // For a request, the ACK follows the answer.
                    NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                    NetlinkPayload::Error(error) if error.code.is_some() => {
                        return Err(error.to_io());
                    }
                    // An ACK (error code 0) ends a request; a dump ends with DONE.
                    NetlinkPayload::Error(_) if !dump => return Ok(answers),
                    NetlinkPayload::Done(_) => return Ok(answers),
                    _ => {}
                }
            }
        }
    }
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("cannot decode the kernel's netlink answer: {error}"),
    )
}

fn set_receive_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    let value = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: value is a live timeval and the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&value as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
