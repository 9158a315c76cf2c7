#include "server/connection_layer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace detinfer::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 65536;
// How often deadlines are checked: the deadline is a whole number of seconds in practice, so a
// tenth of a second late is immaterial, and a scan of every connection is cheap.
constexpr int kTickMs = 100;
// How long a connection answered with an error keeps reading (and dropping) what its client
// still sends, so that the client reads the answer rather than a reset.
constexpr auto kDrainTime = std::chrono::seconds(2);

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const std::string_view p : parts) out += p;
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

void AddressOf(const sockaddr_storage& sa, std::string* ip, int* port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    ::inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
    *port = ntohs(in.sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf);
    *port = ntohs(in6.sin6_port);
  }
  *ip = buf;
}

}  // namespace

struct ConnectionLayer::Conn : ClientConnection {
  explicit Conn(const RequestLimits& limits) : reader(limits) {}
  RequestReader reader;
  Clock::time_point idle_since;     // waiting for the first byte of a request since
  Clock::time_point request_start;  // the current request's first byte
  bool in_worker = false;           // a worker owns it; the loop leaves it alone
  bool in_epoll = false;
  bool close_after = false;         // set by the worker: the handler closed the connection
  bool draining = false;            // answered with an error; discarding input until drain_until
  Clock::time_point drain_until;

  void SetRequest(std::string r) {
    request_ = std::move(r);
    read_pos_ = 0;
  }
  void Setup(int fd, const sockaddr_storage& peer, std::chrono::milliseconds write_timeout) {
    fd_ = fd;
    AddressOf(peer, &peer_ip_, &peer_port_);
    write_timeout_ = write_timeout;
  }
};

// ---- ClientConnection ----

ssize_t ClientConnection::Read(char* data, size_t n) {
  const size_t take = std::min(n, request_.size() - read_pos_);
  std::memcpy(data, request_.data() + read_pos_, take);
  read_pos_ += take;
  return static_cast<ssize_t>(take);
}

ssize_t ClientConnection::Write(const char* data, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::send(fd_, data + done, n - done, MSG_NOSIGNAL);
    if (w > 0) {
      done += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(write_timeout_.count())) <= 0) return -1;
      continue;
    }
    return -1;
  }
  return static_cast<ssize_t>(n);
}

bool ClientConnection::Writable() const {
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(write_timeout_.count())) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP)) return false;
  // A client that closed its end reads as end-of-stream: it is gone, whatever it left unread.
  char byte;
  const ssize_t r = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return r != 0;
}

void ClientConnection::LocalAddress(std::string* ip, int* port) const {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  *port = 0;
  ip->clear();
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) == 0) AddressOf(sa, ip, port);
}

// ---- ConnectionLayer ----

ConnectionLayer::ConnectionLayer(const ConnectionOptions& options, Handler handler,
                                 ErrorBody error_body)
    : options_(options), handler_(std::move(handler)), error_body_(std::move(error_body)) {}

ConnectionLayer::~ConnectionLayer() {
  Stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status ConnectionLayer::Listen(const std::string& host, int port) {
  const std::string where = Cat({host, ":", std::to_string(port)});
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int gai = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (gai != 0) {
    return Status::IoError(Cat({"cannot listen on ", where, ": ", ::gai_strerror(gai)}));
  }
  int err = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // SO_REUSEADDR lets a restart bind while old connections linger in TIME_WAIT; no
    // SO_REUSEPORT, which would let a second server bind the same port and take half the
    // connections.
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0) {
    const std::string why = err == EADDRINUSE      ? "address already in use"
                            : err == EADDRNOTAVAIL ? "not an address of this machine"
                            : err != 0             ? std::strerror(err)
                                                   : "cannot bind the address";
    return Status::IoError(Cat({"cannot listen on ", where, ": ", why}));
  }
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  std::string ip;
  AddressOf(sa, &ip, &port_);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return Status::IoError(Cat({"cannot listen on ", where, ": ", std::strerror(errno)}));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  listening_ = true;
  return Status::Ok();
}

void ConnectionLayer::Start() {
  if (started_ || listen_fd_ < 0) return;
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { Worker(); });
  loop_ = std::thread([this] { Loop(); });
}

