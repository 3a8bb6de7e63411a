// UDP datagram sockets (Asio) and the shaped sender over them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "asio_wait.h"
#include "edgesplit/net.h"
#include "sockets.h"

namespace edgesplit::net {

struct DatagramSocket::Impl {
  asio::io_context io;
  asio::ip::udp::socket socket{io};
  // TryReceiveMany's recvmmsg arguments, grown once to the largest burst.
  std::vector<mmsghdr> headers;
  std::vector<iovec> vectors;
  std::vector<sockaddr_in> senders;
};

namespace {

Result<asio::ip::udp::endpoint> ToUdp(const Endpoint& e) {
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(e.host, ec);
  if (ec) return InvalidArgument("'" + e.host + "' is not an IP address");
  return asio::ip::udp::endpoint(address, e.port);
}

}  // namespace

DatagramSocket::DatagramSocket(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DatagramSocket::~DatagramSocket() = default;

Result<std::unique_ptr<DatagramSocket>> DatagramSocket::Bind(const Endpoint& local) {
  ES_ASSIGN_OR_RETURN(asio::ip::udp::endpoint ep, ToUdp(local));
  auto impl = std::make_unique<Impl>();
  asio::error_code ec;
  impl->socket.open(ep.protocol(), ec);
  if (!ec) detail::SetCloseOnExec(impl->socket.native_handle());
  if (!ec) impl->socket.bind(ep, ec);
  if (ec) return IoError("cannot bind UDP " + local.ToString() + ": " + detail::ErrorText(ec));
  // Room for a whole tensor's frames while the owner computes (several MB).
  impl->socket.set_option(asio::socket_base::receive_buffer_size(8 << 20), ec);
  impl->socket.set_option(asio::socket_base::send_buffer_size(4 << 20), ec);
  return std::unique_ptr<DatagramSocket>(new DatagramSocket(std::move(impl)));
}

Endpoint DatagramSocket::local_endpoint() const {
  asio::error_code ec;
  const auto ep = impl_->socket.local_endpoint(ec);
  return Endpoint{ep.address().to_string(), ep.port()};
}

Status DatagramSocket::SendTo(const Endpoint& to, std::span<const uint8_t> bytes) {
  ES_ASSIGN_OR_RETURN(asio::ip::udp::endpoint ep, ToUdp(to));
  asio::error_code ec;
  impl_->socket.send_to(asio::buffer(bytes.data(), bytes.size()), ep, 0, ec);
  // A closed peer port shows up as connection_refused on Linux: the datagram
  // is gone, exactly as on a radio, so the ARQ above deals with it.
  if (ec && ec != asio::error::connection_refused)
    return IoError("UDP send to " + to.ToString() + " failed: " + detail::ErrorText(ec));
  return Status::Ok();
}

Result<std::optional<size_t>> DatagramSocket::ReceiveFrom(std::span<uint8_t> buffer, Endpoint* from, Deadline deadline) {
  for (;;) {
    bool done = false;
    asio::error_code result;
    size_t received = 0;
    asio::ip::udp::endpoint sender;
    impl_->socket.async_receive_from(asio::buffer(buffer.data(), buffer.size()), sender,
                                     [&](const asio::error_code& ec, size_t n) {
                                       result = ec;
                                       received = n;
                                       done = true;
                                     });
    const bool completed = detail::RunUntil(impl_->io, done, deadline, [&] {
      asio::error_code ignored;
      impl_->socket.cancel(ignored);
    });
    if (!completed) return std::optional<size_t>();
    if (result == asio::error::connection_refused) continue;  // ICMP from an earlier send: not data
    if (result == asio::error::message_size) result = {};     // truncated: the caller's frame check rejects it
    if (result) return IoError("UDP receive on " + local_endpoint().ToString() + " failed: " + detail::ErrorText(result));
    if (from) *from = Endpoint{sender.address().to_string(), sender.port()};
    return std::optional<size_t>(received);
  }
}

Result<size_t> DatagramSocket::TryReceiveMany(std::span<const std::span<uint8_t>> slots, std::span<Received> got) {
  const size_t n = std::min(slots.size(), got.size());
  if (n == 0) return size_t{0};
  Impl& m = *impl_;
  if (m.headers.size() < n) {
    m.headers.resize(n);
    m.vectors.resize(n);
    m.senders.resize(n);
  }
  for (size_t i = 0; i < n; ++i) {
    m.vectors[i] = iovec{slots[i].data(), slots[i].size()};
    m.headers[i] = mmsghdr{};
    m.headers[i].msg_hdr.msg_iov = &m.vectors[i];
    m.headers[i].msg_hdr.msg_iovlen = 1;
    m.headers[i].msg_hdr.msg_name = &m.senders[i];
    m.headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
  }
  for (;;) {
    const int k = ::recvmmsg(m.socket.native_handle(), m.headers.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
    if (k < 0) {
      if (errno == EINTR || errno == ECONNREFUSED) continue;  // ICMP from an earlier send: not data
      if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
      return IoError("UDP receive on " + local_endpoint().ToString() + " failed: " + std::strerror(errno));
    }
    for (int i = 0; i < k; ++i) {
      const sockaddr_in& a = m.senders[static_cast<size_t>(i)];
      Received& r = got[static_cast<size_t>(i)];
      r.bytes = std::min<size_t>(m.headers[static_cast<size_t>(i)].msg_len, slots[static_cast<size_t>(i)].size());
      r.truncated = (m.headers[static_cast<size_t>(i)].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      r.from.address = a.sin_family == AF_INET ? ntohl(a.sin_addr.s_addr) : 0;
      r.from.port = ntohs(a.sin_port);
    }
    return static_cast<size_t>(k);
  }
}

Status DatagramSocket::SendTo(const Ipv4Address& to, std::span<const uint8_t> bytes) {
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_addr.s_addr = htonl(to.address);
  peer.sin_port = htons(to.port);
  for (int waits = 0;; ) {
    const ssize_t n = ::sendto(impl_->socket.native_handle(), bytes.data(), bytes.size(), 0,
                               reinterpret_cast<const sockaddr*>(&peer), sizeof peer);
    if (n >= 0 || errno == ECONNREFUSED) return Status::Ok();  // as SendTo(Endpoint): the ARQ above deals with it
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < 50) {  // non-blocking socket (Asio): wait for room, 5 s at most
      pollfd p{impl_->socket.native_handle(), POLLOUT, 0};
      (void)::poll(&p, 1, 100);
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
    return IoError("UDP send to " + std::string(text) + ":" + std::to_string(to.port) + " failed: " + std::strerror(errno));
  }
}

Status ShapedSender::SendFrame(const Endpoint& to, std::span<const uint8_t> frame, bool* dropped) {
  SleepUntil(shaper_.Release(Clock::now(), static_cast<int64_t>(frame.size())));
  const bool drop = shaper_.Drop();
  if (dropped) *dropped = drop;
  if (drop) {
    ++frames_dropped_;
    return Status::Ok();
  }
  ++frames_sent_;
  return socket_->SendTo(to, frame);
}

}  // namespace edgesplit::net
