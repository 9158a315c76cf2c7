// ConnectionLayer: the server's sockets, event-driven, so that slow or hostile clients cannot
// exhaust it (docs/server.md, "Connections").
//
// One thread accepts every connection and reads every request with non-blocking reads on epoll
// (RequestReader: header and body limits, chunked bodies counted as they arrive) under a
// whole-request deadline, and caps connections in total and per client address. Only a request
// that has fully arrived goes to a worker thread, which runs the handler (cpp-httplib's request
// processing, then the route) and writes the answer. So a connection that trickles costs a file
// descriptor and a buffer, never a thread: the workers serve complete requests only, and a
// client that trickles its headers or body is cut off at the deadline. Generation itself stays
// bounded by the engine loop (--max-concurrency, --max-queue).
#ifndef DETINFER_SERVER_CONNECTION_LAYER_H_
#define DETINFER_SERVER_CONNECTION_LAYER_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "server/request_reader.h"

namespace detinfer::server {

struct ConnectionOptions {
  RequestLimits request;
  int max_connections = 1024;              // open at once, all clients together
  int max_connections_per_address = 256;   // from one client IP address
  std::chrono::milliseconds request_timeout{15000};  // first byte to last byte of a request
  std::chrono::milliseconds idle_timeout{5000};      // a keep-alive connection between requests
  std::chrono::milliseconds write_timeout{10000};    // one write the client does not take
  int workers = 8;  // threads handling complete requests
};

// One client connection as a handler sees it while it handles one complete request.
class ClientConnection {
 public:
  // The request, normalised by RequestReader; 0 at its end.
  ssize_t Read(char* data, size_t n);
  // Writes all `n` bytes (returns n), or -1 if the client is gone or takes nothing for the
  // write timeout.
  ssize_t Write(const char* data, size_t n);
  // Whether the client is still connected and can take bytes within the write timeout.
  bool Writable() const;
  int fd() const { return fd_; }
  const std::string& peer_ip() const { return peer_ip_; }
  int peer_port() const { return peer_port_; }
  void LocalAddress(std::string* ip, int* port) const;

 protected:
  int fd_ = -1;
  std::string peer_ip_;
  int peer_port_ = 0;
  std::chrono::milliseconds write_timeout_{10000};
  std::string request_;
  size_t read_pos_ = 0;
};

class ConnectionLayer {
 public:
  // Handles one complete request; returns whether the connection stays open for another.
  // `must_close`: the answer must say "Connection: close" (the server is stopping).
  using Handler = std::function<bool(ClientConnection& conn, bool must_close)>;
  // The JSON body of an error the layer answers itself (status 400, 408, 413, 417, 429, 431,
  // 501 or 503, a short code, a message; `target`: the request's, empty if none arrived); also
  // where the caller counts it.
  using ErrorBody = std::function<std::string(int status, const std::string& code,
                                              const std::string& message,
                                              const std::string& target)>;

  ConnectionLayer(const ConnectionOptions& options, Handler handler, ErrorBody error_body);
  ~ConnectionLayer();  // Stop()s
  ConnectionLayer(const ConnectionLayer&) = delete;
  ConnectionLayer& operator=(const ConnectionLayer&) = delete;

  // Binds and listens (SO_REUSEADDR, not SO_REUSEPORT); the error names the address and why.
  Status Listen(const std::string& host, int port);
  int port() const { return port_; }
  void Start();
  // Stops accepting, closes connections waiting for a request, lets the requests being handled
  // finish (their answers say "Connection: close"), then joins every thread. Idempotent.
  void Stop();

 private:
  struct Conn;

  void Loop();
  void Accept();
  void Reject(int fd, int status, const std::string& code, const std::string& message);
  void OnReadable(Conn* c);
  void Advance(Conn* c);  // after bytes arrived or a request was answered: dispatch, fail, wait
  void Dispatch(Conn* c);
  void Fail(Conn* c, int status, const std::string& code, const std::string& message);
  void Close(Conn* c);
  // Adds c's socket to the epoll set for input (and peer hang-up), once.
  void WatchInput(Conn* c);
  void ExpireDeadlines();
  void TakeReturned();
  void Worker();
  void SendAll(int fd, const std::string& bytes);  // best effort, non-blocking
  std::string ErrorResponse(int status, const std::string& code, const std::string& message,
                            const std::string& target);

  ConnectionOptions options_;
  Handler handler_;
  ErrorBody error_body_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  bool listening_ = false;          // the listen socket is in epoll
  std::chrono::steady_clock::time_point accept_paused_until_{};
  std::thread loop_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  bool stopped_ = false;

  // Loop thread only.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::unordered_map<std::string, int> per_address_;

  // Shared with the workers.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Conn*> work_;
  std::vector<Conn*> returned_;
  bool workers_exit_ = false;
};

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_CONNECTION_LAYER_H_