void ConnectionLayer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (loop_.joinable()) loop_.join();  // returns once every connection is closed
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_exit_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ConnectionLayer::Loop() {
  std::vector<epoll_event> events(256);
  Clock::time_point last_scan = Clock::now();
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), kTickMs);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == wake_fd_) {
        uint64_t v;
        while (::read(wake_fd_, &v, sizeof v) > 0) {
        }
      } else if (fd == listen_fd_) {
        Accept();
      } else {
        const auto it = conns_.find(fd);
        if (it != conns_.end() && !it->second->in_worker) OnReadable(it->second.get());
      }
    }
    TakeReturned();
    const Clock::time_point now = Clock::now();
    if (!listening_ && !stopping_ && now >= accept_paused_until_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = listen_fd_;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
      listening_ = true;
    }
    if (now - last_scan >= std::chrono::milliseconds(kTickMs)) {
      last_scan = now;
      ExpireDeadlines();
    }
    if (stopping_) {
      if (listening_) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        listening_ = false;
      }
      if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
      }
      std::vector<Conn*> waiting;
      for (auto& [fd, c] : conns_) {
        if (!c->in_worker) waiting.push_back(c.get());
      }
      for (Conn* c : waiting) Close(c);
      if (conns_.empty()) return;
    }
  }
}

void ConnectionLayer::Accept() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop polling the listen socket for a moment rather than spin on
        // it; clients wait in the backlog.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        listening_ = false;
        accept_paused_until_ = Clock::now() + std::chrono::milliseconds(kTickMs);
      }
      return;
    }
    auto c = std::make_unique<Conn>(options_.request);
    c->Setup(fd, peer, options_.write_timeout);
    if (static_cast<int>(conns_.size()) >= options_.max_connections) {
      Reject(fd, 503, "too_many_connections",
             Cat({"the server has ", std::to_string(options_.max_connections),
                  " connections open, its limit (--max-connections); retry later"}));
      continue;
    }
    int& from_here = per_address_[c->peer_ip()];
    if (from_here >= options_.max_connections_per_address) {
      if (from_here == 0) per_address_.erase(c->peer_ip());
      Reject(fd, 429, "too_many_connections",
             Cat({"your address has ", std::to_string(options_.max_connections_per_address),
                  " connections open, the limit per client address "
                  "(--max-connections-per-address)"}));
      continue;
    }
    ++from_here;
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);  // streamed tokens are small
    c->idle_since = Clock::now();
    Conn* raw = c.get();
    conns_[fd] = std::move(c);
    WatchInput(raw);
  }
}

std::string ConnectionLayer::ErrorResponse(int status, const std::string& code,
                                           const std::string& message,
                                           const std::string& target) {
  const std::string body = error_body_(status, code, message, target);
  std::string r = "HTTP/1.1 ";
  r += std::to_string(status);
  r += ' ';
  r += Reason(status);
  r += "\r\nContent-Type: application/json\r\nConnection: close\r\n";
  if (status == 429 || status == 503) r += "Retry-After: 1\r\n";
  r += "Content-Length: ";
  r += std::to_string(body.size());
  r += "\r\n\r\n";
  r += body;
  return r;
}

void ConnectionLayer::SendAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::send(fd, bytes.data() + done, bytes.size() - done,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w <= 0) return;  // an error answer is small; a client that cannot take it loses it
    done += static_cast<size_t>(w);
  }
}

