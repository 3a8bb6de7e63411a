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

Result<std::optional<size_t>> DatagramSocket::TryReceiveFrom(std::span<uint8_t> buffer, Ipv4Address* from) {
  for (;;) {
    sockaddr_in sender{};
    socklen_t sender_len = sizeof sender;
    const ssize_t n = ::recvfrom(impl_->socket.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&sender), &sender_len);
    if (n < 0) {
      if (errno == EINTR || errno == ECONNREFUSED) continue;  // ICMP from an earlier send: not data
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<size_t>();
      return IoError("UDP receive on " + local_endpoint().ToString() + " failed: " + std::strerror(errno));
    }
    if (from) {
      from->address = sender.sin_family == AF_INET ? ntohl(sender.sin_addr.s_addr) : 0;
      from->port = ntohs(sender.sin_port);
    }
    return std::optional<size_t>(std::min(static_cast<size_t>(n), buffer.size()));
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
