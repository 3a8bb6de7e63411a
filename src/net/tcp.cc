// TCP streams and listeners (Asio), every call bounded by a deadline.
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "asio_wait.h"
#include "edgesplit/net.h"
#include "sockets.h"

namespace edgesplit::net {

struct TcpStream::Impl {
  asio::io_context io;
  asio::ip::tcp::socket socket{io};
};

struct TcpListener::Impl {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
};

namespace {

Result<asio::ip::tcp::endpoint> ToTcp(const Endpoint& e) {
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(e.host, ec);
  if (ec) return InvalidArgument("'" + e.host + "' is not an IP address");
  return asio::ip::tcp::endpoint(address, e.port);
}

}  // namespace

TcpStream::TcpStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpStream::~TcpStream() = default;

Result<std::unique_ptr<TcpStream>> TcpStream::Connect(const Endpoint& to, Deadline deadline) {
  ES_ASSIGN_OR_RETURN(asio::ip::tcp::endpoint ep, ToTcp(to));
  auto impl = std::make_unique<Impl>();
  bool done = false;
  asio::error_code result;
  asio::error_code open_ec;
  impl->socket.open(ep.protocol(), open_ec);
  if (open_ec) return IoError("TCP connect to " + to.ToString() + ": cannot open a socket: " + detail::ErrorText(open_ec));
  detail::SetCloseOnExec(impl->socket.native_handle());
  impl->socket.async_connect(ep, [&](const asio::error_code& ec) {
    result = ec;
    done = true;
  });
  Impl* raw = impl.get();
  if (!detail::RunUntil(impl->io, done, deadline, [raw] {
        asio::error_code ignored;
        raw->socket.close(ignored);
      }))
    return IoError("TCP connect to " + to.ToString() + " timed out");
  if (result) return IoError("TCP connect to " + to.ToString() + " failed: " + detail::ErrorText(result));
  asio::error_code ec;
  impl->socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return std::unique_ptr<TcpStream>(new TcpStream(std::move(impl)));
}

Endpoint TcpStream::remote_endpoint() const {
  asio::error_code ec;
  const auto ep = impl_->socket.remote_endpoint(ec);
  return Endpoint{ep.address().to_string(), ep.port()};
}

int64_t TcpStream::retransmitted_segments() const {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(const_cast<Impl&>(*impl_).socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return static_cast<int64_t>(info.tcpi_total_retrans);
}

void TcpStream::SetPacing(const ShaperConfig& config, int64_t chunk_bytes) {
  ShaperConfig c = config;
  c.loss = 0;  // TCP's loss is the network's (netem or nftables in a namespace), never the shaper's
  pacing_.emplace(c);
  chunk_bytes_ = chunk_bytes > 0 ? chunk_bytes : 1440;
}

Status TcpStream::WriteAll(std::span<const uint8_t> bytes, Deadline deadline) {
  const bool paced = pacing_ && pacing_->config().enabled;
  if (paced) pacing_->BeginMessage(Clock::now());
  size_t offset = 0;
  while (offset < bytes.size()) {
    const size_t n = paced ? std::min<size_t>(bytes.size() - offset, static_cast<size_t>(chunk_bytes_)) : bytes.size() - offset;
    if (paced) SleepUntil(pacing_->Release(Clock::now(), static_cast<int64_t>(n)));
    bool done = false;
    asio::error_code result;
    asio::async_write(impl_->socket, asio::buffer(bytes.data() + offset, n), [&](const asio::error_code& ec, size_t) {
      result = ec;
      done = true;
    });
    if (!detail::RunUntil(impl_->io, done, deadline, [this] {
          asio::error_code ignored;
          impl_->socket.cancel(ignored);
        }))
      return IoError("TCP write to " + remote_endpoint().ToString() + " timed out");
    if (result) return IoError("TCP write failed: " + detail::ErrorText(result));
    offset += n;
  }
  return Status::Ok();
}

Result<bool> TcpStream::ReadExact(std::span<uint8_t> buffer, Deadline deadline) {
  bool done = false;
  asio::error_code result;
  size_t got = 0;
  asio::async_read(impl_->socket, asio::buffer(buffer.data(), buffer.size()), [&](const asio::error_code& ec, size_t n) {
    result = ec;
    got = n;
    done = true;
  });
  if (!detail::RunUntil(impl_->io, done, deadline, [this] {
        asio::error_code ignored;
        impl_->socket.cancel(ignored);
      }))
    return IoError("TCP read timed out after " + std::to_string(got) + " of " + std::to_string(buffer.size()) + " bytes");
  if (result == asio::error::eof && got == 0) return false;
  if (result) {
    return IoError("TCP stream ended after " + std::to_string(got) + " of " + std::to_string(buffer.size()) +
                   " bytes: " + detail::ErrorText(result));
  }
  return true;
}

TcpListener::TcpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpListener::~TcpListener() = default;

Result<std::unique_ptr<TcpListener>> TcpListener::Listen(const Endpoint& local) {
  ES_ASSIGN_OR_RETURN(asio::ip::tcp::endpoint ep, ToTcp(local));
  auto impl = std::make_unique<Impl>();
  asio::error_code ec;
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) detail::SetCloseOnExec(impl->acceptor.native_handle());
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return IoError("cannot listen on TCP " + local.ToString() + ": " + detail::ErrorText(ec));
  return std::unique_ptr<TcpListener>(new TcpListener(std::move(impl)));
}

Endpoint TcpListener::local_endpoint() const {
  asio::error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return Endpoint{ep.address().to_string(), ep.port()};
}

Result<std::optional<std::unique_ptr<TcpStream>>> TcpListener::Accept(Deadline deadline) {
  auto stream_impl = std::make_unique<TcpStream::Impl>();
  bool done = false;
  asio::error_code result;
  asio::ip::tcp::socket peer(impl_->io);
  impl_->acceptor.async_accept(peer, [&](const asio::error_code& ec) {
    result = ec;
    done = true;
  });
  if (!detail::RunUntil(impl_->io, done, deadline, [this] {
        asio::error_code ignored;
        impl_->acceptor.cancel(ignored);
      }))
    return std::optional<std::unique_ptr<TcpStream>>();
  if (result) return IoError("TCP accept on " + local_endpoint().ToString() + " failed: " + detail::ErrorText(result));
  // Move the native socket into the stream's own io_context so that the
  // stream can be used from another thread than the listener.
  asio::error_code ec;
  const auto protocol = peer.local_endpoint(ec).protocol();
  const int fd = peer.release(ec);
  if (ec) return IoError("TCP accept: cannot hand over the socket: " + detail::ErrorText(ec));
  detail::SetCloseOnExec(fd);
  stream_impl->socket.assign(protocol, fd, ec);
  if (ec) return IoError("TCP accept: cannot adopt the socket: " + detail::ErrorText(ec));
  stream_impl->socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return std::optional<std::unique_ptr<TcpStream>>(std::unique_ptr<TcpStream>(new TcpStream(std::move(stream_impl))));
}

}  // namespace edgesplit::net