void ConnectionLayer::Reject(int fd, int status, const std::string& code,
                             const std::string& message) {
  // Read what already arrived, so that the close does not turn into a reset that may destroy
  // the answer before the client reads it.
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  SendAll(fd, ErrorResponse(status, code, message, std::string()));
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

void ConnectionLayer::OnReadable(Conn* c) {
  char buf[kReadChunk];
  if (c->draining) {
    for (int i = 0; i < 16; ++i) {
      const ssize_t r = ::recv(c->fd(), buf, sizeof buf, 0);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Close(c);  // the client read the answer and closed, or is gone
      return;
    }
    return;
  }
  // A few reads per wakeup, so that one fast client does not hold up the others; the
  // level-triggered epoll brings it back for the rest.
  for (int i = 0; i < 16 && c->reader.state() == RequestReader::State::kNeedMore; ++i) {
    const ssize_t r = ::recv(c->fd(), buf, sizeof buf, 0);
    if (r == 0) {
      Close(c);  // the client closed; a half-sent request is dropped with it
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(c);
      return;
    }
    const bool was_started = c->reader.started();
    c->reader.Feed(buf, static_cast<size_t>(r));
    if (!was_started && c->reader.started()) c->request_start = Clock::now();
  }
  Advance(c);
}

void ConnectionLayer::Advance(Conn* c) {
  if (c->reader.TakeContinue()) SendAll(c->fd(), "HTTP/1.1 100 Continue\r\n\r\n");
  switch (c->reader.state()) {
    case RequestReader::State::kComplete:
      Dispatch(c);
      return;
    case RequestReader::State::kError:
      Fail(c, c->reader.error_status(), c->reader.error_code(), c->reader.error_message());
      return;
    case RequestReader::State::kNeedMore:
      WatchInput(c);
      return;
  }
}

void ConnectionLayer::Dispatch(Conn* c) {
  if (c->in_epoll) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd(), nullptr);
    c->in_epoll = false;
  }
  RequestReader::State next;
  c->SetRequest(c->reader.TakeRequest(&next));
  c->in_worker = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_.push_back(c);
  }
  cv_.notify_one();
}

void ConnectionLayer::Fail(Conn* c, int status, const std::string& code,
                           const std::string& message) {
  SendAll(c->fd(), ErrorResponse(status, code, message, c->reader.target()));
  ::shutdown(c->fd(), SHUT_WR);
  // A lingering close: a client still sending (a body over the limit) would turn an immediate
  // close into a reset that can destroy the answer before it reads it. Its input is read and
  // dropped, nothing kept, for a short while.
  c->draining = true;
  c->drain_until = Clock::now() + kDrainTime;
  WatchInput(c);
}

void ConnectionLayer::WatchInput(Conn* c) {
  if (c->in_epoll) return;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = c->fd();
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd(), &ev);
  c->in_epoll = true;
}

void ConnectionLayer::Close(Conn* c) {
  const int fd = c->fd();
  if (c->in_epoll) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  const auto it = per_address_.find(c->peer_ip());
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
  conns_.erase(fd);  // destroys c
}

void ConnectionLayer::ExpireDeadlines() {
  const Clock::time_point now = Clock::now();
  std::vector<Conn*> late;
  std::vector<Conn*> idle;
  for (auto& [fd, c] : conns_) {
    if (c->in_worker) continue;
    if (c->draining) {
      if (now > c->drain_until) idle.push_back(c.get());
    } else if (c->reader.started()) {
      if (now - c->request_start > options_.request_timeout) late.push_back(c.get());
    } else if (now - c->idle_since > options_.idle_timeout) {
      idle.push_back(c.get());
    }
  }
  for (Conn* c : idle) Close(c);
  const auto ms = options_.request_timeout.count();
  std::string limit = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    limit += '.';
    limit += std::to_string(1000 + ms % 1000).substr(1);
  }
  for (Conn* c : late) {
    Fail(c, 408, "request_timeout",
         Cat({"the request did not arrive in full within ", limit,
              " s (--request-timeout)"}));
  }
}

void ConnectionLayer::TakeReturned() {
  std::vector<Conn*> back;
  {
    std::lock_guard<std::mutex> lock(mu_);
    back.swap(returned_);
  }
  const Clock::time_point now = Clock::now();
  for (Conn* c : back) {
    c->in_worker = false;
    if (c->close_after || stopping_) {
      ::shutdown(c->fd(), SHUT_WR);
      Close(c);
      continue;
    }
    c->idle_since = now;
    if (c->reader.started()) c->request_start = now;  // a pipelined request, partly here
    Advance(c);
  }
}

void ConnectionLayer::Worker() {
  for (;;) {
    Conn* c = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return workers_exit_ || !work_.empty(); });
      if (work_.empty()) return;
      c = work_.front();
      work_.pop_front();
    }
    const bool keep = handler_(*c, stopping_.load());
    c->close_after = !keep;
    c->SetRequest(std::string());
    {
      std::lock_guard<std::mutex> lock(mu_);
      returned_.push_back(c);
    }
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
}

}  // namespace detinfer::server
